"""Two overlapping grants on the real broker: the feed record and the audit record name
both grants, each with its purpose and exactly the items it entitles (G 17 purpose
limitation; S 29), not one grant for the union of items (issue 15 item 4)."""

from __future__ import annotations

from dataclasses import replace

from exchange.catalog_loader import LoadedCatalog
from exchange.grants import GrantUse
from schemas.audit.trail import deliveries_of
from schemas.topics import TopicKind, topic_name
from tests.support.processor import PERSON, PERSON_KEY, running_processor
from tests.support.scenario import Names, Reader, event, publish_events


def test_two_overlapping_grants_are_both_named_in_feed_and_audit_G17_S29(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    names = Names()
    loaded = names.load()
    contact, psb, mca = (
        names.entry("psb.person.contact"),
        names.agency("city-psb"),
        names.agency("city-mca"),
    )
    [demo] = [g for g in loaded.grants if g.id == "grant-2024-0001"]
    first = replace(demo, valid_until=None)  # whatever today's date (the demo's ends 2026)
    address_only = replace(
        first, id="grant-2026-0101", items=frozenset({"household_address"}), purpose="入户走访核实"
    )
    others = tuple(g for g in loaded.grants if g.id != demo.id)
    reference = LoadedCatalog(loaded.catalog, (*others, first, address_only))
    address_event = event(contact, psb, PERSON, {"household_address": "北京市东城区东华门街道1号"})
    phone_event = event(contact, psb, PERSON, {"phone": "13800138000"})
    with running_processor(bootstrap, kafka_config, reference):
        publish_events(
            bootstrap, [(PERSON_KEY, address_event), (PERSON_KEY, phone_event)], config=kafka_config
        )
        reader = Reader(bootstrap, kafka_config)
        feed = reader.records(topic_name(TopicKind.FEED, mca), "FeedRecord", until=2)
    by_event = {str(f["event_id"]): f for f in feed}
    # The address: both grants entitle it, each is named with its own purpose.
    address = by_event[address_event["event_id"]]
    assert address["grants"] == [
        {"grant_id": "grant-2024-0001", "purpose": first.purpose, "items": ["household_address"]},
        {"grant_id": "grant-2026-0101", "purpose": "入户走访核实", "items": ["household_address"]},
    ]
    assert address["grant_id"] == "grant-2024-0001; grant-2026-0101"
    # The phone: only the grant that covers it, not the address-only grant.
    phone = by_event[phone_event["event_id"]]
    assert phone["grants"] == [
        {"grant_id": "grant-2024-0001", "purpose": first.purpose, "items": ["phone"]}
    ]
    assert (phone["grant_id"], phone["purpose"]) == ("grant-2024-0001", first.purpose)
    # The audit records say the same (read_committed: they were committed with the feed).
    # Each event's one audit record lists the delivery to 市民政局 (Decision v5).
    audit = [
        (str(a["event_id"]), d)
        for a in reader.records(topic_name(TopicKind.AUDIT), "Decision")
        if a["entry"] == contact
        for d in deliveries_of(a)
        if d.recipient == mca
    ]
    by_audit = dict(audit)
    assert len(audit) == 2
    for event_id, fed in ((address_event["event_id"], address), (phone_event["event_id"], phone)):
        assert by_audit[event_id].grants == tuple(
            GrantUse(g["grant_id"], g["purpose"], tuple(g["items"])) for g in fed["grants"]
        )
    assert [g.purpose for g in by_audit[phone_event["event_id"]].grants] == [first.purpose]
