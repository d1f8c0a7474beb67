"""The worker count of the modes that choose it (testrun.workers): one rule, from the last run's
measurement, pinned case by case on two cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.testrun.workers import FIXED_COST, Measured, choose, predicted

pytestmark = pytest.mark.unit


def test_nothing_measured_yet_is_one_worker_per_core() -> None:
    assert choose(None, cores=2).workers == 2


def test_a_count_per_core_in_the_settings_wins() -> None:
    assert choose(Measured(300, 0.1), cores=2, per_core=4.0).workers == 8
    assert choose(Measured(300, 0.1), cores=2, per_core=0.1).workers == 1  # never none


def test_a_short_cpu_bound_suite_runs_in_one_process() -> None:
    """12 s of tests keeping 1.6 cores busy: two workers reach at most 1.25x, which xdist's start eats."""
    chosen = choose(Measured(12.0, 1.6), cores=2)
    assert chosen.workers == 0 and "no xdist" in chosen.why
    assert predicted(Measured(12.0, 1.6), 2, 2) > 12.0


def test_a_long_cpu_bound_suite_takes_one_worker_per_core() -> None:
    assert choose(Measured(300.0, 1.0), cores=2).workers == 2


def test_a_waiting_suite_takes_more_workers_than_cores() -> None:
    """37 s of tests keeping 0.5 cores busy (each waits on Redis): the CPU allows 4x, so 4 workers."""
    chosen = choose(Measured(37.0, 0.5), cores=2)
    assert chosen.workers == 4, chosen
    assert predicted(Measured(37.0, 0.5), 4, 2) == pytest.approx(FIXED_COST + 37.0 / 4)


def test_the_fewest_workers_near_the_best_are_chosen() -> None:
    """Past the CPU's ceiling more workers only add processes: the count stops at the ceiling."""
    assert choose(Measured(1000.0, 0.25), cores=2).workers == 8
    assert choose(Measured(1000.0, 0.0), cores=2).workers == 8  # all waiting: the per-core cap


@pytest.mark.parametrize(
    "data", [None, {}, {"test_seconds": "x"}, {"test_seconds": 0, "cpu_per_test_second": 1}]
)
def test_a_missing_or_broken_record_counts_as_nothing_measured(data: dict[str, object] | None) -> None:
    assert Measured.from_json(data) is None


def test_busy_cpu_is_read_from_proc_stat(tmp_path: Path) -> None:
    from stacktest.testrun.workers import busy_cpu_seconds

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 1 2 3\n")
    import os

    assert busy_cpu_seconds(stat) == pytest.approx(160 / os.sysconf("SC_CLK_TCK"))
    assert busy_cpu_seconds(tmp_path / "missing") is None


def test_a_measurement_reads_back_as_written() -> None:
    kept = Measured(12.5, 0.75)
    assert Measured.from_json(kept.as_json() | {"one_process": True}) == kept
    assert Measured.from_json({"test_seconds": 3, "cpu_per_test_second": -1}) is None
