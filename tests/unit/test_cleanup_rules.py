"""The one rule of test data, and the refusal of an empty prefix."""

from __future__ import annotations

import pytest

from stacktest.cleanup.rules import check_prefix, is_test_name
from stacktest.errors import CleanupError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TEST gw0 test_x client 1a2b3c", True),
        ("TEST ", True),
        ("TEST", False),
        ("test x", False),
        (" TEST x", False),
        ("TESTx", False),
        ("PROD TEST x", False),
        (None, False),
        (42, False),
    ],
)
def test_names(name: object, expected: bool) -> None:
    assert is_test_name(name, "TEST ") is expected


@pytest.mark.parametrize("prefix", ["", " ", "\t\n"])
def test_empty_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(CleanupError, match="empty"):
        check_prefix(prefix)
    with pytest.raises(CleanupError):
        is_test_name("anything", prefix)
