"""How many xdist workers the modes that choose the count start (test-parallel, test-fast, by-module,
by-class, parallel-safe), from what the last run of this checkout measured.

One rule. A suite's tests take ``S`` seconds one after the other (the sum of their JUnit times), and
while they run, this machine's CPU, the services' containers included, is busy ``c`` seconds per second
of test time. On ``cores`` cores, ``w`` workers cannot go faster than ``min(w, cores / c)`` times one,
and xdist costs :data:`FIXED_COST` seconds to start its workers and collect on each. So::

    predicted(w) = S                                           when w <= 1 (one process, no xdist)
                 = FIXED_COST + S / max(1, min(w, cores / c))  otherwise

The choice is the fewest workers within 5 % of the best prediction, up to :data:`MAX_PER_CORE` per core;
when no count beats one process, the mode runs without xdist, and says so. A suite that waits on the
network (``c`` small) gets more workers than cores; one bound by this machine's CPU, about one per core,
or none when it is short. ``workers_per_core`` > 0 fixes the count instead; with nothing measured yet,
one worker per core (xdist's ``auto``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FIXED_COST", "MAX_PER_CORE", "Choice", "Measured", "busy_cpu_seconds", "choose", "predicted"]

FIXED_COST = 5.5  # seconds: xdist's workers start and collect (benchmarks/parallel.py measures 5-6 s)
MAX_PER_CORE = 4
CLOSE_ENOUGH = 1.05


@dataclass(frozen=True)
class Measured:
    """What a run measured, kept for the next one (``.stacktest/last/timing.json``)."""

    test_seconds: float  # the tests' times added up: what one process would take
    cpu_per_test_second: float  # CPU seconds this machine was busy per second of test time

    def as_json(self) -> dict[str, float]:
        return {"test_seconds": self.test_seconds, "cpu_per_test_second": self.cpu_per_test_second}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Measured | None:
        if data is None:
            return None
        try:
            found = cls(float(data["test_seconds"]), float(data["cpu_per_test_second"]))
        except (TypeError, KeyError, ValueError):
            return None
        return found if found.test_seconds > 0 and found.cpu_per_test_second >= 0 else None


@dataclass(frozen=True)
class Choice:
    workers: int  # 0: one process, no xdist
    why: str


def predicted(m: Measured, workers: int, cores: int) -> float:
    if workers <= 1:
        return m.test_seconds
    ceiling = cores / max(m.cpu_per_test_second, 1e-6)
    return FIXED_COST + m.test_seconds / max(1.0, min(float(workers), ceiling))


def choose(m: Measured | None, cores: int, per_core: float = 0.0) -> Choice:
    if per_core > 0:
        count = max(1, round(cores * per_core))
        return Choice(count, f"{count} workers (workers_per_core = {per_core:g})")
    if m is None:
        return Choice(cores, f"{cores} workers, one per core (no earlier run of this checkout measured)")
    best = min(predicted(m, w, cores) for w in range(2, cores * MAX_PER_CORE + 1))
    workers = next(
        w for w in range(2, cores * MAX_PER_CORE + 1) if predicted(m, w, cores) <= best * CLOSE_ENOUGH
    )
    busy = f"the last run's tests took {m.test_seconds:.1f} s and kept {m.cpu_per_test_second:.2f} cores busy"
    if predicted(m, workers, cores) >= m.test_seconds:
        return Choice(0, f"one process, no xdist: {busy}; workers would not finish sooner")
    return Choice(
        workers,
        f"{workers} workers: {busy}; predicted {predicted(m, workers, cores):.1f} s instead of "
        f"{m.test_seconds:.1f} s",
    )


def busy_cpu_seconds(stat: Path = Path("/proc/stat")) -> float | None:
    """CPU seconds this machine has been busy since boot, on all cores (None where there is no
    /proc/stat). Containers of a local engine are counted; a remote engine's are not."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except OSError:
        return None
    if fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
