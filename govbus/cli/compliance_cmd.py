"""``govbus compliance report``: the assessment view per agency (G 27-28, GM 30; G 30, S 47)."""

from __future__ import annotations

import csv
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.table import Table

from base.errors import GovbusError
from base.settings import Settings
from exchange.catalog import LEGAL_TZ
from exchange.profiles import load_profiles, profiles_dir_from_env
from exchange.workdays import holiday_dirs_from_env, load_work_calendar
from govbus.cli.broker_cmd import resolve_bootstrap
from govbus.cli.common import database
from govbus.cli.group import command_group
from govbus.cli.monitor_cmd import catalog_source
from govbus.cli.output import EXIT_USAGE, console, emit_json, fail, failed
from monitoring.compliance import (
    ARTICLES,
    CSV_COLUMNS,
    ComplianceReport,
    Window,
    build_report,
    report_rows,
    report_to_dict,
)
from monitoring.compliance_read import read_facts
from storage.workflows import WorkflowStore
from topology.connection import connected
from topology.workflows.facts import overdue_answers


def _day(text: str, option: str, as_json: bool) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be a date YYYY-MM-DD, got {text!r}", as_json=as_json, code=EXIT_USAGE)


def _print(report: ComplianceReport) -> None:
    start, end = (t.astimezone(LEGAL_TZ) for t in (report.window.start, report.window.end))
    table = Table(
        title=f"assessment {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (Asia/Shanghai)",
        caption=f"assessment {ARTICLES['assessment']}; overdue: {ARTICLES['update_cycle']}; "
        f"stopped: {ARTICLES['stopped']}; conflicts: {ARTICLES['conflicts']}; "
        f"late answers: {ARTICLES['overdue_answers']}",
    )
    table.add_column("agency", no_wrap=True)
    for col in ("entries", "overdue", "accept", "stop", "reject", "confl.", "unread", "late ans."):
        table.add_column(col, justify="right")
    table.add_column("feed", no_wrap=True)
    for a in report.agencies:
        overdue = str(a.entries_overdue)
        feed = "[bold red]not consumed[/]" if a.feed_not_consumed else "read"
        table.add_row(
            f"{a.agency}\n{a.name_zh}",
            str(a.entries_provided),
            f"[bold red]{overdue}[/]" if a.overdue_entries else overdue,
            str(a.events_accepted),
            str(a.events_stopped),
            str(a.events_rejected),
            str(a.conflicts_caused),
            str(a.feed_unread),
            f"[bold red]{a.answers_overdue}[/]" if a.answers_overdue else "0",
            feed,
        )
    console.print(table)
    for a in report.agencies:
        for f in a.overdue_entries:
            console.print(
                f"{a.agency}: {f.entry} ({f.cycle}) {f.missed_cycles} cycle(s) missed, "
                f"{f.updates} update(s), longest silence {f.longest_gap_seconds / 86400:.1f} d",
                markup=False,
            )


def _overdue_answers(now: datetime) -> dict[str, int]:
    """Overdue answers per agency from the workflows' store (G 30, S 47)."""
    engine = database(Settings.load())
    try:
        return overdue_answers(
            WorkflowStore(engine),
            load_profiles(profiles_dir_from_env(os.environ)),
            load_work_calendar(holiday_dirs_from_env(os.environ)),
            now,
        )
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    compliance = command_group(app, "compliance", "Agencies' duties: assessment (G 27-28, GM 30).")

    @compliance.command("report")
    def report(
        agency: str = typer.Option("", help="Only this agency."),
        first: str = typer.Option("", "--from", help="First legal day YYYY-MM-DD (Shanghai)."),
        last: str = typer.Option("", "--to", help="Last legal day YYYY-MM-DD (inclusive)."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        catalog: Path = typer.Option(None, help="Fixed catalog file instead of state topics."),
        namespace: str = typer.Option(
            None, envvar="GOVBUS_STATE_NAMESPACE", help="State-topic namespace."
        ),
        groups: str = typer.Option("", help="Only consumer groups matching this regex."),
        as_csv: bool = typer.Option(False, "--csv", help="Print CSV for a spreadsheet."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Per agency: entries not updated within their cycle, events stopped as not
        authoritative, rejected events, conflicts caused, feeds not consumed."""
        if as_csv and as_json:
            fail("--csv and --json exclude each other", as_json=as_json, code=EXIT_USAGE)
        start, end = _day(first, "--from", as_json), _day(last, "--to", as_json)
        if start and end and end < start:
            fail("--to is before --from", as_json=as_json, code=EXIT_USAGE)
        now = datetime.now(UTC)
        address = resolve_bootstrap(bootstrap, as_json)
        try:
            cat = catalog_source(address, catalog, namespace, as_json)()
            if agency and cat.agency(agency) is None:
                fail(f"unknown agency {agency!r}", as_json=as_json, code=EXIT_USAGE)
            facts = read_facts(
                address,
                cat,
                group_pattern=groups or None,
                extra_config=connected(Settings.load(), address).kafka,
            )
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        # Without --from the window opens at the first record the bus holds for the catalog.
        opens = min((f.at for f in facts.audit), default=now)
        try:
            answers = _overdue_answers(now)
        except GovbusError as exc:
            fail(str(exc), as_json=as_json)
        result = build_report(
            cat,
            facts,
            Window.of_days(start, end, now, opens=opens),
            now=now,
            agencies=[agency] if agency else None,
            overdue_answers=answers,
        )
        if as_json:
            emit_json(report_to_dict(result))
        elif as_csv:
            writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(report_rows(result))
        else:
            _print(result)
