"""End to end on the real broker: a new catalog entry submitted through the HTTP API,
reviewed by the bureau and approved by the government (G 11, GM 14), is published by the
bus: its topics and its state record. The provider publishes with its own credentials,
through the agency listener, to its own submission topic (issue 15): an event on the entry
before the government approves it is refused with a receipt naming the reason; after, a
running `govbus run` delivers it to a consumer's feed (unconditional sharing, G 15 ¶1)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kafkaclient import Admin
from operations.access import AccessControl, AgencyListener
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.broker import BrokerSource
from tests.support.principal import produce_as
from tests.support.scenario import event, read_topic
from tests.support.workflow import WorkflowEnv, receipt_of, running_bus, workflow_env

PERSON = "11010519491231002X"
KEY = f"resident_id:{PERSON}"
WAIT_S = 90.0


@pytest.fixture
def running(
    database_url: str,
    broker: BrokerSource,
    kafka_config: dict[str, str],
    tmp_path: Path,
) -> Iterator[WorkflowEnv]:
    if not broker.agency_bootstrap:
        pytest.fail("the session broker has no agency listener (issue 7)", pytrace=False)
    with (
        workflow_env(database_url, broker.bootstrap, kafka_config) as env,
        running_bus(env, tmp_path),
    ):
        yield env


def _ingest_topic_exists(env: WorkflowEnv, entry_id: str) -> bool:
    with Admin(env.bootstrap, extra_config=env.config) as admin:
        return topic_name(TopicKind.INGEST, entry_id) in admin.topics()


def _event(entry_id: str, provider: str) -> dict[str, Any]:
    record = event(entry_id, provider, PERSON, {"photo_ref": "P-2026-0001"})
    return {**record, "source_system": "户籍系统"}


def test_an_entry_approved_through_the_api_is_published_and_its_events_reach_a_feed_g11(
    running: WorkflowEnv, broker: BrokerSource
) -> None:
    env = running
    psb = env.agency("city-psb")
    access = AccessControl(
        env.bootstrap,
        extra_config=env.config,
        listener=AgencyListener(broker.agency_bootstrap, broker.ca_location),
    )
    psb_config = access.issue(psb, [])  # 市公安局's own credentials, no entry yet
    document = env.new_entry()
    entry_id = document["id"]
    # Step by step through the API: the provider submits, the bureau reviews, the
    # government approves (审定, G 11); only then may the provider write the entry.
    case = env.submit_entry(document, reason="新增证件照片编号目录").json()["id"]
    env.clock.advance(timedelta(hours=1))
    assert (
        env.call("POST", f"/v1/catalog/changes/{case}/review", "bureau", json={}).status_code == 200
    )
    # Reviewed but not yet approved: not in the catalog, so the bus refuses the event and
    # tells its provider why (GM 10), and no ingest topic exists for the entry.
    submit = topic_name(TopicKind.SUBMIT, psb)
    early = _event(entry_id, psb)
    assert produce_as(psb_config, submit, KEY, encode("ChangeEvent", early)) == []
    refused = receipt_of(env, psb, early["event_id"], WAIT_S)
    assert (refused["outcome"], refused["reason_code"]) == ("rejected", "unknown_entry"), refused
    assert not _ingest_topic_exists(env, entry_id)
    env.clock.advance(timedelta(hours=1))
    ratified = env.call("POST", f"/v1/catalog/changes/{case}/ratify", "gov", json={})
    assert ratified.status_code == 200 and ratified.json()["state"] == "published", ratified.text
    assert _ingest_topic_exists(env, entry_id)
    # 市卫健委 subscribes to the new unconditional entry (G 15 ¶1, S 25 ¶1).
    subscribed = env.call(
        "POST", "/v1/subscriptions", "hc-clerk", json={"entry": entry_id, "purpose": "核验证件照片"}
    )
    assert subscribed.status_code == 201, subscribed.text
    # The provider publishes with its own credentials, through the agency listener, to its
    # own submission topic; the bus alone writes the entry's ingest topic.
    ev = _event(entry_id, psb)
    ingest = topic_name(TopicKind.INGEST, entry_id)
    assert [e.code for e in produce_as(psb_config, ingest, KEY, encode("ChangeEvent", ev))] == [
        "TOPIC_AUTHORIZATION_FAILED"
    ]
    assert produce_as(psb_config, submit, KEY, encode("ChangeEvent", ev)) == []
    # The processor picks the entry up from the state topic, subscribes, decides, delivers.
    deadline = time.monotonic() + WAIT_S
    feed: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not feed:
        feed = [
            r
            for r in read_topic(
                env.bootstrap,
                topic_name(TopicKind.FEED, env.agency("city-hc")),
                config=env.config,
                record="FeedRecord",
                settle_s=0.5,
            )
            if str(r["event_id"]) == ev["event_id"]
        ]
    assert feed, f"the event on {entry_id} did not reach 市卫健委's feed in {WAIT_S} s"
    assert feed[0]["entry"] == entry_id
    assert [(i["name"], i["value"]) for i in feed[0]["items"]] == [("photo_ref", "P-2026-0001")]
    assert receipt_of(env, psb, ev["event_id"], WAIT_S)["outcome"] == "accepted"
