"""SQLAlchemy 2 engine factory: a SQLite file by default, PostgreSQL supported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Connection, Engine, RowMapping, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from base.errors import DuplicateError, StorageError

R = TypeVar("R")

#: A SQLite writer waits this long for a lock held by another process before failing.
SQLITE_BUSY_TIMEOUT_S = 30
#: A PostgreSQL connection attempt gives up after this long (a dead server must fail fast).
PG_CONNECT_TIMEOUT_S = 10


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"not a database URL: {exc}") from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot create engine for {parsed.render_as_string()}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


@contextmanager
def transaction(engine: Engine, what: str, *, duplicates: bool = False) -> Iterator[Connection]:
    """One transaction on ``engine``; SQLAlchemy's errors become :class:`StorageError`
    naming ``what`` (a conflict with existing data said as such). With ``duplicates``, a
    key already taken is a :class:`DuplicateError` (``duplicate``)."""
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as exc:
        if duplicates and unique_violation(exc):
            raise DuplicateError(f"{what}: the id exists already", code="duplicate") from exc
        raise StorageError(f"{what}: conflicts with existing data ({exc.orig})") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"{what}: {exc.__class__.__name__}: {exc}") from exc


class Store:
    """A store on one engine: each of its methods is one :func:`transaction`."""

    #: Whether a key already taken is a :class:`DuplicateError` (else a StorageError).
    duplicates: ClassVar[bool] = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _tx(self, what: str) -> AbstractContextManager[Connection]:
        return transaction(self.engine, what, duplicates=self.duplicates)

    def _first(self, what: str, query: Select[Any], row: Callable[[RowMapping], R]) -> R | None:
        """The first row ``query`` selects, as ``row`` makes it; None when there is none."""
        with self._tx(what) as conn:
            found = conn.execute(query).mappings().first()
        return None if found is None else row(found)

    def _all(self, what: str, query: Select[Any], row: Callable[[RowMapping], R]) -> list[R]:
        """Every row ``query`` selects, in its order, as ``row`` makes it."""
        with self._tx(what) as conn:
            return [row(m) for m in conn.execute(query).mappings()]


def unique_violation(exc: IntegrityError) -> bool:
    """A primary or unique key already taken (SQLite's message, PostgreSQL's SQLSTATE)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)
