"""The agency publisher (producers/): local refusals, ordered delivery, restart, receipts.

Broker tests run against the session's real Kafka broker; every test builds its own
catalog with uuid-suffixed agency and entry ids, so topics and groups never collide.
Check digits are computed here from the standards' formulas (GB 11643, GB 11714,
GB 32100), independently of exchange.identity.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import confluent_kafka
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import DeliveryError, PolicyError, PublishError
from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from exchange.ingest_checks import ProposedChange, Refusal, RefusalReason, admit
from kafkaclient import Admin, Consumer, Producer, TopicSpec
from producers import AgencyPublisher, Draft, PublishStatus, Receipt
from producers.journal import ACKS_FILE, Ack, Journal
from producers.rows import InputFormat, read_rows
from schemas import decode, encode
from schemas.topics import TopicKind, topic_def, topic_name

ROOT = Path(__file__).resolve().parents[1]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: Reading a few dozen records back from the local broker takes well under this.
READ_TIMEOUT_S = 30.0
NOW = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)

CATALOG_YAML = """\
version: 1
name: 测试目录 {s}
agencies:
  - {{id: psb-{s}, name: Public Security, name_zh: 市公安局, kind: administrative_agency}}
  - {{id: mca-{s}, name: Civil Affairs, name_zh: 市民政局, kind: administrative_agency}}
  - {{id: amr-{s}, name: Market Regulation, name_zh: 市市场监管局, kind: administrative_agency}}
entries:
  - id: person-{s}
    title: Residents
    title_zh: 居民基本信息
    provider: psb-{s}
    source_business: 户籍管理
    category: 人口基础信息
    key_kind: resident_id
    sensitivity: internal
    share_type: unconditional
    open_type: not_open
    open_basis: 涉及个人隐私
    update_cycle: realtime
    state: published
    items:
      - {{name: name, label_zh: 姓名, type: string, tag: person_name}}
      - {{name: birth_date, label_zh: 出生日期, type: date, tag: date}}
      - {{name: household_size, label_zh: 户内人数, type: integer, tag: free}}
      - {{name: marital_status, label_zh: 婚姻状况, type: string, tag: withheld, provider: mca-{s}}}
  - id: company-{s}
    title: Companies
    title_zh: 企业登记信息
    provider: amr-{s}
    source_business: 商事登记
    category: 法人单位基础信息
    key_kind: credit_code
    sensitivity: public
    share_type: unconditional
    open_type: unconditional
    update_cycle: daily
    state: published
    items:
      - {{name: company_name, label_zh: 企业名称, type: string, tag: free}}
      - {{name: registered_capital, label_zh: 注册资本（万元）, type: decimal, tag: free}}
  - id: draft-{s}
    title: Draft entry
    title_zh: 草稿目录
    provider: psb-{s}
    source_business: 户籍管理
    category: 人口基础信息
    key_kind: resident_id
    sensitivity: internal
    share_type: unconditional
    open_type: not_open
    open_basis: 涉及个人隐私
    update_cycle: daily
    state: draft
    items:
      - {{name: nickname, label_zh: 曾用名, type: string, tag: person_name}}
  - id: gone-{s}
    title: Withdrawn entry
    title_zh: 已停止目录
    provider: psb-{s}
    source_business: 户籍管理
    category: 人口基础信息
    key_kind: resident_id
    sensitivity: internal
    share_type: unconditional
    open_type: not_open
    open_basis: 涉及个人隐私
    update_cycle: yearly
    state: withdrawn
    withdrawal: {{reason: 已并入居民基本信息, filed_on: 2024-03-01, effective_on: 2024-04-01}}
    items:
      - {{name: old_address, label_zh: 旧住址, type: string, tag: address}}
"""


# -- identity numbers, from the standards ------------------------------------------------
def gb11643_check(body17: str) -> str:
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def resident_id(region: str, born: date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + gb11643_check(body)


def legacy_id(region: str, born: date, seq: int) -> str:
    """The 15-digit form (GB 11643-1999): 2-digit year, no check digit; born 19xx."""
    return f"{region}{born:%y%m%d}{seq:03d}"


def credit_code(org: str) -> str:
    """A GB 32100 code: 9 (工商) 1 (企业), Beijing Haidian, organisation code ``org``."""
    total = sum(int(c, 36) * w for c, w in zip(org, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    value = 11 - total % 11
    body = "91110108" + org + {10: "X", 11: "0"}.get(value, str(value))
    check = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return body + USCC_ALPHABET[(31 - check % 31) % 31]


ZHANG = resident_id("110105", date(1949, 12, 31), 2)
LI = resident_id("440524", date(1980, 1, 1), 1)
WANG_18 = resident_id("320311", date(1977, 7, 6), 1)
WANG_15 = legacy_id("320311", date(1977, 7, 6), 1)
BAD_CHECKSUM = ZHANG[:-1] + ("0" if ZHANG[-1] != "0" else "1")


# -- per-test world -------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    suffix: str
    path: Path
    catalog: Catalog

    @property
    def psb(self) -> str:
        return f"psb-{self.suffix}"

    @property
    def mca(self) -> str:
        return f"mca-{self.suffix}"

    @property
    def amr(self) -> str:
        return f"amr-{self.suffix}"

    @property
    def person(self) -> str:
        return f"person-{self.suffix}"

    @property
    def company(self) -> str:
        return f"company-{self.suffix}"


def make_world(directory: Path) -> World:
    suffix = uuid.uuid4().hex[:12]
    path = directory / f"catalog-{suffix}.yaml"
    path.write_text(CATALOG_YAML.format(s=suffix), encoding="utf-8")
    return World(suffix, path, load_catalog(path).catalog)


def ensure_topics(bootstrap: str, world: World, *, config: Mapping[str, str]) -> None:
    """The world's ingest and receipts topics (``config``: the client's settings, e.g. the
    ``kafka_config`` fixture: the administrator's)."""
    defs = [topic_def(TopicKind.INGEST, world.person), topic_def(TopicKind.INGEST, world.company)]
    defs += [topic_def(TopicKind.RECEIPTS, a) for a in (world.psb, world.mca, world.amr)]
    Admin(bootstrap, extra_config=config).ensure_topics([TopicSpec.of(d) for d in defs])


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


@pytest.fixture
def live(bootstrap: str, kafka_config: dict[str, str], world: World) -> World:
    ensure_topics(bootstrap, world, config=kafka_config)
    return world


NOT_YET_LED = {
    confluent_kafka.KafkaError.NOT_LEADER_FOR_PARTITION,
    confluent_kafka.KafkaError.LEADER_NOT_AVAILABLE,
    confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
}


def message_count(bootstrap: str, topic: str, *, config: Mapping[str, str]) -> int:
    """Messages in ``topic``: the sum of its partitions' high watermarks (exact: no
    transactions and no compaction on ingest topics). A topic created a moment ago may
    not have its leaders known yet: retriable errors are retried."""
    partitions = Admin(bootstrap, extra_config=config).topics()[topic]
    probe = confluent_kafka.Consumer(
        {**config, "bootstrap.servers": bootstrap, "group.id": "probe"}
    )
    deadline = datetime.now(UTC) + timedelta(seconds=READ_TIMEOUT_S)
    try:
        while True:
            try:
                return sum(
                    probe.get_watermark_offsets(
                        confluent_kafka.TopicPartition(topic, p), timeout=10
                    )[1]
                    for p in range(partitions)
                )
            except confluent_kafka.KafkaException as exc:
                settling = exc.args[0].retriable() or exc.args[0].code() in NOT_YET_LED
                if not settling or datetime.now(UTC) > deadline:
                    raise
                time.sleep(0.2)
    finally:
        probe.close()


def payload(msg: confluent_kafka.Message) -> bytes:
    value = msg.value()
    assert value is not None
    return value


def read_topic(
    bootstrap: str, topic: str, expected: int, *, config: Mapping[str, str]
) -> list[confluent_kafka.Message]:
    got: list[confluent_kafka.Message] = []
    with Consumer(bootstrap, f"test-read-{uuid.uuid4().hex}", extra_config=config) as consumer:
        consumer.subscribe([topic])
        deadline = datetime.now(UTC) + timedelta(seconds=READ_TIMEOUT_S)
        while len(got) < expected and datetime.now(UTC) < deadline:
            got.extend(consumer.consume(500, timeout_s=0.5))
    return got


def receipt_record(event_id: str, world: World, outcome: str, **extra: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "entry": world.person,
        "provider": world.psb,
        "outcome": outcome,
        "reason_code": extra.get("reason_code", "authoritative_source"),
        "reason_text": extra.get("reason_text", "已接收"),
        "article": extra.get("article", "GM 22"),
        "decided_at": NOW,
        "audit_position": extra.get("audit_position"),
        "canonical_subject": extra.get("canonical_subject"),
    }


_CACHED: list[World] = []


def make_world_cached() -> World:
    """One catalog for all Hypothesis examples (loading YAML per example is slow)."""
    if not _CACHED:
        _CACHED.append(make_world(Path(tempfile.mkdtemp())))
    return _CACHED[0]


# -- pure admission checks (no broker) ----------------------------------------------------
def test_admission_accepts_the_source_and_keys_by_canonical_subject(world: World) -> None:
    """GM 18 ¶2: the 15- and 18-digit forms of one resident ID give one canonical key."""
    keys = []
    for number in (WANG_15, WANG_18, f" {WANG_18.lower()} "):
        got = admit(
            world.catalog, world.psb, world.person, ProposedChange(number, {"name": "王五"}), NOW
        )
        assert not isinstance(got, Refusal), got
        keys.append(got.canonical_subject)
    assert keys == [f"resident_id:{WANG_18}"] * 3


ITEM_SOURCES = {
    "name": "psb",
    "birth_date": "psb",
    "household_size": "psb",
    "marital_status": "mca",
}


@given(
    writer=st.sampled_from(["psb", "mca"]),
    items=st.lists(st.sampled_from(sorted(ITEM_SOURCES)), min_size=1, unique=True),
    authoritative=st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_not_the_source_is_refused_unless_marked_non_authoritative(
    writer: str, items: list[str], authoritative: bool
) -> None:
    """GM 22 one number one source; S 20: a non-source may only send a report."""
    world = make_world_cached()
    agency = f"{writer}-{world.suffix}"
    values = {
        i: ("1949-12-31" if i == "birth_date" else "3" if i == "household_size" else "值")
        for i in items
    }
    got = admit(
        world.catalog, agency, world.person, ProposedChange(ZHANG, values, authoritative), NOW
    )
    foreign = [i for i in items if ITEM_SOURCES[i] != writer]
    if authoritative and foreign:
        assert isinstance(got, Refusal)
        assert got.reason is RefusalReason.NOT_THE_SOURCE
        assert got.field in foreign and got.article == "GM 22; S 20"
    else:
        assert not isinstance(got, Refusal), got


@given(
    born=st.dates(date(1900, 1, 1), date(1999, 12, 31)),
    seq=st.integers(0, 999),
)
@settings(max_examples=60, deadline=None)
def test_legacy_and_current_id_forms_share_the_message_key(born: date, seq: int) -> None:
    """GM 18 ¶2: one person, one key, whichever form the agency holds."""
    world = make_world_cached()
    short, full = legacy_id("110105", born, seq), resident_id("110105", born, seq)
    keys = {
        admit(world.catalog, world.psb, world.person, ProposedChange(n, {"name": "甲"}), NOW)
        for n in (short, full)
    }
    assert {k.canonical_subject for k in keys if not isinstance(k, Refusal)} == {
        f"resident_id:{full}"
    }


def test_admission_needs_an_aware_time(world: World) -> None:
    with pytest.raises(PolicyError):
        admit(
            world.catalog,
            world.psb,
            world.person,
            ProposedChange(ZHANG, {"name": "甲"}),
            datetime(2025, 1, 1),
        )


# -- input rows (no broker) ------------------------------------------------------------
cjk_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda t: t.strip() != "")


@given(values=st.dictionaries(st.sampled_from(["name", "marital_status"]), cjk_text, min_size=1))
@settings(max_examples=60, deadline=None)
def test_jsonl_and_csv_rows_carry_text_unchanged(values: dict[str, str]) -> None:
    """Chinese (any UTF-8) text reaches the draft unchanged from JSONL and from CSV."""
    directory = Path(tempfile.mkdtemp())
    jsonl = directory / "rows.jsonl"
    row = {"subject_key": ZHANG, "operation": "update", "items": values}
    jsonl.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subject_key", "operation", *values])
    writer.writerow([ZHANG, "update", *values.values()])
    csv_file = directory / "rows.csv"
    csv_file.write_text(out.getvalue(), encoding="utf-8")
    for path, fmt in ((jsonl, InputFormat.JSONL), (csv_file, InputFormat.CSV)):
        rows = read_rows(path, fmt, agency_id="a", entry_id="e")
        assert len(rows) == 1 and rows[0].draft is not None, rows
        expected = {k: v for k, v in values.items() if fmt is InputFormat.JSONL or v.strip()}
        assert dict(rows[0].draft.items) == expected


def test_rows_get_stable_derived_event_ids_and_bad_rows_their_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"subject_key": ZHANG, "operation": "update", "items": {"name": "甲"}}),
                "",
                "{not json",
                json.dumps({"subject_key": ZHANG, "operation": "update", "items": {"name": "甲"}}),
                json.dumps({"subject_key": ZHANG, "operation": "update", "item": {}}),
                json.dumps(
                    {
                        "subject_key": LI,
                        "operation": "create",
                        "items": {"household_size": 3},
                        "authoritative": False,
                    }
                ),
            ]
        ),
        encoding="utf-8",
    )
    first = read_rows(path, InputFormat.JSONL, agency_id="a", entry_id="e")
    again = read_rows(path, InputFormat.JSONL, agency_id="a", entry_id="e")
    other_entry = read_rows(path, InputFormat.JSONL, agency_id="a", entry_id="f")
    assert [r.line for r in first] == [1, 3, 4, 5, 6]
    bad = {r.line: r.refusal.reason for r in first if r.refusal is not None}
    assert bad == {3: RefusalReason.BAD_ROW, 5: RefusalReason.BAD_ROW}
    ids = [r.draft.event_id for r in first if r.draft is not None]
    assert ids == [r.draft.event_id for r in again if r.draft is not None]
    assert len(set(ids)) == 3  # same content on another line is another event
    assert not set(ids) & {r.draft.event_id for r in other_entry if r.draft is not None}
    last = first[-1].draft
    assert last is not None and last.items == {"household_size": "3"} and not last.authoritative


# -- journal (no broker) -----------------------------------------------------------------
def test_journal_drops_a_torn_last_line_and_refuses_a_second_user(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "psb")
    ack = Ack(str(uuid.uuid4()), "e", "t", 0, 7, "户籍系统", 42)
    journal.record_ack(ack)
    with pytest.raises(PublishError) as locked:
        Journal(tmp_path, "psb").open()
    assert locked.value.code == "state_dir_locked"
    journal.close()
    path = tmp_path / "psb" / ACKS_FILE
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"event_id": "torn')  # a crash in the middle of a write
    reopened = Journal(tmp_path, "psb")
    assert reopened.acknowledged(ack.event_id) == ack
    assert reopened.next_sequence("户籍系统", 0) == 43
    reopened.close()
    assert path.read_text(encoding="utf-8").endswith("}\n")


# -- against the broker ------------------------------------------------------------------
def test_valid_events_arrive_in_order_per_subject(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    """G 12 real-time push; keyed by canonical subject so one subject's changes keep order."""
    subjects = [ZHANG, LI, WANG_18, WANG_15]  # Wang twice: 18- and 15-digit forms
    drafts = [
        Draft(
            subjects[i % 4],
            "update",
            {"name": f"名字{i}", "household_size": str(i)},
            before={"name": f"名字{i - 4}"},
            source_system="户籍系统",
        )
        for i in range(40)
    ]
    delivered: list[str] = []
    with AgencyPublisher(
        bootstrap,
        live.psb,
        live.catalog,
        state_dir=tmp_path,
        extra_config=kafka_config,
        on_delivery=lambda r: delivered.append(r.event_id),
    ) as publisher:
        results = publisher.publish_many(live.person, drafts)
        publisher.flush()
    assert all(r.status is PublishStatus.DELIVERED for r in results), results
    assert sorted(delivered) == sorted(r.event_id for r in results)
    topic = topic_name(TopicKind.INGEST, live.person)
    messages = read_topic(bootstrap, topic, len(drafts), config=kafka_config)
    assert len(messages) == len(drafts)
    by_key: dict[bytes, list[tuple[str, int]]] = {}
    for msg in messages:
        event = decode("ChangeEvent", payload(msg))
        by_key.setdefault(msg.key() or b"", []).append(
            (event["items"][0]["after"], event["source_sequence"])
        )
        assert event["provider"] == live.psb and event["subject_kind"] == "resident_id"
        assert event["items"][0]["before"] is not None
        # the delivery report named this message's place
        result = next(r for r in results if r.event_id == str(event["event_id"]))
        assert (result.partition, result.offset) == (msg.partition(), msg.offset())
    wang = f"resident_id:{WANG_18}".encode()
    assert set(by_key) == {f"resident_id:{s}".encode() for s in (ZHANG, LI)} | {wang}
    for key, seen in by_key.items():
        names = [name for name, _ in seen]
        sent = [
            d.items["name"]
            for d in drafts
            if f"resident_id:{_canonical(d.subject_key)}".encode() == key
        ]
        assert names == sent  # order kept per subject
        sequences = [s for _, s in seen]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert len(by_key[wang]) == 20  # both forms of Wang's ID on one key


def _canonical(number: str) -> str:
    return WANG_18 if number == WANG_15 else number


@dataclass(frozen=True)
class Bad:
    reason: RefusalReason
    article: str | None
    draft: Draft
    entry: str = "person"
    agency: str = "psb"
    field: str | None = None


def bad_cases(world: World) -> Iterator[Bad]:
    ok = {"name": "张三"}
    yield Bad(RefusalReason.UNKNOWN_AGENCY, "S 21", Draft(ZHANG, "update", ok), agency="nobody")
    yield Bad(
        RefusalReason.PROVIDER_MISMATCH, "S 21", Draft(ZHANG, "update", ok, provider=world.mca)
    )
    yield Bad(RefusalReason.UNKNOWN_ENTRY, "GM 10; GM 13", Draft(ZHANG, "update", ok), entry="nope")
    yield Bad(
        RefusalReason.ENTRY_NOT_PUBLISHED,
        "G 11; GM 14; S 18",
        Draft(ZHANG, "update", {"nickname": "小张"}),
        entry="draft",
    )
    yield Bad(
        RefusalReason.ENTRY_WITHDRAWN,
        "S 27 ¶2",
        Draft(ZHANG, "update", {"old_address": "旧址"}),
        entry="gone",
    )
    yield Bad(RefusalReason.EMPTY_CHANGE, "GM 21", Draft(ZHANG, "update", {}))
    yield Bad(
        RefusalReason.INVALID_IDENTITY_KEY,
        "GM 18 ¶2",
        Draft(BAD_CHECKSUM, "update", ok),
        field="subject_key",
    )
    yield Bad(
        RefusalReason.INVALID_IDENTITY_KEY,
        "GM 18 ¶2",
        Draft(credit_code("MA01234X"), "update", ok),
        field="subject_key",
    )
    yield Bad(
        RefusalReason.ITEM_NOT_IN_CATALOG,
        "S 20",
        Draft(ZHANG, "update", {"salary": "1"}),
        field="salary",
    )
    yield Bad(
        RefusalReason.NOT_THE_SOURCE,
        "GM 22; S 20",
        Draft(ZHANG, "update", {"name": "张三", "marital_status": "已婚"}),
        field="marital_status",
    )
    yield Bad(
        RefusalReason.ITEM_TYPE_MISMATCH,
        "GM 21",
        Draft(ZHANG, "update", {"birth_date": "1949-13-31"}),
        field="birth_date",
    )
    yield Bad(
        RefusalReason.ITEM_TYPE_MISMATCH,
        "GM 21",
        Draft(credit_code("MA01234X"), "update", {"registered_capital": "一百万"}),
        entry="company",
        agency="amr",
        field="registered_capital",
    )
    yield Bad(
        RefusalReason.SCHEMA_INVALID, "G 10; S 14", Draft(ZHANG, "upsert", ok), field="operation"
    )
    yield Bad(
        RefusalReason.SCHEMA_INVALID,
        "G 10; S 14",
        Draft(ZHANG, "update", ok, event_time=datetime(2025, 1, 1, 8)),
        field="event_time",
    )
    yield Bad(
        RefusalReason.SCHEMA_INVALID,
        "G 10; S 14",
        Draft(ZHANG, "update", ok, event_id="x-1"),
        field="event_id",
    )


def _resolve(world: World, bad: Bad) -> tuple[str, str]:
    agency = "nobody" if bad.agency == "nobody" else f"{bad.agency}-{world.suffix}"
    entry = "nope" if bad.entry == "nope" else f"{bad.entry}-{world.suffix}"
    return agency, entry


def test_each_kind_of_invalid_event_is_refused_locally_and_nothing_is_sent(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    cases = list(bad_cases(live))
    assert {c.reason for c in cases} == set(RefusalReason) - {
        RefusalReason.DUPLICATE_EVENT_ID,
        RefusalReason.BAD_ROW,
    }  # duplicates: next test; bad rows: the input reader
    for case in cases:
        agency, entry = _resolve(live, case)
        publisher = AgencyPublisher(
            bootstrap, agency, live.catalog, state_dir=tmp_path, extra_config=kafka_config
        )
        result = publisher.publish(entry, case.draft)
        assert result.status is PublishStatus.REFUSED, (case, result)
        assert result.refusal is not None
        assert (result.refusal.reason, result.refusal.article) == (case.reason, case.article)
        if case.field is not None:
            assert result.refusal.field == case.field, result.refusal
        assert result.refusal.message
        # nothing was sent: the producer client was never even created
        assert publisher._producer._inner is None
        publisher.close()
    for entry in (live.person, live.company):
        assert (
            message_count(bootstrap, topic_name(TopicKind.INGEST, entry), config=kafka_config) == 0
        )


def test_non_authoritative_report_is_sent_and_marked(
    bootstrap: str, kafka_config: dict[str, str], live: World
) -> None:
    """S 20 multi-source verification: psb reports marital status, whose source is mca."""
    with AgencyPublisher(bootstrap, live.psb, live.catalog, extra_config=kafka_config) as publisher:
        result = publisher.publish(
            live.person, Draft(ZHANG, "update", {"marital_status": "已婚"}, authoritative=False)
        ).wait()
    assert result.status is PublishStatus.DELIVERED
    (msg,) = read_topic(
        bootstrap, topic_name(TopicKind.INGEST, live.person), 1, config=kafka_config
    )
    event = decode("ChangeEvent", payload(msg))
    assert event["authoritative"] is False
    assert event["items"] == [{"name": "marital_status", "before": None, "after": "已婚"}]


def test_same_event_id_twice_in_one_run_is_refused(
    bootstrap: str, kafka_config: dict[str, str], live: World
) -> None:
    event_id = str(uuid.uuid4())
    with AgencyPublisher(bootstrap, live.psb, live.catalog, extra_config=kafka_config) as publisher:
        first = publisher.publish(
            live.person, Draft(ZHANG, "create", {"name": "甲"}, event_id=event_id)
        )
        second = publisher.publish(
            live.person, Draft(ZHANG, "create", {"name": "乙"}, event_id=event_id.upper())
        )
        publisher.flush()
    assert first.status is PublishStatus.DELIVERED
    assert second.refusal is not None and second.refusal.reason is RefusalReason.DUPLICATE_EVENT_ID
    assert (
        message_count(bootstrap, topic_name(TopicKind.INGEST, live.person), config=kafka_config)
        == 1
    )


def test_missing_topic_is_a_publish_error_not_a_silent_wait(
    bootstrap: str, kafka_config: dict[str, str], world: World
) -> None:
    """Topics are created deliberately (govbus topics ensure); the publisher says so."""
    with AgencyPublisher(
        bootstrap, world.psb, world.catalog, extra_config=kafka_config
    ) as publisher:
        with pytest.raises(PublishError) as missing:
            publisher.publish(world.person, Draft(ZHANG, "create", {"name": "甲"}))
    assert missing.value.code == "topic_missing"


def test_broker_refusal_is_surfaced_as_delivery_error(
    bootstrap: str, kafka_config: dict[str, str], live: World
) -> None:
    """A message the client refuses (too large) completes as failed with a DeliveryError."""
    failed: list[object] = []
    with AgencyPublisher(
        bootstrap,
        live.psb,
        live.catalog,
        extra_config={**kafka_config, "message.max.bytes": 2000},
        on_delivery=failed.append,
    ) as publisher:
        result = publisher.publish(live.person, Draft(ZHANG, "update", {"name": "长" * 5000}))
        publisher.flush()
    assert result.status is PublishStatus.FAILED and isinstance(result.error, DeliveryError)
    assert result.error.code and failed == [result]
    assert (
        message_count(bootstrap, topic_name(TopicKind.INGEST, live.person), config=kafka_config)
        == 0
    )


CRASHING_PUBLISHER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from exchange.catalog_loader import load_catalog
    from producers import AgencyPublisher, PublishStatus
    from producers.rows import InputFormat, read_rows

    bootstrap, agency, entry, catalog, rows_file, state, count = sys.argv[1:]
    config = json.loads(sys.stdin.read())  # the client's settings: not on the command line
    rows = read_rows(Path(rows_file), InputFormat.JSONL, agency_id=agency, entry_id=entry)
    publisher = AgencyPublisher(bootstrap, agency, load_catalog(Path(catalog)).catalog,
                                state_dir=Path(state), extra_config=config)
    results = [publisher.publish(entry, r.draft) for r in rows[: int(count)]]
    publisher.poll(0)
    for result in results:
        result.wait()
    assert all(r.status is PublishStatus.DELIVERED for r in results)
    os._exit(3)  # crash: no close, no flush of anything else
    """
)


def test_restart_does_not_resend_what_was_acknowledged(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    rows_file = tmp_path / "changes.jsonl"
    people = [ZHANG, LI, WANG_18, WANG_15]
    rows_file.write_text(
        "".join(
            json.dumps(
                {
                    "subject_key": people[i % 4],
                    "operation": "update",
                    "items": {"name": f"第{i}次变更"},
                },
                ensure_ascii=False,
            )
            + "\n"
            for i in range(10)
        ),
        encoding="utf-8",
    )
    state = tmp_path / "state"
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_PUBLISHER,
            bootstrap,
            live.psb,
            live.person,
            str(live.path),
            str(rows_file),
            str(state),
            "6",
        ],
        cwd=ROOT,
        input=json.dumps(kafka_config),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert crashed.returncode == 3, crashed.stderr
    topic = topic_name(TopicKind.INGEST, live.person)
    assert message_count(bootstrap, topic, config=kafka_config) == 6

    rows = read_rows(rows_file, InputFormat.JSONL, agency_id=live.psb, entry_id=live.person)
    with AgencyPublisher(
        bootstrap, live.psb, live.catalog, state_dir=state, extra_config=kafka_config
    ) as publisher:
        results = [publisher.publish(live.person, r.draft) for r in rows if r.draft is not None]
        publisher.flush()
    statuses = [r.status for r in results]
    assert statuses == [PublishStatus.SKIPPED] * 6 + [PublishStatus.DELIVERED] * 4
    assert all(r.partition is not None for r in results)  # skipped ones keep their place
    assert message_count(bootstrap, topic, config=kafka_config) == 10

    with AgencyPublisher(
        bootstrap, live.psb, live.catalog, state_dir=state, extra_config=kafka_config
    ) as publisher:
        again = [publisher.publish(live.person, r.draft) for r in rows if r.draft is not None]
    assert {r.status for r in again} == {PublishStatus.SKIPPED}
    assert message_count(bootstrap, topic, config=kafka_config) == 10
    ids = [
        str(decode("ChangeEvent", payload(m))["event_id"])
        for m in read_topic(bootstrap, topic, 10, config=kafka_config)
    ]
    assert sorted(ids) == sorted(r.event_id for r in results)


def test_receipts_are_matched_per_event_id(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    """The agency learns what the bus decided about each event (receipts topic)."""
    seen: list[Receipt] = []
    with AgencyPublisher(
        bootstrap,
        live.psb,
        live.catalog,
        state_dir=tmp_path,
        extra_config=kafka_config,
        on_receipt=seen.append,
    ) as publisher:
        results = publisher.publish_many(
            live.person,
            [Draft(n, "update", {"name": "张三"}) for n in (ZHANG, LI, WANG_18)],
        )
        publisher.flush()
        ids = [r.event_id for r in results]
        outcomes = {ids[0]: "accepted", ids[1]: "rejected", ids[2]: "conflict"}
        unrelated = str(uuid.uuid4())
        receipts_topic = topic_name(TopicKind.RECEIPTS, live.psb)
        with Producer(bootstrap, extra_config=kafka_config) as gate:
            gate.produce(receipts_topic, b"not avro", key=b"junk")
            gate.produce(
                receipts_topic,
                encode("Receipt", receipt_record(unrelated, live, "duplicate")),
                key=unrelated.encode(),
            )
            for event_id in reversed(ids[:2]):
                extra = {
                    "audit_position": {"topic": "govbus.audit", "partition": 1, "offset": 9},
                    "canonical_subject": "resident_id:x",
                    "reason_text": "身份号码校验失败",
                }
                gate.produce(
                    receipts_topic,
                    encode("Receipt", receipt_record(event_id, live, outcomes[event_id], **extra)),
                    key=event_id.encode(),
                )
        got = publisher.wait_receipts(ids[:2], timeout_s=READ_TIMEOUT_S)
        assert {k: r.outcome for k, r in got.items()} == {i: outcomes[i] for i in ids[:2]}
        assert got[ids[1]].reason_text == "身份号码校验失败"
        position = got[ids[1]].audit_position
        assert position is not None and position.offset == 9
        # the third event has no receipt yet: absent (pending), after a short wait
        assert publisher.wait_receipts([ids[2]], timeout_s=1.0) == {}
        with Producer(bootstrap, extra_config=kafka_config) as gate:
            gate.produce(
                receipts_topic, encode("Receipt", receipt_record(ids[2], live, "conflict"))
            )
        assert (
            publisher.wait_receipts([ids[2]], timeout_s=READ_TIMEOUT_S)[ids[2]].outcome
            == "conflict"
        )
        assert publisher.undecodable_receipts == 1
    assert sorted(r.event_id for r in seen) == sorted([*ids, unrelated])
    # a new publisher on the same state dir knows them without re-reading (committed)
    with AgencyPublisher(
        bootstrap, live.psb, live.catalog, state_dir=tmp_path, extra_config=kafka_config
    ) as publisher:
        known = publisher.wait_receipts([*ids, unrelated], timeout_s=0)
    assert {k: r.outcome for k, r in known.items()} == {**outcomes, unrelated: "duplicate"}
