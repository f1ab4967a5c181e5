"""``govbus run``, ``govbus feed tail`` (``govbus conflicts``: :mod:`govbus.cli.conflicts_cmd`)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.table import Table

from base.errors import PERSON_ERRORS, GovbusError
from base.settings import Settings
from consumers.reader import read_to_end
from govbus.cli.broker_cmd import connected_settings
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_USAGE, console, emit_json, fail, failed, plain
from kafkaclient import Admin
from operations.access import PROCESSOR_ID_PREFIX, PROCESSOR_USER
from operations.broker.local import LocalBroker
from schemas import decode
from schemas.topics import TopicKind, topic_name
from topology.ownership import check_input
from topology.run import Membership, worker_connection
from topology.supervisor import supervise

JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts.")
#: How long `govbus run` may take to learn that credentials are refused or missing.
PREFLIGHT_S = 10.0


def _preflight(bootstrap: str, credentials: Path | None, group: str) -> None:
    """Refuse, before any worker starts, what a person must fix: a group the processor
    principal's ACLs do not allow, credentials refused or missing (exit 2, one line)."""
    connection = worker_connection(bootstrap, credentials)
    user = str(connection.config.get("sasl.username", ""))
    if user == PROCESSOR_USER and not group.startswith(PROCESSOR_ID_PREFIX):
        fail(
            f"--group {group!r}: the processors (user {PROCESSOR_USER}) may only use groups "
            f"and transactional ids starting with {PROCESSOR_ID_PREFIX!r}; run with "
            f"--group {PROCESSOR_ID_PREFIX}{group}",
            code=EXIT_USAGE,
        )
    try:
        with Admin(connection.bootstrap, extra_config=connection.config) as admin:
            admin.check(PREFLIGHT_S)
    except PERSON_ERRORS as exc:
        failed(exc)
    except GovbusError:
        pass  # not answering yet: the workers wait for the broker


def register(app: typer.Typer) -> None:
    _run_command(app)
    feed = command_group(app, "feed", "Consuming agencies' authorised feeds.")
    _feed_commands(feed)


def _run_command(app: typer.Typer) -> None:
    """``govbus run``."""

    @app.command("run")
    def run(
        workers: int = typer.Option(1, min=1, help="Worker processes."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        catalog: Path = typer.Option(None, help="Fixed catalog file instead of state topics."),
        namespace: str = typer.Option(
            None, envvar="GOVBUS_STATE_NAMESPACE", help="State-topic namespace."
        ),
        group: str = typer.Option("govbus-processor", help="Consumer group of the processors."),
        commit_interval: float = typer.Option(
            0.5,
            help="Longest a transaction stays open under load (seconds); a drained input "
            "commits at once.",
        ),
        batch_size: int = typer.Option(500, help="Messages per consume() call."),
        metrics_port: int = typer.Option(0, help="Serve /metrics on HOST:PORT (one worker)."),
        metrics_host: str = typer.Option("127.0.0.1", help="Address for /metrics."),
        membership: Membership = typer.Option(
            Membership.STATIC,
            help="static (group.instance.id): a crashed or restarted worker takes its "
            "partitions back without a rebalance, but one stopped for good holds them for "
            "the session timeout; dynamic: a worker stopped gracefully hands them over at "
            "once, and one restarted after a crash waits the session timeout.",
        ),
    ) -> None:
        """Run the gate and fan-out processors until SIGTERM or Ctrl-C.

        Refused (exit 2) when another processor group holds the catalog's ingest topics:
        one group owns an input (topology.ownership)."""
        settings = Settings.load()
        connection = connected_settings(bootstrap, False)
        address = connection.bootstrap
        # On the local broker the processors run as their own principal (least privilege),
        # through the authenticated listener, unless an address or credentials were given.
        status = None if (bootstrap or settings.bootstrap) else LocalBroker.of(settings).status()
        credentials = None
        if status is not None and status.processor_credentials:
            credentials = Path(status.processor_credentials)
        # What a person must fix locally comes first: the group, the credentials.
        _preflight(address, credentials, group)
        try:
            check_input(
                address,
                group,
                catalog=catalog,
                namespace=namespace or None,
                extra_config=connection.kafka,
            )
        except GovbusError as exc:
            fail(str(exc), code=EXIT_USAGE)
        argv = [
            "--bootstrap",
            address,
            "--group",
            group,
            "--commit-interval",
            str(commit_interval),
            "--batch-size",
            str(batch_size),
            "--membership",
            membership.value,
        ]
        if catalog is not None:
            argv += ["--catalog", str(catalog)]
        if namespace:
            argv += ["--namespace", namespace]
        if credentials is not None:
            argv += ["--credentials-file", str(credentials)]
        if metrics_port and workers == 1:
            argv += ["--metrics-port", str(metrics_port), "--metrics-host", metrics_host]
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        raise typer.Exit(supervise(workers, argv))


def _feed_commands(feed: typer.Typer) -> None:
    """``govbus feed tail``."""

    @feed.command("tail")
    def tail(
        agency: str = typer.Option(..., help="The consuming agency."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        limit: int = typer.Option(0, help="At most this many records (0: all)."),
        from_beginning: bool = typer.Option(
            False, help="Read everything, not only what this agency's reader has not seen."
        ),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Read the agency's feed up to its end, as that agency (group `<agency>.tail`)."""
        connection = connected_settings(bootstrap, as_json)
        address = connection.bootstrap
        topic = topic_name(TopicKind.FEED, agency)
        try:
            rows = [
                r.value
                for r in read_to_end(
                    address,
                    topic,
                    lambda b: decode("FeedRecord", b),
                    group_id=None if from_beginning else f"{agency}.tail",
                    extra_config=connection.kafka,
                    limit=limit or None,
                )
            ]
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        if as_json:
            emit_json({"agency": agency, "topic": topic, "records": plain(rows)})
            return
        table = Table(title=f"{topic}: {len(rows)} record(s)")
        for col in ("entry", "subject", "items", "grant"):
            table.add_column(col)
        for r in rows:
            items = ", ".join(
                f"{i['name']}={i['value']}" + (f" [{i['mask_rule']}]" if i["masked"] else "")
                for i in r["items"]
            )
            table.add_row(r["entry"], r["canonical_subject"], items, r["grant_id"] or "-")
        console.print(table)
