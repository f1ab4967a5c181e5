"""The SQL store as plain rows, for ``govbus backup`` and ``govbus restore`` (GM 28, S 45).

Rows are JSON documents: datetimes as ISO 8601 text, bytes as base64, JSON columns as they
are. Every table of :data:`storage.tables.metadata` is dumped in one read transaction (a
consistent view), except :data:`SKIPPED` (login sessions: people log in again). Restoring
needs an empty, migrated store; tables are filled parents first.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Engine, LargeBinary, Table, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from base.errors import StorageError
from storage.engine import transaction
from storage.tables import metadata

#: Tables not kept: login sessions (their token hashes expire; people log in again).
SKIPPED = frozenset({"tokens"})

Row = dict[str, Any]


def backed_up_tables() -> list[Table]:
    """The tables a backup holds, parents before children."""
    return [t for t in metadata.sorted_tables if t.name not in SKIPPED]


def dump_tables(engine: Engine) -> dict[str, list[Row]]:
    """Every kept table's rows as JSON-safe documents, in one transaction."""
    out: dict[str, list[Row]] = {}
    with transaction(engine, "reading the store for a backup") as conn:
        for table in backed_up_tables():
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).mappings()
            out[table.name] = [_to_json(table, dict(r)) for r in rows]
    return out


def load_tables(engine: Engine, tables: Mapping[str, Sequence[Row]]) -> dict[str, int]:
    """Insert ``tables`` (from :func:`dump_tables`) into an empty store; returns the rows
    per table. Raises :class:`StorageError` when the store already holds data, or names
    a table it does not have, and then writes nothing."""
    known = {t.name: t for t in backed_up_tables()}
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise StorageError(
            f"the backup holds table {unknown[0]!r}, which this store does not have: "
            "upgrade govbus to the version that wrote the backup"
        )
    counts: dict[str, int] = {}
    with transaction(engine, "restoring the store") as conn:
        for table in known.values():
            held = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if held:
                raise StorageError(
                    f"the store is not empty ({table.name}: {held} rows): restore into a new "
                    "database (GOVBUS_DATABASE_URL)"
                )
        for name, table in known.items():
            rows = [_from_json(table, r) for r in tables.get(name, ())]
            if rows:
                try:
                    conn.execute(insert(table), rows)
                except SQLAlchemyError as exc:
                    raise StorageError(f"restoring {name}: {exc}") from exc
            counts[name] = len(rows)
    return counts


def _to_json(table: Table, row: Row) -> Row:
    out: Row = {}
    for column in table.columns:
        value = row[column.name]
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes | memoryview):
            value = base64.b64encode(bytes(value)).decode("ascii")
        out[column.name] = value
    return out


def _from_json(table: Table, row: Row) -> Row:
    out: Row = {}
    for column in table.columns:
        if column.name not in row:
            continue  # a column added after the backup: its default applies
        value = row[column.name]
        if value is not None and isinstance(column.type, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, LargeBinary):
            value = base64.b64decode(value)
        out[column.name] = value
    return out
