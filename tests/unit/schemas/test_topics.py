"""Topic conventions and `govbus topics ensure` on the real broker."""

from __future__ import annotations

import pytest

from base.errors import SchemaError
from schemas.topics import (
    POLICIES,
    SHARED_BUS_KINDS,
    TopicKind,
    agency_of,
    bus_topics,
    entry_headers,
    header_entry,
    topic_name,
)


def test_names_follow_the_architecture() -> None:
    assert topic_name(TopicKind.INGEST, "psb.person.basic") == "govbus.ingest.psb.person.basic"
    assert topic_name(TopicKind.FEED, "city-mca") == "govbus.feed.city-mca"
    assert topic_name(TopicKind.AUDIT) == "govbus.audit"
    assert topic_name(TopicKind.RESOLVED) == "govbus.conflicts.resolved"  # GM 19
    with pytest.raises(SchemaError):
        topic_name(TopicKind.FEED)  # a feed belongs to an agency
    with pytest.raises(SchemaError):
        topic_name(TopicKind.INGEST, "人口/基础")  # not a legal Kafka topic name


def test_ingest_and_audit_keep_everything_state_is_compacted() -> None:
    kept = (TopicKind.INGEST, TopicKind.AUDIT, TopicKind.DLQ, TopicKind.CONFLICTS)
    for kind in (*kept, TopicKind.RESOLVED):
        assert POLICIES[kind].config["retention.ms"] == "-1"
    assert POLICIES[TopicKind.STATE].config["cleanup.policy"] == "compact"
    assert int(POLICIES[TopicKind.RECEIPTS].config["retention.ms"]) > 0


def test_bus_topics_cover_entries_and_agencies() -> None:
    names = {d.name for d in bus_topics(["e1"], ["a1", "a1"])}
    assert names == {
        "govbus.conflicts",
        "govbus.conflicts.resolved",
        "govbus.audit",
        "govbus.ingest.e1",
        "govbus.accepted",
        "govbus.dlq",
        "govbus.open",
        "govbus.receipts.a1",
        "govbus.feed.a1",
        "govbus.submit.a1",
        "govbus.dlq.submit.a1",
    }


def test_an_entry_costs_its_ingest_topic_the_rest_is_shared() -> None:
    """Issue 19 item 4: one more entry adds its ingest topic only; the canonical stream,
    dead letters and open feed are one topic each, and their records name their entry."""
    one = {d.name for d in bus_topics(["e1"], [])}
    two = {d.name for d in bus_topics(["e1", "e2"], [])}
    assert two - one == {"govbus.ingest.e2"}
    for kind in (TopicKind.ACCEPTED, TopicKind.DLQ, TopicKind.OPEN):
        assert kind in SHARED_BUS_KINDS and POLICIES[kind].per is None
        with pytest.raises(SchemaError):
            topic_name(kind, "e1")
    assert header_entry(entry_headers("人口.基础")) == "人口.基础"
    assert header_entry([("govbus.provider", b"a1")]) is None
    assert header_entry(None) is None


def test_submission_topics_take_what_ingest_topics_take() -> None:
    """Every agency writes its own topic; its limits and retention are the ingest topics'."""
    assert topic_name(TopicKind.SUBMIT, "a1") == "govbus.submit.a1"
    assert POLICIES[TopicKind.SUBMIT].config == POLICIES[TopicKind.INGEST].config
    assert POLICIES[TopicKind.SUBMIT].per == "agency"
    assert agency_of("govbus.submit.a1") == "a1"
