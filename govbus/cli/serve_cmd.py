"""``govbus serve``: the HTTP service (FastAPI on uvicorn) over the SQL store.

The same application layer as the CLI (:mod:`topology.workflows`); timers and the audit
relay run in the background of the same process. The broker is the settings' (or
``--bootstrap``); the profile is ``GOVBUS_PROFILE`` (default guiyang-2021).
"""

from __future__ import annotations

import os
from datetime import timedelta

import typer

from base.errors import GovbusError
from exchange.profiles import profiles_dir_from_env
from exchange.workdays import holiday_dirs_from_env
from govbus.cli.broker_cmd import connected_settings
from govbus.cli.output import console, fail
from topology.workflows.accounts import DEFAULT_TOKEN_TTL
from topology.workflows.context import WorkflowOptions, Workflows

NAMESPACE_ENV = "GOVBUS_STATE_NAMESPACE"


def open_workflows(bootstrap: str = "", *, token_ttl: timedelta = DEFAULT_TOKEN_TTL) -> Workflows:
    """The workflows of this deployment, from its settings (migrates the database)."""
    settings = connected_settings(bootstrap, as_json=False)
    options = WorkflowOptions(
        profile_id=settings.profile,
        extra_config=settings.kafka,
        namespace=os.environ.get(NAMESPACE_ENV) or None,
        profiles_dir=profiles_dir_from_env(os.environ),
        holiday_dirs=holiday_dirs_from_env(os.environ),
        token_ttl=token_ttl,
    )
    return Workflows.open(settings.effective_database_url, settings.bootstrap, options)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
        bootstrap: str = typer.Option(
            "", "--bootstrap", help="Kafka bootstrap (default: settings)."
        ),
        token_hours: float = typer.Option(
            DEFAULT_TOKEN_TTL.total_seconds() / 3600,
            "--token-hours",
            min=0.01,
            max=24 * 30,
            help="Bearer tokens expire after this many hours.",
        ),
    ) -> None:
        """Serve the HTTP API: sharing applications with their deadlines (OpenAPI at
        /openapi.json, docs at /docs, health at /healthz, metrics at /metrics)."""
        import uvicorn

        from govbus.http.app import create_app

        try:
            flows = open_workflows(bootstrap, token_ttl=timedelta(hours=token_hours))
        except GovbusError as exc:
            fail(f"cannot start: {exc}")
        console.print(
            f"govbus serve: http://{host}:{port} (profile {flows.applications.profile_id}; "
            "docs at /docs)",
            markup=False,
        )
        uvicorn.run(create_app(flows, on_close=flows.close), host=host, port=port, log_level="info")
