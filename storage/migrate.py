"""Alembic migrations, driven from code (``govbus db upgrade``); no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from base.errors import StorageError
from storage.engine import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is ConfigParser-based: a literal '%' in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> str | None:
    """Bring the database at ``url`` to ``revision``; return the revision it is now at."""
    try:
        command.upgrade(alembic_config(url), revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"migration failed: {exc.__class__.__name__}: {exc}") from exc
    return current(url)


def current(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {exc}") from exc
    finally:
        engine.dispose()


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
