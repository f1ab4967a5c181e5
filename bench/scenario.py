"""The benchmark's scenario: one provider, five consuming agencies (or N: ``--consumers``),
one person entry.

Every accepted change fans out to **five agency feeds and the open feed**:

* the entry ``<id>.person.profile`` is 内部数据 (internal), shared **conditionally** (S 22
  per-field sharing; G 14) and opened unconditionally only desensitised (GM 9; J 9 ¶1);
* five grants: three agencies are granted every item, two are granted a subset
  (S 22 `仅能够部分提供`): one ``name`` + ``phone``, one ``household_address`` +
  ``birth_date``; each grant carries its own id and purpose into the feed record, so
  the processor encodes five agency payloads per event;
* the open feed receives every item masked by the ``desensitised`` profile (surname only,
  phone last 4, district only, birth year only) and the subject key masked too.

Each change carries all five items with fresh ``phone`` and ``household_address``
values, so every recipient always has something to receive. Names are made unique per
run (a suffix) so each measurement has its own topics, except the bus's topics that every
entry shares (:data:`SHARED_TOPICS`: the canonical stream, the dead letters, the open
feed): a measurement's records there are those whose entry header names its entry, and
its readers keep only those (:func:`of_entry`).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from exchange.catalog_loader import check_catalog_text
from schemas import encode
from schemas.topics import TopicKind, header_entry, topic_name

if TYPE_CHECKING:
    import confluent_kafka

#: Distinct residents the changes are spread over (state the gate keeps per subject).
SUBJECTS = 2_000
PROVIDER = "psb"
CONSUMERS = ("mca", "hc", "hrss", "edu", "tax")
#: Consuming agencies beyond the five above (``--consumers N``) are named c6, c7, ... and
#: granted every item, as the three full grants are.
FULL_GRANTS = ("mca", "hc", "hrss")
PARTIAL_GRANTS = {"edu": ("name", "phone"), "tax": ("household_address", "birth_date")}
ITEMS = (
    ("name", "姓名", "string", "person_name"),
    ("gender", "性别", "string", "free"),
    ("birth_date", "出生日期", "date", "date"),
    ("household_address", "户籍地址", "string", "address"),
    ("phone", "联系电话", "string", "phone"),
)
REGIONS = ("520102", "520103", "520111", "210102", "370102", "110105")
DISTRICTS = ("贵阳市南明区", "贵阳市云岩区", "贵阳市花溪区", "沈阳市和平区", "济南市历下区")
STREETS = ("中华北路", "遵义路", "花溪大道", "北京路", "泉城路", "解放路")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
EVENT_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: The bus's topics every entry shares, each record in them with its entry's header
#: (schemas.topics.ENTRY_HEADER): other measurements' records are there too.
SHARED_TOPICS = frozenset(
    topic_name(kind) for kind in (TopicKind.ACCEPTED, TopicKind.DLQ, TopicKind.OPEN)
)
#: The framework peers' open feed (bench.peers): a topic of the scenario's own, named for
#: its entry, as the bus's open feed is made (schemas.topics). The peers are not govbus:
#: they write none of the topics the bus shares.
PEER_OPEN_TOPIC = "bench.peer.open.{entry}"


def of_entry(msg: confluent_kafka.Message, entry: str | None) -> bool:
    """Whether the consumed ``msg`` is one of ``entry``'s records: in a topic of
    :data:`SHARED_TOPICS`, its entry header names ``entry``; in any other topic (one of a
    scenario's own), always; with ``entry`` None, always."""
    if entry is None or msg.topic() not in SHARED_TOPICS:
        return True
    return header_entry(msg.headers()) == entry


def gb11643_check(body17: str) -> str:
    """The GB 11643 check character of a 17-digit resident ID body."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


@dataclass(frozen=True)
class Scenario:
    """Ids, topics and catalog of one measurement (unique per ``suffix``)."""

    suffix: str
    #: Consuming agencies: the five of :data:`CONSUMERS` (fewer: the first ones), then
    #: c6, c7, ... with full grants (``python -m bench --consumers N``).
    consumer_count: int = len(CONSUMERS)

    @property
    def consumer_names(self) -> tuple[str, ...]:
        """The consumers' names without the scenario's prefix."""
        extra = (f"c{n}" for n in range(len(CONSUMERS) + 1, self.consumer_count + 1))
        return (*CONSUMERS[: self.consumer_count], *extra)

    @property
    def provider(self) -> str:
        return f"b{self.suffix}-{PROVIDER}"

    @property
    def consumers(self) -> tuple[str, ...]:
        return tuple(f"b{self.suffix}-{c}" for c in self.consumer_names)

    @property
    def entry(self) -> str:
        return f"b{self.suffix}.person.profile"

    @property
    def ingest_topic(self) -> str:
        return topic_name(TopicKind.INGEST, self.entry)

    @property
    def submit_topic(self) -> str:
        """The provider's own submission topic (the repartition stage's input)."""
        return topic_name(TopicKind.SUBMIT, self.provider)

    def input_topic(self, submit: bool) -> str:
        return self.submit_topic if submit else self.ingest_topic

    @property
    def open_topic(self) -> str:
        """The bus's open feed: one topic for every entry (:data:`SHARED_TOPICS`), the
        scenario's records in it those of its entry (:func:`of_entry`)."""
        return topic_name(TopicKind.OPEN)

    @property
    def peer_open_topic(self) -> str:
        """The peers' open feed of this scenario (:data:`PEER_OPEN_TOPIC`)."""
        return PEER_OPEN_TOPIC.format(entry=self.entry)

    @property
    def feed_topics(self) -> tuple[str, ...]:
        return tuple(topic_name(TopicKind.FEED, c) for c in self.consumers)

    @property
    def output_topics(self) -> tuple[str, ...]:
        """Every feed an accepted change reaches on the bus: five agency feeds, then the
        open feed (shared: read it with :func:`of_entry`)."""
        return (*self.feed_topics, self.open_topic)

    @property
    def peer_output_topics(self) -> tuple[str, ...]:
        """Every feed a peer's job writes an event to: the five agency feeds, then the
        peers' open feed."""
        return (*self.feed_topics, self.peer_open_topic)

    def grants(self) -> dict[str, tuple[str, ...]]:
        """Consumer agency id -> granted items."""
        every = tuple(name for name, *_ in ITEMS)
        return {f"b{self.suffix}-{c}": PARTIAL_GRANTS.get(c, every) for c in self.consumer_names}

    def catalog_document(self) -> dict[str, Any]:
        agencies = [
            {
                "id": self.provider,
                "name": "Bench Public Security Bureau",
                "name_zh": "基准市公安局",
                "kind": "administrative_agency",
            }
        ] + [
            {
                "id": c,
                "name": f"Bench consumer {c}",
                "name_zh": f"基准需求部门{n}",
                "kind": "administrative_agency",
            }
            for n, c in enumerate(self.consumers, 1)
        ]
        entry = {
            "id": self.entry,
            "title": "Resident profile (benchmark)",
            "title_zh": "居民信息（基准测试）",
            "provider": self.provider,
            "source_business": "户籍管理",
            "category": "人口基础信息",
            "key_kind": "resident_id",
            "sensitivity": "internal",
            "share_type": "conditional",
            "share_basis": "《中华人民共和国个人信息保护法》第三十四条",
            "open_type": "unconditional",
            "open_desensitised": True,
            "update_cycle": "realtime",
            "state": "published",
            "items": [
                {"name": n, "label_zh": label, "type": t, "tag": tag} for n, label, t, tag in ITEMS
            ],
        }
        grants = [
            {
                "id": f"grant-b{self.suffix}-{n}",
                "consumer": consumer,
                "entry": self.entry,
                "items": list(items),
                "granted_by": self.provider,
                "purpose": f"基准测试用途{n}",
                "basis": "履行法定职责所必需",
                "valid_from": "2024-01-01",
            }
            for n, (consumer, items) in enumerate(sorted(self.grants().items()), 1)
        ]
        return {
            "version": 1,
            "name": f"基准测试目录 {self.suffix}",
            "agencies": agencies,
            "entries": [entry],
            "grants": grants,
        }

    def catalog_text(self) -> str:
        return yaml.safe_dump(self.catalog_document(), allow_unicode=True, sort_keys=False)

    def write_catalog(self, directory: Path) -> Path:
        """Check the catalog (every rule of exchange.catalog_loader) and write it."""
        text = self.catalog_text()
        result = check_catalog_text(text)
        if result.catalog is None:
            raise SystemExit(f"bench catalog invalid: {[i.message for i in result.issues]}")
        path = directory / f"catalog-{self.suffix}.yaml"
        path.write_text(text, encoding="utf-8")
        return path


def new_scenario(consumers: int = len(CONSUMERS)) -> Scenario:
    return Scenario(uuid.uuid4().hex[:8], consumers)


@dataclass(frozen=True)
class Events:
    """Pre-encoded change events: Kafka keys, values and event ids, in send order."""

    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def slice(self, start: int, stop: int) -> Events:
        return Events(self.keys[start:stop], self.values[start:stop], self.ids[start:stop])

    def mean_bytes(self) -> float:
        return sum(len(v) for v in self.values) / max(1, len(self.values))


def residents(rng: random.Random) -> list[str]:
    people = []
    for _ in range(SUBJECTS):
        born = datetime(1940, 1, 1) + timedelta(days=rng.randrange(365 * 80))
        body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        people.append(body + gb11643_check(body))
    return people


def make_events(scenario: Scenario, count: int, seed: int, *, first: int = 0) -> Events:
    """``count`` changes (numbers ``first`` .. ``first + count - 1``), reproducible from
    ``seed``; the same seed gives the same people and values whatever the scenario."""
    rng = random.Random(seed)
    people = residents(rng)
    rng = random.Random(seed * 1_000_003 + first)
    out = Events()
    for n in range(first, first + count):
        person = rng.choice(people)
        born = f"{person[6:10]}-{person[10:12]}-{person[12:14]}"
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
        address = f"{rng.choice(DISTRICTS)}{rng.choice(STREETS)}{n % 9000 + 1}号"
        values = {
            "name": name,
            "gender": "男" if int(person[16]) % 2 else "女",
            "birth_date": born,
            "household_address": address,
            "phone": f"1{rng.choice('3589')}{n % 10**9:09d}",
        }
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        record = {
            "event_id": event_id,
            "entry": scenario.entry,
            "provider": scenario.provider,
            "subject_key": person,
            "subject_kind": "resident_id",
            "operation": "update",
            "authoritative": True,
            "items": [{"name": k, "before": None, "after": v} for k, v in values.items()],
            "source_system": "户籍管理系统",
            "event_time": EVENT_EPOCH + timedelta(milliseconds=n),
            "source_sequence": n,
            "trace_id": None,
            "legal_basis": None,
        }
        out.keys.append(f"resident_id:{person}".encode())
        out.values.append(encode("ChangeEvent", record))
        out.ids.append(event_id)
    return out
