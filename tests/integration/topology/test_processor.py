"""The gate and fan-out processor end to end on the real broker (fixed reference data).

Articles: one number one source (GM 22, S 20), conflicts for the bureau (GM 19), identity
keys (GM 18), conditional sharing per grant (G 14, S 22), not shared (GM 9), opening only
desensitised (GM 9, G 18).
"""

from __future__ import annotations

from exchange.coordination import distinct
from schemas.topics import TopicKind, topic_name
from tests.support.processor import PERSON, PERSON_KEY, Bus
from tests.support.scenario import event, publish, publish_events, read_topic


def test_each_decision_end_to_end(bus: Bus) -> None:
    n = bus.names
    basic = n.entry("psb.person.basic")
    psb, mca, hc = n.agency("city-psb"), n.agency("city-mca"), n.agency("city-hc")
    first = event(basic, psb, PERSON, {"name": "张三", "gender": "男"}, operation="create")
    report = event(basic, hc, PERSON, {"name": "李三"}, authoritative=False)
    publish_events(
        bus.bootstrap,
        [
            (PERSON_KEY, first),
            (PERSON_KEY, first),  # the same event again: duplicate (GM 22)
            (PERSON_KEY, event(basic, mca, PERSON, {"name": "张叁"})),  # not the source: stopped
            (PERSON_KEY, event(basic, mca, PERSON, {"name": "张三"}, authoritative=False)),  # S 20
            (PERSON_KEY, report),  # a different value reported: conflict (GM 19)
            (PERSON_KEY, report),  # resent (a retry after a lost acknowledgement)
        ],
        config=bus.config,
    )
    psb_receipts = bus.receipts("city-psb", until=2)
    assert [r["outcome"] for r in psb_receipts] == ["accepted", "duplicate"]
    assert psb_receipts[1]["reason_code"] == "event_seen"
    assert psb_receipts[0]["canonical_subject"] == PERSON_KEY
    mca_receipts = bus.receipts("city-mca", until=2)
    assert [(r["outcome"], r["reason_code"]) for r in mca_receipts] == [
        ("stopped", "not_the_source"),
        ("confirmation", "multi_source_verified"),
    ]
    # The retry gets the same answer, and the bureau gets one case, not two: the conflict
    # record repeats under the same id, which every reader takes once.
    hc_receipts = bus.receipts("city-hc", until=2)
    assert [(r["outcome"], r["article"]) for r in hc_receipts] == [("conflict", "GM 19")] * 2
    conflicts = [
        c for c in bus.records(topic_name(TopicKind.CONFLICTS), "Conflict") if c["entry"] == basic
    ]
    assert len(conflicts) == 2 and len({c["conflict_id"] for c in conflicts}) == 1
    assert len(distinct(conflicts)) == 1
    c = conflicts[0]
    assert (c["authoritative_value"], c["authoritative_provider"]) == ("张三", psb)
    assert (c["reported_value"], c["reported_provider"]) == ("李三", hc)
    # Only the accepted change reaches the feeds, once, in clear for entitled agencies.
    for agency in ("city-mca", "city-hc", "city-amr", "city-bdb"):
        feed = bus.feed(agency, until=1)
        assert len(feed) == 1, agency
        assert {i["name"]: i["value"] for i in feed[0]["items"]} == {"name": "张三", "gender": "男"}
    assert bus.feed("city-psb") == []  # the provider is not sent its own data
    # The open feed carries it desensitised (GM 9: internal data opens only desensitised).
    opened = bus.of_entry(TopicKind.OPEN, basic, "FeedRecord", until=1)
    assert len(opened) == 1
    items = {i["name"]: i for i in opened[0]["items"]}
    assert items["name"]["value"] == "张**" and items["name"]["masked"]
    assert items["name"]["mask_rule"] == "surname_only"
    assert opened[0]["canonical_subject"] != PERSON_KEY and PERSON not in str(opened[0])
    # The canonical stream holds the accepted change under the canonical key.
    accepted = read_topic(
        bus.bootstrap, topic_name(TopicKind.ACCEPTED), config=bus.config, until=1, entry=basic
    )
    assert [k for k, _ in accepted] == [PERSON_KEY.encode()]


def test_conditional_grants_and_secret_data(bus: Bus) -> None:
    n = bus.names
    contact, watch = n.entry("psb.person.contact"), n.entry("psb.person.watchlist")
    psb = n.agency("city-psb")
    publish_events(
        bus.bootstrap,
        [
            (
                PERSON_KEY,
                event(
                    contact,
                    psb,
                    PERSON,
                    {"household_address": "北京市东城区东华门街道1号", "phone": "13800138000"},
                ),
            ),
            (PERSON_KEY, event(watch, psb, PERSON, {"watch_category": "甲"})),
        ],
        config=bus.config,
    )
    assert [r["outcome"] for r in bus.receipts("city-psb", until=2)] == ["accepted", "accepted"]
    # 市民政局 holds an active grant for both items (G 14; S 22).
    mca = bus.feed("city-mca", until=1)
    assert len(mca) == 1 and mca[0]["grant_id"] == "grant-2024-0001"
    assert sorted(i["name"] for i in mca[0]["items"]) == ["household_address", "phone"]
    # 市卫健委's grant expired on 2025-05-31; the others never had one: nothing at all.
    for agency in ("city-hc", "city-amr", "city-bdb"):
        assert bus.feed(agency) == [], agency
    # Not shared, not opened: secret data (GM 9; G 18 (一)) goes nowhere.
    for entry in (watch, contact):
        assert bus.of_entry(TopicKind.OPEN, entry, "FeedRecord") == [], entry


def test_poison_message_goes_to_dlq_and_partition_moves_on(bus: Bus) -> None:
    n = bus.names
    basic, psb = n.entry("psb.person.basic"), n.agency("city-psb")
    ingest = topic_name(TopicKind.INGEST, basic)
    poison = b"\xc3\x01not avro at all \xff\xfe"
    publish(bus.bootstrap, [(ingest, PERSON_KEY.encode(), poison)], config=bus.config)
    bad_key = event(basic, psb, "110105194912310021", {"name": "王五"})  # wrong check digit
    publish_events(
        bus.bootstrap,
        [
            ("resident_id:110105194912310021", bad_key),
            (PERSON_KEY, event(basic, psb, PERSON, {"name": "张三"})),
        ],
        config=bus.config,
    )
    dlq = bus.of_entry(TopicKind.DLQ, basic, "DeadLetter", until=2)
    assert len(dlq) == 2
    dlq.sort(key=lambda d: d["stage"])  # two partitions: no order between them
    assert dlq[0]["original_value"] == poison and dlq[0]["stage"] == "decode"
    assert dlq[0]["event_id"] is None
    assert dlq[1]["reason_code"] == "identity_checksum" and dlq[1]["stage"] == "validate"
    # The valid event behind the poison message, in the same partition, went through.
    receipts = bus.receipts("city-psb", until=2)
    assert sorted((r["outcome"], r["reason_code"]) for r in receipts) == [
        ("accepted", "authoritative_source"),
        ("rejected", "identity_checksum"),
    ]
