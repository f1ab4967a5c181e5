"""faust-streaming (aiokafka) on the project's broker: the app creates its own topics and
processes a message, authenticated with the credentials of its environment; librdkafka
settings become faust credentials (topology.faust_auth)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from base.credentials import read_client_config
from kafkaclient import Admin, Consumer, Message, Producer
from tests.support.broker import BrokerSource
from tests.support.processes import start_module, stop
from topology.faust_auth import broker_credentials

#: A faust worker joins its group and creates its topics in a few seconds on 2 cores.
WORKER_READY_TIMEOUT_S = 90.0


def test_faust_credentials_pass_the_sasl_ssl_agency_listener(broker: BrokerSource) -> None:
    """SCRAM-SHA-512 over TLS, the project's CA: aiokafka with the converted processor
    credentials fetches the cluster's metadata from the agency listener."""
    if not broker.processor_credentials:
        pytest.fail("the session broker has no processor credentials (issue 7)", pytrace=False)
    config = read_client_config(Path(broker.processor_credentials))
    bootstrap = config.pop("bootstrap.servers")
    auth = credentials_to_aiokafka_auth(broker_credentials(config))
    assert auth["security_protocol"] == "SASL_SSL"

    async def brokers() -> int:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, **auth)
        try:
            await client.bootstrap()
            return len(client.cluster.brokers())
        finally:
            await client.close()

    assert asyncio.run(brokers()) >= 1


def test_faust_app_creates_topics_and_processes(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path, group_id: str
) -> None:
    """The worker gets only the address on its command line; its credentials come from
    GOVBUS_CREDENTIALS_FILE in its environment (the session's administrator)."""
    suffix = uuid.uuid4().hex
    ping_topic, ack_topic = f"test.ping.{suffix}", f"test.ack.{suffix}"
    app_id = f"test-faust-{suffix}"
    args = ["--bootstrap", bootstrap, "--app-id", app_id, "--data-dir", str(tmp_path / "data")]
    args += ["--ping-topic", ping_topic, "--ack-topic", ack_topic]
    worker = start_module(
        "topology.faust_app",
        [*args, "worker", "-l", "warn", "--without-web"],
        tmp_path / "worker.log",
    )
    try:
        admin = Admin(bootstrap, extra_config=kafka_config)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline and not {ping_topic, ack_topic} <= set(admin.topics()):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        topics = admin.topics()
        # faust created its source topic and its own internal topics (not auto-created).
        assert ping_topic in topics
        assert ack_topic in topics
        with Producer(bootstrap, extra_config=kafka_config) as producer:
            producer.produce(ping_topic, "你好 govbus".encode())
        got: list[Message] = []
        with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
            consumer.subscribe([ack_topic])
            while time.monotonic() < deadline and not got:
                got = consumer.consume(1, timeout_s=1.0)
        assert got, (tmp_path / "worker.log").read_text()
        ack = json.loads(got[0].value() or b"")
        assert ack["ping"] == "你好 govbus"
        assert ack["seen_by"] == app_id
    finally:
        stop(worker)
