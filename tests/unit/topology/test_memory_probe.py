"""The worker's memory probe (topology.probe): librdkafka's statistics summed, a line
written, off unless asked for."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from topology.probe import PROBE_ENV, MemoryProbe, memory_probe, queues


def _stats(kind: str, partitions: dict[str, dict[str, int]], **top: int) -> dict[str, object]:
    return {"name": f"c-{kind}", "type": kind, "topics": {"t": {"partitions": partitions}}, **top}


def test_a_consumers_prefetch_queues_are_summed_over_its_partitions() -> None:
    stats = _stats(
        "consumer",
        {
            "0": {"fetchq_cnt": 10, "fetchq_size": 1000},
            "1": {"fetchq_cnt": 5, "fetchq_size": 600},
            "-1": {"fetchq_cnt": 99, "fetchq_size": 99_999},  # librdkafka's "unassigned"
        },
        msg_cnt=7,
        msg_size=700,
    )
    assert queues(stats) == {
        "fetchq_cnt": 15,
        "fetchq_size": 1600,
        "producer_msg_cnt": 0,  # a consumer's msg_cnt is not a producer queue
        "producer_msg_size": 0,
    }


def test_a_producers_queue_is_its_msg_cnt_and_size() -> None:
    q = queues(_stats("producer", {}, msg_cnt=7, msg_size=700))
    assert (q["producer_msg_cnt"], q["producer_msg_size"]) == (7, 700)
    assert queues({}) == dict.fromkeys(q, 0)


def test_the_probe_is_off_unless_asked_and_writes_lines(tmp_path: Path) -> None:
    assert memory_probe(0, {}) is None
    probe = memory_probe(1, {PROBE_ENV: str(tmp_path)})
    assert isinstance(probe, MemoryProbe)
    config = probe.client_config()
    assert config["statistics.interval.ms"] > 0
    config["stats_cb"](json.dumps(_stats("consumer", {"0": {"fetchq_size": 2048}})))
    config["stats_cb"](json.dumps(_stats("producer", {}, msg_cnt=3, msg_size=300)))
    line = probe.line()
    assert line["fetchq_size"] == 2048 and line["producer_msg_size"] == 300
    assert line["rss_kib"] > 0 and line["py_blocks"] > 0
    assert set(line["clients"]) == {"c-consumer", "c-producer"}
    assert "gc_objects" not in line  # gc.get_objects() breaks other threads' tuples


def test_the_probes_thread_appends_a_line_until_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("topology.probe.PROBE_S", 0.01)
    probe = MemoryProbe(tmp_path / "probe", 0)
    stop = threading.Event()
    probe.start(stop)
    deadline = time.monotonic() + 10
    while not (probe.path.exists() and probe.path.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stop.set()
    assert json.loads(probe.path.read_text().splitlines()[0])["rss_kib"] > 0
