"""Closing conflicts (GM 19): agencies consult promptly, else the bureau coordinates and
verifies; `govbus conflicts resolve` records the outcome on govbus.conflicts.resolved, and
`conflicts list` and the monitor stop counting the conflict as open.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitoring.exporter import MonitorMetrics
from monitoring.monitor import Monitor, MonitorConfig
from schemas.topics import TopicKind, topic_name
from tests.support.cli import invoke_json
from tests.support.processor import PERSON, PERSON_KEY, Bus
from tests.support.scenario import event, publish_events

#: Long enough for the processor to subscribe, decide and commit on a busy machine.
WAIT_S = 60.0


def _cli(bus: Bus, *args: str) -> tuple[int, Any]:
    return invoke_json([*args, "--bootstrap", bus.bootstrap])


def _conflicts(bus: Bus, entry: str, *extra: str) -> list[dict[str, Any]]:
    code, out = _cli(bus, "conflicts", "list", "--entry", entry, *extra)
    assert code == 0, out
    return list(out["conflicts"])


def _raise_conflict(bus: Bus) -> tuple[str, dict[str, Any]]:
    """市公安局 sets the name, 市卫健委 reports another: the real processor raises a conflict."""
    n = bus.names
    basic = n.entry("psb.person.basic")
    psb, hc = n.agency("city-psb"), n.agency("city-hc")
    publish_events(
        bus.bootstrap,
        [
            (PERSON_KEY, event(basic, psb, PERSON, {"name": "张三"}, operation="create")),
            (PERSON_KEY, event(basic, hc, PERSON, {"name": "李三"}, authoritative=False)),
        ],
        config=bus.config,
    )
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = [
            c
            for c in bus.records(topic_name(TopicKind.CONFLICTS), "Conflict")
            if c["entry"] == basic
        ]
        if found:
            return basic, found[0]
        time.sleep(0.5)
    pytest.fail("the processor raised no conflict", pytrace=False)


def _monitor(bus: Bus, metrics: MonitorMetrics) -> Monitor:
    cfg = MonitorConfig(bus.bootstrap, group_pattern=bus.names.sfx, extra_config=bus.config)
    return Monitor(cfg, lambda: bus.loaded.catalog, metrics=metrics)


def _gauge(registry: CollectorRegistry, name: str, entry: str, provider: str) -> float | None:
    return registry.get_sample_value(name, {"entry": entry, "provider": provider})


def test_bureau_resolves_a_conflict_and_it_stops_counting_as_open(bus: Bus) -> None:
    """GM 19: a conflict raised by the processor stays open until the bureau coordinates and
    verifies it; then `conflicts list` shows it resolved and the monitor's open-case gauges
    (govbus_conflicts_open, govbus_conflict_oldest_age_seconds) fall to zero."""
    basic, conflict = _raise_conflict(bus)
    cid, hc = str(conflict["conflict_id"]), bus.names.agency("city-hc")
    registry = CollectorRegistry()
    mon = _monitor(bus, MonitorMetrics.create(registry))
    try:
        before = [c for c in mon.refresh().cases if c.entry == basic]
        assert [(c.provider, c.open) for c in before] == [(hc, 1)]
        assert _gauge(registry, "govbus_conflicts_open", basic, hc) == 1

        [listed] = _conflicts(bus, basic)
        assert (listed["conflict_id"], listed["state"], listed["resolution"]) == (cid, "open", None)
        assert listed["reported_value"] == "李三"  # the existing fields are kept

        code, out = _cli(
            bus,
            "conflicts",
            "resolve",
            cid,
            "--resolution",
            "authoritative-confirmed",
            "--by",
            "city-bdb",
            "--note",
            "经协调核实，以市公安局登记为准",
        )
        assert code == 0, out
        assert (out["conflict_id"], out["resolution"], out["article"]) == (
            cid,
            "authoritative_confirmed",
            "GM 19",
        )
        assert (out["entry"], out["canonical_subject"], out["item"]) == (
            basic,
            PERSON_KEY,
            conflict["item"],
        )
        assert out["topic"] == "govbus.conflicts.resolved"

        [listed] = _conflicts(bus, basic)
        assert listed["state"] == "resolved"
        assert (listed["resolution"], listed["resolved_by"]) == (
            "authoritative_confirmed",
            "city-bdb",
        )
        assert listed["resolution_note"] == "经协调核实，以市公安局登记为准"
        assert listed["resolution_article"] == "GM 19" and listed["resolved_at"]
        assert _conflicts(bus, basic, "--open") == []

        after = [c for c in mon.refresh().cases if c.entry == basic]
        assert [(c.provider, c.open, c.oldest_age_seconds) for c in after] == [(hc, 0, 0.0)]
        assert _gauge(registry, "govbus_conflicts_open", basic, hc) == 0
        assert _gauge(registry, "govbus_conflict_oldest_age_seconds", basic, hc) == 0
    finally:
        mon.close()


def test_second_resolution_and_unknown_ids_are_refused(bus: Bus) -> None:
    """GM 19: a conflict is settled once; a second resolution and an unknown id are errors
    (exit code 1, a JSON error object naming the reason), and nothing more is written."""
    basic, conflict = _raise_conflict(bus)
    cid = str(conflict["conflict_id"])
    args = ("--resolution", "report-withdrawn", "--by", bus.names.agency("city-hc"))
    code, out = _cli(bus, "conflicts", "resolve", cid.upper(), *args)
    assert code == 0, out
    assert out["resolution"] == "report_withdrawn" and out["conflict_id"] == cid

    code, out = _cli(
        bus, "conflicts", "resolve", cid, "--resolution", "source-corrected", "--by", "x"
    )
    assert code == 1
    assert (out["kind"], out["reason"]) == ("CoordinationError", "already_resolved")
    assert "already resolved" in out["error"]

    unknown = str(uuid.uuid4())
    code, out = _cli(bus, "conflicts", "resolve", unknown, *args)
    assert code == 1
    assert (out["kind"], out["reason"]) == ("CoordinationError", "unknown_conflict")
    assert unknown in out["error"]

    code, out = _cli(bus, "conflicts", "resolve", "not-a-uuid", *args)
    assert code == 1 and out["reason"] == "bad_conflict_id"
    code, out = _cli(bus, "conflicts", "resolve", cid, "--resolution", "agreed", "--by", "x")
    assert code == 2 and out["reason"] == "bad_resolution"

    written = [
        r
        for r in bus.records(topic_name(TopicKind.RESOLVED), "ConflictResolution")
        if str(r["conflict_id"]) == cid
    ]
    assert [r["resolution"] for r in written] == ["report_withdrawn"]
    [listed] = _conflicts(bus, basic)
    assert (listed["state"], listed["resolution"]) == ("resolved", "report_withdrawn")
