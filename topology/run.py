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
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from consumers.reference import ReferenceView
from exchange.catalog_loader import load_catalog
from govbus.connection import connected
from govbus.credentials import read_client_config
from govbus.settings import Settings
from monitoring.metrics import ProcessorMetrics
from topology.processor import Processor, ProcessorConfig
from topology.reference import ReferenceSource, StaticReference

#: A restarted static member must rejoin before this; a vanished one is dropped after it.
SESSION_TIMEOUT_MS = 10000
#: How long the supervisor waits for workers to finish their last transaction.
WORKER_STOP_GRACE_S = 30.0


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
) -> ProcessorConfig:
    return ProcessorConfig(
        bootstrap,
        group_id=group_id,
        worker=worker,
        commit_interval_s=commit_interval_s,
        batch_size=batch_size,
        audit=audit,
        exactly_once=exactly_once,
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
        help="client config of the processor principal (govbus.credentials); its bootstrap "
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
    bootstrap, extra = args.bootstrap, dict(connected(Settings.load()).kafka)
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


def supervise(workers: int, argv: Sequence[str]) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT; return the worst exit code."""
    procs = [subprocess.Popen(worker_command(i, argv)) for i in range(workers)]
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.is_set() and all(p.poll() is None for p in procs):
        stop.wait(0.5)
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
    return max(codes, default=0)


if __name__ == "__main__":
    worker_main()
