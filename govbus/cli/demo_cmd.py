"""``govbus demo``: the bus's story on embedded defaults (local broker + SQLite)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from govbus.cli.output import console, emit_json, fail
from govbus.errors import GovbusError
from govbus.settings import Settings
from topology.demo import DEMO_CATALOG, run_demo


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        catalog: Path = typer.Option(DEMO_CATALOG, help="Catalog YAML of the demo city."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Start the local broker if needed, publish a few events, read them back, stop."""
        settings = Settings.load()
        say = (lambda _m: None) if as_json else (lambda m: console.print(f"[dim]•[/] {m}"))
        try:
            report = run_demo(settings, say, catalog)
        except GovbusError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        if as_json:
            emit_json(asdict(report))
            return
        table = Table(title="What the bus carried")
        for col in ("subject (canonical)", "name", "partition", "offset"):
            table.add_column(col)
        for row in report.read_back:
            table.add_row(row["subject"], row["name"], row["partition"], row["offset"])
        console.print(table)
        for r in report.refused:
            console.print(f"refused before sending: {r['subject_key']} ({r['reason']})")
        if len(report.read_back) != len(report.published):
            fail("not every published event was read back")
