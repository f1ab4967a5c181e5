"""The processor's plan for a stale change and for a value of the wrong type, without a
broker (topology.plan, topology.state).

GM 22 and S 20 (动态更新): a change older than the authoritative record is answered by a
``stale`` receipt and an audit record, and writes nothing to the changelog, the accepted
stream or any feed. GM 21: a value that is not of its item's declared type is
dead-lettered with its bytes and the reason, and the provider gets a ``rejected`` receipt.
The changelog keeps each record's source order, so a restored worker judges alike.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from exchange.onesource import AuthoritativeRecord, SourceOrder
from schemas import encode
from schemas.topics import TopicKind
from tests.unit.topology.test_processor_plan import (
    BASIC,
    NOW,
    SUBJECT,
    Partition,
    change_event,
    topics,
    written,
)
from topology.state import decode_records, encode_records


def _event(name: str, sequence: int) -> dict[str, object]:
    return {**change_event(BASIC, "city-psb", {"name": name}), "source_sequence": sequence}


def test_a_stale_change_is_answered_and_audited_never_applied_gm_22_s_20() -> None:
    p = Partition()
    p.send(_event("张三", 8))
    plan = p.send(_event("张叁", 7))
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-psb")
    assert (receipt["outcome"], receipt["reason_code"]) == ("stale", "source_sequence_not_newer")
    assert receipt["article"] == "GM 22; S 20" and receipt["canonical_subject"] == SUBJECT
    assert [a["kind"] for a in written(plan, TopicKind.AUDIT)] == ["stale"]
    assert set(topics(plan)) == {
        "govbus.receipts.city-psb",
        "govbus.audit",
    }, "no changelog, accepted stream, feed, open feed or dead letter"
    assert plan.state is None
    assert p.records[SUBJECT]["name"].value == "张三"
    assert plan.tally.events == ((BASIC, "stale"),)


def test_a_value_of_the_wrong_type_is_dead_lettered_with_its_bytes_gm_21() -> None:
    p = Partition()
    value = encode("ChangeEvent", change_event(BASIC, "city-psb", {"birth_date": "garbage"}))
    plan = p.raw(value, SUBJECT.encode())
    [dead] = written(plan, TopicKind.DLQ, BASIC)
    assert bytes(dead["original_value"]) == value
    assert dead["reason_code"] == "item_type_mismatch"
    assert "birth_date" in dead["reason_text"] and "date" in dead["reason_text"]
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-psb")
    assert (receipt["outcome"], receipt["reason_code"]) == ("rejected", "item_type_mismatch")
    assert Counter(a["kind"] for a in written(plan, TopicKind.AUDIT)) == Counter(
        {"dead_letter": 1, "rejected": 1}
    )
    assert not written(plan, TopicKind.ACCEPTED, BASIC) and plan.state is None


def test_the_changelog_keeps_the_source_order_and_reads_records_kept_without_one() -> None:
    order = SourceOrder("户籍系统", 42, NOW - timedelta(hours=1))
    records = {
        "name": AuthoritativeRecord(SUBJECT, "name", "张三", "city-psb", "e1", ("e1",), order),
        "gender": AuthoritativeRecord(SUBJECT, "gender", "男", "city-psb", "e0", ("e0",)),
    }
    assert decode_records(SUBJECT, encode_records(records)) == records
    legacy = b'{"name":{"value":"\xe5\xbc\xa0","provider":"city-psb","event_id":"e","seen":["e"]}}'
    assert decode_records(SUBJECT, legacy)["name"].order is None
