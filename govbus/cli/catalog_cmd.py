"""``govbus catalog validate FILE``: check a catalog YAML against the rules (G 11, GM 9-22)
and the jurisdiction profile (``--profile``, default the running one, ``GOVBUS_PROFILE``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from base.errors import ConfigError, ProfileError
from base.settings import Settings
from exchange.catalog_loader import CatalogIssue, CheckResult, admission, check_catalog_file
from exchange.profiles import Profile, load_profiles, profiles_dir_from_env
from govbus.cli.common import JSON_OPT
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, console, emit_json, fail

FILE_ARG = typer.Argument(..., help="Catalog YAML file.")


def running_profile(profile_id: str | None, *, as_json: bool) -> Profile:
    """``profile_id``, else the running profile (``GOVBUS_PROFILE``), read from
    ``GOVBUS_PROFILES_DIR`` or the packaged profiles; one line and exit 2 when there is none."""
    try:
        wanted = profile_id or Settings.load().profile
        return load_profiles(profiles_dir_from_env(os.environ)).get(wanted)
    except (ConfigError, ProfileError) as exc:
        fail(
            f"{exc}; pass --profile or set GOVBUS_PROFILE to one of them",
            as_json=as_json,
            code=EXIT_USAGE,
            kind=type(exc).__name__,
        )


def report(path: Path, result: CheckResult, profile: str | None = None) -> dict[str, Any]:
    """The JSON document of ``govbus catalog validate --json`` (field names are an interface)."""
    return {
        "valid": result.valid,
        "file": str(path),
        "profile": profile,
        "entries": result.entry_count,
        "errors": [
            {"code": i.code, "article": i.article, "message": i.message, "entry": i.entry}
            for i in result.issues
        ],
    }


def _print(path: Path, result: CheckResult, profile: str) -> None:
    if result.valid:
        console.print(
            f"[bold green]valid[/] under {profile}: {path} ({result.entry_count} entries)"
        )
        return
    console.print(f"[bold red]invalid[/] under {profile}: {path} ({len(result.issues)} problem(s))")
    print_issues(result.issues, console)


def print_issues(issues: Iterable[CatalogIssue], to: Console) -> None:
    """A catalog's problems, one a line: code (article) [entry]: message."""
    for issue in issues:
        where = f" [{issue.entry}]" if issue.entry else ""
        to.print(
            f"  {issue.code} ({issue.article}){where}: {issue.message}",
            markup=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    catalog = command_group(
        app, "catalog", "Government data catalogs (resource, sharing, opening)."
    )

    @catalog.command("validate")
    def validate(
        file: Path = FILE_ARG,
        profile: str = typer.Option(
            None, "--profile", help="Jurisdiction profile (default: GOVBUS_PROFILE)."
        ),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Check every entry, item, provider and grant, and what the jurisdiction profile
        admits (share and open types, refused grades); list all problems (exit 1 if any)."""
        if not file.is_file():
            fail(f"no such file: {file}", as_json=as_json, code=EXIT_USAGE)
        found = running_profile(profile, as_json=as_json)
        result = check_catalog_file(file, admission(found))
        if as_json:
            emit_json(report(file, result, found.id))
        else:
            _print(file, result, found.id)
        raise typer.Exit(EXIT_OK if result.valid else EXIT_FAILURE)
