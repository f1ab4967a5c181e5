"""Item types and stale changes through the real processor on the real broker.

GM 21 (data structured as the catalog declares it): a producer that bypasses the agency
publisher and sends values of the wrong type or length, or an item twice, gets each event
dead-lettered with its original bytes and a reason naming the item and the type, and a
``rejected`` receipt; nothing reaches the accepted stream or any feed.

GM 22, S 20 (动态更新), G 13: a change older than the authoritative record (a lower source
sequence of the same source system; an older event time from another) is answered
``stale``, audited, never applied: the feeds keep the newer value. The changelog keeps
each record's order, so after a processor restart an older change is still stale.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from kafkaclient import Admin
from producers.model import Draft
from producers.publisher import AgencyPublisher
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.processor import PERSON, PERSON_KEY, Bus, running_processor
from tests.support.scenario import Names, Reader, event, publish, publish_events, read_topic

COMPANY = "91110000600037341L"
COMPANY_KEY = f"credit_code:{COMPANY}"


def _raw(bus: Bus, entry: str, key: str, record: dict[str, Any]) -> bytes:
    """Send ``record`` as a raw producer would (no publisher checks); its bytes."""
    value = encode("ChangeEvent", record)
    publish(
        bus.bootstrap,
        [(topic_name(TopicKind.INGEST, entry), key.encode(), value)],
        config=bus.config,
    )
    return value


def _items(feed_record: dict[str, Any]) -> dict[str, Any]:
    return {i["name"]: i["value"] for i in feed_record["items"]}


def test_bad_values_from_a_raw_producer_are_dead_lettered_never_delivered_gm_21(
    bus: Bus,
) -> None:
    n = bus.names
    basic, company = n.entry("psb.person.basic"), n.entry("amr.company.registration")
    psb, amr = n.agency("city-psb"), n.agency("city-amr")
    garbage = event(basic, psb, PERSON, {"birth_date": "garbage"})
    too_long = event(basic, psb, PERSON, {"id_number": PERSON + "0"})
    twice = event(basic, psb, PERSON, {"name": "张三"})
    twice["items"] = twice["items"] * 2
    capital = {
        **event(company, amr, COMPANY, {"registered_capital": "一百万"}),
        "subject_kind": "credit_code",
    }
    sent = {
        _raw(bus, basic, PERSON_KEY, garbage): ("item_type_mismatch", "birth_date", "date"),
        _raw(bus, basic, PERSON_KEY, too_long): ("item_too_long", "id_number", "18"),
        _raw(bus, basic, PERSON_KEY, twice): ("duplicate_item", "name", "once"),
        _raw(bus, company, COMPANY_KEY, capital): (
            "item_type_mismatch",
            "registered_capital",
            "decimal",
        ),
    }
    good = event(basic, psb, PERSON, {"name": "张三", "birth_date": "1949-12-31"})
    publish_events(bus.bootstrap, [(PERSON_KEY, good)], config=bus.config)

    dead = bus.of_entry(TopicKind.DLQ, basic, "DeadLetter", until=3)
    dead += bus.of_entry(TopicKind.DLQ, company, "DeadLetter", until=1)
    assert len(dead) == 4
    for letter in dead:
        code, item, wanted = sent[bytes(letter["original_value"])]
        assert letter["reason_code"] == code
        assert item in letter["reason_text"] and wanted in letter["reason_text"]
    receipts = bus.receipts("city-psb", until=4) + bus.receipts("city-amr", until=1)
    answers = {str(r["event_id"]): (r["outcome"], r["reason_code"]) for r in receipts}
    assert answers == {
        garbage["event_id"]: ("rejected", "item_type_mismatch"),
        too_long["event_id"]: ("rejected", "item_too_long"),
        twice["event_id"]: ("rejected", "duplicate_item"),
        capital["event_id"]: ("rejected", "item_type_mismatch"),
        good["event_id"]: ("accepted", "authoritative_source"),
    }
    # Only the good event travels: once, with its own values.
    accepted = bus.of_entry(TopicKind.ACCEPTED, basic, "ChangeEvent", until=1)
    assert [str(a["event_id"]) for a in accepted] == [good["event_id"]]
    assert bus.of_entry(TopicKind.ACCEPTED, company, "ChangeEvent") == []
    [delivered] = bus.feed("city-hc", until=1)
    assert _items(delivered) == {"name": "张三", "birth_date": "1949-12-31"}


def test_an_older_change_after_a_newer_one_is_stale_the_feed_keeps_the_newer_gm_22(
    bus: Bus,
) -> None:
    n = bus.names
    basic, psb = n.entry("psb.person.basic"), n.agency("city-psb")
    now = datetime.now(UTC)
    newer = {**event(basic, psb, PERSON, {"name": "张三"}), "source_sequence": 100}
    older = {**event(basic, psb, PERSON, {"name": "张叁"}), "source_sequence": 99}
    # Another source system of the provider: no common sequence, the event time orders.
    earlier = {
        **event(basic, psb, PERSON, {"name": "张仨"}),
        "source_system": "旧户籍系统",
        "source_sequence": 10**9,
        "event_time": now - timedelta(days=2),
    }
    publish_events(
        bus.bootstrap,
        [(PERSON_KEY, newer), (PERSON_KEY, older), (PERSON_KEY, earlier)],
        config=bus.config,
    )
    receipts = bus.receipts("city-psb", until=3)
    assert [(r["outcome"], r["reason_code"], r["article"]) for r in receipts] == [
        ("accepted", "authoritative_source", "GM 22; S 21"),
        ("stale", "source_sequence_not_newer", "GM 22; S 20"),
        ("stale", "event_time_older", "GM 22; S 20"),
    ]
    for agency in ("city-hc", "city-mca"):
        feed = bus.feed(agency, until=1)
        assert [_items(f) for f in feed] == [{"name": "张三"}], agency
    accepted = bus.of_entry(TopicKind.ACCEPTED, basic, "ChangeEvent", until=1)
    assert [str(a["event_id"]) for a in accepted] == [newer["event_id"]]
    # The audit topic is the session's: only this test's chains (its entry's ingest topic).
    ingest = topic_name(TopicKind.INGEST, basic) + "/"
    audit = bus.records(topic_name(TopicKind.AUDIT), "Decision")
    ours = [a for a in audit if (a["chain"] or "").startswith(ingest)]
    stale_audit = {str(a["event_id"]) for a in ours if a["kind"] == "stale"}
    assert stale_audit == {older["event_id"], earlier["event_id"]}


def test_a_stale_change_is_still_stale_after_a_processor_restart_gm_22(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    names = Names()
    loaded = names.load()
    group = f"govbus-test-{uuid.uuid4().hex}"
    basic, psb = names.entry("psb.person.basic"), names.agency("city-psb")
    reader = Reader(bootstrap, kafka_config)
    receipts = topic_name(TopicKind.RECEIPTS, psb)
    newer = {**event(basic, psb, PERSON, {"name": "张三"}), "source_sequence": 100}
    with running_processor(bootstrap, kafka_config, loaded, group):
        publish_events(bootstrap, [(PERSON_KEY, newer)], config=kafka_config)
        [first] = reader.records(receipts, "Receipt", until=1)
        assert first["outcome"] == "accepted"
    # A new worker of the same group: it restores the one-source state from the changelog.
    older = {**event(basic, psb, PERSON, {"name": "张叁"}), "source_sequence": 99}
    with running_processor(bootstrap, kafka_config, loaded, group):
        publish_events(bootstrap, [(PERSON_KEY, older)], config=kafka_config)
        answers = reader.records(receipts, "Receipt", until=2)
    assert [(str(r["event_id"]), r["outcome"]) for r in answers] == [
        (newer["event_id"], "accepted"),
        (older["event_id"], "stale"),
    ]
    feed = read_topic(
        bootstrap,
        topic_name(TopicKind.FEED, names.agency("city-hc")),
        config=kafka_config,
        record="FeedRecord",
        until=1,
    )
    assert [_items(f) for f in feed] == [{"name": "张三"}]


def test_an_agency_orders_its_changes_through_the_publisher_gm_22(bus: Bus) -> None:
    """The publisher lets the agency name its source system and sequence (Draft); a resend
    of an older change (a lower sequence) is answered stale, the newer value stays."""
    n = bus.names
    basic, psb = n.entry("psb.person.basic"), n.agency("city-psb")
    needed = {topic_name(TopicKind.INGEST, basic), topic_name(TopicKind.RECEIPTS, psb)}
    admin = Admin(bus.bootstrap, extra_config=bus.config)
    deadline = time.monotonic() + 60.0
    while not needed <= set(admin.topics()):  # the processor creates them as it starts
        assert time.monotonic() < deadline, needed - set(admin.topics())
        time.sleep(0.2)
    with AgencyPublisher(
        bus.bootstrap, psb, bus.loaded.catalog, extra_config=bus.config
    ) as publisher:
        drafts = [
            Draft(PERSON, "update", {"name": name}, source_system="户籍系统", source_sequence=seq)
            for name, seq in (("张三", 100), ("张叁", 99))
        ]
        results = publisher.publish_many(basic, drafts)
        publisher.flush()
        ids = [r.event_id for r in results]
        got = publisher.wait_receipts(ids, timeout_s=60.0)
    assert [(got[i].outcome, got[i].reason_code) for i in ids] == [
        ("accepted", "authoritative_source"),
        ("stale", "source_sequence_not_newer"),
    ]
    assert [_items(f) for f in bus.feed("city-hc", until=1)] == [{"name": "张三"}]
