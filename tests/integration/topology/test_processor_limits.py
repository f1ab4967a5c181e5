"""Every input is answered, by a receipt or a dead letter with its reason, never by an
audit record alone and never by nothing; a dead letter always fits; the size an agency may
send is enforced (README "Limits"). On the real broker.

Articles: the standard interface (G 10), accurate and timely data (G 13), unregistered
providers (S 3), the audit trail (S 42).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from base.errors import DeliveryError
from kafkaclient import Admin, Producer
from schemas import encode
from schemas.topics import MAX_EVENT_BYTES, TopicKind, topic_name
from tests.support import processor
from tests.support.scenario import Names, event, publish, read_topic, resident_id, topic_of
from topology.topics import published_entries

TOPICS_TIMEOUT_S = 60.0


class Bus(processor.Bus):
    """The shared running processor, read patiently, written to as an agency client."""

    def read(self, kind: TopicKind, base: str, record: str, until: int) -> list[Any]:
        """The records of ``kind`` for ``base`` (an agency's own topic, or an entry's records
        in the topic every entry shares)."""
        # Patient: a poison message costs two aborted transactions, and each abort makes the
        # producer fetch a new epoch from a transaction coordinator that a loaded machine
        # may still be loading.
        own = kind in (TopicKind.FEED, TopicKind.RECEIPTS)
        topic, entry = topic_of(kind, self.names.agency(base) if own else self.names.entry(base))
        return read_topic(
            self.bootstrap,
            topic,
            config=self.config,
            until=until,
            record=record,
            timeout_s=180,
            entry=entry,
        )

    def send(
        self, records: list[tuple[str, bytes, bytes]], **config: Any
    ) -> list[Exception | None]:
        """Publish as an agency client configured with ``config``; the delivery results."""
        results: list[Exception | None] = []
        with Producer(self.bootstrap, extra_config={**self.config, **config}) as producer:
            for topic, key, value in records:
                producer.produce(
                    topic, value, key=key, on_delivery=lambda err, _m: results.append(err)
                )
        return results


@pytest.fixture
def bus(bootstrap: str, kafka_config: dict[str, str]) -> Iterator[Bus]:
    names = Names()
    loaded = names.load()
    with processor.running_processor(bootstrap, kafka_config, loaded) as running:
        yield Bus(bootstrap, kafka_config, names, loaded, running)


def _sized(bus: Bus, provider: str, size: int, person: int = 3) -> tuple[str, bytes, bytes, str]:
    """(topic, key, value, event id) of a basic-data event of exactly ``size`` bytes."""
    number = resident_id(person)
    entry = bus.names.entry("psb.person.basic")

    def value(n: int) -> tuple[bytes, str]:
        e = event(entry, provider, number, {"name": "张" + "x" * n})
        return encode("ChangeEvent", e), e["event_id"]

    n = size
    data, event_id = value(n)
    while len(data) != size:  # the string's length prefix grows with it
        n -= len(data) - size
        data, event_id = value(n)
    return topic_name(TopicKind.INGEST, entry), f"resident_id:{number}".encode(), data, event_id


def _wait_for(bus: Bus, topics: set[str]) -> None:
    """Until the processor has created ``topics`` (it does so when it starts)."""
    admin = Admin(bus.bootstrap, extra_config=bus.config)
    deadline = time.monotonic() + TOPICS_TIMEOUT_S
    while not topics <= set(admin.topics()):
        assert time.monotonic() < deadline, f"missing: {topics - set(admin.topics())}"
        time.sleep(0.2)


def test_dead_letters_reach_topics_created_at_start_up(bus: Bus) -> None:
    """Every published entry's dead-letter topic exists once the processor has started
    (topology.topics; a withdrawn entry gets none); the first poison message of each is
    dead-lettered, none skipped."""
    entries = published_entries(bus.loaded.catalog)
    _wait_for(bus, {topic_name(TopicKind.INGEST, e) for e in entries})
    publish(
        bus.bootstrap,
        [(topic_name(TopicKind.INGEST, e), None, b"\x00junk") for e in entries],
        config=bus.config,
    )
    for entry in entries:
        [dead] = bus.of_entry(TopicKind.DLQ, entry, "DeadLetter", until=1)
        assert dead["original_value"] == b"\x00junk" and dead["stage"] == "decode"


def test_every_input_is_answered_whatever_its_size_G10(bus: Bus) -> None:
    psb, nobody = bus.names.agency("city-psb"), "city-nobody"
    big = 1_000_000 - 79  # the case: 999,921 bytes from an unregistered provider
    stranger = _sized(bus, nobody, big)
    accepted = _sized(bus, psb, 900_000, person=4)  # near the limit, from the source
    over = _sized(bus, psb, 1_040_000, person=5)  # above the limit, below the topic's
    huge = _sized(bus, psb, 3_000_000, person=6)  # compressible: the broker takes it
    # A change whose stored form (JSON escapes a control character in six bytes) exceeds
    # what the processor may write: it cannot be stored, so it is quarantined.
    number = resident_id(7)
    entry = bus.names.entry("psb.person.basic")
    unstorable_event = event(entry, psb, number, {"name": "\x01" * 400_000})
    unstorable = (
        topic_name(TopicKind.INGEST, entry),
        f"resident_id:{number}".encode(),
        encode("ChangeEvent", unstorable_event),
        unstorable_event["event_id"],
    )
    sent = [stranger, accepted, over, huge, unstorable]
    results = bus.send([(t, k, v) for t, k, v, _ in sent], **{"message.max.bytes": 4_000_000})
    assert results == [None] * len(sent)

    dead = bus.read(TopicKind.DLQ, "psb.person.basic", "DeadLetter", until=4)
    # One each: the stranger, the two too large, the unstorable.
    assert len(dead) == 4, [(d["reason_code"], d["stage"], d["event_id"]) for d in dead]
    by_id = {str(d["event_id"]): d for d in dead if d["event_id"] is not None}
    # The stranger's event fits whole in its dead letter; no receipt topic is its own.
    d = by_id[stranger[3]]
    assert d["reason_code"] == "unknown_provider" and d["original_value"] == stranger[2]
    assert d["original_value_size"] is None
    # Above the agency limit: rejected with its reason, and kept as far as the bound (by
    # default the agency limit), with the size and SHA-256 of the whole value.
    for too_large in (over, huge):
        d = by_id[too_large[3]]
        assert d["reason_code"] == "event_too_large"
        assert d["original_value"] == too_large[2][:MAX_EVENT_BYTES]
        assert d["original_value_size"] == len(too_large[2])
        assert d["original_value_sha256"] == hashlib.sha256(too_large[2]).digest()
    # The change that cannot be stored: quarantined with the error, never half-answered.
    [d] = [d for d in dead if d["reason_code"] == "processing_failed"]
    assert d["original_value"] == unstorable[2] and "MSG_SIZE_TOO_LARGE" in d["reason_text"]

    receipts = bus.read(TopicKind.RECEIPTS, "city-psb", "Receipt", until=3)
    answers = Counter((str(r["event_id"]), r["outcome"], r["reason_code"]) for r in receipts)
    assert answers == Counter(
        [
            (accepted[3], "accepted", "authoritative_source"),
            (over[3], "rejected", "event_too_large"),
            (huge[3], "rejected", "event_too_large"),
        ]
    )
    # Near the limit, an accepted change reaches its stream and every feed.
    [stream] = bus.read(TopicKind.ACCEPTED, "psb.person.basic", "ChangeEvent", until=1)
    assert str(stream["event_id"]) == accepted[3]
    for agency in ("city-mca", "city-hc", "city-amr", "city-bdb"):
        [feed] = bus.read(TopicKind.FEED, agency, "FeedRecord", until=1)
        assert str(feed["event_id"]) == accepted[3]


def test_a_batch_above_the_ingest_topics_limit_is_refused_by_the_broker_G10(bus: Bus) -> None:
    """The broker enforces the limit for any client: an incompressible event of 1.2 MB
    never reaches the bus; the agency's client is told."""
    topic, key, _, _ = _sized(bus, bus.names.agency("city-psb"), 1_000)
    value = hashlib.sha256(b"seed").digest() * (1_200_000 // 32)
    _wait_for(bus, {topic})
    [result] = bus.send(
        [(topic, key, value)], **{"message.max.bytes": 4_000_000, "compression.type": "none"}
    )
    assert isinstance(result, DeliveryError)
    assert result.code in {"MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"}, result.code


def test_an_event_stamped_in_the_future_is_answered_with_its_reason_G13(bus: Bus) -> None:
    """The issue's year-2100 events: rejected beyond the allowed skew, not delivered."""
    psb = bus.names.agency("city-psb")
    entry = bus.names.entry("psb.person.basic")
    number = resident_id(9)
    future = event(entry, psb, number, {"name": "未来"})
    future["event_time"] = datetime(2100, 1, 1, tzinfo=UTC)
    now = event(entry, psb, number, {"name": "现在"})
    topic, key = topic_name(TopicKind.INGEST, entry), f"resident_id:{number}".encode()
    bus.send([(topic, key, encode("ChangeEvent", e)) for e in (future, now)])
    [dead] = bus.read(TopicKind.DLQ, "psb.person.basic", "DeadLetter", until=1)
    assert (str(dead["event_id"]), dead["reason_code"]) == (
        future["event_id"],
        "event_time_in_future",
    )
    receipts = bus.read(TopicKind.RECEIPTS, "city-psb", "Receipt", until=2)
    assert {str(r["event_id"]): r["outcome"] for r in receipts} == {
        future["event_id"]: "rejected",
        now["event_id"]: "accepted",
    }
    feed = bus.read(TopicKind.FEED, "city-mca", "FeedRecord", until=1)
    assert [str(f["event_id"]) for f in feed] == [now["event_id"]]
