"""faust-streaming (aiokafka) on the project's broker: the app creates its own topics and
processes a message."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from govbus.kafka import Admin, Consumer, Producer

#: A faust worker joins its group and creates its topics in a few seconds on 2 cores.
WORKER_READY_TIMEOUT_S = 90.0


def test_faust_app_creates_topics_and_processes(
    bootstrap: str, tmp_path: Path, group_id: str
) -> None:
    suffix = uuid.uuid4().hex
    ping_topic, ack_topic = f"test.ping.{suffix}", f"test.ack.{suffix}"
    app_id = f"test-faust-{suffix}"
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "topology.faust_app",
            "--bootstrap",
            bootstrap,
            "--app-id",
            app_id,
            "--data-dir",
            str(tmp_path / "data"),
            "--ping-topic",
            ping_topic,
            "--ack-topic",
            ack_topic,
            "worker",
            "-l",
            "warn",
            "--without-web",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        admin = Admin(bootstrap)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline and not {ping_topic, ack_topic} <= set(admin.topics()):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        topics = admin.topics()
        # faust created its source topic and its own internal topics (not auto-created).
        assert ping_topic in topics
        assert ack_topic in topics
        with Producer(bootstrap) as producer:
            producer.produce(ping_topic, "你好 govbus".encode())
        got = []
        with Consumer(bootstrap, group_id) as consumer:
            consumer.subscribe([ack_topic])
            while time.monotonic() < deadline and not got:
                got = consumer.consume(1, timeout_s=1.0)
        assert got, (tmp_path / "worker.log").read_text()
        ack = json.loads(got[0].value())
        assert ack["ping"] == "你好 govbus"
        assert ack["seen_by"] == app_id
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
