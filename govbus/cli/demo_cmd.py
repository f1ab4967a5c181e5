"""``govbus demo``: the bus's story on embedded defaults (local broker + SQLite)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from base.errors import GovbusError
from base.settings import Settings
from govbus.cli.output import console, emit_json, failed
from topology.demo import DEMO_CATALOG, run_demo


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        catalog: Path = typer.Option(DEMO_CATALOG, help="Catalog YAML of the demo city."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """The bus's story: publishers, the gate's decisions, grants, feeds (local defaults)."""
        settings = Settings.load()
        say = (lambda _m: None) if as_json else (lambda m: console.print(f"[dim]•[/] {m}"))
        try:
            report = run_demo(settings, say, catalog)
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        if as_json:
            emit_json(asdict(report))
            return
        table = Table(title="各部门收到了什么，为什么")
        for col in ("接收方", "目录条目", "主体", "数据项", "依据"):
            table.add_column(col, overflow="fold")
        for row in report.received:
            table.add_row(
                row["recipient_zh"], row["entry_zh"], row["subject"], row["items_zh"], row["why"]
            )
        console.print(table)
