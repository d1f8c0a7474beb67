"""Parallel: wall time of a serial run of the live suite vs `test-fast` (xdist worksteal, then the serial
tests), both against the same running stack, interleaved.

    python benchmarks/parallel.py [--trials 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import REPO, median, record


def timed(*args: str) -> float:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "stacktest", "test", *args, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=900,
    )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "stacktest", "up"], cwd=REPO, check=True, capture_output=True)
    try:
        serial, fast = [], []
        for i in range(args.trials):
            serial.append(timed())
            fast.append(timed("--mode", "fast"))
            print(f"trial {i + 1}: serial {serial[-1]:.2f} s, test-fast {fast[-1]:.2f} s")
    finally:
        subprocess.run([sys.executable, "-m", "stacktest", "down"], cwd=REPO, check=True, capture_output=True)
    ratio = median(serial) / median(fast)
    record(
        "parallel",
        ratio,
        ">= 1.8x on two cores",
        ratio >= 1.8,
        {"serial_s": round(median(serial), 2), "fast_s": round(median(fast), 2), "trials": args.trials},
        f"python benchmarks/parallel.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
