"""``govbus db upgrade|current``: the SQL store's schema (Alembic)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from base.errors import StorageError
from base.settings import Settings
from govbus.cli.common import JSON_OPT
from govbus.cli.group import command_group
from govbus.cli.output import console, emit_json, fail
from storage import migrate

#: The revision from which unconditional data goes to subscribing agencies (G 15, S 25).
SUBSCRIPTIONS_REVISION = "0004"
SUBSCRIPTIONS_NOTICE = (
    "注意：自本版本起，无条件共享数据只发送给订阅了该目录的部门（G 15；S 25）。已登记的部门"
    "保留原有接收（legacy_unconditional），直至其第一次订阅；新登记的部门需先订阅"
    "（govbus subscription add 或 POST /v1/subscriptions）。"
    " (Unconditional data now goes to subscribing agencies; agencies registered before this"
    " upgrade keep receiving every unconditional entry until their first subscription.)"
)


def crossed_subscriptions(before: str | None, now: str | None) -> bool:
    """Whether an upgrade from ``before`` to ``now`` introduced subscriptions on a database
    that had agencies' data already (an empty database has nothing to keep)."""
    return before is not None and before < SUBSCRIPTIONS_REVISION <= (now or "")


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
        seen: list[str | None] = []

        def step(url: str) -> str | None:
            seen.append(migrate.current(url))
            now = migrate.upgrade(url, revision)
            seen.append(now)
            return now

        _report(step, as_json, head_shown=False)
        if len(seen) == 2 and crossed_subscriptions(seen[0], seen[1]) and not as_json:
            console.print(SUBSCRIPTIONS_NOTICE, markup=False)

    @db.command("current")
    def current(as_json: bool = JSON_OPT) -> None:
        """Show the schema revision of the configured database."""
        _report(migrate.current, as_json, head_shown=True)
