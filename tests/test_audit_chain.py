"""The audit stream is tamper-evident (S 42: data kept from 篡改; G 17, S 29, J 19: audit
proves who received what): each Decision record is sealed into its ingest partition's hash
chain (schemas.audit), and `govbus audit verify` finds a changed, removed, duplicated or
re-sealed record, and a truncated chain against a head recorded earlier."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from bus_scenario import event, publish_events, read_topic
from confluent_kafka import Producer as RawProducer
from hypothesis import given, settings
from hypothesis import strategies as st
from test_processor import PERSON, PERSON_KEY, Bus
from test_processor import bus as bus
from test_schemas import SAMPLES
from typer.testing import CliRunner

from base.errors import EncodingError
from govbus.cli.main import app
from schemas import decode, default_registry, encode
from schemas.audit import (
    ALTERED,
    BROKEN_LINK,
    DUPLICATE,
    GAP,
    REWRITTEN,
    TRUNCATED,
    UNSEALED,
    seal,
    verify,
)
from schemas.topics import TopicKind, topic_name


def _chain(n: int, chain: str = "govbus.ingest.x/0") -> list[bytes]:
    out: list[bytes] = []
    prev: bytes | None = None
    for seq in range(1, n + 1):
        record = {
            **SAMPLES["Decision"],
            "audit_id": uuid.uuid4(),
            "chain": chain,
            "seq": seq,
            "prev_hash": prev,
            "record_hash": None,
        }
        message, prev = seal(encode("Decision", record))
        out.append(message)
    return out


def _labelled(messages: list[bytes]) -> list[tuple[str, bytes]]:
    return [(str(i), m) for i, m in enumerate(messages)]


def _kinds(messages: list[bytes], **kw: object) -> list[str]:
    return [f.kind for f in verify(_labelled(messages), **kw).findings]  # type: ignore[arg-type]


def test_an_untouched_chain_verifies_and_reports_its_head() -> None:
    messages = _chain(5)
    report = verify(_labelled(messages))
    assert report.ok and report.records == 5 and report.unchained == 0
    head = report.heads["govbus.ingest.x/0"]
    assert head.seq == 5
    assert bytes.fromhex(head.hash) == decode("Decision", messages[-1])["record_hash"]
    # Any order in, the same answer out (audit partitions interleave chains).
    assert verify(_labelled(messages[::-1])).to_dict() == report.to_dict()


def test_a_changed_byte_is_found() -> None:
    messages = _chain(3)
    changed = messages[1].replace(b"GY-RK-0001", b"GY-RK-0002")
    assert changed != messages[1]
    assert _kinds([messages[0], changed, messages[2]]) == [ALTERED]


def test_a_re_sealed_forgery_breaks_the_next_link_and_a_forged_head_the_recorded_one() -> None:
    """A forger who recomputes the hash of a changed record is caught by the next record's
    prev_hash; at the head, by the head an auditor recorded before."""
    messages = _chain(3)
    record = decode("Decision", messages[1])
    forged, _ = seal(encode("Decision", {**record, "recipient": "某单位", "record_hash": None}))
    assert _kinds([messages[0], forged, messages[2]]) == [BROKEN_LINK]
    heads = verify(_labelled(messages)).heads
    last = decode("Decision", messages[2])
    forged_head, _ = seal(encode("Decision", {**last, "recipient": "某单位", "record_hash": None}))
    assert _kinds([*messages[:2], forged_head]) == []
    assert _kinds([*messages[:2], forged_head], expected=heads) == [REWRITTEN]


def test_removed_duplicated_truncated_and_unsealed_records_are_found() -> None:
    messages = _chain(5)
    heads = verify(_labelled(messages)).heads
    assert _kinds(messages[:2] + messages[3:]) == [GAP]
    assert _kinds(messages[1:]) == [GAP]  # the first record is gone
    assert _kinds([*messages, messages[2]]) == [DUPLICATE]
    assert _kinds(messages[:4]) == []  # truncation is silent without a recorded head...
    assert _kinds(messages[:4], expected=heads) == [TRUNCATED]  # ...and found with one
    unsealed = encode("Decision", {**decode("Decision", messages[4]), "record_hash": None})
    assert _kinds([*messages[:4], unsealed]) == [UNSEALED]


def test_unchained_records_are_counted_not_judged() -> None:
    """Decision v1 records (before chaining) carry no chain."""
    v1 = {k: v for k, v in SAMPLES["Decision"].items() if k not in ("chain", "seq")}
    old = default_registry().encode("Decision", v1, version=1)
    report = verify(_labelled([old, *_chain(2)]))
    assert report.ok and report.unchained == 1 and report.records == 2


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 12), data=st.data())
def test_any_removed_or_re_sealed_record_below_the_head_is_found(
    n: int, data: st.DataObject
) -> None:
    messages = _chain(n)
    i = data.draw(st.integers(0, n - 2))  # not the head: that needs a recorded head
    assert _kinds(messages[:i] + messages[i + 1 :]) == [GAP]
    record = decode("Decision", messages[i])
    changed = {**record, "article": "伪造", "record_hash": None}
    forged, _ = seal(encode("Decision", changed))
    assert _kinds([*messages[:i], forged, *messages[i + 1 :]]) == [BROKEN_LINK]


@pytest.mark.broker
def test_the_processor_seals_every_audit_record_and_verify_finds_a_forgery(
    bus: Bus, tmp_path: Path
) -> None:
    n = bus.names
    basic = n.entry("psb.person.basic")
    psb, mca = n.agency("city-psb"), n.agency("city-mca")
    first = event(basic, psb, PERSON, {"name": "张三", "gender": "男"}, operation="create")
    publish_events(
        bus.bootstrap,
        [
            (PERSON_KEY, first),
            (PERSON_KEY, first),  # duplicate (GM 22)
            (PERSON_KEY, event(basic, mca, PERSON, {"name": "张叁"})),  # stopped (GM 22)
            (PERSON_KEY, event(basic, psb, PERSON, {"name": "张三丰"})),  # accepted
        ],
        config=bus.config,
    )
    assert len(bus.receipts("city-psb", until=3)) == 3
    ingest = topic_name(TopicKind.INGEST, basic)
    mine = lambda chain: chain.startswith(ingest + "/")  # noqa: E731
    audit = topic_name(TopicKind.AUDIT)
    raw = read_topic(bus.bootstrap, audit, config=bus.config)
    labelled = [(str(i), value) for i, (_, value) in enumerate(raw)]
    report = verify(labelled, include=mine)
    assert report.ok, report.findings
    ours = [decode("Decision", v) for _, v in labelled]
    ours = [d for d in ours if d["chain"] and mine(d["chain"])]
    assert report.records == len(ours) >= 4  # every decision of these events is sealed
    assert sum(h.seq for h in report.heads.values()) == len(ours)
    assert str(first["event_id"]) in {str(d["event_id"]) for d in ours}

    # The operator's command says the same, and keeps the heads for a later check.
    cli = CliRunner()
    key, pub = tmp_path / "auditor.key", tmp_path / "auditor.pub"
    made = cli.invoke(app, ["audit", "keygen", "--private", str(key), "--public", str(pub)])
    assert made.exit_code == 0, made.output
    args = ["audit", "verify", "--entry", basic, "--bootstrap", bus.bootstrap, "--json"]
    done = cli.invoke(app, [*args, "--sign", str(key)])
    assert done.exit_code == 0, done.output
    first_report = json.loads(done.stdout)
    assert first_report["ok"] and first_report["records"] == report.records
    assert first_report["signature"]["algorithm"] == "ed25519"
    assert first_report["heads"] == {c: h.to_dict() for c, h in report.heads.items()}
    kept = tmp_path / "heads.json"
    kept.write_text(done.stdout)

    # An altered copy of one of them, written straight to the audit topic, is found.
    victim = next(
        v for _, v in labelled if mine(decode("Decision", v)["chain"] or "") and psb.encode() in v
    )
    forged = victim.replace(psb.encode(), mca.encode(), 1)  # same length: still decodes
    assert forged != victim
    producer = RawProducer({"bootstrap.servers": bus.bootstrap, **bus.config})
    producer.produce(audit, forged)
    producer.flush(10)
    again = read_topic(bus.bootstrap, audit, config=bus.config, until=len(raw) + 1)
    findings = verify([(str(i), v) for i, (_, v) in enumerate(again)], include=mine).findings
    # It does not hash to what it claims, and its seq is taken already.
    assert sorted(f.kind for f in findings) == [ALTERED, DUPLICATE]
    assert all(f.seq == decode("Decision", victim)["seq"] for f in findings)
    done = cli.invoke(app, [*args, "--expect", str(kept), "--trust", str(pub)])
    assert done.exit_code == 1, done.output
    assert sorted(f["kind"] for f in json.loads(done.stdout)["findings"]) == [ALTERED, DUPLICATE]
    # A checkpoint changed after signing (a head moved back) is refused before it is used.
    doctored = json.loads(kept.read_text())
    chain = next(iter(doctored["heads"]))
    doctored["heads"][chain]["seq"] -= 1
    kept.write_text(json.dumps(doctored))
    done = cli.invoke(app, [*args, "--expect", str(kept), "--trust", str(pub)])
    assert done.exit_code == 1 and json.loads(done.stdout)["kind"] == "SignatureError"


def test_sealing_appends_exactly_what_a_full_encode_with_the_hash_writes() -> None:
    record = {**SAMPLES["Decision"], "chain": "c/0", "seq": 1, "prev_hash": None}
    unsealed = encode("Decision", {**record, "record_hash": None})
    sealed, digest = seal(unsealed)
    assert sealed == encode("Decision", {**record, "record_hash": digest})
    with pytest.raises(EncodingError, match="record_hash null"):
        seal(unsealed[:-1] + b"\x02")  # not the null branch at the end
