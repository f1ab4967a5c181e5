"""``govbus broker start|stop|status``: the local Kafka broker, one node or a cluster of
three (``--nodes 3``, :mod:`operations.broker.cluster`); ``stop`` and ``status`` cover every
node of what was started last."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from base.errors import BrokerError, ConfigError
from base.settings import Settings
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_USAGE, console, emit_json, fail
from operations.broker.cluster import local_broker
from operations.broker.deploy import (
    ADMIN_PASSWORD_ENV,
    CONTROLLER_PASSWORD_ENV,
    IMAGE_CONFIG_DIR,
    IMAGE_DATA_DIR,
    Addresses,
    Ports,
    configure,
)
from operations.broker.local import BrokerStatus
from operations.broker.provision import resolve
from topology.connection import connected

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")


def bootstrap_for(settings: Settings) -> str:
    """The configured bootstrap address, else the running local broker's, else ''."""
    return connected(settings).bootstrap


def require_broker(settings: Settings, as_json: bool, *, code: int = EXIT_USAGE) -> Settings:
    """``settings`` when they name a broker, else a failure (exit ``code``, a usage error
    unless told) naming the ways to give one."""
    if not settings.bootstrap:
        fail(
            "no broker: pass --bootstrap, set GOVBUS_BOOTSTRAP or run `govbus broker start`",
            as_json=as_json,
            code=code,
        )
    return settings


def connected_settings(given: str, as_json: bool, *, code: int = EXIT_USAGE) -> Settings:
    """The settings as they connect (:func:`topology.connection.connected`) to
    ``--bootstrap`` when given, else to the configured or the running local broker;
    :func:`require_broker` when there is none."""
    return require_broker(connected(Settings.load(), given), as_json, code=code)


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
    for node in status.nodes or ():
        state = f"运行中 pid {node['pid']}" if node["running"] else "未运行"
        console.print(
            f"节点 node {node['node_id']}: {state}, admin {node['bootstrap']}, "
            f"agency {node['agency_bootstrap']}, log {node['log_file']}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    broker = command_group(
        app, "broker", "Run the local Apache Kafka broker (KRaft): one node, or a cluster of three."
    )
    _lifecycle_commands(broker)
    _configure_command(broker)


def _lifecycle_commands(broker: typer.Typer) -> None:
    """``govbus broker start|provision|stop|status``."""

    @broker.command("start")
    def start(
        port: int = typer.Option(None, help="Broker port on 127.0.0.1 (default: a free one)."),
        nodes: int = typer.Option(
            None,
            help="1: one broker; 3: a cluster of three KRaft nodes, every topic on three "
            "(default: as at the last start, else 1).",
        ),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Resolve Kafka's jars, format storage and start the broker; wait until it answers."""
        settings = Settings.load()
        if nodes is not None and nodes not in (1, 3):
            fail(
                f"--nodes {nodes}: 只支持 1 或 3 (one broker, or a 3-node cluster)",
                as_json=as_json,
                code=EXIT_USAGE,
            )
        try:
            status = local_broker(settings, nodes).start(port=port)
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
        node_id: int = typer.Option(1, min=1, help="This node's id in a cluster (1..n)."),
        quorum: str = typer.Option(
            "",
            help="A cluster's controllers, host:port in node-id order "
            "(kafka-1:9093,kafka-2:9093,kafka-3:9093); '' for one broker.",
        ),
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
                    node_id,
                    tuple(q.strip() for q in quorum.split(",") if q.strip()),
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
