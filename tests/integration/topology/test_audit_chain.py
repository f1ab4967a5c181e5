"""The audit stream is tamper-evident (S 42: data kept from 篡改; G 17, S 29, J 19: audit
proves who received what): each Decision record is sealed into its ingest partition's hash
chain (schemas.audit), and `govbus audit verify` finds a changed, removed, duplicated or
re-sealed record, and a truncated chain against a head recorded earlier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer as RawProducer
from typer.testing import CliRunner

from govbus.cli.main import app
from schemas import decode
from schemas.audit import (
    ALTERED,
    DUPLICATE,
    verify,
)
from schemas.topics import TopicKind, topic_name
from tests.support.processor import PERSON, PERSON_KEY, Bus
from tests.support.scenario import event, publish_events, read_topic


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

    def mine(chain: str) -> bool:
        return chain.startswith(ingest + "/")

    audit = topic_name(TopicKind.AUDIT)
    raw = read_topic(bus.bootstrap, audit, config=bus.config)
    labelled = [(str(i), value) for i, (_, value) in enumerate(raw)]
    report = verify(labelled, include=mine)
    assert report.ok, report.findings
    ours = [decode("Decision", v) for _, v in labelled]
    ours = [d for d in ours if d["chain"] and mine(d["chain"])]
    assert report.records == len(ours) == 4  # one sealed record per event (Decision v5)
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
