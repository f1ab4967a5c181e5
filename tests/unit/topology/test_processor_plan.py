"""The processor's planning step without a broker: one message in, the records to write and
the state to stage out (topology.plan).

Articles: one number one source (GM 22, S 20), conflicts for the bureau (GM 19), identity
keys (GM 18), conditional sharing per grant and field (G 14, S 22), opening only
desensitised (GM 9, G 18), tamper-evident audit chains (S 42), accurate data (G 13).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from base.errors import EncodingError
from exchange.catalog_loader import load_catalog
from exchange.onesource import AuthoritativeRecord
from schemas import decode, encode
from schemas.audit import verify
from schemas.audit.trail import subject_trail
from schemas.topics import TopicKind, header_entry, topic_name
from tests.support.scenario import DEMO, event, topic_of
from topology.encoding import Encoder
from topology.plan import Input, Plan, PlanOptions, Reference, plan_message, plan_quarantine
from topology.state import ChainHead, decode_records

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # grant-2024-0001 active, grant-2024-0002 expired
PERSON = "11010519491231002X"
SUBJECT = f"resident_id:{PERSON}"
BASIC, CONTACT = "psb.person.basic", "psb.person.contact"
CONSUMERS = ("city-amr", "city-mca", "city-hc", "city-bdb")
ENCODER = Encoder()
OPTIONS = PlanOptions()


def change_event(
    entry: str,
    provider: str,
    items: dict[str, str | None],
    *,
    subject_key: str = PERSON,
    authoritative: bool = True,
    event_time: datetime = NOW,
) -> dict[str, Any]:
    record = event(entry, provider, subject_key, items, authoritative=authoritative)
    return {**record, "event_time": event_time}


@dataclass
class Partition:
    """One ingest partition as the loop keeps it: the subject's records, the chain head."""

    entry: str = BASIC
    partition: int = 1
    head: ChainHead = (0, None)
    records: dict[str, dict[str, AuthoritativeRecord]] = field(default_factory=dict)
    offset: int = 0
    options: PlanOptions = OPTIONS
    reference: Reference = field(
        default_factory=lambda: Reference.at(
            load_catalog(DEMO).catalog, load_catalog(DEMO).grants, NOW
        )
    )

    @property
    def topic(self) -> str:
        return topic_name(TopicKind.INGEST, self.entry)

    def raw(self, value: bytes, key: bytes | None = SUBJECT.encode()) -> Plan:
        msg = Input(self.topic, self.partition, self.offset, key, value)
        self.offset += 1
        hint = msg.subject_hint
        states = self.records.get(hint, {}) if hint else {}
        plan = plan_message(
            msg, states, self.head, self.reference, NOW, encoder=ENCODER, options=self.options
        )
        # What the loop does with the plan's state (topology.processor, step 5).
        self.head = plan.head
        if plan.state is not None:
            self.records[plan.state.subject] = dict(plan.state.records)
        return plan

    def send(self, event: dict[str, Any], key: str = SUBJECT) -> Plan:
        return self.raw(encode("ChangeEvent", event), key.encode())


def written(plan: Plan, kind: TopicKind, part: str | None = None) -> list[Any]:
    """The records the plan writes to one topic, decoded; for a topic every entry shares
    (accepted, dlq, open), those whose entry header names ``part``."""
    topic, entry = topic_of(kind, part)
    schema = {
        TopicKind.RECEIPTS: "Receipt",
        TopicKind.AUDIT: "Decision",
        TopicKind.DLQ: "DeadLetter",
        TopicKind.CONFLICTS: "Conflict",
        TopicKind.ACCEPTED: "ChangeEvent",
        TopicKind.FEED: "FeedRecord",
        TopicKind.OPEN: "FeedRecord",
    }[kind]
    return [
        decode(schema, w.value)
        for w in plan.writes
        if w.topic == topic and (entry is None or header_entry(w.headers) == entry)
    ]


def topics(plan: Plan) -> Counter[str]:
    return Counter(w.topic for w in plan.writes)


def items(feed_record: Mapping[str, Any]) -> dict[str, Any]:
    return {i["name"]: i["value"] for i in feed_record["items"]}


# -- accepted --------------------------------------------------------------------------
def test_an_accepted_event_is_answered_stored_streamed_and_fanned_out_GM22() -> None:
    p = Partition()
    event = change_event(BASIC, "city-psb", {"name": "张三", "gender": "男"})
    plan = p.send(event)

    [receipt] = written(plan, TopicKind.RECEIPTS, "city-psb")
    assert (receipt["outcome"], receipt["reason_code"]) == ("accepted", "authoritative_source")
    assert receipt["canonical_subject"] == SUBJECT
    # The changelog record: the subject's records, in the input's partition, by subject.
    [changelog] = [w for w in plan.writes if w.topic == f"govbus.state.onesource.{BASIC}"]
    assert (changelog.key, changelog.partition) == (SUBJECT.encode(), p.partition)
    stored = decode_records(SUBJECT, changelog.value)
    assert {i: r.value for i, r in stored.items()} == {"name": "张三", "gender": "男"}
    assert plan.state is not None and plan.state.subject == SUBJECT
    assert dict(plan.state.records) == stored
    # The canonical stream: the accepted items, the normalised number.
    [canonical] = written(plan, TopicKind.ACCEPTED, BASIC)
    assert canonical["subject_key"] == PERSON and str(canonical["event_id"]) == event["event_id"]
    # Every other agency receives it once, in clear; the provider is not sent its own data.
    for agency in CONSUMERS:
        [feed] = written(plan, TopicKind.FEED, agency)
        assert items(feed) == {"name": "张三", "gender": "男"} and feed["grant_id"] is None
    assert written(plan, TopicKind.FEED, "city-psb") == []
    # The audit trail: one record, the outcome, listing each delivery and the open one
    # (Decision v5), in the order the feed records were written.
    [audit] = written(plan, TopicKind.AUDIT)
    assert audit["kind"] == "accepted" and audit["canonical_subject"] == SUBJECT
    fed = [w.topic for w in plan.writes if w.topic.startswith("govbus.feed.")]
    fed += [w.topic for w in plan.writes if w.topic == "govbus.open"]
    assert [d["topic"] for d in audit["deliveries"]] == fed
    assert sorted(d["recipient"] for d in audit["deliveries"]) == sorted([*CONSUMERS, "open"])
    for d in audit["deliveries"]:
        assert (sorted(d["items"]), d["grants"]) == (["gender", "name"], [])  # unconditional
    [opened] = [d for d in audit["deliveries"] if d["recipient"] == "open"]
    assert opened["topic"] == topic_name(TopicKind.OPEN) == "govbus.open"
    assert opened["masked_items"] and opened["subject_rule"] is not None
    assert plan.tally.events == ((BASIC, "accepted"),)
    assert sorted(plan.tally.deliveries) == sorted(
        [(BASIC, a) for a in CONSUMERS] + [(BASIC, "open")]
    )
    assert plan.tally.event_time == NOW and plan.tally.dead_letters == ()


def test_the_same_event_again_is_a_duplicate_and_goes_nowhere_GM22() -> None:
    p = Partition()
    event = change_event(BASIC, "city-psb", {"name": "张三"})
    p.send(event)
    again = p.send(event)
    [receipt] = written(again, TopicKind.RECEIPTS, "city-psb")
    assert (receipt["outcome"], receipt["reason_code"]) == ("duplicate", "event_seen")
    assert again.state is None
    assert set(topics(again)) == {topic_name(TopicKind.RECEIPTS, "city-psb"), "govbus.audit"}


def test_a_non_source_write_is_stopped_S20() -> None:
    plan = Partition().send(change_event(BASIC, "city-mca", {"name": "张叁"}))
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-mca")
    assert (receipt["outcome"], receipt["reason_code"]) == ("stopped", "not_the_source")
    assert plan.state is None and written(plan, TopicKind.ACCEPTED, BASIC) == []


# -- report / conflict -----------------------------------------------------------------
def test_a_report_of_another_value_is_a_conflict_for_the_bureau_GM19() -> None:
    p = Partition()
    source = change_event(BASIC, "city-psb", {"name": "张三"})
    p.send(source)
    plan = p.send(change_event(BASIC, "city-hc", {"name": "李三"}, authoritative=False))
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-hc")
    assert (receipt["outcome"], receipt["article"]) == ("conflict", "GM 19")
    [conflict] = written(plan, TopicKind.CONFLICTS)
    assert (conflict["authoritative_value"], conflict["reported_value"]) == ("张三", "李三")
    assert str(conflict["authoritative_event_id"]) == source["event_id"]
    assert [w.key for w in plan.writes if w.topic == "govbus.conflicts"] == [
        f"{SUBJECT}|name".encode()
    ]
    assert plan.state is None and plan.tally.conflicts == (BASIC,)
    for agency in CONSUMERS:  # a conflicting value is never propagated
        assert written(plan, TopicKind.FEED, agency) == []


def test_a_report_of_the_same_value_is_a_confirmation_S20() -> None:
    p = Partition()
    p.send(change_event(BASIC, "city-psb", {"name": "张三"}))
    plan = p.send(change_event(BASIC, "city-mca", {"name": "张三"}, authoritative=False))
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-mca")
    assert (receipt["outcome"], receipt["reason_code"]) == ("confirmation", "multi_source_verified")
    assert written(plan, TopicKind.CONFLICTS) == []


# -- rejected / undecodable: dead letters ------------------------------------------------
def test_a_rejected_event_is_dead_lettered_with_its_bytes_and_told_GM18() -> None:
    bad = "110105194912310021"  # wrong check digit
    event = change_event(BASIC, "city-psb", {"name": "王五"}, subject_key=bad)
    value = encode("ChangeEvent", event)
    p = Partition()
    plan = p.raw(value, f"resident_id:{bad}".encode())
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert (dead["stage"], dead["reason_code"]) == ("validate", "identity_checksum")
    assert dead["original_value"] == value and dead["original_key"] == f"resident_id:{bad}".encode()
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == (
        p.topic,
        1,
        0,
    )
    assert str(dead["event_id"]) == event["event_id"]
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-psb")
    assert (receipt["outcome"], receipt["reason_code"]) == ("rejected", "identity_checksum")
    kinds = [a["kind"] for a in written(plan, TopicKind.AUDIT)]
    assert kinds == ["dead_letter", "rejected"]
    assert plan.state is None and plan.tally.dead_letters == ((BASIC, "identity_checksum"),)
    assert plan.tally.events == ((BASIC, "rejected"),)


def test_undecodable_bytes_are_dead_lettered_intact() -> None:
    poison = b"\xc3\x01not avro at all \xff\xfe"
    plan = Partition().raw(poison)
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert dead["stage"] == "decode" and dead["event_id"] is None
    assert dead["original_value"] == poison and dead["reason_code"] == "unknown_fingerprint"
    assert [a["kind"] for a in written(plan, TopicKind.AUDIT)] == ["dead_letter"]
    assert plan.tally.events == () and plan.state is None


@pytest.mark.parametrize("value", [b"", b"\x00", b"\xc3\x01"])
def test_empty_and_truncated_messages_are_dead_lettered(value: bytes) -> None:
    plan = Partition().raw(value, key=None)
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert dead["original_value"] == value and dead["original_key"] is None


def test_an_unregistered_provider_is_answered_by_its_dead_letter_S3() -> None:
    plan = Partition().send(change_event(BASIC, "city-nobody", {"name": "张三"}))
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert dead["reason_code"] == "unknown_provider"
    assert not any(w.topic.startswith("govbus.receipts.") for w in plan.writes)


def test_an_event_stamped_in_the_future_is_rejected_with_its_reason_G13() -> None:
    far = change_event(
        BASIC, "city-psb", {"name": "张三"}, event_time=datetime(2100, 1, 1, tzinfo=UTC)
    )
    plan = Partition().send(far)
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert dead["reason_code"] == "event_time_in_future" and dead["stage"] == "validate"
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-psb")
    assert receipt["outcome"] == "rejected" and receipt["article"] == "G 13"
    assert plan.state is None and written(plan, TopicKind.FEED, "city-mca") == []
    # Within the configured skew, the same kind of event goes through.
    near = change_event(BASIC, "city-psb", {"name": "张三"}, event_time=NOW + timedelta(minutes=4))
    assert (
        written(Partition().send(near), TopicKind.RECEIPTS, "city-psb")[0]["outcome"] == "accepted"
    )


def test_an_event_above_the_agency_limit_is_rejected_and_told_G10() -> None:
    p = Partition(options=PlanOptions(max_event_bytes=2_000))
    event = change_event(BASIC, "city-psb", {"name": "长" * 1_000})
    value = encode("ChangeEvent", event)
    assert len(value) > 2_000
    plan = p.raw(value)
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert dead["reason_code"] == "event_too_large" and dead["original_value"] == value
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-psb")
    assert receipt["reason_code"] == "event_too_large" and str(len(value)) in receipt["reason_text"]
    assert plan.state is None
    # Undecodable and too large: the size is the reason.
    [dead] = written(p.raw(b"\x00" * 2_001), TopicKind.DLQ, BASIC)
    assert dead["reason_code"] == "event_too_large" and dead["stage"] == "decode"


def test_a_quarantined_message_is_dead_lettered_with_the_error_and_its_bytes() -> None:
    p = Partition()
    msg = Input(p.topic, 1, 41, b"k", b"\x01\x02poison")
    plan = plan_quarantine(
        msg, p.head, "ValueError: invalid literal for int()", NOW, encoder=ENCODER, options=OPTIONS
    )
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert (dead["reason_code"], dead["stage"]) == ("processing_failed", "gate")
    assert "ValueError: invalid literal for int()" in dead["reason_text"]
    assert (dead["original_value"], dead["original_key"], dead["source_offset"]) == (
        b"\x01\x02poison",
        b"k",
        41,
    )
    assert [a["kind"] for a in written(plan, TopicKind.AUDIT)] == ["dead_letter"]
    assert plan.head[0] == 1


# -- grant classes and the open feed ------------------------------------------------------
def test_conditional_data_goes_only_to_active_grants_and_granted_fields_G14_S22() -> None:
    p = Partition(entry=CONTACT)
    plan = p.send(
        change_event(
            CONTACT,
            "city-psb",
            {"household_address": "北京市东城区东华门街道1号", "phone": "13800138000"},
        )
    )
    [mca] = written(plan, TopicKind.FEED, "city-mca")
    assert (mca["grant_id"], mca["purpose"]) == ("grant-2024-0001", "最低生活保障家庭经济状况核对")
    assert sorted(items(mca)) == ["household_address", "phone"]
    # 市卫健委's grant expired on 2025-05-31; the others never had one; not opened (G 18).
    for agency in ("city-hc", "city-amr", "city-bdb"):
        assert written(plan, TopicKind.FEED, agency) == [], agency
    assert written(plan, TopicKind.OPEN, CONTACT) == []
    [audit] = written(plan, TopicKind.AUDIT)
    [delivery] = audit["deliveries"]
    assert delivery["recipient"] == "city-mca"
    assert [(g["grant_id"], g["purpose"]) for g in delivery["grants"]] == [
        ("grant-2024-0001", "最低生活保障家庭经济状况核对")
    ]


def test_two_overlapping_grants_are_named_each_with_its_purpose_and_items_G17_S29() -> None:
    """Two active grants of 市民政局 for one entry: the feed record and the audit record
    name both, each with the items it entitles, not one grant for the union."""
    loaded = load_catalog(DEMO)
    [base] = [g for g in loaded.grants if g.id == "grant-2024-0001"]
    address = replace(base, id="grant-a", items=frozenset({"household_address"}))
    both = replace(base, id="grant-b", purpose="临时救助对象走访核实")
    p = Partition(entry=CONTACT, reference=Reference.at(loaded.catalog, [both, address], NOW))
    plan = p.send(
        change_event(
            CONTACT,
            "city-psb",
            {"household_address": "北京市东城区东华门街道1号", "phone": "13800138000"},
        )
    )
    second = "临时救助对象走访核实"
    expected = [
        {"grant_id": "grant-a", "purpose": base.purpose, "items": ["household_address"]},
        {"grant_id": "grant-b", "purpose": second, "items": ["household_address", "phone"]},
    ]
    [mca] = written(plan, TopicKind.FEED, "city-mca")
    assert mca["grants"] == expected
    # Readers of FeedRecord v1 see both grants too, never one of them alone.
    assert mca["grant_id"] == "grant-a; grant-b"
    assert mca["purpose"] == f"{base.purpose}; 临时救助对象走访核实"
    [audit] = written(plan, TopicKind.AUDIT)
    [delivery] = audit["deliveries"]
    assert delivery["recipient"] == "city-mca"
    assert delivery["grants"] == expected
    assert delivery["items"] == ["household_address", "phone"]
    # Only the phone: only the grant that entitles it.
    plan = p.send(change_event(CONTACT, "city-psb", {"phone": "13900139000"}))
    [mca] = written(plan, TopicKind.FEED, "city-mca")
    assert [g["grant_id"] for g in mca["grants"]] == ["grant-b"]
    assert (mca["grant_id"], mca["purpose"]) == ("grant-b", "临时救助对象走访核实")


def test_recipients_of_one_grant_class_share_the_same_bytes() -> None:
    plan = Partition().send(change_event(BASIC, "city-psb", {"name": "张三"}))
    payloads = {w.value for w in plan.writes if w.topic.startswith("govbus.feed.")}
    assert len(payloads) == 1  # four agencies, one unconditional class, one encoding
    [opened] = [w for w in plan.writes if w.topic == topic_name(TopicKind.OPEN)]
    assert opened.value not in payloads  # the open feed is its own (masked) class


def test_the_open_feed_is_desensitised_GM9_G18() -> None:
    plan = Partition().send(change_event(BASIC, "city-psb", {"name": "张三", "gender": "男"}))
    [opened] = written(plan, TopicKind.OPEN, BASIC)
    by_name = {i["name"]: i for i in opened["items"]}
    assert by_name["name"]["value"] == "张**" and by_name["name"]["mask_rule"] == "surname_only"
    assert opened["canonical_subject"].startswith("resident_id:")
    assert PERSON not in str(opened) and opened["canonical_subject"] != SUBJECT
    [key] = [w.key for w in plan.writes if w.topic == topic_name(TopicKind.OPEN)]
    assert key == opened["canonical_subject"].encode()


# -- audit chains ----------------------------------------------------------------------------
def test_audit_records_continue_the_partitions_chain_across_messages_S42() -> None:
    p = Partition()
    plans = [p.send(change_event(BASIC, "city-psb", {"name": n})) for n in ("张三", "李四", "王五")]
    plans.append(p.raw(b"junk"))
    messages = [w.value for plan in plans for w in plan.writes if w.topic == "govbus.audit"]
    report = verify([(str(i), m) for i, m in enumerate(messages)])
    assert report.ok, report.findings
    chain = f"{p.topic}/{p.partition}"
    assert report.heads[chain].seq == len(messages) == p.head[0]
    assert report.heads[chain].hash == p.head[1].hex()  # type: ignore[union-attr]


def test_one_audit_record_per_event_and_the_subject_trail_names_each_recipient_S42() -> None:
    """Every event is audited once (Decision v5); a rejected one twice (dead letter and
    outcome). Who received the subject's data is read back from those records alone."""
    p = Partition()
    plans = [p.send(change_event(BASIC, "city-psb", {"name": n})) for n in ("张三", "李四")]
    plans.append(p.send(change_event(BASIC, "city-mca", {"name": "王五"})))  # stopped
    assert [len(written(plan, TopicKind.AUDIT)) for plan in plans] == [1, 1, 1]
    audit = [a for plan in plans for a in written(plan, TopicKind.AUDIT)]
    trail = subject_trail(audit, SUBJECT)
    recipients = sorted([*CONSUMERS, "open"])
    assert sorted(t.delivery.recipient for t in trail) == sorted(recipients * 2)
    assert {t.event_id for t in trail} == {str(a["event_id"]) for a in audit[:2]}
    assert {t.delivery.topic for t in trail if t.delivery.recipient == "open"} == {
        topic_name(TopicKind.OPEN)
    }
    assert subject_trail(audit, "resident_id:110105194912310029") == ()


def test_a_chain_continues_from_the_head_it_is_given_S42() -> None:
    head = (41, bytes(range(32)))
    p = Partition(head=head)
    plan = p.send(change_event(BASIC, "city-psb", {"name": "张三"}))
    audit = written(plan, TopicKind.AUDIT)
    assert [a["seq"] for a in audit] == list(range(42, 42 + len(audit)))
    assert audit[0]["prev_hash"] == head[1] and plan.head[0] == 41 + len(audit)
    assert all(a["chain"] == f"{p.topic}/{p.partition}" for a in audit)


def test_without_audit_the_head_stays() -> None:
    p = Partition(options=PlanOptions(audit=False))
    plan = p.send(change_event(BASIC, "city-psb", {"name": "张三"}))
    assert written(plan, TopicKind.AUDIT) == [] and plan.head == (0, None)


# -- purity ------------------------------------------------------------------------------------
def test_the_plan_depends_on_its_arguments_only() -> None:
    """Planning the same message with the same state twice gives the same records (the
    ids derive from the position; the time is given), so a retried batch repeats itself."""
    event = change_event(BASIC, "city-psb", {"name": "张三"})
    first, second = Partition(), Partition()
    a, b = first.send(event), second.send(event)
    assert a == b
    moved = Partition(partition=2).send(event)
    assert {w.value for w in moved.writes} != {w.value for w in a.writes}


def test_the_records_built_unguarded_pass_the_guard_and_encode_to_the_same_bytes() -> None:
    """The processor writes what it builds without the pre-encode guard (topology.encoding):
    every Avro record of an accepted, fanned-out, conflicting event passes the guarded
    encode and gives the same bytes."""
    registry = ENCODER.registry
    p = Partition()
    plans = [
        p.send(change_event(BASIC, "city-psb", {"name": "张三", "gender": "男"})),
        p.send(change_event(BASIC, "city-amr", {"name": "王五"}, authoritative=False)),
    ]
    avro = [w.value for plan in plans for w in plan.writes if w.value[:2] == b"\xc3\x01"]
    names = {registry.writer_of(v).record_name for v in avro}
    assert {"FeedRecord", "Receipt", "ChangeEvent", "Decision", "Conflict"} <= names
    for value in avro:
        name = registry.writer_of(value).record_name
        assert registry.encode(name, registry.decode(name, value)) == value


def test_a_naive_time_is_refused_before_anything_is_encoded() -> None:
    msg = Input(topic_name(TopicKind.INGEST, BASIC), 1, 0, SUBJECT.encode(), b"")
    reference = Partition().reference
    with pytest.raises(EncodingError) as err:
        plan_message(
            msg,
            {},
            (0, None),
            reference,
            NOW.replace(tzinfo=None),
            encoder=ENCODER,
            options=OPTIONS,
        )
    assert err.value.code == "naive_time"


def test_a_dead_letter_keeps_at_most_the_bound_with_size_and_digest() -> None:
    p = Partition(options=PlanOptions(dead_letter_value_bytes=64))
    poison = b"\xc3\x01" + bytes(range(256)) * 4
    [dead] = written(p.raw(poison), TopicKind.DLQ, BASIC)
    assert dead["original_value"] == poison[:64]
    assert dead["original_value_size"] == len(poison)
    assert dead["original_value_sha256"] == hashlib.sha256(poison).digest()
