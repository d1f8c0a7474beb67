"""Sharding: a pure split every job computes alike; every test in exactly one part, balanced by time."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from stacktest.errors import UsageError
from stacktest.testrun.shards import assign, durations_from, junit_key, parse_shard

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2", ""])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="expected I/N"):
        parse_shard(text)


def test_junit_names_match_node_ids() -> None:
    assert junit_key("tests/stack/test_x.py::TestA::test_b[1-a]") == "tests.stack.test_x.TestA.test_b[1-a]"
    assert junit_key("test_top.py::test_c") == "test_top.test_c"


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_test_lands_in_exactly_one_part(count: int) -> None:
    rng = random.Random(count)
    ids = [f"tests/test_m{m}.py::test_{t}" for m in range(9) for t in range(23)]
    durations = {junit_key(n): rng.uniform(0.01, 3.0) for n in ids if rng.random() < 0.7}
    parts = [assign(ids, (i, count), durations) for i in range(1, count + 1)]
    assert sum(len(p) for p in parts) == len(ids) and set().union(*parts) == set(ids)
    assert parts == [assign(list(reversed(ids)), (i, count), durations) for i in range(1, count + 1)]


def test_parts_are_balanced_by_recorded_time() -> None:
    ids = [f"t.py::test_{i}" for i in range(10)]
    durations = {junit_key(ids[0]): 9.0} | {junit_key(n): 1.0 for n in ids[1:]}
    first, second = assign(ids, (1, 2), durations), assign(ids, (2, 2), durations)
    assert first == {ids[0]}  # the long test alone: 9 s against 9 x 1 s
    assert len(second) == 9


def test_tests_without_a_time_count_as_the_median(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        "<testsuites><testsuite>"
        '<testcase classname="t" name="test_slow" time="10.0"/>'
        '<testcase classname="t" name="test_a" time="1.0"/>'
        '<testcase classname="t" name="test_b" time="1.0"/>'
        "</testsuite></testsuites>"
    )
    durations = durations_from(["*.xml"], tmp_path)
    assert durations == {"t.test_slow": 10.0, "t.test_a": 1.0, "t.test_b": 1.0}
    ids = ["t.py::test_slow", "t.py::test_a", "t.py::test_b", "t.py::test_new"]
    assert assign(ids, (1, 2), durations) == {"t.py::test_slow"}  # the new one counts 1 s, not 10
