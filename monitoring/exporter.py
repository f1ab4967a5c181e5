"""The monitor's typed metrics bundle on a ``CollectorRegistry`` passed in.

Each round's :class:`~monitoring.snapshot.Snapshot` replaces the previous one as a whole,
so a scrape never sees half a round and series of groups or entries that disappeared
vanish with it. Names and labels are an interface (alert rules and the Grafana dashboard
use them); ``MONITOR_METRICS`` lists them and a test pins them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring.burrow import Status
from monitoring.snapshot import Snapshot


@dataclass(frozen=True)
class MetricSpec:
    name: str  # without the _total suffix of counters
    kind: str  # "gauge" or "counter"
    help: str
    labels: tuple[str, ...]


_LAG = ("group", "topic", "kind", "agency")
MONITOR_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "govbus_consumer_lag_messages",
        "gauge",
        "Records a consumer group has not consumed yet (offsets to the last stable offset).",
        _LAG,
    ),
    MetricSpec(
        "govbus_consumer_lag_seconds",
        "gauge",
        "Age of the oldest record a consumer group has not consumed (0 when caught up).",
        _LAG,
    ),
    MetricSpec(
        "govbus_consumer_group_status",
        "gauge",
        "Burrow-style status of a consumer group: 1 for the current status, 0 for the others.",
        ("group", "status"),
    ),
    MetricSpec(
        "govbus_consumer_group_members",
        "gauge",
        "Active members of a consumer group.",
        ("group",),
    ),
    MetricSpec(
        "govbus_feed_groups",
        "gauge",
        "Consumer groups that committed offsets on an agency's feed.",
        ("agency",),
    ),
    MetricSpec(
        "govbus_feed_unread_seconds",
        "gauge",
        "Age of the oldest feed record no consumer group has read (0 when none waits).",
        ("agency",),
    ),
    MetricSpec(
        "govbus_entry_update_cycle_seconds",
        "gauge",
        "Declared update cycle of a catalog entry (GM 11); 0 for realtime (not assessable).",
        ("entry", "provider", "cycle"),
    ),
    MetricSpec(
        "govbus_entry_last_change_timestamp_seconds",
        "gauge",
        "Time of the last accepted change of an entry by a provider (absent when none seen).",
        ("entry", "provider"),
    ),
    MetricSpec(
        "govbus_entry_silence_seconds",
        "gauge",
        "Seconds since the last change of an entry by a provider (or since observed).",
        ("entry", "provider"),
    ),
    MetricSpec(
        "govbus_entry_overdue",
        "gauge",
        "1 when a provider has not updated an entry within its update cycle (G 13, GM 11).",
        ("entry", "provider"),
    ),
    MetricSpec(
        "govbus_entries_overdue",
        "gauge",
        "Number of entries a provider has not updated within their cycle (G 30, S 47).",
        ("provider",),
    ),
    MetricSpec(
        "govbus_conflicts_open",
        "gauge",
        "Open coordination cases (GM 19) of an entry, by the provider that reported them.",
        ("entry", "provider"),
    ),
    MetricSpec(
        "govbus_conflict_oldest_age_seconds",
        "gauge",
        "Age of the oldest open coordination case of an entry, by reporting provider.",
        ("entry", "provider"),
    ),
    MetricSpec(
        "govbus_dlq_records",
        "counter",
        "Records in an entry's dead-letter topic, by reason.",
        ("entry", "reason"),
    ),
    MetricSpec(
        "govbus_open_transaction_partitions",
        "gauge",
        "Partitions of the bus topics whose last stable offset is behind their high "
        "watermark (a transaction is open on them).",
        (),
    ),
    MetricSpec(
        "govbus_open_transaction_held_seconds",
        "gauge",
        "Longest time a partition of the topic has kept its last stable offset behind its "
        "high watermark: read_committed readers wait there (minutes: a hanging transaction).",
        ("topic",),
    ),
    MetricSpec(
        "govbus_cluster_brokers",
        "gauge",
        "Brokers the cluster reports as registered.",
        (),
    ),
    MetricSpec(
        "govbus_cluster_active_controller",
        "gauge",
        "Node id of the active KRaft controller (the metadata quorum's leader); -1: none.",
        (),
    ),
    MetricSpec(
        "govbus_cluster_partitions",
        "gauge",
        "Partitions of every topic of the cluster.",
        (),
    ),
    MetricSpec(
        "govbus_cluster_under_replicated_partitions",
        "gauge",
        "Partitions with fewer in-sync replicas than replicas (a copy is lost or behind).",
        (),
    ),
    MetricSpec(
        "govbus_cluster_offline_partitions",
        "gauge",
        "Partitions without a leader: neither written nor read.",
        (),
    ),
    MetricSpec(
        "govbus_cluster_under_min_isr_partitions",
        "gauge",
        "Partitions with fewer in-sync replicas than min.insync.replicas: writes refused.",
        (),
    ),
    MetricSpec(
        "govbus_monitor_refresh_seconds",
        "gauge",
        "Duration of the monitor's last round.",
        (),
    ),
    MetricSpec(
        "govbus_monitor_last_refresh_timestamp_seconds",
        "gauge",
        "When the monitor's last successful round began.",
        (),
    ),
    MetricSpec(
        "govbus_monitor_refresh_failures",
        "counter",
        "Monitor rounds that failed.",
        (),
    ),
)


class MonitorMetrics(Collector):
    """Renders the latest snapshot; create with :meth:`create` on a registry."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._failures = 0
        self._lock = threading.Lock()

    @classmethod
    def create(cls, registry: CollectorRegistry) -> MonitorMetrics:
        bundle = cls()
        registry.register(bundle)
        return bundle

    def publish(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def failed(self) -> None:
        with self._lock:
            self._failures += 1

    def describe(self) -> Iterable[Metric]:
        return [_family(spec) for spec in MONITOR_METRICS]

    def collect(self) -> Iterator[Metric]:
        families = {spec.name: _family(spec) for spec in MONITOR_METRICS}
        families["govbus_monitor_refresh_failures"].add_metric([], self._failures)
        snap = self._snapshot
        if snap is not None:
            _fill(families, snap)
        yield from families.values()


Family = GaugeMetricFamily | CounterMetricFamily


def _family(spec: MetricSpec) -> Family:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


#: Adds one sample: (metric name, label values, value).
Add = Callable[[str, Iterable[str], float], None]


def _fill(f: dict[str, Family], snap: Snapshot) -> None:
    def add(name: str, labels: Iterable[str], value: float) -> None:
        f[name].add_metric(list(labels), value)

    _fill_consumers(add, snap)
    _fill_entries(add, snap)
    _fill_cluster(add, snap)
    _fill_transactions(add, snap)
    add("govbus_monitor_refresh_seconds", (), snap.refresh_seconds)
    add("govbus_monitor_last_refresh_timestamp_seconds", (), snap.at)


def _fill_cluster(add: Add, snap: Snapshot) -> None:
    """Brokers, controller and partition health (absent when the round could not tell)."""
    c = snap.cluster
    if c is None:
        return
    add("govbus_cluster_brokers", (), c.brokers)
    if c.controller is not None:
        add("govbus_cluster_active_controller", (), c.controller)
    add("govbus_cluster_partitions", (), c.partitions)
    add("govbus_cluster_under_replicated_partitions", (), c.under_replicated)
    add("govbus_cluster_offline_partitions", (), c.offline)
    add("govbus_cluster_under_min_isr_partitions", (), c.under_min_isr)


def _fill_transactions(add: Add, snap: Snapshot) -> None:
    """Open transactions: how many partitions, and the longest held per topic."""
    add("govbus_open_transaction_partitions", (), len(snap.open_transactions))
    held: dict[str, float] = {}
    for row in snap.open_transactions:
        held[row.topic] = max(held.get(row.topic, 0.0), row.held_seconds)
    for topic, seconds in held.items():
        add("govbus_open_transaction_held_seconds", (topic,), seconds)


def _fill_consumers(add: Add, snap: Snapshot) -> None:
    """Lag per group and topic, group status and members, feeds."""
    for lag in snap.lags:
        labels = (lag.group, lag.topic, lag.kind, lag.agency)
        add("govbus_consumer_lag_messages", labels, lag.lag_messages)
        if lag.lag_seconds is not None:
            add("govbus_consumer_lag_seconds", labels, lag.lag_seconds)
    for g in snap.groups:
        for status in Status:
            add("govbus_consumer_group_status", (g.group, status), float(g.status == status))
        add("govbus_consumer_group_members", (g.group,), g.members)
    for feed in snap.feeds:
        add("govbus_feed_groups", (feed.agency,), len(feed.groups))
        add("govbus_feed_unread_seconds", (feed.agency,), feed.unread_seconds)


def _fill_entries(add: Add, snap: Snapshot) -> None:
    """Update cycles, conflicts and dead letters per entry."""
    for e in snap.entries:
        add("govbus_entry_update_cycle_seconds", (e.entry, e.provider, e.cycle), e.period_seconds)
        if e.last_change is not None:
            add("govbus_entry_last_change_timestamp_seconds", (e.entry, e.provider), e.last_change)
        add("govbus_entry_silence_seconds", (e.entry, e.provider), e.silence_seconds)
        add("govbus_entry_overdue", (e.entry, e.provider), float(e.overdue))
    for provider, n in sorted(snap.overdue_by_provider().items()):
        add("govbus_entries_overdue", (provider,), n)
    for c in snap.cases:
        add("govbus_conflicts_open", (c.entry, c.provider), c.open)
        add("govbus_conflict_oldest_age_seconds", (c.entry, c.provider), c.oldest_age_seconds)
    for d in snap.dead_letters:
        add("govbus_dlq_records", (d.entry, d.reason), d.records)
