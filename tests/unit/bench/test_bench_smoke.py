"""Smoke test of ``python -m bench`` (issue 9) with tiny sizes on the session broker: the
report's structure, every ratio recomputed from the measured numbers it holds, every feed
holding every event once, the JSON and PNG written. No timing assertions. The bench and
its worker processes authenticate with the session's settings (GOVBUS_CREDENTIALS_FILE:
the administrator of the local broker)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.catalog_loader import load_catalog
from exchange.gate import IncomingEvent, decide
from exchange.policy import OpenFeed
from schemas import decode
from schemas.topics import POLICIES, TopicKind, entry_headers, topic_name

# bench/ is a directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


from bench.broker import GIVEN, bench_broker
from bench.harness import assess, combine, ratios, records_per_event, records_written
from bench.peer_job import PeerJob, write_spec
from bench.runs import Launcher, percentile
from bench.scenario import ITEMS, SHARED_TOPICS, Scenario, make_events, of_entry


def test_bench_scenario_fans_out_to_five_agencies_and_the_masked_open_feed(
    tmp_path: Path,
) -> None:
    """S 22 per-field grants: three agencies get every item, two their subsets; GM 9: the
    open feed gets internal data only desensitised, the subject key masked too."""
    scenario = Scenario("0123abcd")
    loaded = load_catalog(scenario.write_catalog(tmp_path))
    events = make_events(scenario, 20, seed=3)
    for key, value in zip(events.keys, events.values, strict=True):
        raw = decode("ChangeEvent", value)
        event = IncomingEvent.from_record(raw, key)
        result = decide(event, scenario.entry, loaded.catalog, loaded.grants, {}, datetime.now(UTC))
        assert result.outcome == "accepted"
        recipients = {r.id: d for d in result.deliveries for r in d.recipients}
        assert set(recipients) == {*scenario.consumers, OpenFeed().id}
        grants = scenario.grants()
        for agency in scenario.consumers:
            assert set(recipients[agency].items) == set(grants[agency])
            assert recipients[agency].rules_applied == ()
        open_delivery = recipients[OpenFeed().id]
        assert open_delivery.subject != result.canonical_subject
        assert {name for name, _ in open_delivery.rules_applied} >= {"name", "phone"}
    # Same seed, same values whatever the scenario: only the ids differ.
    again = make_events(Scenario("ffffeeee"), 20, seed=3)
    assert again.keys == events.keys and again.ids == events.ids


@pytest.mark.usefixtures("unconfigured")
def test_a_given_broker_is_used_with_the_credentials_of_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVBUS_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("GOVBUS_KAFKA__SASL_PASSWORD", "never-shown")
    with bench_broker("kafka.example:9092") as broker:
        assert (broker.bootstrap, broker.kind) == ("kafka.example:9092", GIVEN)
        assert dict(broker.config) == {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.password": "never-shown",
        }
        # Workers find the same settings in their environment, not on their command line.
        assert broker.env["GOVBUS_KAFKA__SASL_PASSWORD"] == "never-shown"
        assert "never-shown" not in repr(broker)
    monkeypatch.setenv("GOVBUS_BOOTSTRAP", "configured.example:9092")
    with bench_broker() as broker:
        assert (broker.bootstrap, broker.kind) == ("configured.example:9092", GIVEN)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_lies_between_min_and_max_and_grows_with_q(
    values: list[float], q: float
) -> None:
    p = percentile(values, q)
    tol = 1e-9 * (1 + max(values))  # interpolation rounds
    assert min(values) - tol <= p <= max(values) + tol
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)
    assert percentile(values, min(100.0, q + 10)) >= p - tol


def test_ratios_are_missing_not_invented_when_a_measurement_is_missing() -> None:
    report = {
        "govbus": {"events_per_s": 100.0},
        "peers": {"quix-streams": {"skipped": "not installed"}},
    }
    r = ratios(report)
    assert r == {"govbus_to_quix-streams": None}
    report["ratios"] = r
    assert assess(report)["govbus_to_quix-streams"]["met"] is None


def test_the_latency_goals_are_issue_17s_and_a_negative_audit_cost_meets_nothing() -> None:
    """p99 <= 100 ms and p99.9 <= 250 ms at half load (issue 17 item 1); an audit-off run
    slower than audit on is noise, not an audit that costs nothing (item 3)."""
    point = {"load_fraction": 0.5, "commit_interval_s": 0.05, "p99_ms": 90.0, "p99_9_ms": 300.0}
    report: dict[str, Any] = {"ratios": {"audit_cost": -0.2}, "latency": {"points": [point]}}
    out = assess(report)
    assert out["p99_ms_at_half_load_commit_0.05s"] == {"measured": 90.0, "goal": 100.0, "met": True}
    assert out["p99_9_ms_at_half_load_commit_0.05s"]["met"] is False
    assert out["audit_cost"]["met"] is None
    report["ratios"]["audit_cost"] = 0.08
    assert assess(report)["audit_cost"]["met"] is True


def test_rounds_combine_to_the_median_rate_and_the_highest_memory() -> None:
    rounds: list[dict[str, Any]] = [
        {"events_per_s": 900.0, "peak_rss_mib": 80.0, "feed_records": {"t": 5}},
        {"events_per_s": 1200.0, "peak_rss_mib": 85.5},
        {"events_per_s": 1000.0, "peak_rss_mib": 79.0},
    ]
    out = combine(rounds)
    assert out["events_per_s"] == 1000.0
    assert out["events_per_s_rounds"] == [900.0, 1200.0, 1000.0]
    assert out["peak_rss_mib"] == 85.5 and out["feed_records"] == {"t": 5}


def test_more_consumers_are_granted_every_item_and_fewer_keep_the_first_ones() -> None:
    """``--consumers N``: the fan-out grows with full grants; the five stay as they were."""
    five, fifty, two = Scenario("s", 5), Scenario("s", 50), Scenario("s", 2)
    assert fifty.consumers[:5] == five.consumers and len(set(fifty.consumers)) == 50
    every = tuple(name for name, *_ in ITEMS)
    grants = fifty.grants()
    assert {c: grants[c] for c in five.consumers} == five.grants()
    assert all(grants[c] == every for c in fifty.consumers[5:])
    assert two.consumers == five.consumers[:2] and set(two.grants()) == set(two.consumers)


def test_records_per_event_are_counted_by_the_plan_step_K_plus_5() -> None:
    """Decision v5: a receipt, one audit record, the changelog, the canonical stream and
    K + 1 feed records per event (one less without audit)."""
    assert records_per_event(5, seed=7) == {
        "records_per_event": 10,
        "records_per_event_audit_off": 9,
    }
    assert records_per_event(12, seed=7)["records_per_event"] == 17


def test_records_written_set_govbus_beside_raw_produce_and_miss_nothing_invented() -> None:
    report: dict[str, Any] = {
        "scenario": {"records_per_event": 10, "records_per_event_audit_off": 9},
        "govbus": {"events_per_s": 400.0},
        "variants": {"audit_off": {"events_per_s": 500.0}},
        "raw": {"produce_events_per_s": 40_000.0},
    }
    assert records_written(report) == {
        "records_per_event": 10,
        "govbus_records_per_s": 4_000,
        "audit_off_records_per_s": 4_500,
        "raw_produce_records_per_s": 40_000.0,
        "govbus_to_raw_produce": 0.1,
    }
    del report["raw"]
    assert records_written(report)["govbus_to_raw_produce"] is None


def _record(topic: str, entry: str | None = None) -> confluent_kafka.Message:
    """A consumed record of ``topic``, with ``entry``'s header when one is given."""
    headers: list[tuple[str, str | bytes | None]] | None = None
    if entry is not None:
        headers = list(entry_headers(entry))
    return confluent_kafka.Message(topic=topic, value=b"", headers=headers)


def test_a_reader_keeps_its_entrys_records_of_the_topics_every_entry_shares() -> None:
    """Issue 19 item 4: the canonical stream, the dead letters and the open feed are one
    topic each for every entry; of them a scenario's reader keeps the records whose entry
    header names its entry, of any other topic (one of the scenario's own) every record."""
    mine, other = Scenario("0123abcd"), Scenario("ffffeeee")
    shared = (TopicKind.ACCEPTED, TopicKind.DLQ, TopicKind.OPEN)
    assert {topic_name(k) for k in shared} == SHARED_TOPICS
    assert mine.open_topic == other.open_topic == topic_name(TopicKind.OPEN)
    for topic in SHARED_TOPICS:
        assert of_entry(_record(topic, mine.entry), mine.entry)
        assert not of_entry(_record(topic, other.entry), mine.entry)
        assert not of_entry(_record(topic), mine.entry)  # no header: no entry's record
        assert of_entry(_record(topic, other.entry), None)
    for topic in (*mine.feed_topics, mine.ingest_topic, mine.peer_open_topic):
        assert of_entry(_record(topic), mine.entry)


def test_govbus_is_watched_on_the_shared_open_feed_and_a_peer_on_one_of_its_own(
    tmp_path: Path,
) -> None:
    """A peer is not govbus: its job writes the open feed to a topic of the scenario's own
    (made like the bus's open feed), and nothing to the topics the bus shares."""
    scenario = Scenario("0123abcd")
    govbus = Launcher(lambda _scenario, _dir: [])
    peer = Launcher(lambda _scenario, _dir: [], peer=True)
    assert govbus.outputs(scenario) == (*scenario.feed_topics, topic_name(TopicKind.OPEN))
    assert govbus.own_topics(scenario) == []
    assert peer.outputs(scenario) == (*scenario.feed_topics, scenario.peer_open_topic)
    assert scenario.peer_open_topic == f"bench.peer.open.{scenario.entry}"
    [own] = peer.own_topics(scenario)
    policy = POLICIES[TopicKind.OPEN]
    assert (own.name, own.partitions, own.config) == (
        scenario.peer_open_topic,
        policy.partitions,
        policy.config,
    )
    job = PeerJob(write_spec(scenario, tmp_path / "spec.json"))
    events = make_events(scenario, 3, seed=3)
    written = {
        topic
        for key, value in zip(events.keys, events.values, strict=True)
        for topic, _, _ in job(key, value)
    }
    assert written == set(peer.outputs(scenario))
    assert not written & SHARED_TOPICS
