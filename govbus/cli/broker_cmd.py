"""``govbus broker start|stop|status``: the local single-node Kafka broker."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from base.errors import BrokerError, ConfigError
from base.settings import Settings
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_USAGE, console, emit_json, fail
from operations.broker.deploy import (
    ADMIN_PASSWORD_ENV,
    CONTROLLER_PASSWORD_ENV,
    IMAGE_CONFIG_DIR,
    IMAGE_DATA_DIR,
    Addresses,
    Ports,
    configure,
)
from operations.broker.local import BrokerStatus, LocalBroker
from operations.broker.provision import resolve
from topology.connection import connected

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")


def bootstrap_for(settings: Settings) -> str:
    """The configured bootstrap address, else the running local broker's, else ''."""
    return connected(settings).bootstrap


def connected_settings(given: str, as_json: bool) -> Settings:
    """The settings as they connect (:func:`topology.connection.connected`) to
    ``--bootstrap`` when given, else to the configured or the running local broker; a usage
    error naming the ways to give a broker when there is none."""
    settings = connected(Settings.load(), given)
    if not settings.bootstrap:
        fail(
            "no broker: pass --bootstrap, set GOVBUS_BOOTSTRAP or run `govbus broker start`",
            as_json=as_json,
            code=EXIT_USAGE,
        )
    return settings


def resolve_bootstrap(given: str, as_json: bool) -> str:
    """The broker's address, as :func:`connected_settings` finds it."""
    return connected_settings(given, as_json).bootstrap


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
    broker = command_group(app, "broker", "Run the local single-node Apache Kafka broker (KRaft).")
    _lifecycle_commands(broker)
    _configure_command(broker)


def _lifecycle_commands(broker: typer.Typer) -> None:
    """``govbus broker start|provision|stop|status``."""

    @broker.command("start")
    def start(
        port: int = typer.Option(None, help="Broker port on 127.0.0.1 (default: a free one)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Resolve Kafka's jars, format storage and start the broker; wait until it answers."""
        settings = Settings.load()
        try:
            status = LocalBroker.of(settings).start(port=port)
        except BrokerError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        _show(status, as_json, "running")

    @broker.command("provision")
    def provision(as_json: bool = JSON_OPT) -> None:
        """Resolve Kafka's jars from Maven Central into the cache, without starting."""
        settings = Settings.load()
        b = LocalBroker.of(settings)
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
        _show(LocalBroker.of(Settings.load()).stop(), as_json, "stopped")

    @broker.command("status")
    def status(as_json: bool = JSON_OPT) -> None:
        """Say whether the broker runs, with its address, pid and Kafka version."""
        _show(LocalBroker.of(Settings.load()).status(), as_json, "running")


def _configure_command(broker: typer.Typer) -> None:
    """``govbus broker configure``: a broker configuration for another host."""

    @broker.command("configure")
    def configure_cmd(
        out: Path = typer.Option(Path(IMAGE_CONFIG_DIR), help="Where server.properties goes."),
        ca_dir: Path = typer.Option(..., help="The CA's directory (kept out of the broker's)."),
        host: str = typer.Option("kafka", help="The broker's name inside its network."),
        external_host: str = typer.Option(
            "localhost", help="The name agencies reach the published EXTERNAL listener by."
        ),
        data_dir: str = typer.Option(IMAGE_DATA_DIR, help="The broker's log dirs."),
        bind: str = typer.Option("", help="Address listeners bind to ('' = every interface)."),
        admin_port: int = typer.Option(Ports.admin),
        controller_port: int = typer.Option(Ports.controller),
        agency_port: int = typer.Option(Ports.agency),
        external_port: int = typer.Option(Ports.external),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Write a broker configuration for another host (docker-compose's apache/kafka).

        Passwords are read from GOVBUS_ADMIN_PASSWORD and GOVBUS_CONTROLLER_PASSWORD,
        never from the command line; nothing secret is printed."""
        passwords = {
            name: os.environ.get(name, "") for name in (ADMIN_PASSWORD_ENV, CONTROLLER_PASSWORD_ENV)
        }
        missing = [name for name, value in passwords.items() if not value]
        if missing:
            fail(f"set {' and '.join(missing)}", as_json=as_json, kind="ConfigError")
        try:
            done = configure(
                out,
                ca_dir,
                Addresses(
                    host,
                    external_host,
                    bind,
                    Ports(admin_port, controller_port, agency_port, external_port),
                ),
                admin_password=passwords[ADMIN_PASSWORD_ENV],
                controller_password=passwords[CONTROLLER_PASSWORD_ENV],
                data_dir=data_dir,
            )
        except (ConfigError, BrokerError) as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        except OSError as exc:
            fail(f"cannot write the configuration: {exc}", as_json=as_json, kind="OSError")
        if as_json:
            emit_json(done.to_dict())
            return
        console.print(
            f"broker configuration: {done.properties} (0600)\n"
            f"admin {done.bootstrap}, agency {done.agency_bootstrap}, "
            f"external {done.external_bootstrap}\n"
            f"certificate names {', '.join(done.subject_names)}; CA {done.ca_location}",
            markup=False,
        )
