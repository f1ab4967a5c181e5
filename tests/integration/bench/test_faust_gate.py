"""The faust-streaming gate (bench.faust_gate) on the real broker: it decides and fans out
like the confluent-kafka processor. This proves the app works; whether faust's
exactly-once mode survives SIGKILL is measured by ``python -m bench.faust_eos_kill``.

The worker authenticates as the administrator: only the broker's address is on its command
line, its credentials come from GOVBUS_CREDENTIALS_FILE in its environment."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kafkaclient import Admin, Producer
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.processes import start_module, stop
from tests.support.scenario import Names, event, read_topic, resident_id

#: A faust worker starts, joins its group and recovers its table in a few seconds; a busy
#: 2-core machine can take much longer.
WORKER_READY_TIMEOUT_S = 120.0


#: What faust logs (at info) once recovery is done and its agents consume.
READY_LINE = "[^Worker]: Ready"


CONSUMERS = ("city-mca", "city-hc", "city-amr", "city-bdb")


#: aiokafka (under faust) reads lz4 batches only with the ``lz4`` package, which this
#: environment does not have; the agencies' publisher compresses with lz4 by default.
UNCOMPRESSED = {"compression.type": "none"}


def _publish(
    bootstrap: str, config: dict[str, str], records: list[tuple[str, bytes, bytes]]
) -> None:
    with Producer(bootstrap, extra_config={**config, **UNCOMPRESSED}) as producer:
        for topic, key, value in records:
            producer.produce(topic, value, key=key)


def _start(bootstrap: str, catalog: Path, mode: str, log: Path) -> subprocess.Popen[bytes]:
    args = ["--bootstrap", bootstrap, "--app-id", f"test-faust-gate-{uuid.uuid4().hex}"]
    # faust's data directory defaults to <app id>-data in the working directory.
    args += ["--catalog", str(catalog), "--data-dir", str(log.parent / "data")]
    args += ["--sink-mode", mode, "--commit-interval", "0.2"]
    return start_module("bench.faust_gate", [*args, "worker", "-l", "info", "--without-web"], log)


@pytest.mark.parametrize("mode", ["faust", "source-txn"])
def test_faust_gate_one_source_fan_out_and_dead_letter(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path, mode: str
) -> None:
    """GM 22 / S 20 (one source), GM 19 (conflict), G 18 (open feed desensitised), and a
    poison message to the DLQ with its bytes."""
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    basic = names.entry("psb.person.basic")
    psb, hc = names.agency("city-psb"), names.agency("city-hc")
    log = tmp_path / "worker.log"
    worker = _start(bootstrap, catalog, mode, log)
    try:
        ingest = topic_name(TopicKind.INGEST, basic)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while READY_LINE not in log.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert ingest in Admin(bootstrap, extra_config=kafka_config).topics()
        number = resident_id(7)
        key = f"resident_id:{number}"
        accepted = event(basic, psb, number, {"name": "张三"})
        conflict = event(basic, hc, number, {"name": "李四"}, authoritative=False)
        poison = b"\x00not avro"
        sent = [encode("ChangeEvent", e) for e in (accepted, accepted, conflict)]
        _publish(bootstrap, kafka_config, [(ingest, key.encode(), v) for v in [*sent, poison]])

        def read(
            topic: str, record: str, until: int | None = 1, entry: str | None = None
        ) -> list[dict[str, Any]]:
            return read_topic(
                bootstrap, topic, config=kafka_config, until=until, record=record, entry=entry
            )

        receipts = read(topic_name(TopicKind.RECEIPTS, psb), "Receipt", until=2)
        assert [r["outcome"] for r in receipts] == ["accepted", "duplicate"], log.read_text()
        assert {str(r["event_id"]) for r in receipts} == {accepted["event_id"]}
        assert receipts[0]["canonical_subject"] == key
        hc_receipts = read(topic_name(TopicKind.RECEIPTS, hc), "Receipt", until=1)
        assert [r["outcome"] for r in hc_receipts] == ["conflict"]

        for agency in CONSUMERS:
            feed = read(topic_name(TopicKind.FEED, names.agency(agency)), "FeedRecord", until=1)
            assert [str(f["event_id"]) for f in feed] == [accepted["event_id"]], agency
            assert feed[0]["canonical_subject"] == key
        opened = read(topic_name(TopicKind.OPEN), "FeedRecord", entry=basic)
        assert [str(f["event_id"]) for f in opened] == [accepted["event_id"]]
        name = next(i for i in opened[0]["items"] if i["name"] == "name")
        assert name["masked"] and name["value"] != "张三"

        conflicts = [
            c
            for c in read(topic_name(TopicKind.CONFLICTS), "Conflict", until=None)
            if c["entry"] == basic
        ]
        assert [(c["authoritative_value"], c["reported_value"]) for c in conflicts] == [
            ("张三", "李四")
        ]
        dead = read(topic_name(TopicKind.DLQ), "DeadLetter", entry=basic)
        assert [d["original_value"] for d in dead] == [poison]
        assert worker.poll() is None, log.read_text()
    finally:
        stop(worker)
