"""The ``sql`` cleanup backend: test records in a table of PostgreSQL, MySQL/MariaDB or SQLite, and the
rows of other tables that refer to them, through SQLAlchemy Core.

Safe by construction:

- the table is reflected, so every identifier is quoted by SQLAlchemy and every value is bound; nothing
  of the settings is formatted into SQL;
- the prefix is matched with ``LIKE`` (``%``, ``_`` and the escape character escaped), and every row it
  returns is checked again in Python (:func:`~stacktest.cleanup.rules.is_test_name`: exact, so a
  database whose ``LIKE`` ignores case, as MySQL's default collation does, deletes nothing more);
- an id that also belongs to a row that is not test data is never used, for the record or its related
  rows;
- related rows (found by the foreign keys that point at the id column, and listed by hand) are deleted
  first, then the records, all in one transaction per backend: a failure leaves the database as it was;
- what ``find`` counts is exactly what ``delete`` removes: ``delete`` deletes by the ids ``find`` kept,
  and only rows whose name still has the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacktest.adapters import sql as _sql
from stacktest.errors import CleanupError
from stacktest.settings import CleanupBackend

__all__ = ["ESCAPE", "SqlBackend", "like_prefix"]

ESCAPE = "/"  # LIKE's escape character: the same meaning in PostgreSQL, MySQL and SQLite


def like_prefix(prefix: str) -> str:
    """A LIKE pattern that matches exactly the strings starting with ``prefix``."""
    escaped = prefix.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return escaped + "%"


@dataclass
class Found:
    ids: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    related: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, column) -> rows


class SqlBackend:
    """One table's test records (see the module's text)."""

    def __init__(self, config: CleanupBackend, url: Any) -> None:
        self.config = config
        self.url = url
        self.skipped: list[str] = []
        self.found = Found()

    def _tables(self, conn: Any) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        """The records' table, its id and name columns, and each (table, column) that refers to it."""
        import sqlalchemy as sa

        meta = sa.MetaData()
        c = self.config
        try:
            table = sa.Table(c.table, meta, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise CleanupError(
                f"cleanup backend {c.name}: no table {c.table!r} in the database",
                hint="check tool.stacktest.cleanup.backends.<name>.table (and database)",
            ) from None
        for column in (c.id_field, c.name_field):
            if column not in table.c:
                raise CleanupError(f"cleanup backend {c.name}: table {c.table!r} has no column {column!r}")
        refs: list[tuple[Any, Any]] = []
        inspector = sa.inspect(conn)
        for other in inspector.get_table_names():
            for fk in inspector.get_foreign_keys(other):
                if fk.get("referred_table") == c.table and fk.get("referred_columns") == [c.id_field]:
                    refs.append((other, fk["constrained_columns"][0]))
        for rel in c.related_rows:
            if (rel.table, rel.column) not in refs:
                refs.append((rel.table, rel.column))
        tables = []
        for name, column in refs:
            t = sa.Table(name, meta, autoload_with=conn) if name not in meta.tables else meta.tables[name]
            if column not in t.c:
                raise CleanupError(f"cleanup backend {c.name}: table {name!r} has no column {column!r}")
            tables.append((t, t.c[column]))
        return table, (table.c[c.id_field], table.c[c.name_field]), tables

    def find(self, prefix: str) -> Any:
        from stacktest.cleanup.found import BackendResult, Record, is_test_name

        engine = _sql.connect(self.url)
        try:
            with engine.connect() as conn:
                found = self._find(conn, prefix)
        except Exception as exc:  # the driver's errors: named, without the URL
            raise self._failed(exc) from None
        finally:
            engine.dispose()
        self.found = found
        result = BackendResult(self.config.name, "sql")
        result.records = [
            Record(str(i), n, self.config.table) for i, n in zip(found.ids, found.names, strict=True)
        ]
        result.related = sum(found.related.values())
        result.related_by = {f"{t}.{c}": n for (t, c), n in sorted(found.related.items())}
        assert all(is_test_name(r.name, prefix) for r in result.records)
        return result

    def _find(self, conn: Any, prefix: str) -> Found:
        import sqlalchemy as sa

        from stacktest.cleanup.found import is_test_name

        _table, (id_col, name_col), refs = self._tables(conn)
        rows = conn.execute(
            sa.select(id_col, name_col).where(name_col.like(like_prefix(prefix), escape=ESCAPE))
        )
        test = [(i, n) for i, n in rows if is_test_name(n, prefix)]
        ids = sorted({i for i, _ in test}, key=str)
        if ids:  # an id that a row which is not test data also has is left alone
            shared = conn.execute(sa.select(id_col, name_col).where(id_col.in_(ids)))
            kept = {i for i, n in shared if not is_test_name(n, prefix)}
            for i in sorted(kept, key=str):
                self.skipped.append(f"{self.config.table} id {i}: also the id of a row that is not test data")
            test = [(i, n) for i, n in test if i not in kept]
            ids = [i for i in ids if i not in kept]
        found = Found(ids=[i for i, _ in test], names=[n for _, n in test])
        for t, column in refs:
            count = (
                conn.execute(sa.select(sa.func.count()).select_from(t).where(column.in_(ids))).scalar()
                if ids
                else 0
            )
            found.related[(t.name, column.name)] = int(count or 0)
        return found

    def delete(self, found_result: Any) -> int:
        """Delete the related rows, then the records, that :meth:`find` found: one transaction."""
        import sqlalchemy as sa

        ids = sorted(set(self.found.ids), key=str)
        if not ids:
            return 0
        engine = _sql.connect(self.url)
        deleted = 0
        try:
            with engine.begin() as conn:  # one transaction: all of it or nothing
                table, (id_col, name_col), refs = self._tables(conn)
                for t, column in refs:
                    deleted += conn.execute(sa.delete(t).where(column.in_(ids))).rowcount or 0
                names = set(self.found.names)
                deleted += (
                    conn.execute(sa.delete(table).where(id_col.in_(ids), name_col.in_(names))).rowcount or 0
                )
        except Exception as exc:
            raise self._failed(exc) from None
        finally:
            engine.dispose()
        return deleted

    def _failed(self, exc: Exception) -> CleanupError:
        if isinstance(exc, CleanupError):
            return exc
        return CleanupError(
            f"cleanup backend {self.config.name}: {_sql.describe(exc)}",
            hint="check that the database is up (`stacktest status`) and the backend's settings",
        )
