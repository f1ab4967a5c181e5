"""``govbus broker start|stop|status``: the local single-node Kafka broker."""

from __future__ import annotations

import typer

from govbus.broker.local import BrokerStatus
from govbus.broker.provision import resolve
from govbus.cli.output import console, emit_json, fail
from govbus.connection import connected, local_broker
from govbus.errors import BrokerError
from govbus.settings import Settings

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")


def bootstrap_for(settings: Settings) -> str:
    """The configured bootstrap address, else the running local broker's, else ''."""
    return connected(settings).bootstrap


def _show(status: BrokerStatus, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(status.to_dict())
        return
    if not status.running:
        console.print(f"broker: [bold]not running[/] (home {status.home})")
        return
    timing = f" in {status.started_in_s:.1f}s" if status.started_in_s is not None else ""
    note = " (already running)" if status.already_running else ""
    console.print(
        f"broker {verb}{note}{timing}: [bold]{status.bootstrap}[/] pid {status.pid} "
        f"Kafka {status.kafka_version}\nlog: {status.log_file}"
    )
    if status.agency_bootstrap:
        console.print(
            f"agency listener (SASL_SSL, SCRAM-SHA-512): {status.agency_bootstrap}, "
            f"CA {status.ca_location}\nprocessor credentials: {status.processor_credentials}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    broker = typer.Typer(help="Run the local single-node Apache Kafka broker (KRaft).")
    app.add_typer(broker, name="broker")

    @broker.command("start")
    def start(
        port: int = typer.Option(None, help="Broker port on 127.0.0.1 (default: a free one)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Resolve Kafka's jars, format storage and start the broker; wait until it answers."""
        settings = Settings.load()
        try:
            status = local_broker(settings).start(port=port)
        except BrokerError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        _show(status, as_json, "running")

    @broker.command("provision")
    def provision(as_json: bool = JSON_OPT) -> None:
        """Resolve Kafka's jars from Maven Central into the cache, without starting."""
        settings = Settings.load()
        b = local_broker(settings)
        try:
            runtime = resolve(b.home, b.version, maven_settings=b.maven_settings)
        except BrokerError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        jars = len(list(runtime.libs.glob("*.jar")))
        if as_json:
            emit_json({"kafka_version": runtime.version, "libs": str(runtime.libs), "jars": jars})
        else:
            console.print(f"Kafka {runtime.version}: {jars} jars in {runtime.libs}")

    @broker.command("stop")
    def stop(as_json: bool = JSON_OPT) -> None:
        """Stop the broker gracefully (SIGTERM, wait, then SIGKILL)."""
        _show(local_broker(Settings.load()).stop(), as_json, "stopped")

    @broker.command("status")
    def status(as_json: bool = JSON_OPT) -> None:
        """Say whether the broker runs, with its address, pid and Kafka version."""
        _show(local_broker(Settings.load()).status(), as_json, "running")
