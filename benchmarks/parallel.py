"""Parallel runs that scale: wall time of a serial run vs `test-fast`, `test-n 4` and `test-parallel`, on a
generated live suite that looks like a real one (benchmarks/live_suite: a few hundred tests, each making
a few HTTP calls and Redis writes against the bundled stack, a handful marked serial), all against the
same running stack, interleaved. The fixed costs are reported too: an empty selection in each mode.

    python benchmarks/parallel.py [--trials 2] [--modules 10] [--tests 30]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from _common import REPO, median, record
from live_suite.generate import OUT, generate

MODES: dict[str, list[str]] = {
    "serial": [],
    "test-fast": ["--mode", "fast"],
    "test-n 4": ["--mode", "n", "--workers", "4"],
    "test-parallel": ["--mode", "parallel"],
}


def timed(mode: list[str], *args: str) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stacktest", "test", *mode, str(OUT), "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.monotonic() - start
    if result.returncode not in (0, 5):
        tail = result.stdout[-3000:] + "\n" + result.stderr[-2000:]
        raise SystemExit(f"{mode}: exit {result.returncode}\n{tail}")
    return seconds, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--tests", type=int, default=30)
    args = parser.parse_args()
    count = generate(args.modules, args.tests, serial=6)
    subprocess.run([sys.executable, "-m", "stacktest", "up"], cwd=REPO, check=True, capture_output=True)
    try:
        times: dict[str, list[float]] = {name: [] for name in MODES}
        fixed: dict[str, list[float]] = {name: [] for name in MODES}
        for i in range(args.trials):
            for name, mode in MODES.items():
                seconds, out = timed(mode)
                assert re.search(rf"\b{count} passed\b", out), out[-2000:]  # every test, exactly once
                times[name].append(seconds)
                fixed[name].append(timed(mode, "-k", "no_such_test")[0])
            print(f"trial {i + 1}: " + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()), flush=True)
    finally:
        subprocess.run([sys.executable, "-m", "stacktest", "down"], cwd=REPO, check=True, capture_output=True)
    serial = median(times["serial"])
    speedups = {name: round(serial / median(t), 2) for name, t in times.items()}
    for name, t in times.items():
        cost = median(fixed[name])
        print(f"  {name}: {median(t):.1f} s, {speedups[name]:.2f}x serial; fixed cost {cost:.2f} s")
    ratio = speedups["test-fast"]
    record(
        "parallel",
        ratio,
        ">= 1.8x on two cores",
        ratio >= 1.8,
        {
            "tests": count,
            "seconds": {name: round(median(t), 2) for name, t in times.items()},
            "speedup": speedups,
            "fixed_cost_s": {name: round(median(t), 2) for name, t in fixed.items()},
            "trials": args.trials,
        },
        f"python benchmarks/parallel.py --trials {args.trials} --modules {args.modules} --tests {args.tests}",
    )


if __name__ == "__main__":
    main()
