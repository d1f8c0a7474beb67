"""Parallel runs that scale: wall time of a serial run vs `test-fast`, `test-n 4` and `test-parallel`, on a
generated live suite that looks like a real one (benchmarks/live_suite: a few hundred tests, each making
a few HTTP calls and Redis writes against the bundled stack, a handful marked serial), all against the
same running stack, interleaved. The fixed costs are reported too: an empty selection in each mode.

    python benchmarks/parallel.py [--trials 2] [--modules 10] [--tests 30]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

from _common import REPO, median, record
from live_suite.generate import OUT, generate

from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import LABEL_ROOT

Modes = dict[str, tuple[list[str], dict[str, str]]]  # name: (stacktest test's options, environment)
MODES: Modes = {
    "serial": ([], {}),
    "test-fast": (["--mode", "fast"], {}),
    "test-n 4": (["--mode", "n", "--workers", "4"], {}),
    "test-parallel": (["--mode", "parallel"], {}),
}


@dataclass
class Timed:
    seconds: float
    stdout: str
    client_cpu: float  # CPU seconds of stacktest, pytest and its workers
    stack_cpu: float  # CPU seconds of the stack's containers meanwhile

    @property
    def load(self) -> float:
        """Cores kept busy on average: all the CPU the run used, client and services, per wall second."""
        return (self.client_cpu + self.stack_cpu) / self.seconds


def stack_cpu(engine: Engine) -> float:
    """CPU seconds the running stack's containers have used so far (the engine's own accounting)."""
    containers = engine.client.containers.list(filters={"label": f"{LABEL_ROOT}={REPO}"})
    stats = [engine.client.api.stats(c.id, stream=False, one_shot=True) for c in containers]
    return float(sum(s["cpu_stats"]["cpu_usage"]["total_usage"] for s in stats)) / 1e9


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(engine: Engine, mode: tuple[list[str], dict[str, str]], *args: str) -> Timed:
    cpu_before, stack_before = children_cpu(), stack_cpu(engine)
    start = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stacktest",
            "test",
            *mode[0],
            str(OUT),
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        env=os.environ | mode[1],
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
    return Timed(seconds, result.stdout, children_cpu() - cpu_before, stack_cpu(engine) - stack_before)


WAITING_MODES: Modes = {
    "serial": ([], {}),
    "test-fast": (["--mode", "fast"], {}),
    "test-fast, workers_per_core=2": (["--mode", "fast"], {"STACKTEST_WORKERS_PER_CORE": "2"}),
    "test-fast, workers_per_core=4": (["--mode", "fast"], {"STACKTEST_WORKERS_PER_CORE": "4"}),
}


def measure(
    engine: Engine, modes: Modes, count: int, trials: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Median wall seconds, fixed cost (an empty selection) and cores busy of each mode, interleaved."""
    times: dict[str, list[float]] = {name: [] for name in modes}
    fixed: dict[str, list[float]] = {name: [] for name in modes}
    loads: dict[str, list[float]] = {name: [] for name in modes}
    for i in range(trials):
        for name, mode in modes.items():
            run = timed(engine, mode)
            assert re.search(rf"\b{count} passed\b", run.stdout), run.stdout[-2000:]  # each test once
            times[name].append(run.seconds)
            loads[name].append(run.load)
            said = re.search(r"^stacktest: ((\d+ workers|one process).*)$", run.stdout, re.M)
            if said:  # the worker count the mode chose, and why
                print(f"  {name}: {said[1]}", flush=True)
            fixed[name].append(timed(engine, mode, "-k", "no_such_test").seconds)
        print(f"trial {i + 1}: " + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()), flush=True)
    return (
        {n: round(median(t), 2) for n, t in times.items()},
        {n: round(median(t), 2) for n, t in fixed.items()},
        {n: round(median(t), 2) for n, t in loads.items()},
    )


def report(seconds: dict[str, float], fixed: dict[str, float], loads: dict[str, float]) -> dict[str, float]:
    speedups = {name: round(seconds["serial"] / t, 2) for name, t in seconds.items()}
    for name, t in seconds.items():
        print(
            f"  {name}: {t:.1f} s, {speedups[name]:.2f}x serial; fixed cost {fixed[name]:.2f} s;"
            f" {loads[name]:.2f} cores busy (client and services)"
        )
    return speedups


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--tests", type=int, default=30)
    parser.add_argument("--wait-ms", type=int, default=50, help="the waiting suite's wait on Redis per test")
    args = parser.parse_args()
    command = (
        f"python benchmarks/parallel.py --trials {args.trials} --modules {args.modules} --tests {args.tests}"
        f" --wait-ms {args.wait_ms}"
    )
    subprocess.run([sys.executable, "-m", "stacktest", "up"], cwd=REPO, check=True, capture_output=True)
    engine = Engine.connect()
    try:
        print("the suite as generated: HTTP calls and Redis writes, bound by this machine's CPU", flush=True)
        count = generate(args.modules, args.tests, serial=6)
        cpu = measure(engine, MODES, count, args.trials)
        print(f"the same suite, each test also waiting {args.wait_ms} ms on Redis", flush=True)
        count = generate(args.modules, args.tests, serial=6, wait_ms=args.wait_ms)
        waiting = measure(engine, WAITING_MODES, count, args.trials)
    finally:
        subprocess.run([sys.executable, "-m", "stacktest", "down"], cwd=REPO, check=True, capture_output=True)
    print("bound by the CPU:")
    speedups = report(*cpu)
    cores = os.cpu_count() or 1
    # the serial run's CPU work, client and services, cannot finish in less than work / cores
    ceiling = cores / cpu[2]["serial"]
    print(f"  ceiling on {cores} cores for this suite, with no fixed cost at all: {ceiling:.2f}x serial")
    print(f"waiting {args.wait_ms} ms on Redis per test:")
    waiting_speedups = report(*waiting)
    ratio = speedups["test-fast"]
    record(
        "parallel",
        ratio,
        ">= 1.0x serial with default settings (the worker count chosen from the last run)",
        ratio >= 1.0,
        {
            "tests": count,
            "seconds": cpu[0],
            "speedup": speedups,
            "fixed_cost_s": cpu[1],
            "cores_busy": cpu[2],
            "ceiling": round(ceiling, 2),
            "trials": args.trials,
        },
        command,
    )
    chosen = waiting_speedups["test-fast"]
    record(
        "parallel-waiting",
        chosen,
        ">= 1.8x serial on two cores with default settings",
        chosen >= 1.8,
        {
            "tests": count,
            "wait_ms": args.wait_ms,
            "seconds": waiting[0],
            "speedup": waiting_speedups,
            "fixed_cost_s": waiting[1],
            "cores_busy": waiting[2],
            "trials": args.trials,
        },
        command,
    )


if __name__ == "__main__":
    main()
