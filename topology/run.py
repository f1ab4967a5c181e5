"""Run processor workers: ``govbus run`` and ``python -m topology.run`` (one worker).

Each worker is a process with its own transactional id (``<group>-worker-<i>``) and static
group membership (``group.instance.id``), so a worker restarted after a crash takes its
partitions back at once instead of waiting for its old session to time out, and its
``init_transactions`` aborts whatever the crashed incarnation left open.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from base.credentials import read_client_config
from base.settings import DEFAULT_DEAD_LETTER_VALUE_BYTES, DEFAULT_MAX_FUTURE_SKEW_S, Settings
from consumers.reference import ReferenceView
from exchange.catalog_loader import load_catalog
from monitoring.metrics import ProcessorMetrics
from topology.connection import connected
from topology.processor import Processor, ProcessorConfig
from topology.reference import ReferenceSource, StaticReference

#: A restarted static member must rejoin before this; a vanished one is dropped after it.
SESSION_TIMEOUT_MS = 10000
#: How long the supervisor waits for workers to finish their last transaction.
WORKER_STOP_GRACE_S = 30.0
#: How often the supervisor looks at its workers: a restart is never late by more.
SUPERVISE_POLL_S = 0.5

log = logging.getLogger("govbus.run")


def build_processor(
    config: ProcessorConfig,
    *,
    catalog: Path | None = None,
    namespace: str | None = None,
    metrics: ProcessorMetrics | None = None,
) -> Processor:
    reference: ReferenceSource
    if catalog is not None:
        loaded = load_catalog(catalog)
        reference = StaticReference(loaded.catalog, loaded.grants)
    else:
        reference = ReferenceView(
            config.bootstrap, extra_config=config.extra_config, namespace=namespace
        )
    return Processor(config, reference, metrics)


def worker_config(
    bootstrap: str,
    *,
    extra_config: Mapping[str, Any] | None = None,
    group_id: str,
    worker: int,
    commit_interval_s: float,
    batch_size: int,
    audit: bool = True,
    exactly_once: bool = True,
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S,
    dead_letter_value_bytes: int = DEFAULT_DEAD_LETTER_VALUE_BYTES,
) -> ProcessorConfig:
    return ProcessorConfig(
        bootstrap,
        group_id=group_id,
        worker=worker,
        commit_interval_s=commit_interval_s,
        batch_size=batch_size,
        audit=audit,
        exactly_once=exactly_once,
        max_future_skew_s=max_future_skew_s,
        dead_letter_value_bytes=dead_letter_value_bytes,
        extra_config=dict(extra_config or {}),
        consumer_config={
            "group.instance.id": f"{group_id}-worker-{worker}",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
        },
    )


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


def worker_main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    metrics = None
    if args.metrics_port:
        registry = CollectorRegistry()
        metrics = ProcessorMetrics.create(registry)
        start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
    settings = Settings.load()
    resolved = connected(settings, args.bootstrap)
    bootstrap, extra = resolved.bootstrap, dict(resolved.kafka)
    if args.credentials_file is not None:
        extra = read_client_config(args.credentials_file)
        bootstrap = extra.pop("bootstrap.servers", bootstrap)
    config = worker_config(
        bootstrap,
        extra_config=extra,
        group_id=args.group,
        worker=args.worker,
        commit_interval_s=args.commit_interval,
        batch_size=args.batch_size,
        audit=not args.no_audit,
        exactly_once=not args.at_least_once,
        max_future_skew_s=settings.max_future_skew_s,
        dead_letter_value_bytes=settings.dead_letter_value_bytes,
    )
    processor = build_processor(
        config, catalog=args.catalog, namespace=args.namespace, metrics=metrics
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    processor.run(stop)


def worker_command(worker: int, argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "topology.run", "--worker", str(worker), *argv]


@dataclass(frozen=True)
class RestartPolicy:
    """When the supervisor restarts a dead worker, and when it gives up."""

    #: First wait before a restart; doubled for each further death inside the window, so a
    #: worker that cannot start does not spin the CPU or flood the broker with logins.
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    #: More deaths than this within ``window_s`` is a crash loop (bad configuration, lost
    #: credentials): restarting cannot help, an operator must look.
    max_restarts: int = 5
    window_s: float = 300.0

    def delay(self, recent_deaths: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, recent_deaths - 1)))


@dataclass
class _Slot:
    index: int
    proc: subprocess.Popen[bytes]
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None


def supervise(workers: int, argv: Sequence[str], policy: RestartPolicy | None = None) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT, restarting any that dies.

    1. Start every worker (``worker_command``): worker ``i`` always has the static group
       member id and transactional id ``<group>-worker-<i>``.
    2. Watch them. A worker that exits while we are not stopping is restarted after the
       policy's backoff. Why this is safe: the new process has the same static member id, so
       it takes the dead one's partitions back without a rebalance of the others, and its
       ``init_transactions`` fences the dead one and aborts what it left open; uncommitted
       input is read again (exactly once, tests/test_exactly_once.py).
    3. A worker that died more than ``max_restarts`` times within ``window_s`` is in a crash
       loop: stop every worker (step 4) and return its exit code, so the service manager
       sees the failure instead of a supervisor that looks alive.
    4. On SIGTERM/SIGINT (or step 3): terminate every worker, give each
       ``WORKER_STOP_GRACE_S`` to finish its last transaction, then kill it. Return the
       worst exit code (0 after a clean stop).
    """
    policy = policy or RestartPolicy()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Step 1: every worker, each under its fixed identity.
    slots = [_Slot(i, subprocess.Popen(worker_command(i, argv))) for i in range(workers)]
    failed: int | None = None
    try:
        # Step 2: watch, restart after a backoff.
        while not stop.is_set() and failed is None:
            now = time.monotonic()
            for slot in slots:
                failed = _tend(slot, argv, policy, now)
                if failed is not None:
                    break
            stop.wait(SUPERVISE_POLL_S)
    finally:
        # Step 4: stop them all, each finishing its last transaction if it can.
        codes = _stop_all([s.proc for s in slots])
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # Step 3: a crash loop is the supervisor's failure too.
    return failed if failed is not None else max(codes, default=0)


def _tend(slot: _Slot, argv: Sequence[str], policy: RestartPolicy, now: float) -> int | None:
    """Restart ``slot``'s worker when due; its exit code when it is in a crash loop."""
    code = slot.proc.poll()
    if code is None:
        return None
    if slot.restart_at is None:
        slot.deaths = [t for t in slot.deaths if now - t < policy.window_s] + [now]
        if len(slot.deaths) > policy.max_restarts:
            log.error(
                "worker %d died %d times in %.0fs (last exit %s): giving up",
                slot.index,
                len(slot.deaths),
                policy.window_s,
                code,
            )
            return code or 1
        delay = policy.delay(len(slot.deaths))
        log.warning("worker %d exited with %s; restarting in %.1fs", slot.index, code, delay)
        slot.restart_at = now + delay
    if now >= slot.restart_at:
        slot.proc = subprocess.Popen(worker_command(slot.index, argv))
        slot.restart_at = None
    return None


def _stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=WORKER_STOP_GRACE_S))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


if __name__ == "__main__":
    worker_main()
