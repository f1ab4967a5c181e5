"""Fresh databases for tests: a SQLite file, or a new PostgreSQL database (when
``GOVBUS_TEST_POSTGRES_URL`` is set; under CI it must be)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL_ENV = "GOVBUS_TEST_POSTGRES_URL"


def database_kinds() -> list[str]:
    """The kinds of database the suite runs on: SQLite, and PostgreSQL when configured."""
    kinds = ["sqlite"]
    if os.environ.get(PG_URL_ENV) or os.environ.get("CI"):
        kinds.append("postgresql")
    return kinds


def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """Yield the URL of a fresh, empty database of ``kind`` (a SQLite file in ``directory``,
    or a new PostgreSQL database, dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'govbus.db'}"
        return
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.fail(
            f"CI is set but {PG_URL_ENV} is not: PostgreSQL tests cannot run", pytrace=False
        )
    yield from _fresh_pg_database(url)


def _fresh_pg_database(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    base = make_url(url)
    name = f"govbus_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"{PG_URL_ENV} is set but PostgreSQL does not answer: {exc}", pytrace=False)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
