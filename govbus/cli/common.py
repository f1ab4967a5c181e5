"""What the command modules share: the ``--json``, ``--bootstrap`` and ``--namespace``
options, the migrated database, the reference service, and turning a govbus error into
the one-line failure every command prints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.engine import Engine

from base.errors import DomainError, GovbusError
from base.settings import Settings
from exchange.profiles import Profile
from govbus.cli.broker_cmd import connected_settings
from govbus.cli.output import fail, failed
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from topology.reference_service import ReferenceService

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")
BOOTSTRAP_OPT = typer.Option("", "--bootstrap", help="Kafka bootstrap (default: settings).")
NAMESPACE_OPT = typer.Option(
    "",
    "--namespace",
    envvar="GOVBUS_STATE_NAMESPACE",
    help="State-topic namespace: govbus.state.<namespace>.* (default: none).",
)


@contextmanager
def reported(as_json: bool) -> Iterator[None]:
    """Turn a govbus error into ``fail``: domain refusals carry their code and article."""
    try:
        yield
    except DomainError as exc:
        message = f"{exc} ({exc.article})" if exc.article else str(exc)
        fail(
            message, as_json=as_json, kind=type(exc).__name__, reason=exc.code, article=exc.article
        )
    except GovbusError as exc:
        failed(exc, as_json=as_json)


def database(settings: Settings) -> Engine:
    """The configured SQL store, migrated to the newest revision first."""
    url = settings.effective_database_url
    migrate.upgrade(url)
    return make_engine(url)


def reference_service(
    bootstrap: str, namespace: str, as_json: bool, profile: Profile | None = None
) -> ReferenceService:
    """Reference data on the configured store, published to the broker ``bootstrap`` names
    (else the settings') under the state-topic ``namespace`` (none when empty)."""
    settings = connected_settings(bootstrap, as_json)
    return ReferenceService(
        ReferenceStore(database(settings)),
        settings.bootstrap,
        namespace=namespace or None,
        extra_config=settings.kafka,
        profile=profile,
    )
