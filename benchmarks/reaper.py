"""The reaper: seconds from SIGKILL of a run's whole process tree (its stack whole: a container, a
network, a volume) until nothing of the stack is left on the engine, with no stacktest command run
afterwards. Goal: within 10 s (the issue's bound); the ratio is that bound over the slowest trial.

    python benchmarks/reaper.py [--trials 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, median, record

sys.path.insert(0, str(REPO))  # the reliability test's helpers: one way to start and kill a run

from stacktest.adapters.engine import Engine
from stacktest.settings import load_settings
from tests.reliability.test_reaper import first_container, kill_tree, resources, stack, start_run

BOUND = 10.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    engine = Engine.connect()
    base = load_settings(config=REPO / "pyproject.toml", environ={}).base_image
    with tempfile.TemporaryDirectory() as folder:
        root = stack(Path(folder) / "bench", base)
        seconds = []
        for i in range(args.trials):
            name = f"streaperbench-{os.getpid()}-{i}"
            run = start_run(root, name)
            first_container(engine, name, run)
            while len(resources(engine, name)) < 3 and run.poll() is None:
                time.sleep(0.05)
            killed = time.monotonic()
            kill_tree(run.pid)
            run.communicate()
            while resources(engine, name) and time.monotonic() - killed < 60:
                time.sleep(0.05)
            seconds.append(round(time.monotonic() - killed, 2))
            print(f"trial {i + 1}: nothing left {seconds[-1]:.2f} s after the kill", flush=True)
    record(
        "reaper",
        BOUND / max(seconds),
        "a killed run's stack gone within 10 s, with no later command",
        max(seconds) <= BOUND,
        {"seconds": seconds, "median_s": median(seconds), "grace_s": 1.0, "trials": args.trials},
        "python benchmarks/reaper.py --trials 6",
    )


if __name__ == "__main__":
    main()
