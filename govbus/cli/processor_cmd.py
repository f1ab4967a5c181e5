"""``govbus processor credentials``: the bus's own principal on a broker it did not start.

``govbus broker start`` makes the processors' credential for the local broker by itself;
a broker elsewhere (docker-compose) gets it from this command, run as the administrator.
The password goes only to the credentials file (mode 0600), never to the output.
"""

from __future__ import annotations

from pathlib import Path

import typer

from base.errors import GovbusError
from base.settings import Settings
from govbus.cli.access_cmd import access_control
from govbus.cli.broker_cmd import bootstrap_for
from govbus.cli.group import command_group
from govbus.cli.output import console, emit_json, fail, failed
from operations.access import PROCESSOR_USER, principal
from topology.access import agency_listener


def register(app: typer.Typer) -> None:
    processor = command_group(app, "processor", "The bus's own processors as a broker principal.")

    @processor.command("credentials")
    def credentials(
        credentials_file: Path = typer.Option(
            ..., "--credentials-file", help="Where the client config goes (mode 0600)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Create (or re-apply) the processors' SCRAM credential and ACLs.

        An existing file's password is kept, so running processors stay connected. The
        agency listener is GOVBUS_AGENCY_BOOTSTRAP with GOVBUS_CA_LOCATION."""
        settings = Settings.load()
        address = bootstrap_for(settings)
        if not address:
            fail("no broker: set GOVBUS_BOOTSTRAP", as_json=as_json, kind="ConfigError")
        if agency_listener(settings) is None:
            fail(
                "the agency listener is unknown: set GOVBUS_AGENCY_BOOTSTRAP and "
                "GOVBUS_CA_LOCATION",
                as_json=as_json,
                kind="AccessError",
            )
        try:
            config = access_control(settings, address).ensure_processor(credentials_file)
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        payload = {
            "principal": principal(PROCESSOR_USER),
            "credentials_file": str(credentials_file),
            "bootstrap": config["bootstrap.servers"],
        }
        if as_json:
            emit_json(payload)
        else:
            console.print(
                f"{payload['principal']}: {payload['credentials_file']} (0600), "
                f"{payload['bootstrap']}",
                markup=False,
            )
