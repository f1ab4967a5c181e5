"""``govbus monitor``: serve Prometheus metrics on lag, update cycles, conflicts, dead letters.

The monitor reads the cluster beside the data path (offsets, groups, the accepted,
conflicts and dead-letter topics); it never joins a group or commits. The catalog comes
from ``--catalog FILE`` or, by default, from the state topics.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import typer
from prometheus_client import CollectorRegistry, start_http_server
from rich.table import Table

from base.errors import GovbusError
from base.settings import Settings
from consumers.reference import ReferenceView
from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from govbus.cli.broker_cmd import resolve_bootstrap
from govbus.cli.output import EXIT_USAGE, console, emit_json, fail, failed
from monitoring.burrow import MIN_SAMPLES, WINDOW_SIZE
from monitoring.exporter import MonitorMetrics
from monitoring.monitor import INTERVAL_S, Monitor, MonitorConfig
from monitoring.snapshot import Snapshot
from topology.connection import connected

JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts.")
#: A transaction open this long is named (the alert GovbusTransactionHanging's threshold).
HANGING_S = 300.0
#: The port govbus monitor listens on unless told otherwise.
DEFAULT_PORT = 9464


def catalog_source(
    bootstrap: str, catalog: Path | None, namespace: str | None, as_json: bool
) -> Callable[[], Catalog]:
    """A fixed catalog file, or the live catalog of the state topics."""
    if catalog is not None:
        if not catalog.is_file():
            fail(f"no such file: {catalog}", as_json=as_json, code=EXIT_USAGE)
        try:
            fixed = load_catalog(catalog).catalog
        except GovbusError as exc:
            fail(f"{catalog}: {exc}", as_json=as_json, code=EXIT_USAGE)
        return lambda: fixed
    view = ReferenceView(
        bootstrap,
        extra_config=connected(Settings.load(), bootstrap).kafka,
        namespace=namespace,
        create_topics=False,
    )
    return lambda: view.refresh().catalog


def print_cluster(snapshot: Snapshot) -> None:
    """The brokers' health in one line (`--once`)."""
    c = snapshot.cluster
    if c is None:
        console.print("集群 cluster: [bold red]无法获取[/] (see problems)")
        return
    controller = (
        "未知 unknown"
        if c.controller is None
        else (str(c.controller) if c.controller >= 0 else "[bold red]无 none[/]")
    )
    bad = c.under_replicated or c.offline or c.under_min_isr
    mark = "[bold red]" if bad else "[bold]"
    console.print(
        f"集群 cluster: {c.brokers} brokers, 控制器 active controller {controller}, "
        f"{c.partitions} partitions: {mark}副本不足 under-replicated {c.under_replicated}, "
        f"离线 offline {c.offline}, 低于最小同步副本 under min ISR {c.under_min_isr}[/]"
    )


def print_transactions(snapshot: Snapshot, held_s: float = HANGING_S) -> None:
    """Open transactions in one line, and each partition held longer than ``held_s``."""
    rows = snapshot.open_transactions
    longest = f", 最久 longest {rows[0].held_seconds:.0f} s" if rows else ""
    console.print(f"未结事务 open transactions: {len(rows)} partition(s){longest}")
    for r in rows:
        if r.held_seconds >= held_s:
            console.print(
                f"  [bold red]悬挂事务 hanging[/] {r.topic}/{r.partition}: "
                f"LSO {r.stable_offset} < HW {r.high_watermark} for {r.held_seconds:.0f} s"
            )


def _print(snapshot: Snapshot) -> None:
    print_cluster(snapshot)
    print_transactions(snapshot)
    groups = Table(title="consumer groups")
    for col in ("group", "status", "members", "topic", "lag", "lag s"):
        groups.add_column(col)
    status = {g.group: g for g in snapshot.groups}
    for lag in snapshot.lags:
        g = status[lag.group]
        seconds = "?" if lag.lag_seconds is None else f"{lag.lag_seconds:.0f}"
        groups.add_row(
            lag.group, g.status, str(g.members), lag.topic, str(lag.lag_messages), seconds
        )
    console.print(groups)
    entries = Table(title="update cycles (GM 11, G 13)")
    for col in ("entry", "provider", "cycle", "silent s", "overdue"):
        entries.add_column(col)
    for e in snapshot.entries:
        mark = "[bold red]overdue[/]" if e.overdue else ("-" if not e.assessable else "ok")
        entries.add_row(e.entry, e.provider, e.cycle, f"{e.silence_seconds:.0f}", mark)
    console.print(entries)
    for c in snapshot.cases:
        console.print(
            f"open cases (GM 19) {c.entry} by {c.provider}: {c.open}, "
            f"oldest {c.oldest_age_seconds:.0f}s"
        )


def register(app: typer.Typer) -> None:
    @app.command("monitor")
    def monitor(
        port: int = typer.Option(DEFAULT_PORT, help="Serve /metrics on this port."),
        host: str = typer.Option("127.0.0.1", help="Listen address (0.0.0.0 in a container)."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        catalog: Path = typer.Option(None, help="Fixed catalog file instead of state topics."),
        namespace: str = typer.Option(
            None, envvar="GOVBUS_STATE_NAMESPACE", help="State-topic namespace."
        ),
        interval: float = typer.Option(INTERVAL_S, min=0.1, help="Seconds between rounds."),
        groups: str = typer.Option("", help="Only consumer groups matching this regex."),
        window: int = typer.Option(WINDOW_SIZE, min=2, help="Samples per Burrow window."),
        min_samples: int = typer.Option(MIN_SAMPLES, min=2, help="Samples before judging."),
        once: bool = typer.Option(False, "--once", help="One round, print it, exit."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Serve Prometheus metrics: consumer lag per feed and group (records, seconds,
        Burrow status), update-cycle compliance (GM 11, G 13), open conflicts (GM 19),
        dead letters, and the brokers' health (active controller, under-replicated and
        offline partitions). Runs until SIGTERM or Ctrl-C."""
        address = resolve_bootstrap(bootstrap, as_json)
        source = catalog_source(address, catalog, namespace, as_json)
        config = MonitorConfig(
            address,
            group_pattern=groups or None,
            window=window,
            min_samples=min(min_samples, window),
            extra_config=connected(Settings.load(), address).kafka,
        )
        if once:
            mon = Monitor(config, source)
            try:
                snapshot = mon.refresh()
            except GovbusError as exc:
                failed(exc, as_json=as_json)
            finally:
                mon.close()
            if as_json:
                emit_json(snapshot.to_dict())
            else:
                _print(snapshot)
            return
        registry = CollectorRegistry()
        metrics = MonitorMetrics.create(registry)
        try:
            start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc}", as_json=as_json)
        url = f"http://{host}:{port}/metrics"
        if as_json:
            emit_json({"metrics": url, "interval": interval})
        else:
            console.print(f"govbus monitor: serving {url} every {interval}s")
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        mon = Monitor(config, source, metrics=metrics)
        try:
            mon.run(stop, interval)
        finally:
            mon.close()
