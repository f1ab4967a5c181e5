"""``govbus conflicts list`` and ``govbus conflicts resolve``: the bureau's view of GM 19.

Conflicts are read from ``govbus.conflicts``, their resolutions from
``govbus.conflicts.resolved`` (written here, by administration, never by the processors).
"""

from __future__ import annotations

import typer
from rich.table import Table

from base.errors import CoordinationError, GovbusError
from base.settings import Settings
from exchange.coordination import (
    OPEN,
    Resolution,
    conflict_key,
    first_resolutions,
    with_state,
)
from govbus.cli.broker_cmd import resolve_bootstrap
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_USAGE, console, emit_json, fail, failed, plain
from schemas.topics import TopicKind, topic_name
from topology.connection import connected
from topology.coordination import CoordinationDesk

JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts.")
#: The spelling of each resolution on the command line.
CHOICES = {r.option: r for r in Resolution}


def register(app: typer.Typer) -> None:
    conflicts = command_group(app, "conflicts", "Conflicting values raised for the bureau (GM 19).")
    _list_command(conflicts)
    _resolve_command(conflicts)


def _list_command(conflicts: typer.Typer) -> None:
    """``govbus conflicts list``."""

    @conflicts.command("list")
    def list_conflicts(
        entry: str = typer.Option("", help="Only this catalog entry."),
        only_open: bool = typer.Option(False, "--open", help="Only conflicts not yet resolved."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Every conflict raised so far, oldest first, open or resolved."""
        address = resolve_bootstrap(bootstrap, as_json)
        desk = CoordinationDesk(address, extra_config=connected(Settings.load(), address).kafka)
        try:
            log = desk.cases()
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        first = first_resolutions(log.resolutions)
        rows = [
            with_state(c, first)
            for c in log.conflicts
            if (not entry or c["entry"] == entry)
            and (not only_open or conflict_key(c["conflict_id"]) not in first)
        ]
        rows.sort(key=lambda c: c["detected_at"])
        if as_json:
            emit_json({"conflicts": plain(rows)})
            return
        table = Table(title=f"{len(rows)} conflict(s) for coordination (GM 19)")
        for col in ("id", "entry", "subject", "item", "authoritative", "reported", "detected"):
            table.add_column(col)
        table.add_column("state")
        for c in rows:
            state = c["state"] if c["state"] == OPEN else f"{c['resolution']} ({c['resolved_by']})"
            table.add_row(
                str(c["conflict_id"]),
                c["entry"],
                c["canonical_subject"],
                c["item"],
                f"{c['authoritative_value']} ({c['authoritative_provider']})",
                f"{c['reported_value']} ({c['reported_provider']})",
                str(c["detected_at"]),
                state,
            )
        console.print(table)


def _resolve_command(conflicts: typer.Typer) -> None:
    """``govbus conflicts resolve``."""

    @conflicts.command("resolve")
    def resolve_conflict(
        conflict_id: str = typer.Argument(..., help="conflict_id from `govbus conflicts list`."),
        resolution: str = typer.Option(
            ..., help="How it was settled: " + " | ".join(CHOICES) + "."
        ),
        by: str = typer.Option(..., "--by", help="Who decided: an agency id or the bureau."),
        note: str = typer.Option("", help="What was verified, with whom."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Close a conflict after consultation or the bureau's verification (GM 19)."""
        address = resolve_bootstrap(bootstrap, as_json)
        kind = CHOICES.get(resolution)
        if kind is None:
            fail(
                f"--resolution must be one of {', '.join(CHOICES)}, not {resolution!r}",
                as_json=as_json,
                code=EXIT_USAGE,
                kind="CoordinationError",
                reason="bad_resolution",
            )
        desk = CoordinationDesk(address, extra_config=connected(Settings.load(), address).kafka)
        try:
            record = desk.resolve(conflict_id, resolution=kind, resolved_by=by, note=note)
        except CoordinationError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__, reason=exc.code)
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        if as_json:
            emit_json({**plain(record), "topic": topic_name(TopicKind.RESOLVED)})
            return
        console.print(
            f"conflict {record['conflict_id']} resolved: {record['resolution']} "
            f"by {record['resolved_by']} (GM 19)"
        )
