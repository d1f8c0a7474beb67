"""What a cleanup finds, and the one rule that decides it: a record is test data when its name starts
with the configured prefix. The backends (cleanup/rules.py: Redis; cleanup/web.py: a service's HTTP API;
cleanup/sql.py: SQL) report through these types."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from stacktest.errors import CleanupError

__all__ = ["BATCH", "Backend", "BackendResult", "Record", "check_prefix", "is_test_name"]

BATCH = 500


@dataclass(frozen=True)
class Record:
    id: str
    name: str
    key: str = ""  # where it lives (a Redis key), for the report


@dataclass
class BackendResult:
    backend: str
    kind: str
    records: list[Record] = field(default_factory=list)
    related: int = 0  # keys (Redis) or rows (SQL) that refer to the records
    related_by: dict[str, int] = field(default_factory=dict)  # SQL: "table.column" -> rows
    deleted: int = 0  # records and keys removed (0 in a dry run)
    skipped: list[str] = field(default_factory=list)  # records it could not read, left as they are


def check_prefix(prefix: str) -> str:
    if not prefix or not prefix.strip():
        raise CleanupError(
            f"the cleanup prefix {prefix!r} is empty: it would match every record",
            hint="set tool.stacktest.cleanup.prefix to the prefix your tests use, e.g. 'TEST '",
        )
    return prefix


def is_test_name(name: object, prefix: str) -> bool:
    """The one rule: a string that starts with the prefix, exactly (case and spaces included)."""
    return isinstance(name, str) and name.startswith(check_prefix(prefix))


class Backend(Protocol):
    skipped: list[str]

    def find(self, prefix: str) -> BackendResult: ...

    def delete(self, found: BackendResult) -> int: ...


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
