"""``govbus db upgrade|current``: the SQL store's schema (Alembic)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from base.errors import StorageError
from base.settings import Settings
from govbus.cli.group import command_group
from govbus.cli.output import console, emit_json, fail
from storage import migrate

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _report(step: Callable[[str], str | None], as_json: bool, *, head_shown: bool) -> None:
    """Run ``step`` on the configured database; print the revision it is at."""
    url = Settings.load().effective_database_url
    try:
        now = step(url)
    except StorageError as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json({"database": _safe_url(url), "revision": now, "head": migrate.head()})
    elif head_shown:
        console.print(f"database {_safe_url(url)} at revision {now} (head {migrate.head()})")
    else:
        console.print(f"database {_safe_url(url)} at revision [bold]{now}[/]")


def register(app: typer.Typer) -> None:
    db = command_group(app, "db", "The SQL store (SQLite file by default, PostgreSQL supported).")

    @db.command("upgrade")
    def upgrade(
        revision: str = typer.Argument("head", help="Target revision."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Apply the Alembic migrations up to REVISION."""
        _report(lambda url: migrate.upgrade(url, revision), as_json, head_shown=False)

    @db.command("current")
    def current(as_json: bool = JSON_OPT) -> None:
        """Show the schema revision of the configured database."""
        _report(migrate.current, as_json, head_shown=True)
