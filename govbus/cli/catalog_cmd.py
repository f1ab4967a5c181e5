"""``govbus catalog validate FILE``: check a catalog YAML against the rules (G 11, GM 9-22)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from exchange.catalog_loader import CheckResult, check_catalog_file
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, console, emit_json, fail

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")
FILE_ARG = typer.Argument(..., help="Catalog YAML file.")


def report(path: Path, result: CheckResult) -> dict[str, Any]:
    """The JSON document of ``govbus catalog validate --json`` (field names are an interface)."""
    return {
        "valid": result.valid,
        "file": str(path),
        "entries": result.entry_count,
        "errors": [
            {"code": i.code, "article": i.article, "message": i.message, "entry": i.entry}
            for i in result.issues
        ],
    }


def _print(path: Path, result: CheckResult) -> None:
    if result.valid:
        console.print(f"[bold green]valid[/]: {path} ({result.entry_count} entries)")
        return
    console.print(f"[bold red]invalid[/]: {path} ({len(result.issues)} problem(s))")
    for issue in result.issues:
        where = f" [{issue.entry}]" if issue.entry else ""
        console.print(f"  {issue.code} ({issue.article}){where}: {issue.message}", markup=False)


def register(app: typer.Typer) -> None:
    catalog = command_group(
        app, "catalog", "Government data catalogs (resource, sharing, opening)."
    )

    @catalog.command("validate")
    def validate(
        file: Path = FILE_ARG,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Check every entry, item, provider and grant; list all problems (exit 1 if any)."""
        if not file.is_file():
            fail(f"no such file: {file}", as_json=as_json, code=EXIT_USAGE)
        result = check_catalog_file(file)
        if as_json:
            emit_json(report(file, result))
        else:
            _print(file, result)
        raise typer.Exit(EXIT_OK if result.valid else EXIT_FAILURE)
