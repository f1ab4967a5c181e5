"""Metric names and labels are an interface: alert rules, the Grafana dashboard and operators'
queries use them. This pins them, for the processor's bundle and the monitor's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.exporter import MONITOR_METRICS, MonitorMetrics
from monitoring.metrics import ProcessorMetrics
from monitoring.snapshot import (
    CaseRow,
    ClusterRow,
    DeadLetterRow,
    EntryRow,
    FeedRow,
    GroupRow,
    LagRow,
    OpenTransactionRow,
    Snapshot,
)

ROOT = Path(__file__).resolve().parents[3]


LAG = ["agency", "group", "kind", "topic"]


#: exposed sample name -> (type, label names)
PINNED_MONITOR = {
    "govbus_consumer_lag_messages": ("gauge", LAG),
    "govbus_consumer_lag_seconds": ("gauge", LAG),
    "govbus_consumer_group_status": ("gauge", ["group", "status"]),
    "govbus_consumer_group_members": ("gauge", ["group"]),
    "govbus_feed_groups": ("gauge", ["agency"]),
    "govbus_feed_unread_seconds": ("gauge", ["agency"]),
    "govbus_entry_update_cycle_seconds": ("gauge", ["cycle", "entry", "provider"]),
    "govbus_entry_last_change_timestamp_seconds": ("gauge", ["entry", "provider"]),
    "govbus_entry_silence_seconds": ("gauge", ["entry", "provider"]),
    "govbus_entry_overdue": ("gauge", ["entry", "provider"]),
    "govbus_entries_overdue": ("gauge", ["provider"]),
    "govbus_conflicts_open": ("gauge", ["entry", "provider"]),
    "govbus_conflict_oldest_age_seconds": ("gauge", ["entry", "provider"]),
    "govbus_dlq_records_total": ("counter", ["entry", "reason"]),
    "govbus_open_transaction_partitions": ("gauge", []),
    "govbus_open_transaction_held_seconds": ("gauge", ["topic"]),
    "govbus_cluster_brokers": ("gauge", []),
    "govbus_cluster_active_controller": ("gauge", []),
    "govbus_cluster_partitions": ("gauge", []),
    "govbus_cluster_under_replicated_partitions": ("gauge", []),
    "govbus_cluster_offline_partitions": ("gauge", []),
    "govbus_cluster_under_min_isr_partitions": ("gauge", []),
    "govbus_monitor_refresh_seconds": ("gauge", []),
    "govbus_monitor_last_refresh_timestamp_seconds": ("gauge", []),
    "govbus_monitor_refresh_failures_total": ("counter", []),
}


PINNED_PROCESSOR = {
    "govbus_events_total": ("counter", ["entry", "outcome"]),
    "govbus_dead_letters_total": ("counter", ["entry", "reason"]),
    "govbus_conflicts_total": ("counter", ["entry"]),
    "govbus_deliveries_total": ("counter", ["entry", "recipient"]),
    "govbus_transactions_total": ("counter", ["result"]),
    "govbus_batch_seconds_bucket": ("histogram", ["le"]),
    "govbus_end_to_end_seconds_bucket": ("histogram", ["le"]),
}


def _exposed(registry: CollectorRegistry) -> dict[str, tuple[str, list[str]]]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            out[sample.name] = (family.type, sorted(sample.labels))
    return out


def _full_snapshot() -> Snapshot:
    return Snapshot(
        at=1_700_000_000.0,
        lags=(LagRow("g", "govbus.feed.a", "feed", "a", 3, 10, 4, 12.5),),
        groups=(GroupRow("g", "STABLE", 1, "warning", 3),),
        feeds=(FeedRow("a", "govbus.feed.a", ("g",), 12.5),),
        entries=(EntryRow("e", "p", "daily", 86400.0, True, 1.0, 1.0, 90000.0, True),),
        cases=(CaseRow("e", "q", 2, 30.0),),
        dead_letters=(DeadLetterRow("e", "identity_checksum", 4),),
        refresh_seconds=0.2,
        cluster=ClusterRow(2, 3, 120, 40, 1, 2),
        open_transactions=(
            OpenTransactionRow("govbus.feed.a", 1, 7, 9, 420.0),
            OpenTransactionRow("govbus.feed.a", 0, 3, 4, 2.0),
        ),
    )


def test_monitor_metric_names_and_labels_are_pinned() -> None:
    registry = CollectorRegistry()
    MonitorMetrics.create(registry).publish(_full_snapshot())
    assert _exposed(registry) == PINNED_MONITOR
    assert {s.name for s in MONITOR_METRICS} == {n.removesuffix("_total") for n in PINNED_MONITOR}


def test_processor_metric_names_and_labels_are_pinned() -> None:
    registry = CollectorRegistry()
    m = ProcessorMetrics.create(registry)
    m.events.labels("e", "accepted").inc()
    m.dead_letters.labels("e", "undecodable").inc()
    m.conflicts.labels("e").inc()
    m.deliveries.labels("e", "a").inc()
    m.transactions.labels("committed").inc()
    m.batch_seconds.observe(0.1)
    m.end_to_end_seconds.observe(0.1)
    exposed = {k: v for k, v in _exposed(registry).items() if not k.endswith(("_sum", "_count"))}
    assert exposed == PINNED_PROCESSOR


def test_snapshot_values_reach_the_exposition() -> None:
    registry = CollectorRegistry()
    MonitorMetrics.create(registry).publish(_full_snapshot())
    v = registry.get_sample_value
    assert (
        v(
            "govbus_consumer_lag_messages",
            {"group": "g", "topic": "govbus.feed.a", "kind": "feed", "agency": "a"},
        )
        == 4
    )
    assert v("govbus_consumer_group_status", {"group": "g", "status": "warning"}) == 1
    assert v("govbus_consumer_group_status", {"group": "g", "status": "ok"}) == 0
    assert v("govbus_entries_overdue", {"provider": "p"}) == 1
    assert v("govbus_dlq_records_total", {"entry": "e", "reason": "identity_checksum"}) == 4
    # A broker lost (GM 28): its partitions under-replicated, one without a leader.
    assert v("govbus_cluster_brokers") == 2
    assert v("govbus_cluster_active_controller") == 3
    assert v("govbus_cluster_under_replicated_partitions") == 40
    assert v("govbus_cluster_offline_partitions") == 1
    assert v("govbus_cluster_under_min_isr_partitions") == 2
    # Two partitions of a feed with a transaction open; the topic's longest hold is exposed.
    assert v("govbus_open_transaction_partitions") == 2
    assert v("govbus_open_transaction_held_seconds", {"topic": "govbus.feed.a"}) == 420.0
    # A round that finds nothing replaces the previous one: vanished series go.
    bundle = MonitorMetrics()
    registry2 = CollectorRegistry()
    registry2.register(bundle)
    bundle.publish(_full_snapshot())
    bundle.publish(Snapshot(at=1.0))
    assert registry2.get_sample_value("govbus_entries_overdue", {"provider": "p"}) is None
    # A round that could not describe the cluster says nothing about it (no false zero).
    assert registry2.get_sample_value("govbus_cluster_offline_partitions") is None
    bundle.failed()
    assert registry2.get_sample_value("govbus_monitor_refresh_failures_total") == 1


def _exposed_names() -> set[str]:
    names = set(PINNED_MONITOR) | set(PINNED_PROCESSOR)
    for base in ("govbus_batch_seconds", "govbus_end_to_end_seconds"):
        names |= {f"{base}_sum", f"{base}_count"}
    return names | _workflow_names()


def _workflow_names() -> set[str]:
    """What govbus serve's /metrics exposes (monitoring.workflows), for one case."""
    from datetime import UTC, datetime

    from monitoring.workflows import CaseFact, WorkflowFacts, workflow_registry

    fact = CaseFact("share_reply", "a", "guiyang-2021", True, True, False, False, False, 1)
    registry = workflow_registry(lambda: WorkflowFacts([fact], datetime(2026, 12, 31, tzinfo=UTC)))
    return {s.name for m in registry.collect() for s in m.samples}


def test_alert_rules_and_dashboard_use_only_exposed_metrics() -> None:
    exprs = [
        r["expr"]
        for g in yaml.safe_load((ROOT / "monitoring/rules/govbus.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    dashboard = json.loads((ROOT / "monitoring/grafana/govbus.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {n for e in exprs for n in re.findall(r"\bgovbus_[a-z_]+", e)}
    assert used and used <= _exposed_names(), used - _exposed_names()
    # Every monitor metric is on the dashboard or in a rule.
    monitor = set(PINNED_MONITOR)
    assert monitor - used <= {
        "govbus_consumer_group_members",
        "govbus_entry_last_change_timestamp_seconds",
        "govbus_feed_groups",
    }
