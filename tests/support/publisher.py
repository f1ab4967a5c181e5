"""Shared test support (moved from tests/test_publisher.py); not a test module."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import confluent_kafka

from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from kafkaclient import Admin, Consumer, TopicSpec
from schemas.topics import TopicKind, topic_def

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
  - &person  # draft-{s} and gone-{s} below take its fields, then change some (YAML merge)
    id: person-{s}
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
      - {{name: household_size, label_zh: 户内人数, type: integer, tag: free, length: 3}}
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
  - <<: *person
    id: draft-{s}
    title: Draft entry
    title_zh: 草稿目录
    update_cycle: daily
    state: draft
    items:
      - {{name: nickname, label_zh: 曾用名, type: string, tag: person_name}}
  - <<: *person
    id: gone-{s}
    title: Withdrawn entry
    title_zh: 已停止目录
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
    """The test catalog (``CATALOG_YAML``) with ids made unique by ``suffix``: its
    agencies (psb, mca, amr) and entries (person, company)."""

    suffix: str
    path: Path
    catalog: Catalog
    psb: str
    mca: str
    amr: str
    person: str
    company: str


def make_world(directory: Path) -> World:
    suffix = uuid.uuid4().hex[:12]
    path = directory / f"catalog-{suffix}.yaml"
    path.write_text(CATALOG_YAML.format(s=suffix), encoding="utf-8")
    return World(
        suffix,
        path,
        load_catalog(path).catalog,
        psb=f"psb-{suffix}",
        mca=f"mca-{suffix}",
        amr=f"amr-{suffix}",
        person=f"person-{suffix}",
        company=f"company-{suffix}",
    )


def ensure_topics(bootstrap: str, world: World, *, config: Mapping[str, str]) -> None:
    """The world's ingest and receipts topics (``config``: the client's settings, e.g. the
    ``kafka_config`` fixture: the administrator's)."""
    defs = [topic_def(TopicKind.INGEST, world.person), topic_def(TopicKind.INGEST, world.company)]
    defs += [topic_def(TopicKind.RECEIPTS, a) for a in (world.psb, world.mca, world.amr)]
    Admin(bootstrap, extra_config=config).ensure_topics([TopicSpec.of(d) for d in defs])


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
