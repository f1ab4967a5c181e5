"""``govbus catalog import``, ``govbus agency add|list|revoke``, ``govbus grant
add|revoke|list``: reference data in the SQL store, published to the compacted state topics
that the processors read (G 11, G 14, G 15, GM 13, S 22, S 25).

Every command migrates the configured database first (``settings.effective_database_url``).
The broker is ``--bootstrap``, else the settings' (``GOVBUS_BOOTSTRAP``) or the local
broker's; the state-topic namespace is ``--namespace`` or ``GOVBUS_STATE_NAMESPACE``. The
work itself is :class:`topology.reference_service.ReferenceService`.

Broker access (issue 7, :mod:`operations.access`): ``agency add`` also issues the agency's
SCRAM credentials and ACLs (``--no-credentials`` registers only), ``agency revoke`` removes
them, ``catalog import`` re-applies the ACLs of agencies that have credentials (what they
are the source of may have changed); ``agency rotate-password|show`` are in
:mod:`govbus.cli.access_cmd`. Grants never touch ACLs.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from base.errors import DuplicateError
from base.settings import Settings
from exchange.catalog import LEGAL_TZ, AgencyKind, start_of_day
from exchange.catalog_loader import admission, check_catalog_file
from exchange.grants import Grant, is_active
from exchange.profiles import Profile, load_profiles, profiles_dir_from_env
from exchange.workdays import holiday_dirs_from_env, load_work_calendar
from exchange.workflows import catalog_change as cc
from exchange.workflows.roles import OPERATOR
from govbus.cli import access_cmd
from govbus.cli.catalog_cmd import print_issues, running_profile
from govbus.cli.catalog_cmd import report as validation_report
from govbus.cli.common import (
    BOOTSTRAP_OPT,
    JSON_OPT,
    NAMESPACE_OPT,
    database,
    reference_service,
    reported,
)
from govbus.cli.group import command_group
from govbus.cli.output import (
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    emit,
    emit_json,
    emit_rows,
    err_console,
    fail,
    iso,
)
from schemas.state import grant_document
from storage.reference import AgencyRow, ReferenceStore
from storage.workflows import WorkflowStore
from topology.reference_service import GrantTerms, ReferenceService
from topology.workflows.catalog import CatalogChanges, import_catalog
from topology.workflows.clock import SystemClock
from topology.workflows.deployment import Deployment

KINDS = ", ".join(k.value for k in AgencyKind)


def _with_fix(exc: DuplicateError, agency_id: str) -> DuplicateError:
    """``agency add`` of an id taken: the command that does what the person wanted."""
    if exc.code == "agency_exists":
        fix = (
            "to issue its credentials (an agency a catalog import registered has none), run "
            f"`govbus agency rotate-password {agency_id}`"
        )
    else:
        fix = "choose another id"
    return DuplicateError(f"{exc}: {fix}", code=exc.code)


def _moment(text: str, option: str, *, end_of_day: bool, as_json: bool) -> datetime:
    """An ISO date (legal time: from 00:00, or through 24:00 for ``end_of_day``, D1) or an
    ISO datetime (without offset: legal time)."""
    try:
        value = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO date or datetime", as_json=as_json, code=EXIT_USAGE)
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=LEGAL_TZ)
    return start_of_day(value + timedelta(days=1) if end_of_day else value)


def agency_json(row: AgencyRow) -> dict[str, Any]:
    """One agency in ``--json`` output."""
    return {
        "id": row.id,
        "name": row.name,
        "name_zh": row.name_zh,
        "kind": row.kind,
        "created_at": row.created_at.isoformat(),
        "revoked_at": iso(row.revoked_at),
    }


def _agency_line(row: AgencyRow) -> str:
    revoked = f"  revoked {row.revoked_at.isoformat()}" if row.revoked_at else ""
    return f"{row.id:<24} {row.kind:<26} {row.name_zh or row.name}{revoked}"


def grant_json(grant: Grant, at: datetime | None = None) -> dict[str, Any]:
    """One grant in ``--json`` output: its state document plus ``active`` now."""
    return {**grant_document(grant), "active": is_active(grant, at or datetime.now(UTC))}


def _grant_line(grant: Grant) -> str:
    state = (
        "revoked"
        if grant.revoked_at
        else ("active" if is_active(grant, datetime.now(UTC)) else "inactive")
    )
    until = grant.valid_until.isoformat() if grant.valid_until else "open-ended"
    return (
        f"{grant.id}  {grant.consumer} <- {grant.entry_id} [{', '.join(sorted(grant.items))}]"
        f"  by {grant.granted_by}  {grant.valid_from.isoformat()} .. {until}  {state}"
    )


def _request_json(change: cc.CatalogChange) -> dict[str, str]:
    """A change request opened by ``catalog import`` in ``--json`` output."""
    return {
        "id": change.id,
        "entry": change.entry_id,
        "change": change.change.value,
        "state": change.state.value,
    }


def _catalog_changes(service: ReferenceService, profile: Profile) -> CatalogChanges:
    """The catalog's change requests on the configured store (``govbus serve`` reviews
    them; its audit relay seals their transitions)."""
    deployment = Deployment(
        load_profiles(profiles_dir_from_env(os.environ)),
        profile.id,
        load_work_calendar(holiday_dirs_from_env(os.environ)),
        SystemClock(),
    )
    return CatalogChanges(WorkflowStore(service.store.engine), service, deployment)


# -- commands -------------------------------------------------------------------------------------
def register(app: typer.Typer) -> None:
    catalog = command_group(
        app, "catalog", "Government data catalogs (resource, sharing, opening)."
    )
    agency = command_group(app, "agency", "Registered agencies (providers and consumers).")
    grant = command_group(
        app, "grant", "Sharing grants of conditional entries (G 14, G 15, S 22, S 25)."
    )
    access_cmd.register(agency, lambda b, j: reference_service(b, "", j), reported)
    _catalog_commands(catalog)
    _agency_add_command(agency)
    _agency_commands(agency)
    _grant_commands(grant)


def _catalog_commands(catalog: typer.Typer) -> None:
    """``govbus catalog import``."""

    @catalog.command("import")
    def import_(
        file: Path = typer.Argument(..., help="Catalog YAML file."),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Validate, store and publish a catalog; create its entries' and agencies' topics.

        Agencies, entries and grants go to the SQL store, the topics of every published entry
        and every agency are created, then the state records are published. An invalid
        catalog changes nothing. An entry that would change a published one is not stored:
        a change request is opened for it, reviewed as the profile requires (G 11, S 18,
        J 9 ¶4) and published by `govbus serve` once approved.
        """
        if not file.is_file():
            fail(f"no such file: {file}", as_json=as_json, code=EXIT_USAGE)
        profile = running_profile(None, as_json=as_json)  # the bus's: GOVBUS_PROFILE
        result = check_catalog_file(file, admission(profile))
        if not result.valid:
            if not as_json:
                print_issues(result.issues, err_console)
            fail(
                f"catalog {file} is invalid under profile {profile.id} (GOVBUS_PROFILE):"
                f" {len(result.issues)} problem(s); nothing imported",
                as_json=as_json,
                code=EXIT_FAILURE,
                profile=profile.id,
                errors=validation_report(file, result, profile.id)["errors"],
            )
        with reported(as_json):
            service = reference_service(bootstrap, namespace, as_json, profile)
            imported = import_catalog(_catalog_changes(service, profile), result, OPERATOR)
            service.sync_acls([a.id for a in service.store.list_agencies()])
        done, requests = imported.report, imported.change_requests
        if as_json:
            emit_json(
                {
                    "entries": done.entries,
                    "agencies": done.agencies,
                    "grants": done.grants,
                    "topics_created": list(done.topics_created),
                    "published_entries": list(done.published_entries),
                    "change_requests": [
                        {
                            "id": c.id,
                            "entry": c.entry_id,
                            "change": c.change.value,
                            "state": c.state.value,
                        }
                        for c in requests
                    ],
                }
            )
            return
        console.print(
            f"imported {done.entries} entries, {done.agencies} agencies, {done.grants} grants;"
            f" {len(done.published_entries)} published; {len(done.topics_created)} topics created"
        )
        for c in requests:
            console.print(
                f"entry {c.entry_id} is published: change request {c.id} ({c.change.value},"
                f" {c.state.value}) opened instead of changing it",
                markup=False,
            )


def _agency_add_command(agency: typer.Typer) -> None:
    """``govbus agency add`` (``rotate-password`` and ``show``: :mod:`access_cmd`)."""

    @agency.command("add")
    def agency_add(
        name: str = typer.Argument(..., help="Short name, the agency's id on the bus."),
        name_zh: str = typer.Option("", "--name-zh", help="Chinese name (default: NAME)."),
        full_name: str = typer.Option("", "--full-name", help="Full name (default: NAME)."),
        kind: str = typer.Option(AgencyKind.ADMINISTRATIVE_AGENCY.value, help=f"One of {KINDS}."),
        credentials_file: Path = access_cmd.CREDENTIALS_OPT,
        no_credentials: bool = typer.Option(
            False, "--no-credentials", help="Register only: no SCRAM credentials, no ACLs."
        ),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Register an agency, create its topics, publish it; issue its credentials and ACLs.

        The password is shown once (or written to --credentials-file, mode 0600)."""
        if kind not in {k.value for k in AgencyKind}:
            fail(f"--kind {kind!r}: expected one of {KINDS}", as_json=as_json, code=EXIT_USAGE)
        settings = Settings.load()
        if not no_credentials:
            access_cmd.require_listener(settings, name, as_json)
        issued: dict[str, Any] | None = None
        with reported(as_json):
            service = reference_service(bootstrap, namespace, as_json)
            try:
                done = service.add_agency(
                    name,
                    full_name or name,
                    name_zh=name_zh or full_name or name,
                    kind=AgencyKind(kind),
                )
            except DuplicateError as exc:
                raise _with_fix(exc, name) from exc
            if not no_credentials:
                entries = access_cmd.source_entries(service, name)
                config = access_cmd.access_control(settings, service.bootstrap).issue(name, entries)
                issued = access_cmd.issue_payload(name, entries, config, credentials_file)
        if as_json:
            emit_json(
                {
                    "agency": agency_json(done.agency),
                    "topics_created": list(done.topics_created),
                    "name": done.agency.id,
                    "topics": None if issued is None else issued["topics"],
                    "client_config": None if issued is None else issued["client_config"],
                    "credentials_file": None if issued is None else issued["credentials_file"],
                }
            )
            return
        console.print(f"agency {done.agency.id} registered ({done.agency.kind})")
        console.print(
            f"无条件共享目录须先订阅方可接收（G 15；S 25）：govbus subscription add --agency "
            f"{done.agency.id} --entry <目录> --purpose <用途>",
            markup=False,
        )
        if issued is not None:
            access_cmd.print_issued(issued)


def _agency_commands(agency: typer.Typer) -> None:
    """``govbus agency list|revoke``."""

    @agency.command("list")
    def agency_list(
        include_revoked: bool = typer.Option(False, "--all", help="Include revoked agencies."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """List the registered agencies."""
        with reported(as_json):
            rows = ReferenceStore(database(Settings.load())).list_agencies(
                include_revoked=include_revoked
            )
        emit_rows(as_json, "agencies", rows, agency_json, _agency_line)

    @agency.command("revoke")
    def agency_revoke(
        agency_id: str = typer.Argument(..., help="Agency id."),
        force: bool = typer.Option(False, "--force", help="Even if it still provides entries."),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Revoke a registration and the agency's broker access (ACLs, then credentials).

        Processors drop the agency from their next event; its next fetch is refused."""
        with reported(as_json):
            service = reference_service(bootstrap, namespace, as_json)
            row = service.revoke_agency(agency_id, force=force)
            access = access_cmd.access_control(Settings.load(), service.bootstrap)
            removed = access.revoke(agency_id)
        if as_json:
            emit_json(
                {
                    "agency": agency_json(row),
                    "credentials_removed": removed.credentials_removed,
                    "acls_removed": removed.acls_removed,
                }
            )
        else:
            console.print(
                f"agency {row.id} revoked; {removed.acls_removed} ACLs removed, credentials "
                + ("removed" if removed.credentials_removed else "none")
            )


def _grant_commands(grant: typer.Typer) -> None:
    """``govbus grant add|revoke|list``."""

    @grant.command("add")
    def grant_add(
        agency_id: str = typer.Option(..., "--agency", help="Consuming agency."),
        entry_id: str = typer.Option(..., "--entry", help="Catalog entry."),
        items: str = typer.Option(..., "--items", help="Comma-separated data items."),
        purpose: str = typer.Option(..., "--purpose", help="Purpose the use is bound to (G 17)."),
        basis: str = typer.Option(..., "--basis", help="Legal basis of the grant."),
        granted_by: str = typer.Option(
            "", "--granted-by", help="Providing agency (default: the entry's provider)."
        ),
        valid_from: str = typer.Option("", "--from", help="ISO date or datetime (default: now)."),
        valid_until: str = typer.Option("", "--until", help="ISO date (inclusive) or datetime."),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Grant a consumer items of a conditional entry (from the processors' next event)."""
        names = [i.strip() for i in items.split(",") if i.strip()]
        start = (
            _moment(valid_from, "--from", end_of_day=False, as_json=as_json) if valid_from else None
        )
        until = (
            _moment(valid_until, "--until", end_of_day=True, as_json=as_json)
            if valid_until
            else None
        )
        with reported(as_json):
            done = reference_service(bootstrap, namespace, as_json).add_grant(
                GrantTerms(
                    consumer=agency_id,
                    entry_id=entry_id,
                    items=names,
                    purpose=purpose,
                    basis=basis,
                    granted_by=granted_by or None,
                    valid_from=start,
                    valid_until=until,
                )
            )
        emit(as_json, {"grant": grant_json(done)}, f"granted: {_grant_line(done)}")

    @grant.command("revoke")
    def grant_revoke(
        grant_id: str = typer.Argument(..., help="Grant id."),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Revoke a grant; delivery stops from the processors' next event."""
        with reported(as_json):
            done = reference_service(bootstrap, namespace, as_json).revoke_grant(grant_id)
        emit(as_json, {"grant": grant_json(done)}, f"revoked: {_grant_line(done)}")

    @grant.command("list")
    def grant_list(
        agency_id: str = typer.Option("", "--agency", help="Only this consumer's grants."),
        entry_id: str = typer.Option("", "--entry", help="Only grants of this entry."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """List grants, revoked and expired ones too."""
        with reported(as_json):
            rows = ReferenceStore(database(Settings.load())).list_grants(
                agency_id=agency_id or None, entry_id=entry_id or None
            )
        now = datetime.now(UTC)
        grants = [r.grant() for r in rows]
        emit_rows(as_json, "grants", grants, lambda g: grant_json(g, now), _grant_line)
