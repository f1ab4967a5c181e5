"""``govbus publish`` on the real broker: JSON Lines and CSV with Chinese text, refusals per
line, re-publishing after acknowledgement, receipts (G 10, G 12, GM 18, GM 22, S 20)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govbus.cli.main import app
from kafkaclient import Producer
from schemas import decode, encode
from schemas.topics import TopicKind, topic_name
from tests.support.publisher import (
    BAD_CHECKSUM,
    LI,
    WANG_15,
    WANG_18,
    ZHANG,
    World,
    ensure_topics,
    make_world,
    message_count,
    payload,
    read_topic,
    receipt_record,
)

SUMMARY_FIELDS = {
    "agency",
    "entry",
    "topic",
    "sent",
    "refused",
    "delivered",
    "failed",
    "skipped_already_acknowledged",
    "receipts",
    "pending_receipts",
}


OUTCOMES = {"accepted", "duplicate", "stopped", "confirmation", "conflict", "rejected", "stale"}


runner = CliRunner()


@pytest.fixture
def live(bootstrap: str, kafka_config: dict[str, str], tmp_path: Path) -> World:
    world = make_world(tmp_path)
    ensure_topics(bootstrap, world, config=kafka_config)
    return world


def publish(
    bootstrap: str, world: World, file: Path, state: Path, *extra: str, agency: str | None = None
) -> tuple[int, dict[str, Any]]:
    args = [
        "publish",
        str(file),
        "--agency",
        agency or world.psb,
        "--entry",
        world.person,
        "--catalog",
        str(world.path),
        "--bootstrap",
        bootstrap,
        "--state-dir",
        str(state),
        "--json",
        *extra,
    ]
    result = runner.invoke(app, args)
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout)


def jsonl(path: Path, rows: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_with_chinese_text_refusals_per_line_and_nothing_twice(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    file = jsonl(
        tmp_path / "变更.jsonl",
        [
            {
                "subject_key": ZHANG,
                "operation": "create",
                "items": {"name": "张三", "birth_date": "1949-12-31"},
            },
            {"subject_key": BAD_CHECKSUM, "operation": "update", "items": {"name": "张三"}},
            {"subject_key": LI, "operation": "update", "items": {"name": "李四，字“子明”"}},
            "{这不是 JSON",
            {"subject_key": WANG_15, "operation": "update", "items": {"marital_status": "已婚"}},
            {
                "subject_key": WANG_15,
                "operation": "update",
                "items": {"marital_status": "已婚"},
                "authoritative": False,
            },
            {"subject_key": WANG_18, "operation": "delete", "items": {"household_size": "3"}},
        ],
    )
    state = tmp_path / "state"
    code, summary = publish(bootstrap, live, file, state)
    assert code == 1  # some rows were refused
    assert set(summary) == SUMMARY_FIELDS
    topic = topic_name(TopicKind.INGEST, live.person)
    assert (summary["agency"], summary["entry"], summary["topic"]) == (live.psb, live.person, topic)
    assert (summary["sent"], summary["delivered"], summary["failed"]) == (4, 4, 0)
    assert summary["skipped_already_acknowledged"] == 0
    assert summary["receipts"] is None and summary["pending_receipts"] is None
    refused = {r["line"]: (r["reason"], r["article"]) for r in summary["refused"]}
    assert refused == {
        2: ("identity_checksum", "GM 18 ¶2"),  # one code with the gate (exchange.admission)
        4: ("bad_row", None),
        5: ("not_the_source", "GM 22; S 20"),
    }
    assert all(r["message"] for r in summary["refused"])

    messages = read_topic(bootstrap, topic, 4, config=kafka_config)
    events = [decode("ChangeEvent", payload(m)) for m in messages]
    names = {e["subject_key"]: e["items"] for e in events if e["subject_key"] == LI}
    assert names[LI] == [{"name": "name", "before": None, "after": "李四，字“子明”"}]
    delete = next(e for e in events if e["operation"] == "delete")
    assert delete["items"] == [{"name": "household_size", "before": "3", "after": None}]
    assert {
        m.key()
        for m in messages
        if decode("ChangeEvent", payload(m))["subject_key"] in (WANG_15, WANG_18)
    } == {f"resident_id:{WANG_18}".encode()}

    code, again = publish(bootstrap, live, file, state)
    assert (again["sent"], again["skipped_already_acknowledged"]) == (0, 4)
    assert [r["line"] for r in again["refused"]] == [2, 4, 5]
    assert code == 1
    assert message_count(bootstrap, topic, config=kafka_config) == 4


def test_csv_with_chinese_text_empty_cell_means_not_changed(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    with file.open("w", encoding="utf-8-sig", newline="") as handle:  # with a BOM, as Excel writes
        writer = csv.writer(handle)
        writer.writerow(["subject_key", "operation", "name", "birth_date", "event_time"])
        writer.writerow([ZHANG, "update", "张三", "", "2025-03-01T09:30:00+08:00"])
        writer.writerow([LI, "update", "", "1980-01-01", ""])
        writer.writerow([WANG_18, "create", "王五, 又名\n“小五”", "1977-07-06", ""])
    code, summary = publish(bootstrap, live, file, tmp_path / "state")
    assert code == 0, summary
    assert (summary["sent"], summary["delivered"], summary["refused"]) == (3, 3, [])
    messages = read_topic(
        bootstrap, topic_name(TopicKind.INGEST, live.person), 3, config=kafka_config
    )
    items = {}
    for msg in messages:
        event = decode("ChangeEvent", payload(msg))
        items[event["subject_key"]] = {i["name"]: i["after"] for i in event["items"]}
        if event["subject_key"] == ZHANG:
            assert event["event_time"].isoformat() == "2025-03-01T01:30:00+00:00"
    assert items == {
        ZHANG: {"name": "张三"},
        LI: {"birth_date": "1980-01-01"},
        WANG_18: {"name": "王五, 又名\n“小五”", "birth_date": "1977-07-06"},
    }


def test_wait_receipts_counts_outcomes_and_pending(
    bootstrap: str, kafka_config: dict[str, str], live: World, tmp_path: Path
) -> None:
    file = jsonl(
        tmp_path / "in.jsonl",
        [
            {"subject_key": n, "operation": "update", "items": {"name": "某人"}}
            for n in (ZHANG, LI, WANG_18)
        ],
    )
    state = tmp_path / "state"
    code, first = publish(bootstrap, live, file, state, "--wait-receipts", "--receipt-timeout", "1")
    assert code == 0
    assert first["receipts"] == dict.fromkeys(OUTCOMES, 0)
    assert first["pending_receipts"] == 3

    topic = topic_name(TopicKind.INGEST, live.person)
    ids = [
        str(decode("ChangeEvent", payload(m))["event_id"])
        for m in read_topic(bootstrap, topic, 3, config=kafka_config)
    ]
    with Producer(bootstrap, extra_config=kafka_config) as gate:
        for event_id, outcome in zip(ids[:2], ("accepted", "conflict"), strict=True):
            gate.produce(
                topic_name(TopicKind.RECEIPTS, live.psb),
                encode("Receipt", receipt_record(event_id, live, outcome)),
                key=event_id.encode(),
            )
    code, second = publish(
        bootstrap, live, file, state, "--wait-receipts", "--receipt-timeout", "5"
    )
    assert code == 0
    assert second["skipped_already_acknowledged"] == 3 and second["sent"] == 0
    assert second["receipts"] == {**dict.fromkeys(OUTCOMES, 0), "accepted": 1, "conflict": 1}
    assert second["pending_receipts"] == 1


def test_text_summary_names_line_reason_and_article(
    bootstrap: str, live: World, tmp_path: Path
) -> None:
    file = jsonl(
        tmp_path / "in.jsonl",
        [
            {"subject_key": ZHANG, "operation": "update", "items": {"name": "张三"}},
            {"subject_key": ZHANG, "operation": "update", "items": {"salary": "1"}},
        ],
    )
    result = runner.invoke(
        app,
        [
            "publish",
            str(file),
            "--agency",
            live.psb,
            "--entry",
            live.person,
            "--catalog",
            str(live.path),
            "--bootstrap",
            bootstrap,
            "--state-dir",
            str(tmp_path / "s"),
        ],
    )
    assert result.exit_code == 1
    assert "sent 1" in result.output
    assert "line 2" in result.output and "item_not_in_catalog" in result.output
    assert "S 20" in result.output


def test_usage_errors_exit_2(bootstrap: str, live: World, tmp_path: Path) -> None:
    wrong_suffix = tmp_path / "rows.txt"
    wrong_suffix.write_text("{}\n", encoding="utf-8")
    code, out = publish(bootstrap, live, wrong_suffix, tmp_path / "s")
    assert code == 2 and "suffix" in out["error"]
    not_utf8 = tmp_path / "gbk.csv"
    not_utf8.write_bytes("subject_key,operation,name\n1,update,张三\n".encode("gbk"))
    code, out = publish(bootstrap, live, not_utf8, tmp_path / "s")
    assert code == 2 and "UTF-8" in out["error"]
