"""The agency publisher (producers/): local refusals, ordered delivery, restart, receipts.

Broker tests run against the session's real Kafka broker; every test builds its own
catalog with uuid-suffixed agency and entry ids, so topics and groups never collide.
Check digits are computed here from the standards' formulas (GB 11643, GB 11714,
GB 32100), independently of exchange.identity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from base.errors import DeliveryError, PublishError
from exchange.outcomes import ReasonCode
from kafkaclient import Producer
from producers import AgencyPublisher, Draft, PublisherOptions, PublishStatus, Receipt
from producers.rows import InputFormat, read_rows
from schemas import decode, encode
from schemas.topics import TopicKind, topic_name
from tests.support.publisher import (
    BAD_CHECKSUM,
    LI,
    READ_TIMEOUT_S,
    WANG_15,
    WANG_18,
    ZHANG,
    World,
    credit_code,
    ensure_topics,
    message_count,
    payload,
    read_topic,
    receipt_record,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def live(bootstrap: str, kafka_config: dict[str, str], world: World) -> World:
    ensure_topics(bootstrap, world, config=kafka_config)
    return world


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
    with _psb_publisher(
        bootstrap,
        live,
        state_dir=tmp_path,
        extra_config=kafka_config,
        options=PublisherOptions(on_delivery=lambda r: delivered.append(r.event_id)),
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


def _psb_publisher(
    bootstrap: str,
    world: World,
    *,
    extra_config: Mapping[str, Any],
    state_dir: Path | None = None,
    options: PublisherOptions | None = None,
) -> AgencyPublisher:
    """市公安局's publisher in ``world``, as the principal of ``extra_config``."""
    return AgencyPublisher(
        bootstrap,
        world.psb,
        world.catalog,
        extra_config=extra_config,
        state_dir=state_dir,
        options=options,
    )


def _canonical(number: str) -> str:
    return WANG_18 if number == WANG_15 else number


@dataclass(frozen=True)
class Bad:
    reason: ReasonCode
    article: str | None
    draft: Draft
    entry: str = "person"
    agency: str = "psb"
    field: str | None = None


#: Every code the publisher refuses with (one set with the gate's: exchange.admission).
PUBLISHER_REFUSALS = frozenset(
    {
        ReasonCode.UNKNOWN_AGENCY,
        ReasonCode.PROVIDER_MISMATCH,
        ReasonCode.UNKNOWN_ENTRY,
        ReasonCode.ENTRY_NOT_PUBLISHED,
        ReasonCode.ENTRY_WITHDRAWN,
        ReasonCode.EMPTY_CHANGE,
        ReasonCode.IDENTITY_CHECKSUM,
        ReasonCode.IDENTITY_CHARACTERS,
        ReasonCode.ITEM_NOT_IN_CATALOG,
        ReasonCode.DUPLICATE_ITEM,
        ReasonCode.ITEM_TYPE_MISMATCH,
        ReasonCode.ITEM_TOO_LONG,
        ReasonCode.NOT_THE_SOURCE,
        ReasonCode.SCHEMA_INVALID,
        ReasonCode.DUPLICATE_EVENT_ID,
        ReasonCode.BAD_ROW,
    }
)


def bad_cases(world: World) -> list[Bad]:
    """Every kind of local refusal: the article it cites, the field it names."""
    ok = {"name": "张三"}
    company = credit_code("MA01234X")
    r = ReasonCode

    def update(items: Mapping[str, str | None], **draft: Any) -> Draft:
        return Draft(ZHANG, "update", items, **draft)

    return [
        Bad(r.UNKNOWN_AGENCY, "S 21", update(ok), agency="nobody"),
        Bad(r.PROVIDER_MISMATCH, "S 21", update(ok, provider=world.mca)),
        Bad(r.UNKNOWN_ENTRY, "GM 10; GM 13", update(ok), entry="nope"),
        Bad(
            r.ENTRY_NOT_PUBLISHED, "G 11; GM 14; S 18", update({"nickname": "小张"}), entry="draft"
        ),
        Bad(r.ENTRY_WITHDRAWN, "S 27 ¶2", update({"old_address": "旧址"}), entry="gone"),
        Bad(r.EMPTY_CHANGE, "GM 21", update({})),
        Bad(
            r.IDENTITY_CHECKSUM,
            "GM 18 ¶2",
            Draft(BAD_CHECKSUM, "update", ok),
            field="subject_key",
        ),
        Bad(r.IDENTITY_CHARACTERS, "GM 18 ¶2", Draft(company, "update", ok), field="subject_key"),
        Bad(
            r.ITEM_TOO_LONG,
            "GM 21",
            update({"household_size": "1000"}),
            field="household_size",
        ),
        Bad(r.ITEM_NOT_IN_CATALOG, "S 20", update({"salary": "1"}), field="salary"),
        Bad(
            r.NOT_THE_SOURCE,
            "GM 22; S 20",
            update({"name": "张三", "marital_status": "已婚"}),
            field="marital_status",
        ),
        Bad(
            r.ITEM_TYPE_MISMATCH, "GM 21", update({"birth_date": "1949-13-31"}), field="birth_date"
        ),
        Bad(
            r.ITEM_TYPE_MISMATCH,
            "GM 21",
            Draft(company, "update", {"registered_capital": "一百万"}),
            entry="company",
            agency="amr",
            field="registered_capital",
        ),
        Bad(r.SCHEMA_INVALID, "G 10; S 14", Draft(ZHANG, "upsert", ok), field="operation"),
        Bad(r.SCHEMA_INVALID, "G 10; S 14", update(ok, event_id="x-1"), field="event_id"),
        Bad(
            r.SCHEMA_INVALID,
            "G 10; S 14",
            update(ok, event_time=datetime(2025, 1, 1, 8)),  # naive
            field="event_time",
        ),
    ]


def _resolve(world: World, bad: Bad) -> tuple[str, str]:
    agency = "nobody" if bad.agency == "nobody" else f"{bad.agency}-{world.suffix}"
    entry = "nope" if bad.entry == "nope" else f"{bad.entry}-{world.suffix}"
    return agency, entry


def test_each_kind_of_invalid_event_is_refused_locally_and_nothing_is_sent(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    cases = list(bad_cases(live))
    assert {c.reason for c in cases} == PUBLISHER_REFUSALS - {
        ReasonCode.DUPLICATE_EVENT_ID,
        ReasonCode.BAD_ROW,
        ReasonCode.DUPLICATE_ITEM,
    }  # duplicate ids: next test; bad rows: the input reader; a draft names an item once
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
        publisher.close()
    # Nothing was sent.
    for entry in (live.person, live.company):
        assert (
            message_count(bootstrap, topic_name(TopicKind.INGEST, entry), config=kafka_config) == 0
        )


def test_non_authoritative_report_is_sent_and_marked(
    bootstrap: str, kafka_config: dict[str, str], live: World
) -> None:
    """S 20 multi-source verification: psb reports marital status, whose source is mca."""
    with _psb_publisher(bootstrap, live, extra_config=kafka_config) as publisher:
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
    with _psb_publisher(bootstrap, live, extra_config=kafka_config) as publisher:
        first = publisher.publish(
            live.person, Draft(ZHANG, "create", {"name": "甲"}, event_id=event_id)
        )
        second = publisher.publish(
            live.person, Draft(ZHANG, "create", {"name": "乙"}, event_id=event_id.upper())
        )
        publisher.flush()
    assert first.status is PublishStatus.DELIVERED
    assert second.refusal is not None and second.refusal.reason is ReasonCode.DUPLICATE_EVENT_ID
    assert (
        message_count(bootstrap, topic_name(TopicKind.INGEST, live.person), config=kafka_config)
        == 1
    )


def test_missing_topic_is_a_publish_error_not_a_silent_wait(
    bootstrap: str, kafka_config: dict[str, str], world: World
) -> None:
    """Topics are created deliberately (govbus topics ensure); the publisher says so."""
    with _psb_publisher(bootstrap, world, extra_config=kafka_config) as publisher:
        with pytest.raises(PublishError) as missing:
            publisher.publish(world.person, Draft(ZHANG, "create", {"name": "甲"}))
    assert missing.value.code == "topic_missing"


def test_broker_refusal_is_surfaced_as_delivery_error(
    bootstrap: str, kafka_config: dict[str, str], live: World
) -> None:
    """A message the client refuses (too large) completes as failed with a DeliveryError."""
    failed: list[object] = []
    with _psb_publisher(
        bootstrap,
        live,
        extra_config={**kafka_config, "message.max.bytes": 2000},
        options=PublisherOptions(on_delivery=failed.append),
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
    with _psb_publisher(bootstrap, live, state_dir=state, extra_config=kafka_config) as publisher:
        results = [publisher.publish(live.person, r.draft) for r in rows if r.draft is not None]
        publisher.flush()
    statuses = [r.status for r in results]
    assert statuses == [PublishStatus.SKIPPED] * 6 + [PublishStatus.DELIVERED] * 4
    assert all(r.partition is not None for r in results)  # skipped ones keep their place
    assert message_count(bootstrap, topic, config=kafka_config) == 10

    with _psb_publisher(bootstrap, live, state_dir=state, extra_config=kafka_config) as publisher:
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
    with _psb_publisher(
        bootstrap,
        live,
        state_dir=tmp_path,
        extra_config=kafka_config,
        options=PublisherOptions(on_receipt=seen.append),
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
    with _psb_publisher(
        bootstrap, live, state_dir=tmp_path, extra_config=kafka_config
    ) as publisher:
        known = publisher.wait_receipts([*ids, unrelated], timeout_s=0)
    assert {k: r.outcome for k, r in known.items()} == {**outcomes, unrelated: "duplicate"}
