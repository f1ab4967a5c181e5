"""Agency credentials and broker ACLs on the command line: ``govbus agency rotate-password``
and ``govbus agency show``, plus the helpers ``agency add|revoke`` and ``catalog import`` use
(:mod:`govbus.cli.reference_cmd` adds these commands to its ``agency`` group).

The admin connection is the configured one (``--bootstrap``, ``GOVBUS_BOOTSTRAP`` or the
local broker's loopback listener). What agencies get is the agency listener:
``GOVBUS_AGENCY_BOOTSTRAP`` + ``GOVBUS_CA_LOCATION``, else the running local broker's.
Passwords are printed once (or only written to ``--credentials-file``, mode 0600) and
never logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from base.credentials import write_credentials
from base.errors import AccessError
from base.settings import Settings
from govbus.cli.output import console, emit_json, fail
from operations.access import AccessControl, check_agency_id
from schemas.topics import TopicKind, topic_name
from topology.access import agency_listener
from topology.connection import connected
from topology.reference_service import ReferenceService

CREDENTIALS_OPT = typer.Option(
    None,
    "--credentials-file",
    help="Write the client config with the password to this file (mode 0600) instead of "
    "printing the password.",
)


def access_control(settings: Settings, admin_bootstrap: str) -> AccessControl:
    return AccessControl(
        admin_bootstrap,
        extra_config=connected(settings, admin_bootstrap).kafka,
        listener=agency_listener(settings),
    )


def require_listener(settings: Settings, agency_id: str, as_json: bool) -> None:
    """Refuse before anything is written: reserved id, or nowhere to send the agency."""
    try:
        check_agency_id(agency_id)
    except AccessError as exc:
        fail(str(exc), as_json=as_json, kind=type(exc).__name__)
    if agency_listener(settings) is None:
        fail(
            "the agency listener is unknown: set GOVBUS_AGENCY_BOOTSTRAP and GOVBUS_CA_LOCATION "
            "or run `govbus broker start` (or pass --no-credentials to register only)",
            as_json=as_json,
            kind="AccessError",
        )


def source_entries(service: ReferenceService, agency_id: str) -> list[str]:
    """Entries not withdrawn of which the agency is a source (entry or item provider)."""
    return service.provided_entries(agency_id, datetime.now(UTC))


def issue_payload(
    agency_id: str,
    entries: list[str],
    config: dict[str, str],
    credentials_file: Path | None,
) -> dict[str, Any]:
    """``name``, ``topics`` and ``client_config`` (the password only when no file is used).

    ``topics.submit`` is the one topic the agency writes (everything it publishes);
    ``topics.ingest`` (kept for scripts that read it) lists the ingest topics of the entries
    it is a source of, which the bus fills from its submissions."""
    payload: dict[str, Any] = {
        "name": agency_id,
        "topics": {
            "feed": topic_name(TopicKind.FEED, agency_id),
            "receipts": topic_name(TopicKind.RECEIPTS, agency_id),
            "submit": topic_name(TopicKind.SUBMIT, agency_id),
            "ingest": sorted(topic_name(TopicKind.INGEST, e) for e in entries),
        },
        "client_config": config,
        "credentials_file": None,
    }
    if credentials_file is not None:
        written = write_credentials(credentials_file, f"User:{agency_id}", config)
        payload["client_config"] = {k: v for k, v in config.items() if k != "sasl.password"}
        payload["credentials_file"] = str(written)
    return payload


def print_issued(payload: dict[str, Any]) -> None:
    """Text output: the settings, password included unless it went to a file."""
    where = payload["credentials_file"]
    note = f"written to {where} (mode 0600)" if where else "shown once: store it now"
    console.print(f"credentials for agency {payload['name']}: {note}", markup=False)
    for key, value in payload["client_config"].items():
        console.print(f"  {key}={value}", markup=False, highlight=False)


def register(agency: typer.Typer, service_for: Any, reported: Any) -> None:
    """Add ``rotate-password`` and ``show`` to the ``agency`` group.

    ``service_for(bootstrap, as_json)`` builds the ReferenceService; ``reported(as_json)``
    turns govbus errors into ``fail`` (both from :mod:`govbus.cli.reference_cmd`)."""

    @agency.command("rotate-password")
    def rotate_password(
        agency_id: str = typer.Argument(..., help="Agency id."),
        credentials_file: Path = CREDENTIALS_OPT,
        bootstrap: str = typer.Option("", "--bootstrap", help="Admin bootstrap."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Issue a new password (the old one stops working); re-apply the agency's ACLs.

        Consumer groups and their offsets are untouched. Also issues the first credentials
        of an agency that was registered by a catalog import."""
        settings = Settings.load()
        require_listener(settings, agency_id, as_json)
        with reported(as_json):
            service: ReferenceService = service_for(bootstrap, as_json)
            row = service.store.get_agency(agency_id)
            if row is None or row.revoked_at is not None:
                fail(f"no registered agency {agency_id}", as_json=as_json, kind="AccessError")
            entries = source_entries(service, agency_id)
            config = access_control(settings, service.bootstrap).issue(agency_id, entries)
            payload = issue_payload(agency_id, entries, config, credentials_file)
        if as_json:
            emit_json(payload)
        else:
            print_issued(payload)

    @agency.command("show")
    def show(
        agency_id: str = typer.Argument(..., help="Agency id."),
        bootstrap: str = typer.Option("", "--bootstrap", help="Admin bootstrap."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """The agency's credential state and its ACLs, as the broker reports them."""
        settings = Settings.load()
        with reported(as_json):
            service: ReferenceService = service_for(bootstrap, as_json)
            row = service.store.get_agency(agency_id)
            report = access_control(settings, service.bootstrap).show(agency_id)
        payload = {
            "name": agency_id,
            "registered": row is not None and row.revoked_at is None,
            **report.to_dict(),
        }
        if as_json:
            emit_json(payload)
            return
        creds = "has credentials" if report.has_credentials else "no credentials"
        console.print(f"{report.principal}: {creds}, {len(report.acls)} ACLs", markup=False)
        for acl in report.acls:
            console.print(
                f"  {acl.permission} {acl.operation} {acl.resource} {acl.pattern}:{acl.name}",
                markup=False,
            )
