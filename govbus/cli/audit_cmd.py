"""``govbus audit verify``: check the audit stream's hash chains (S 42; schemas.audit).

Reads ``govbus.audit`` to its end (read committed) and follows every chain. Exit code 0
when nothing is wrong, 1 when a record is changed, missing, duplicated or re-sealed (or a
chain ends before a head recorded earlier: ``--expect`` a previous ``--json`` report).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from consumers.reader import read_to_end
from govbus.cli.broker_cmd import bootstrap_for
from govbus.cli.output import EXIT_FAILURE, EXIT_USAGE, console, emit_json, fail
from govbus.connection import connected
from govbus.errors import GovbusError
from govbus.settings import Settings
from schemas.audit import Head, verify
from schemas.topics import TopicKind, topic_name


def _expected(path: Path | None, as_json: bool) -> dict[str, Head] | None:
    if path is None:
        return None
    try:
        heads = json.loads(path.read_text(encoding="utf-8"))["heads"]
        return {c: Head(int(h["seq"]), str(h["hash"])) for c, h in heads.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        fail(
            f"{path} is not a `govbus audit verify --json` report: {exc}",
            as_json=as_json,
            code=EXIT_USAGE,
        )


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="The audit stream: every event and decision, tamper-evident.")
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def verify_cmd(
        entry: list[str] = typer.Option(
            [], "--entry", help="Only the chains of this catalog entry (repeatable)."
        ),
        expect: Path = typer.Option(
            None, "--expect", help="An earlier --json report: its heads must still be there."
        ),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Recompute every audit record's hash and follow each chain's links."""
        settings = Settings.load()
        address = bootstrap or bootstrap_for(settings)
        if not address:
            fail(
                "no broker: pass --bootstrap, set GOVBUS_BOOTSTRAP or run `govbus broker start`",
                as_json=as_json,
            )
        expected = _expected(expect, as_json)
        prefixes = tuple(topic_name(TopicKind.INGEST, e) + "/" for e in entry)
        topic = topic_name(TopicKind.AUDIT)
        try:
            messages = [
                (f"{r.partition}/{r.offset}", r.value)
                for r in read_to_end(
                    address,
                    topic,
                    lambda b: b,
                    extra_config=connected(settings, address).kafka,
                )
            ]
        except GovbusError as exc:
            fail(str(exc), as_json=as_json)
        report = verify(
            messages,
            include=(lambda c: c.startswith(prefixes)) if prefixes else None,
            expected=expected,
        )
        if as_json:
            emit_json({"topic": topic, **report.to_dict()})
        else:
            state = "[green]intact[/]" if report.ok else "[bold red]NOT intact[/]"
            console.print(
                f"{topic}: {state}: {report.records} chained record(s) in "
                f"{len(report.heads)} chain(s), {report.unchained} unchained"
            )
            if report.findings:
                table = Table("finding", "chain", "seq", "at (partition/offset)", "detail")
                for f in report.findings:
                    table.add_row(f.kind, f.chain, str(f.seq or "-"), f.where or "-", f.detail)
                console.print(table)
        if not report.ok:
            raise typer.Exit(EXIT_FAILURE)
