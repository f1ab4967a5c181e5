"""``govbus id check``, ``govbus deadline``, ``govbus profile show|list``: domain look-ups.

Exit codes: 0 success (a valid number), 1 an invalid number or a failure (e.g. a date in a
year with no holiday arrangement), 2 a usage error (unknown profile, an obligation the
profile does not have, a trigger time without UTC offset).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer

from base.errors import CalendarError, DeadlineError, ProfileError
from exchange.deadlines import Deadline, PeriodDue, ServiceLevel, compute_deadline
from exchange.identity import IdentityKind, check
from exchange.profiles import (
    OBLIGATION_NAMES,
    PROFILES_DIR_ENV,
    Profile,
    Unit,
    load_profiles,
    period_to_dict,
    profile_to_dict,
)
from exchange.workdays import HOLIDAYS_DIR_ENV, holiday_dirs_from_env, load_work_calendar
from govbus.cli.common import JSON_OPT
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_FAILURE, EXIT_USAGE, console, emit_json, fail, iso

PROFILES_DIR_OPT = typer.Option(
    None,
    "--profiles-dir",
    envvar=PROFILES_DIR_ENV,
    help="Directory of profile files (default: the packaged profiles).",
)
KIND_OPT = typer.Option(None, "--kind", help="Expected kind (default: classify).")
SLA_UNIT_OPT = typer.Option(Unit.WORKING_DAYS, "--sla-unit", help="Unit of --sla.")
ISO_DATE_LENGTH = len("2025-01-01")


def _profile(profile_id: str, directory: Path | None, as_json: bool) -> Profile:
    try:
        profiles = load_profiles(directory) if directory else load_profiles()
        return profiles.get(profile_id)
    except ProfileError as exc:
        code = EXIT_USAGE if exc.code == "unknown_profile" else EXIT_FAILURE
        fail(str(exc), as_json=as_json, code=code, kind=type(exc).__name__, reason=exc.code)


def _parse_start(text: str, as_json: bool) -> datetime | date:
    """A date (the legal date itself) or an ISO datetime with a UTC offset."""
    try:
        if len(text) == ISO_DATE_LENGTH:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--from {text!r} is not an ISO date or datetime", as_json=as_json, code=EXIT_USAGE)
    if moment.utcoffset() is None:
        fail(
            f"--from {text!r} has no UTC offset; add one, e.g. {text}+08:00 (D1)",
            as_json=as_json,
            code=EXIT_USAGE,
        )
    return moment


def _period_json(due: PeriodDue) -> dict[str, Any]:
    return {
        **period_to_dict(due.period),
        "due_date": iso(due.due_date),
        "due_by": iso(due.due_by),
    }


def deadline_json(profile_id: str, result: Deadline) -> dict[str, Any]:
    binding = result.binding.period
    return {
        "profile": profile_id,
        "obligation": result.obligation,
        "amount": binding.amount,
        "unit": binding.unit.value,
        "starts_from": binding.starts_from.value,
        "due_date": iso(result.due_date),
        "due_by": iso(result.due_by),
        "basis": result.basis,
        "periods": [_period_json(p) for p in result.periods],
        "note": " ".join(result.notes) or None,
        "sla_due_date": iso(result.sla_due_date),
    }


def _show_deadline(payload: dict[str, Any]) -> None:
    due = (
        f"{payload['due_date']} (ends {payload['due_by']})"
        if payload["due_date"]
        else "no statutory date (promptly)"
    )
    console.print(
        f"{payload['profile']} {payload['obligation']}: [bold]{due}[/] ({payload['basis']})"
    )
    for period in payload["periods"]:
        amount = "" if period["amount"] is None else f"{period['amount']} "
        console.print(
            f"  {amount}{period['unit']} from {period['starts_from']}, {period['basis']}: "
            f"{period['due_date'] or '-'}"
        )
    if payload["sla_due_date"]:
        console.print(f"  service-level target (not statutory): {payload['sla_due_date']}")
    if payload["note"]:
        console.print(f"  note: {payload['note']}")


def register(app: typer.Typer) -> None:
    ident = command_group(
        app, "id", "Identity keys of GM 18: resident IDs, credit codes, licences."
    )
    profile = command_group(
        app, "profile", "Jurisdiction profiles (D3): periods and rules per text set."
    )
    _id_commands(ident)
    _deadline_command(app)
    _profile_commands(profile)


def _id_commands(ident: typer.Typer) -> None:
    """``govbus id check``."""

    @ident.command("check")
    def id_check(
        number: str = typer.Argument(..., help="The number to check."),
        kind: IdentityKind | None = KIND_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Validate and normalise a number; exit 0 when valid, 1 when invalid."""
        result = check(number, kind)
        if as_json:
            emit_json(result.to_json())
        elif result.valid and result.kind is not None:
            console.print(f"valid {result.kind.value}: [bold]{result.normalized}[/]")
        else:
            console.print(f"invalid: {result.reason} ({result.normalized})")
        if not result.valid:
            raise typer.Exit(EXIT_FAILURE)


def _deadline_command(app: typer.Typer) -> None:
    """``govbus deadline``."""

    @app.command("deadline")
    def deadline(
        profile_id: str = typer.Option(..., "--profile", help="Profile id, e.g. guiyang-2021."),
        obligation: str = typer.Option(..., "--obligation", help=", ".join(OBLIGATION_NAMES)),
        start: str = typer.Option(
            ..., "--from", help="Trigger: ISO date, or ISO datetime with offset."
        ),
        case: str | None = typer.Option(None, "--case", help="Narrow to one case."),
        sla: int | None = typer.Option(None, "--sla", min=1, help="Service-level target."),
        sla_unit: Unit = SLA_UNIT_OPT,
        profiles_dir: Path | None = PROFILES_DIR_OPT,
        holidays_dir: str | None = typer.Option(
            None, "--holidays-dir", envvar=HOLIDAYS_DIR_ENV, help="Extra year-file dirs."
        ),
        as_json: bool = JSON_OPT,
    ) -> None:
        """The statutory due date of an obligation (D1, D2)."""
        found = _profile(profile_id, profiles_dir, as_json)
        chosen = found.obligation(obligation)
        if chosen is None:
            fail(
                f"profile {profile_id} has no obligation {obligation!r}"
                + ("" if obligation in OBLIGATION_NAMES else f" (known: {OBLIGATION_NAMES})"),
                as_json=as_json,
                code=EXIT_USAGE,
                reason="no_obligation",
            )
        moment = _parse_start(start, as_json)
        dirs = holiday_dirs_from_env({HOLIDAYS_DIR_ENV: holidays_dir or ""})
        try:
            level = None if sla is None else ServiceLevel(sla, sla_unit)
            result = compute_deadline(
                chosen, moment, load_work_calendar(dirs), case=case, sla=level
            )
        except DeadlineError as exc:
            fail(str(exc), as_json=as_json, code=EXIT_USAGE, reason=exc.code)
        except CalendarError as exc:
            fail(str(exc), as_json=as_json, code=EXIT_FAILURE, reason=exc.code)
        payload = deadline_json(profile_id, result)
        if as_json:
            emit_json(payload)
        else:
            _show_deadline(payload)


def _profile_commands(profile: typer.Typer) -> None:
    """``govbus profile show|list``."""

    @profile.command("show")
    def show(
        profile_id: str = typer.Argument(..., help="Profile id, e.g. shenyang-2019."),
        profiles_dir: Path | None = PROFILES_DIR_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Every rule of one profile."""
        data = profile_to_dict(_profile(profile_id, profiles_dir, as_json))
        if as_json:
            emit_json(data)
            return
        console.print(f"[bold]{data['id']}[/]: {data['title']}")
        for name, entry in data["obligations"].items():
            if entry is None:
                console.print(f"  {name}: none")
                continue
            cites = "; ".join(
                f"{p['amount'] or ''} {p['unit']} from {p['starts_from']} ({p['basis']})".strip()
                for p in entry["periods"]
            )
            console.print(f"  {name}: {cites}")
        for section in ("sharing", "opening", "subject_authorisation", "catalog_lifecycle"):
            console.print(f"  {section}: {data[section]}")

    @profile.command("list")
    def list_profiles(
        profiles_dir: Path | None = PROFILES_DIR_OPT, as_json: bool = JSON_OPT
    ) -> None:
        """The ids of every profile in the directory."""
        try:
            found = load_profiles(profiles_dir) if profiles_dir else load_profiles()
        except ProfileError as exc:
            fail(str(exc), as_json=as_json, reason=exc.code)
        if as_json:
            emit_json({"profiles": list(found.ids)})
        else:
            for p in found.profiles:
                console.print(f"{p.id}: {p.title}")


__all__ = ["deadline_json", "register"]
