"""One processor worker: ``python -m topology.run``, started and restarted by
:func:`topology.supervisor.supervise` (``govbus run``, one worker or several).

Each worker is a process with its own transactional id (``<group>-worker-<i>``), so its
``init_transactions`` aborts whatever a crashed incarnation left open. Its consumers are
static members of their groups by default (``group.instance.id``, KIP-345;
:data:`Membership`, ``--membership``): a worker restarted after a crash, by the supervisor
or its watchdog, takes its partitions back without a rebalance. On a graceful stop every
worker leaves its groups (it unsubscribes before it closes: librdkafka sends no LeaveGroup
for a static member that only closes, KIP-345; :meth:`kafkaclient.Consumer.leave`), and
the others take its partitions at once (cooperative-sticky: they keep processing theirs
meanwhile). Dynamic members (``--membership dynamic``) differ after a crash only: a
worker restarted then waits for its old session to end. Measured both ways:
bench/README.md, "Workers joining and leaving"; static stays the default because the fault
suite (docs/reliability.md) proved it. A worker killed for good with a transaction open
(either mode) stalls the worker that takes its partitions until the broker aborts that
transaction (``TRANSACTION_TIMEOUT_MS``): the restore reads their changelogs
read_committed up to the high watermark (measured 2026-12-07: 55.8 s, the 64 s of the
dynamic run before).

Worker protocol:

1. Read the settings and the fixed catalog, if any: a setting, file or catalog a person
   must fix (:data:`base.errors.PERSON_ERRORS`) ends the worker at once with
   :data:`EXIT_PERSON` and one line naming the cause and the fix (never a traceback).
2. Wait for the broker (:func:`await_broker`): credentials refused or missing are a
   person's to fix (step 1's exit); a broker that does not answer yet (restarting, started
   after us) is waited for, with bounded backoff.
3. Process until SIGTERM/SIGINT, then exit 0: the processor, and beside it in a thread
   the repartition stage (:mod:`topology.repartitioner`: submission topics to ingest
   topics, same commit protocol, its own group and transactional id). When either loop
   ends by an error, the other is stopped and the error ends the worker (steps 1, 4).
   Credentials or ACLs withdrawn meanwhile end the worker as step 1 does.
4. A Kafka error a restart cures ends the worker with :data:`EXIT_RESTART` and one log
   line: the broker went away for longer than a refresh may wait, or this worker's static
   membership was fenced (librdkafka fences a static member that survives a broker
   restart: "Static consumer fenced by other consumer with same group.instance.id"). The
   supervisor restarts it as soon as the broker answers, and does not count it as a
   crash. Any other error is a crash (:data:`EXIT_CRASH`), with its traceback unless it is
   a Kafka error. A loop that begins no step within the watchdog's limit (a client call
   that ignored its timeout) ends the worker with :data:`EXIT_RESTART` too, after writing
   every thread's stack to the log (:mod:`topology.watchdog`); ``kill -USR1`` writes the
   stacks of a worker that is still running.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from base.credentials import read_client_config
from base.errors import (
    PERSON_ERRORS,
    AuthenticationError,
    AuthorizationError,
    ConfigError,
    GovbusError,
    KafkaError,
)
from base.settings import Settings
from consumers.reference import ReferenceView
from exchange.catalog_loader import load_catalog
from kafkaclient import Admin, Backoff, show_client_logs, transient
from kafkaclient.convert import fenced
from monitoring.metrics import ProcessorMetrics
from operations.access import PROCESSOR_ID_PREFIX
from topology.connection import connected
from topology.probe import memory_probe
from topology.processor import Processor, ProcessorConfig
from topology.reference import ReferenceSource, StaticReference
from topology.repartitioner import Repartitioner, repartition_config, run_beside
from topology.watchdog import watching

#: A vanished member (a crash) is dropped after this; a restarted static one must rejoin
#: before it.
SESSION_TIMEOUT_MS = 10000


class Membership(StrEnum):
    """How a worker's consumers belong to their groups (module docstring)."""

    #: Leaves on a graceful stop; after a crash its partitions wait the session timeout.
    DYNAMIC = "dynamic"
    #: ``group.instance.id``: back without a rebalance after a crash; leaves on a clean stop.
    STATIC = "static"


#: Exit codes of a worker, read by the supervisor.
EXIT_CLEAN = 0
#: A person must fix what the worker reported (a setting, the catalog, credentials, an ACL):
#: restarting cannot help, so the supervisor stops and exits with it.
EXIT_PERSON = 2
EXIT_CRASH = 1
#: The broker went away or this worker was fenced: restart at once once the broker answers
#: (EX_TEMPFAIL).
EXIT_RESTART = 75
#: One connection check while waiting for the broker.
BROKER_CHECK_S = 5.0
#: Waits between connection checks while the broker does not answer.
BROKER_BACKOFF = Backoff(first_s=0.25, max_s=2.0)
#: While waiting for the broker, say so at most this often.
WAIT_LOG_S = 10.0

log = logging.getLogger("govbus.run")


def build_processor(
    config: ProcessorConfig,
    *,
    catalog: Path | None = None,
    namespace: str | None = None,
    metrics: ProcessorMetrics | None = None,
) -> Processor:
    return Processor(config, _reference(config, catalog, namespace), metrics)


def worker_config(
    config: ProcessorConfig, membership: Membership = Membership.STATIC
) -> ProcessorConfig:
    """``config`` as one member of its group; a static one is named by the worker number."""
    consumer: dict[str, Any] = {"session.timeout.ms": SESSION_TIMEOUT_MS}
    if membership is Membership.STATIC:
        consumer["group.instance.id"] = f"{config.group_id}-worker-{config.worker}"
    return replace(config, consumer_config=consumer)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Run one govbus processor worker.")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", default="govbus-processor")
    p.add_argument("--worker", type=int, default=0)
    p.add_argument("--catalog", type=Path, default=None, help="fixed catalog (no state topics)")
    p.add_argument("--namespace", default=None, help="state-topic namespace")
    p.add_argument("--commit-interval", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--no-audit", action="store_true")
    p.add_argument("--at-least-once", action="store_true")
    p.add_argument(
        "--membership",
        type=Membership,
        choices=list(Membership),
        default=Membership.STATIC,
        help="static (default): group.instance.id; dynamic: leave the groups on a graceful stop",
    )
    p.add_argument("--metrics-port", type=int, default=0)
    p.add_argument("--metrics-host", default="127.0.0.1", help="0.0.0.0 inside a container")
    p.add_argument(
        "--credentials-file",
        type=Path,
        default=None,
        help="client config of the processor principal (base.credentials); its bootstrap "
        "replaces --bootstrap",
    )
    return p


@dataclass(frozen=True)
class Connection:
    """Where a worker connects, and as whom (librdkafka settings without the bootstrap)."""

    bootstrap: str
    config: Mapping[str, Any]


def worker_connection(bootstrap: str, credentials_file: Path | None) -> Connection:
    """The broker and credentials of a worker: ``--credentials-file`` (the processor
    principal; its bootstrap wins), else the settings (GOVBUS_*, the local broker's)."""
    resolved = connected(Settings.load(), bootstrap)
    address, extra = resolved.bootstrap, dict(resolved.kafka)
    if credentials_file is not None:
        extra = read_client_config(credentials_file)
        address = extra.pop("bootstrap.servers", address)
    return Connection(address, extra)


def await_broker(
    connection: Connection, stop: threading.Event, backoff: Backoff = BROKER_BACKOFF
) -> bool:
    """True once the broker answers; False when ``stop`` is set first. Errors a person
    must fix (credentials refused or missing) are raised; anything else is waited out."""
    delays = backoff.delays()
    last_said = 0.0
    with Admin(connection.bootstrap, extra_config=connection.config) as admin:
        while not stop.is_set():
            try:
                admin.check(BROKER_CHECK_S)
                return True
            except PERSON_ERRORS:
                raise
            except GovbusError as exc:
                if time.monotonic() - last_said >= WAIT_LOG_S:
                    log.warning("waiting for the broker: %s", exc)
                    last_said = time.monotonic()
            stop.wait(next(delays))
    return False


def person_message(exc: GovbusError, group: str, transactional_id: str) -> str:
    """The one line a person reads: the cause and the fix."""
    if isinstance(exc, AuthorizationError) and exc.code in (
        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        "GROUP_AUTHORIZATION_FAILED",
    ):
        return (
            f"the broker refused group {group!r} / transactional id {transactional_id!r} "
            f"({exc.code}): the processors' ACLs allow only ids starting with "
            f"{PROCESSOR_ID_PREFIX!r}; run with --group {PROCESSOR_ID_PREFIX}{group}"
        )
    return " ".join(str(exc).split())


def worker_main(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(run_worker(argv))


def run_worker(argv: Sequence[str] | None = None) -> int:
    """The worker protocol (module docstring); returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR1 <pid>`: every thread's Python stack to stderr, for a worker that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    transactional_id = f"{args.group}-worker-{args.worker}"

    def tell(exc: GovbusError) -> int:
        sys.stderr.write(f"error: {person_message(exc, args.group, transactional_id)}\n")
        return EXIT_PERSON

    try:
        # Step 1: settings and the fixed catalog.
        connection, config, reference, metrics = _prepare(args)
        probe = memory_probe(args.worker, os.environ)
        if probe is not None:
            config = replace(config, extra_config={**config.extra_config, **probe.client_config()})
            probe.start(stop)
        # Step 2: the broker answers, and accepts our credentials.
        if not await_broker(connection, stop):
            return EXIT_CLEAN
    except PERSON_ERRORS as exc:
        return tell(exc)
    try:
        # Step 3: process until stopped, the repartition stage beside the processor.
        repartitioner = Repartitioner(
            repartition_config(config), _reference(config, args.catalog, args.namespace)
        )
        processor = Processor(config, reference, metrics)
        loops = {"processor": processor, "repartition stage": repartitioner}
        with watching(loops, partial(_stalled, args.worker)):
            run_beside(processor, repartitioner, stop)
    except (AuthenticationError, AuthorizationError) as exc:  # a password or ACL changed
        return tell(exc)
    except KafkaError as exc:
        # Step 4: the supervisor restarts us once the broker answers.
        log.error("worker %d stops: %s", args.worker, " ".join(str(exc).split()))
        return EXIT_RESTART if transient(exc) or fenced(exc) else EXIT_CRASH
    return EXIT_CLEAN


def _stalled(worker: int, loops: Mapping[str, float]) -> None:
    """A loop stopped finishing steps (topology.watchdog): every thread's stack to the log,
    then out at once, to be restarted (step 4); a stuck thread cannot be joined."""
    said = ", ".join(f"the {name} has begun no step for {s:.0f} s" for name, s in loops.items())
    log.error("worker %d stops: %s; the threads' stacks follow", worker, said)
    faulthandler.dump_traceback(all_threads=True)
    sys.stderr.flush()
    os._exit(EXIT_RESTART)


def _prepare(
    args: argparse.Namespace,
) -> tuple[Connection, ProcessorConfig, ReferenceSource, ProcessorMetrics | None]:
    connection = worker_connection(args.bootstrap, args.credentials_file)
    settings = Settings.load()
    logging.getLogger().setLevel(settings.log_level)
    if settings.log_level == "DEBUG":
        show_client_logs()
    metrics = None
    if args.metrics_port:
        registry = CollectorRegistry()
        metrics = ProcessorMetrics.create(registry)
        try:
            start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve /metrics on {args.metrics_host}:{args.metrics_port} ({exc}): "
                "choose another --metrics-port"
            ) from exc
    config = worker_config(
        ProcessorConfig(
            connection.bootstrap,
            group_id=args.group,
            worker=args.worker,
            commit_interval_s=args.commit_interval,
            batch_size=args.batch_size,
            audit=not args.no_audit,
            exactly_once=not args.at_least_once,
            max_future_skew_s=settings.max_future_skew_s,
            dead_letter_value_bytes=settings.dead_letter_value_bytes,
            extra_config=dict(connection.config),
        ),
        args.membership,
    )
    return connection, config, _reference(config, args.catalog, args.namespace), metrics


def _reference(
    config: ProcessorConfig, catalog: Path | None, namespace: str | None
) -> ReferenceSource:
    if catalog is not None:
        loaded = load_catalog(catalog)
        return StaticReference(loaded.catalog, loaded.grants)
    return ReferenceView(config.bootstrap, extra_config=config.extra_config, namespace=namespace)


def worker_command(worker: int, argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "topology.run", "--worker", str(worker), *argv]


if __name__ == "__main__":
    worker_main()
