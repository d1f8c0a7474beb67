"""The edit-test loop: `stacktest test -k ...` on a running stack vs plain `pytest` with the same
selection, interleaved, medians. Both make the same checks: plain pytest finds this checkout's stack
through its state file and the engine; stacktest finds it and checks that it is ready.

    python benchmarks/edit_loop.py [--trials 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import REPO, median, record

SELECTION = [
    "-k",
    "missing_token or invalid_token",
    "tests/stack/test_errors.py",
    "-q",
    "-p",
    "no:cacheprovider",
]


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.monotonic() - start
    if result.returncode != 0 or "2 passed" not in result.stdout:
        raise SystemExit(
            f"{argv[:4]}: exit {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=7)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "stacktest", "up"], cwd=REPO, check=True, capture_output=True)
    stacktest_argv = [sys.executable, "-m", "stacktest", "test", *SELECTION]
    pytest_argv = [sys.executable, "-m", "pytest", *SELECTION]
    help_argv = [sys.executable, "-m", "stacktest", "--help"]
    try:
        timed(stacktest_argv)  # warm: page cache, .pyc files
        ours, plain, helps = [], [], []
        for i in range(args.trials):
            ours.append(timed(stacktest_argv))
            plain.append(timed(pytest_argv))
            start = time.monotonic()
            subprocess.run(help_argv, cwd=REPO, capture_output=True, check=True)
            helps.append(time.monotonic() - start)
            print(f"trial {i + 1}: stacktest test {ours[-1]:.3f} s, pytest {plain[-1]:.3f} s", flush=True)
    finally:
        subprocess.run([sys.executable, "-m", "stacktest", "down"], cwd=REPO, check=True, capture_output=True)
    ratio = median(ours) / median(plain)
    record(
        "edit-loop",
        ratio,
        "<= 1.1x plain pytest",
        ratio <= 1.1,
        {
            "stacktest_test_s": round(median(ours), 3),
            "pytest_s": round(median(plain), 3),
            "stacktest_help_s": round(median(helps), 3),
            "trials": args.trials,
        },
        f"python benchmarks/edit_loop.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
