"""Broker-enforced access on the real broker, through the SASL_SSL agency listener.

An agency may use shared data only for its own duties and may not pass it on (G 17, S 29);
the platform authenticates every access (G 24, GM 27). These tests check that the *broker*
refuses: another agency's feed and receipts, writing another agency's submission topic or
any ingest topic (GM 22, S 20), a wrong password, a revoked agency; and that the bus's
processors, with their own principal, keep working through the same listener.

The provider of an event is the agency the broker authenticated (issue 15): a spoofed
provider is refused; any agency's reports and confirmations are decided by one number, one
source; the decisions do not depend on the producer's partitioner (murmur2 or CRC32).
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from typer.testing import CliRunner

from base.credentials import read_client_config
from base.errors import GovbusError, KafkaError
from govbus.cli.main import app
from kafkaclient import (
    OFFSET_BEGINNING,
    Admin,
    Consumer,
    Producer,
    TopicPartition,
    TopicSpec,
)
from operations.access import agency_rules
from schemas import decode, encode
from schemas.partitioning import partition_for
from schemas.topics import TopicKind, bus_topics, topic_def, topic_name
from tests.support.broker import BrokerSource
from tests.support.principal import produce_as
from tests.support.processor import PERSON, running_processor
from tests.support.scenario import Names, Reader, event, resident_id
from topology.processor import Processor

runner = CliRunner()


COMPANY = "91110000600037341L"


#: Long enough for the processor to subscribe, process and commit on a busy machine.
WAIT_S = 60.0


#: A refused fetch or produce is reported within a few metadata round trips.
REFUSAL_S = 20.0


@dataclass
class Scenario:
    broker: BrokerSource
    env: dict[str, str]
    names: Names
    tmp: Path

    def run(self, *args: str) -> tuple[int, Any]:
        result = runner.invoke(app, [*args, "--json"], env=self.env)
        try:
            return result.exit_code, json.loads(result.stdout)
        except json.JSONDecodeError:
            return result.exit_code, result.stdout + result.stderr

    def issue(self, agency: str) -> dict[str, str]:
        code, out = self.run("agency", "rotate-password", agency)
        assert code == 0, out
        return dict(out["client_config"])


@pytest.fixture
def scenario(broker: BrokerSource, tmp_path: Path) -> Scenario:
    if not broker.agency_bootstrap:
        pytest.fail("the session broker has no agency listener (issue 7)", pytrace=False)
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    env = {
        "GOVBUS_HOME": str(tmp_path / "home"),
        "GOVBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'govbus.db'}",
        "GOVBUS_BOOTSTRAP": broker.bootstrap,
        "GOVBUS_AGENCY_BOOTSTRAP": broker.agency_bootstrap,
        "GOVBUS_CA_LOCATION": broker.ca_location,
        "GOVBUS_STATE_NAMESPACE": f"test-{names.sfx}",
        "GOVBUS_CONFIG": "",
        "GOVBUS_PROFILE": "shenyang-2019",  # the profile the demo catalog is written for
    }
    s = Scenario(broker, env, names, tmp_path)
    code, out = s.run("catalog", "import", str(catalog))
    assert code == 0, out
    return s


@pytest.fixture
def processor(scenario: Scenario) -> Iterator[Processor]:
    """The gate and fan-out, connected as User:govbus-processor through the agency listener."""
    creds = read_client_config(Path(scenario.broker.processor_credentials))
    assert creds["sasl.username"] == "govbus-processor"
    loaded = scenario.names.load()
    # Every topic exists (and is known to the broker) before the processor subscribes: its
    # consumer fails on a topic created a moment before (a processor issue, not access).
    defs = bus_topics(
        [e.id for e in loaded.catalog.entries], [a.id for a in loaded.catalog.agencies]
    )
    admin = Admin(scenario.broker.bootstrap, extra_config=scenario.broker.client_config)
    admin.ensure_topics([TopicSpec.of(d) for d in defs])
    deadline = time.monotonic() + WAIT_S
    while not {d.name for d in defs} <= set(admin.topics()) and time.monotonic() < deadline:
        time.sleep(0.2)
    with running_processor(creds["bootstrap.servers"], creds, loaded) as proc:
        yield proc


# -- helpers --------------------------------------------------------------------------------
def publish_event(config: dict[str, str], subject: str, ev: dict[str, Any]) -> None:
    """Submit ``ev`` as the principal of ``config``, to its own submission topic."""
    topic = topic_name(TopicKind.SUBMIT, config["sasl.username"])
    assert produce_as(config, topic, subject, encode("ChangeEvent", ev)) == []


def open_reader(config: dict[str, str], topic: str, group: str) -> Consumer:
    """Every partition of ``topic`` from the beginning (partition 0 when it may not be seen)."""
    consumer = Consumer(config["bootstrap.servers"], group, extra_config=config)
    parts = list(consumer.topic(topic).partitions) or [0]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    return consumer


def read_until(consumer: Consumer, want: int, record: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while len(out) < want and time.monotonic() < deadline:
        out += [decode(record, m.value() or b"") for m in consumer.consume(100, timeout_s=0.5)]
    assert len(out) >= want, f"{len(out)} of {want} records within {WAIT_S}s"
    return out


def refused(consumer: Consumer) -> KafkaError:
    """The error the broker answers the consumer's next fetches with."""
    deadline = time.monotonic() + REFUSAL_S
    while time.monotonic() < deadline:
        try:
            consumer.consume(10, timeout_s=0.5)
        except KafkaError as exc:
            return exc
    raise AssertionError(f"the broker served the fetch for {REFUSAL_S}s")


def authentication_fails(config: dict[str, str]) -> bool:
    """True when the listener refuses the SASL handshake for ``config``."""
    seen: list[str] = []
    raw = confluent_kafka.Consumer(
        {**config, "group.id": "x.probe", "error_cb": lambda e: seen.append(e.name())}
    )
    try:
        with pytest.raises(confluent_kafka.KafkaException):
            raw.list_topics(timeout=5.0)
        raw.poll(0.5)  # serve error_cb
    finally:
        raw.close()
    return "_AUTHENTICATION" in seen


# -- tests ----------------------------------------------------------------------------------
def test_agency_add_answers_a_usable_client_config_and_show_reports_the_acls(
    scenario: Scenario,
) -> None:
    """G 24, GM 27: credentials issued once; ACLs as the broker reports them."""
    name = scenario.names.agency("tax")
    code, out = scenario.run("agency", "add", name)
    assert code == 0, out
    cfg = out["client_config"]
    assert out["name"] == name
    assert set(cfg) == {
        "bootstrap.servers",
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
    }
    assert cfg["security.protocol"] == "SASL_SSL" and cfg["sasl.mechanism"] == "SCRAM-SHA-512"
    assert cfg["bootstrap.servers"] == scenario.broker.agency_bootstrap
    assert cfg["sasl.username"] == name and len(cfg["sasl.password"]) >= 40
    assert out["topics"]["feed"] == f"govbus.feed.{name}" and out["topics"]["ingest"] == []
    assert out["topics"]["submit"] == f"govbus.submit.{name}"  # the one topic it writes

    code, shown = scenario.run("agency", "show", name)
    assert code == 0 and shown["has_credentials"] is True and shown["registered"] is True
    got = {(a["resource"], a["name"], a["pattern"], a["operation"]) for a in shown["acls"]}
    assert got == {(r.resource, r.name, r.pattern, r.operation) for r in agency_rules(name, [])}
    assert all(a["permission"] == "allow" for a in shown["acls"])

    # The config works as it is: the agency reads its own (empty) feed in its own group.
    with open_reader(cfg, f"govbus.feed.{name}", f"{name}.reader") as consumer:
        assert consumer.consume(10, timeout_s=2.0) == []
    assert "***" in str(Consumer("x", "g", extra_config=cfg).config["sasl.password"])


def test_credentials_file_is_private_and_reserved_names_are_refused(scenario: Scenario) -> None:
    name = scenario.names.agency("ltb")
    path = scenario.tmp / "creds" / f"{name}.json"
    code, out = scenario.run("agency", "add", name, "--credentials-file", str(path))
    assert code == 0, out
    assert "sasl.password" not in out["client_config"] and out["credentials_file"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = read_client_config(path)
    assert config["sasl.username"] == name and config["sasl.password"]
    # Settings read the file: the CLI and wrappers connect as this agency.
    with Consumer("", f"{name}.r", credentials_file=path) as consumer:
        assert consumer.config["bootstrap.servers"] == scenario.broker.agency_bootstrap
        assert consumer.topic(topic_name(TopicKind.RECEIPTS, name)).readable
    os.chmod(path, 0o644)
    with pytest.raises(GovbusError, match="chmod 600"):
        read_client_config(path)

    code, out = scenario.run("agency", "add", f"govbus-processor{scenario.names.sfx}")
    assert code == 1 and out["kind"] == "AccessError"


def test_broker_refuses_a_resolution_written_by_the_processors(scenario: Scenario) -> None:
    """GM 19: the broker itself refuses User:govbus-processor on govbus.conflicts.resolved."""
    creds = read_client_config(Path(scenario.broker.processor_credentials))
    resolved = topic_def(TopicKind.RESOLVED)
    admin = Admin(scenario.broker.bootstrap, extra_config=scenario.broker.client_config)
    admin.ensure_topics([TopicSpec.of(resolved)])
    errors = produce_as(creds, resolved.name, str(uuid.uuid4()), b"forged")
    assert [e.code for e in errors] == ["TOPIC_AUTHORIZATION_FAILED"]


def test_agencies_are_confined_by_the_broker_and_revocation_cuts_off_only_one(
    scenario: Scenario, processor: Processor
) -> None:
    """G 17, S 29 (no reading others' data), GM 22 (only the source writes), G 24 (revoke)."""
    n = scenario.names
    psb, amr = n.agency("city-psb"), n.agency("city-amr")
    a, b = scenario.issue(psb), scenario.issue(amr)

    # A publishes what it is the source of; the processors (own principal) answer it.
    first = event(n.entry("psb.person.basic"), psb, PERSON, {"name": "张三"}, operation="create")
    publish_event(a, f"resident_id:{PERSON}", first)
    a_receipts = open_reader(a, topic_name(TopicKind.RECEIPTS, psb), f"{psb}.receipts")
    got = read_until(a_receipts, 1, "Receipt")
    assert str(got[0]["event_id"]) == first["event_id"] and got[0]["outcome"] == "accepted"
    with open_reader(b, topic_name(TopicKind.FEED, amr), f"{amr}.feed") as b_feed:
        assert str(read_until(b_feed, 1, "FeedRecord")[0]["event_id"]) == first["event_id"]

    # A may not read B's feed or receipts: the broker refuses.
    for kind in (TopicKind.FEED, TopicKind.RECEIPTS):
        other = topic_name(kind, amr)
        with Consumer(a["bootstrap.servers"], f"{psb}.spy", extra_config=a) as spy:
            meta = spy.topic(other)
            assert meta.error is not None and meta.error.code == "TOPIC_AUTHORIZATION_FAILED"
            spy.subscribe([other])
            assert refused(spy).code == "TOPIC_AUTHORIZATION_FAILED"
    # A may write no ingest topic (not even its own entry's: the bus writes them) and not
    # B's submission topic: it can only ever submit as itself (GM 22, S 20).
    forged = {
        **event(n.entry("amr.company.registration"), amr, COMPANY, {"status": "x"}),
        "subject_kind": "credit_code",
    }
    for topic in (
        topic_name(TopicKind.INGEST, forged["entry"]),
        topic_name(TopicKind.INGEST, first["entry"]),
        topic_name(TopicKind.SUBMIT, amr),
    ):
        errors = produce_as(a, topic, f"credit_code:{COMPANY}", encode("ChangeEvent", forged))
        assert [e.code for e in errors] == ["TOPIC_AUTHORIZATION_FAILED"], topic
    # A wrong password is refused at the handshake.
    assert authentication_fails({**a, "sasl.password": a["sasl.password"][::-1]})

    # Revoke A: its open consumer's next fetch fails; B and the processors go on.
    code, out = scenario.run("agency", "revoke", psb, "--force")
    assert code == 0, out
    assert out["credentials_removed"] is True and out["acls_removed"] > 0
    try:
        assert refused(a_receipts).code == "TOPIC_AUTHORIZATION_FAILED"
    finally:
        a_receipts.close()
    assert authentication_fails(a)
    company = {
        **event(n.entry("amr.company.registration"), amr, COMPANY, {"status": "存续"}),
        "subject_kind": "credit_code",
    }
    publish_event(b, f"credit_code:{COMPANY}", company)
    with open_reader(b, topic_name(TopicKind.RECEIPTS, amr), f"{amr}.receipts") as b_receipts:
        receipt = read_until(b_receipts, 1, "Receipt")[0]
    assert str(receipt["event_id"]) == company["event_id"] and receipt["outcome"] == "accepted"


def test_rotating_a_password_keeps_the_group_offsets(scenario: Scenario) -> None:
    """Rotation replaces the credential, not the agency: its group resumes where it was."""
    amr = scenario.names.agency("city-amr")
    old = scenario.issue(amr)
    feed = topic_name(TopicKind.FEED, amr)
    admin_config = scenario.broker.client_config  # the loopback ADMIN listener
    with Producer(scenario.broker.bootstrap, extra_config=admin_config) as admin_producer:
        for i in range(5):
            admin_producer.produce(feed, f"r{i}".encode(), key=b"k", partition=0)
    group = f"{amr}.reader"
    tp = TopicPartition(feed, 0)
    with Consumer(old["bootstrap.servers"], group, extra_config=old) as consumer:
        consumer.assign([TopicPartition(feed, 0, OFFSET_BEGINNING)])
        seen: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        while len(seen) < 3 and time.monotonic() < deadline:
            seen += [m.value() or b"" for m in consumer.consume(3 - len(seen), timeout_s=0.5)]
        assert seen == [b"r0", b"r1", b"r2"]
        consumer.commit([TopicPartition(feed, 0, 3)])

    new = scenario.issue(amr)
    assert new["sasl.password"] != old["sasl.password"]
    assert authentication_fails(old)
    with Consumer(new["bootstrap.servers"], group, extra_config=new) as consumer:
        committed = consumer.committed([tp])
        assert committed[0].offset == 3
        consumer.subscribe([feed])
        rest: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        while len(rest) < 2 and time.monotonic() < deadline:
            rest += [m.value() or b"" for m in consumer.consume(10, timeout_s=0.5)]
    assert rest == [b"r3", b"r4"]


def read_all(config: dict[str, str], topic: str, seconds: float) -> list[bytes]:
    """What a plain consumer with ``config`` reads of ``topic`` in ``seconds`` (no raise)."""
    raw = confluent_kafka.Consumer(
        {**config, "group.id": "x.probe", "enable.auto.commit": False, "error_cb": lambda e: None}
    )
    try:
        raw.assign([confluent_kafka.TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got: list[bytes] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = raw.poll(0.2)
            if msg is not None and msg.error() is None:
                got.append(msg.value() or b"")
        return got
    finally:
        raw.close()


def test_the_admin_listener_admits_the_administrator_only(
    scenario: Scenario, kafka_config: dict[str, str]
) -> None:
    """G 24, GM 27: nothing unauthenticated reaches agency data, not even on loopback; the
    administration listener takes no agency credential and no wrong password."""
    admin_bootstrap = scenario.broker.bootstrap
    admin = {"bootstrap.servers": admin_bootstrap, **kafka_config}
    amr = scenario.names.agency("city-amr")
    agency = scenario.issue(amr)
    feed = topic_name(TopicKind.FEED, amr)
    with Producer(admin_bootstrap, extra_config=kafka_config) as producer:
        producer.produce(feed, b"personal data", key=b"k", partition=0)
    # The administrator reads it; the same read without credentials gets nothing at all.
    assert read_all(admin, feed, 10.0) == [b"personal data"]
    anonymous = {"bootstrap.servers": admin_bootstrap}
    assert read_all(anonymous, feed, 3.0) == []
    assert not Admin(admin_bootstrap).ping(timeout_s=3)
    # The agency's own credential opens its feed on the agency listener, never the admin one.
    assert read_all(agency, feed, 10.0) == [b"personal data"]
    for mechanism in ("PLAIN", "SCRAM-SHA-512"):
        as_agency = {
            "bootstrap.servers": admin_bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism,
            "sasl.username": amr,
            "sasl.password": agency["sasl.password"],
        }
        assert authentication_fails(as_agency), mechanism
    assert authentication_fails({**admin, "sasl.password": kafka_config["sasl.password"][::-1]})


# -- the provider is who the broker authenticated (issue 15) -----------------------------------
def receipts_of(config: dict[str, str], want: int) -> list[dict[str, Any]]:
    """``want`` receipts of the agency of ``config``, read with its own credentials."""
    agency = config["sasl.username"]
    topic = topic_name(TopicKind.RECEIPTS, agency)
    with open_reader(config, topic, f"{agency}.receipts-{uuid.uuid4().hex[:6]}") as consumer:
        return read_until(consumer, want, "Receipt")


def outcomes(receipts: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    """The outcome of each event, in the events' order."""
    by_id = {str(r["event_id"]): r for r in receipts}
    return [
        f"{by_id[e['event_id']]['outcome']}/{by_id[e['event_id']]['reason_code']}" for e in events
    ]


def test_a_spoofed_provider_is_refused_and_the_sender_told_GM22(
    scenario: Scenario, processor: Processor
) -> None:
    """市民政局 (provider of marital_status only) claims to be 市公安局 for a name change:
    dead letter with its bytes, a ``provider_mismatch`` receipt to 市民政局; nothing of it
    reaches any feed (GM 22, S 20)."""
    n = scenario.names
    psb, mca = n.agency("city-psb"), n.agency("city-mca")
    b = scenario.issue(mca)
    basic = n.entry("psb.person.basic")
    spoof = event(basic, psb, PERSON, {"name": "假名"}, operation="create")
    publish_event(b, f"resident_id:{PERSON}", spoof)
    [receipt] = receipts_of(b, 1)
    assert str(receipt["event_id"]) == spoof["event_id"]
    assert (receipt["outcome"], receipt["reason_code"], receipt["article"]) == (
        "rejected",
        "provider_mismatch",
        "GM 22",
    )
    admin = Reader(scenario.broker.bootstrap, scenario.broker.client_config)
    letters = admin.records(topic_name(TopicKind.DLQ), "DeadLetter", entry=basic, until=1)
    assert [d["reason_code"] for d in letters] == ["provider_mismatch"]
    assert letters[0]["original_value"] == encode("ChangeEvent", spoof)
    assert letters[0]["source_topic"] == topic_name(TopicKind.INGEST, basic)
    assert admin.records(topic_name(TopicKind.ACCEPTED), "ChangeEvent", entry=basic) == []


def test_a_non_providers_confirmation_and_report_are_decided_S20_GM19(
    scenario: Scenario, processor: Processor
) -> None:
    """市卫健委 provides nothing of the entry: with its own credentials it confirms the
    source's value (多元校核, S 20) and reports another (a conflict, GM 19); its
    authoritative claim is stopped, never the source's write (GM 22)."""
    n = scenario.names
    psb, hc = n.agency("city-psb"), n.agency("city-hc")
    a, c = scenario.issue(psb), scenario.issue(hc)
    basic, subject = n.entry("psb.person.basic"), f"resident_id:{PERSON}"
    source = event(basic, psb, PERSON, {"name": "张三"}, operation="create")
    publish_event(a, subject, source)
    assert outcomes(receipts_of(a, 1), [source]) == ["accepted/authoritative_source"]
    confirm = event(basic, hc, PERSON, {"name": "张三"}, authoritative=False)
    differ = event(basic, hc, PERSON, {"name": "张叁"}, authoritative=False)
    claim = event(basic, hc, PERSON, {"name": "李四"})
    for ev in (confirm, differ, claim):
        publish_event(c, subject, ev)
    assert outcomes(receipts_of(c, 3), [confirm, differ, claim]) == [
        "confirmation/multi_source_verified",
        "conflict/value_differs",
        "stopped/not_the_source",
    ]
    admin = Reader(scenario.broker.bootstrap, scenario.broker.client_config)
    conflicts = admin.records(topic_name(TopicKind.CONFLICTS), "Conflict")
    [conflict] = [x for x in conflicts if x["entry"] == basic]
    assert (conflict["authoritative_value"], conflict["reported_value"]) == ("张三", "张叁")


def crc32_partition(key: bytes, partitions: int) -> int:
    """librdkafka's default (``consistent_random``) for a keyed record."""
    return zlib.crc32(key) % partitions


def test_decisions_do_not_depend_on_the_producers_partitioner_GM22(
    scenario: Scenario, processor: Processor
) -> None:
    """The source and a confirming agency publish the same subjects, once with Java's
    partitioner (librdkafka ``murmur2_random``) for one and CRC32 for the other, once both
    CRC32: every report meets the source's record (a confirmation, never a false
    ``source_has_no_value``), because the bus partitions ingest topics itself."""
    n = scenario.names
    psb, hc = n.agency("city-psb"), n.agency("city-hc")
    a, c = scenario.issue(psb), scenario.issue(hc)
    basic = n.entry("psb.person.basic")
    murmur = {"partitioner": "murmur2_random"}
    runs = {"mixed": ({**a, **murmur}, c), "crc32": (a, c)}
    base = int(uuid.uuid4().int % 10_000)
    people = {
        name: [resident_id(base + 20 * i + k) for k in range(6)] for i, name in enumerate(runs)
    }
    # With CRC32 on one side and murmur2 on the other, some subjects would have been on two
    # ingest partitions of three before the bus partitioned them.
    keys = [f"resident_id:{p}".encode() for p in people["mixed"]]
    assert any(crc32_partition(k, 3) != partition_for(k, 3) for k in keys)

    decided: dict[str, list[str]] = {}
    seen_a = seen_c = 0
    for name, (source_config, report_config) in runs.items():
        sources = [event(basic, psb, p, {"name": f"张{p[-4:]}"}) for p in people[name]]
        reports = [
            event(basic, hc, p, {"name": f"张{p[-4:]}"}, authoritative=False) for p in people[name]
        ]
        for ev in sources:
            publish_event(source_config, f"resident_id:{ev['subject_key']}", ev)
        seen_a += len(sources)
        got_a = outcomes(receipts_of(a, seen_a), sources)
        for ev in reports:
            publish_event(report_config, f"resident_id:{ev['subject_key']}", ev)
        seen_c += len(reports)
        decided[name] = got_a + outcomes(receipts_of(c, seen_c), reports)
    expected = ["accepted/authoritative_source"] * 6 + ["confirmation/multi_source_verified"] * 6
    assert decided == {"mixed": expected, "crc32": expected}
    # And each subject's events are on the one ingest partition the bus computes.
    admin = Consumer(scenario.broker.bootstrap, "probe", extra_config=scenario.broker.client_config)
    with admin:
        ingest = topic_name(TopicKind.INGEST, basic)
        count = len(admin.topic(ingest).partitions)
    placed = read_placements(scenario, ingest)
    for subject, partitions in placed.items():
        assert partitions == {partition_for(subject.encode(), count)}, subject


def read_placements(scenario: Scenario, topic: str) -> dict[str, set[int]]:
    """The ingest partitions each message key was written to (as the administrator)."""
    config = scenario.broker.client_config
    placed: dict[str, set[int]] = {}
    with open_reader({"bootstrap.servers": scenario.broker.bootstrap, **config}, topic, "x") as r:
        while batch := r.consume(1000, timeout_s=3.0):
            for msg in batch:
                key = (msg.key() or b"").decode()
                placed.setdefault(key, set()).add(msg.partition() or 0)
    return placed
