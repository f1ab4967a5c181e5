"""The repartition stage's planning step without a broker (topology.repartition), and the
gate's answer to a provider the broker did not authenticate.

Articles: one number, one source (GM 22, S 20): the provider is the agency the broker
authenticated, never a field it fills; reports from any agency (GM 19, S 20); identity
keys (GM 18); bad input answered, nothing lost.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from exchange.catalog_loader import load_catalog
from schemas import decode, encode
from schemas.partitioning import partition_for
from schemas.topics import PROVIDER_HEADER, TopicKind, topic_name
from tests.support.scenario import DEMO
from tests.unit.topology.test_processor_plan import Partition, change_event, written
from topology.encoding import Encoder
from topology.plan import Input, Plan, PlanOptions, plan_message
from topology.processor import ProcessorConfig
from topology.repartition import Routing, plan_submission, plan_submission_quarantine
from topology.repartitioner import repartition_config, repartition_group
from topology.run import SESSION_TIMEOUT_MS, Membership, worker_config

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PERSON = "11010519491231002X"
LEGACY = "110105491231002"  # the same person's 15-digit number
SUBJECT = f"resident_id:{PERSON}"
BASIC = "psb.person.basic"
ENCODER = Encoder()
OPTIONS = PlanOptions()
CATALOG = load_catalog(DEMO).catalog
PARTITIONS = 7  # not the default 3: the stage uses the topic's own count
ROUTING = Routing(
    CATALOG, {topic_name(TopicKind.INGEST, e.id): PARTITIONS for e in CATALOG.entries}
)


def submit(
    agency: str, value: bytes, key: bytes | None = SUBJECT.encode(), offset: int = 0
) -> Plan:
    msg = Input(topic_name(TopicKind.SUBMIT, agency), 2, offset, key, value)
    return plan_submission(msg, ROUTING, NOW, encoder=ENCODER, options=OPTIONS)


def event(agency: str, **fields: Any) -> dict[str, Any]:
    return {**change_event(BASIC, agency, {"name": "张三"}), **fields}


def test_a_submission_goes_unchanged_to_its_entry_at_the_bus_partition_GM22() -> None:
    value = encode("ChangeEvent", event("city-psb"))
    [write] = submit("city-psb", value).writes
    assert write.topic == topic_name(TopicKind.INGEST, BASIC)
    assert (write.value, write.key) == (value, SUBJECT.encode())
    assert write.partition == partition_for(SUBJECT.encode(), PARTITIONS)
    assert write.headers == ((PROVIDER_HEADER, b"city-psb"),)


def test_one_subject_lands_on_one_partition_whatever_the_sender_or_its_key_form() -> None:
    """GM 19, GM 22: the partition depends on the canonical subject only, so a report from
    another agency, or a legacy 15-digit number, meets the source's state."""
    source = submit("city-psb", encode("ChangeEvent", event("city-psb")))
    report = event("city-mca", authoritative=False, subject_key=LEGACY)
    legacy = submit("city-mca", encode("ChangeEvent", report), key=b"anything")
    assert source.writes[0].partition == legacy.writes[0].partition
    assert legacy.writes[0].headers == ((PROVIDER_HEADER, b"city-mca"),)
    assert legacy.writes[0].key == b"anything"  # the gate refuses it: key_not_canonical


def test_an_invalid_identity_is_forwarded_for_the_gate_to_answer_GM18() -> None:
    value = encode("ChangeEvent", event("city-psb", subject_key="110105194912310021"))
    [write] = submit("city-psb", value, key=b"resident_id:110105194912310021").writes
    assert write.topic == topic_name(TopicKind.INGEST, BASIC)
    assert write.partition == partition_for(b"resident_id:110105194912310021", PARTITIONS)


def test_undecodable_bytes_are_dead_lettered_on_the_senders_dlq_with_their_bytes() -> None:
    plan = submit("city-hc", b"not avro at all", key=b"k")
    [write] = plan.writes
    assert write.topic == topic_name(TopicKind.SUBMIT_DLQ, "city-hc") == "govbus.dlq.submit.city-hc"
    letter = decode("DeadLetter", write.value)
    assert letter["original_value"] == b"not avro at all" and letter["original_key"] == b"k"
    assert (letter["stage"], letter["source_topic"]) == ("decode", "govbus.submit.city-hc")
    assert plan.tally.dead_letters[0][1] == letter["reason_code"]


@pytest.mark.parametrize("entry", ["no.such.entry", "bad name/x"])
def test_an_unknown_entry_is_dead_lettered_and_the_sender_told(entry: str) -> None:
    ev = event("city-mca", entry=entry)
    value = encode("ChangeEvent", ev)
    plan = submit("city-mca", value)
    letters = written_to(plan, topic_name(TopicKind.SUBMIT_DLQ, "city-mca"), "DeadLetter")
    receipts = written_to(plan, topic_name(TopicKind.RECEIPTS, "city-mca"), "Receipt")
    assert [d["reason_code"] for d in letters] == ["unknown_entry"]
    assert letters[0]["original_value"] == value and letters[0]["stage"] == "validate"
    [receipt] = receipts
    assert (receipt["outcome"], receipt["reason_code"]) == ("rejected", "unknown_entry")
    assert str(receipt["event_id"]) == ev["event_id"]


def test_an_entry_withdrawn_without_topics_is_answered_with_the_gates_reason() -> None:
    """Issue 19 item 2: an entry not published gets no topics (topology.topics); a
    submission to it is answered here as the gate would answer it (S 27 ¶2)."""
    withdrawn = "amr.company.annual_report_2019"
    ev = {**change_event(withdrawn, "city-amr", {"annual_report_2019_submitted": "true"})}
    routing = Routing(CATALOG, {})
    msg = Input(topic_name(TopicKind.SUBMIT, "city-amr"), 0, 0, None, encode("ChangeEvent", ev))
    plan = plan_submission(msg, routing, NOW, encoder=ENCODER, options=OPTIONS)
    [receipt] = written_to(plan, topic_name(TopicKind.RECEIPTS, "city-amr"), "Receipt")
    assert (receipt["outcome"], receipt["reason_code"]) == ("rejected", "entry_withdrawn")


def test_an_unregistered_sender_gets_its_dead_letter_only() -> None:
    plan = submit("city-nobody", encode("ChangeEvent", event("city-nobody", entry="x.y")))
    assert [w.topic for w in plan.writes] == ["govbus.dlq.submit.city-nobody"]


def test_a_quarantined_submission_is_dead_lettered_with_the_error() -> None:
    msg = Input("govbus.submit.city-psb", 0, 9, None, b"\x00")
    plan = plan_submission_quarantine(msg, "ValueError: x", NOW, encoder=ENCODER, options=OPTIONS)
    [letter] = written_to(plan, "govbus.dlq.submit.city-psb", "DeadLetter")
    assert (letter["reason_code"], letter["stage"]) == ("processing_failed", "gate")
    assert "ValueError: x" in letter["reason_text"]


def test_the_step_depends_on_its_arguments_only() -> None:
    value = encode("ChangeEvent", event("city-psb"))
    assert submit("city-psb", value) == submit("city-psb", value)


# -- the gate, given the sender the stage authenticated ------------------------------------
def forwarded(p: Partition, sender: str, ev: dict[str, Any]) -> Plan:
    msg = Input(
        p.topic,
        p.partition,
        p.offset,
        SUBJECT.encode(),
        encode("ChangeEvent", ev),
        headers=((PROVIDER_HEADER, sender.encode()),),
    )
    p.offset += 1
    hint = msg.subject_hint or ""
    plan = plan_message(
        msg, p.records.get(hint, {}), p.head, p.reference, NOW, encoder=ENCODER, options=OPTIONS
    )
    p.head = plan.head
    if plan.state is not None:
        p.records[plan.state.subject] = dict(plan.state.records)
    return plan


def test_a_provider_other_than_the_sender_is_refused_and_the_sender_told_GM22() -> None:
    """市民政局 claims to be 市公安局: dead letter with its bytes, a receipt to 市民政局."""
    p = Partition()
    spoof = event("city-psb", items=[{"name": "name", "before": None, "after": "假名"}])
    plan = forwarded(p, "city-mca", spoof)
    [receipt] = written(plan, TopicKind.RECEIPTS, "city-mca")
    assert (receipt["outcome"], receipt["reason_code"]) == ("rejected", "provider_mismatch")
    assert receipt["article"] == "GM 22"
    assert written(plan, TopicKind.RECEIPTS, "city-psb") == []
    [letter] = written(plan, TopicKind.DLQ, BASIC)
    assert letter["original_value"] == encode("ChangeEvent", spoof)
    assert letter["reason_code"] == "provider_mismatch"
    assert plan.state is None and written(plan, TopicKind.ACCEPTED, BASIC) == []


def test_a_senders_own_events_and_reports_are_decided_by_one_source_S20_GM19() -> None:
    p = Partition()
    accepted = forwarded(p, "city-psb", event("city-psb"))
    assert written(accepted, TopicKind.RECEIPTS, "city-psb")[0]["outcome"] == "accepted"
    confirm = forwarded(p, "city-hc", event("city-hc", authoritative=False))
    assert written(confirm, TopicKind.RECEIPTS, "city-hc")[0]["outcome"] == "confirmation"
    other = {"items": [{"name": "name", "before": None, "after": "李四"}]}
    report = forwarded(p, "city-hc", event("city-hc", authoritative=False, **other))
    assert written(report, TopicKind.RECEIPTS, "city-hc")[0]["outcome"] == "conflict"
    # A non-source's authoritative claim is stopped: it never counts as the source's write.
    claim = forwarded(p, "city-hc", event("city-hc", **other))
    assert written(claim, TopicKind.RECEIPTS, "city-hc")[0]["reason_code"] == "not_the_source"
    assert p.records[SUBJECT]["name"].value == "张三"


def written_to(plan: Plan, topic: str, schema: str) -> list[dict[str, Any]]:
    return [decode(schema, w.value) for w in plan.writes if w.topic == topic]


def test_event_ids_are_kept_as_keys() -> None:
    ev = event("city-mca", entry="no.such.entry", event_id=str(uuid.uuid4()))
    plan = submit("city-mca", encode("ChangeEvent", ev))
    assert {w.key for w in plan.writes} == {ev["event_id"].encode()}


def test_the_stage_runs_in_its_own_group_with_its_own_ids_beside_the_processors() -> None:
    """Its own group (offsets of the submission topics) and transactional id (fencing),
    under the processors' ``govbus-`` prefix (their ACLs); no audit chain of its own."""
    processors = worker_config(
        ProcessorConfig("127.0.0.1:9", group_id="govbus-processor", worker=2, batch_size=9),
        Membership.STATIC,
    )
    stage = repartition_config(processors)
    assert stage.group_id == repartition_group("govbus-processor") == "govbus-processor-repartition"
    assert stage.transactional_id == "govbus-processor-repartition-worker-2"
    assert stage.consumer_config["group.instance.id"] == "govbus-processor-repartition-worker-2"
    assert stage.audit is False
    assert (stage.bootstrap, stage.batch_size, stage.exactly_once) == ("127.0.0.1:9", 9, True)


def test_workers_are_static_members_unless_asked_to_be_dynamic() -> None:
    """A dynamic member leaves its groups on a graceful stop (LeaveGroup); a static one
    (``group.instance.id``, the default) never does, so its partitions wait for its session
    to end, and come back to it without a rebalance when it restarts in time."""
    config = ProcessorConfig("127.0.0.1:9", group_id="govbus-processor", worker=1)
    dynamic = worker_config(config, Membership.DYNAMIC)
    assert "group.instance.id" not in dynamic.consumer_config
    assert "group.instance.id" not in repartition_config(dynamic).consumer_config
    static = worker_config(config)
    assert static.consumer_config["group.instance.id"] == "govbus-processor-worker-1"
    assert dynamic.consumer_config["session.timeout.ms"] == SESSION_TIMEOUT_MS
