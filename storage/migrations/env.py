"""Alembic environment: runs online against the URL set by storage.migrate.

SQLite cannot alter most of a table in place, so migrations there recreate tables (batch
mode). With foreign keys enforced, dropping a parent table whose rows are referenced
fails, so enforcement is off while migrating SQLite and ``PRAGMA foreign_key_check``
must find no violation before the migration commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from base.errors import StorageError
from storage.engine import make_engine
from storage.tables import metadata

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction, or SQLite ignores it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
    engine.dispose()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StorageError(f"migration would break foreign keys: {broken[:5]}")


run_migrations_online()
