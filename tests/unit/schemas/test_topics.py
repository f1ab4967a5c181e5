"""Topic conventions and `govbus topics ensure` on the real broker."""

from __future__ import annotations

import pytest

from base.errors import SchemaError
from schemas.topics import POLICIES, TopicKind, agency_of, bus_topics, topic_name


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
        "govbus.accepted.e1",
        "govbus.dlq.e1",
        "govbus.open.e1",
        "govbus.receipts.a1",
        "govbus.feed.a1",
        "govbus.submit.a1",
        "govbus.dlq.submit.a1",
    }


def test_submission_topics_take_what_ingest_topics_take() -> None:
    """Every agency writes its own topic; its limits and retention are the ingest topics'."""
    assert topic_name(TopicKind.SUBMIT, "a1") == "govbus.submit.a1"
    assert POLICIES[TopicKind.SUBMIT].config == POLICIES[TopicKind.INGEST].config
    assert POLICIES[TopicKind.SUBMIT].per == "agency"
    assert agency_of("govbus.submit.a1") == "a1"
