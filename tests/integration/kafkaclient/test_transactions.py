"""Kafka 4.1.1 talks transactions with both clients the project uses.

confluent-kafka (librdkafka) runs the gate's consume-process-produce loop; aiokafka is
faust-streaming's client. Each does a committed and an aborted transaction; a
read_committed consumer must see exactly the committed records.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kafkaclient import Admin, Consumer, Producer, TopicPartition, TopicSpec
from tests.support.transactions import send_in_transaction, transactional_producer

#: librdkafka setting -> aiokafka keyword argument, for the administrator's SASL PLAIN login.
_AIOKAFKA_ARGS = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
}


def _aiokafka_auth(kafka_config: dict[str, str]) -> dict[str, Any]:
    """aiokafka's keyword arguments for ``kafka_config`` (the ``kafka_config`` fixture: the
    local broker's SASL_PLAINTEXT/PLAIN administrator; empty for an open broker)."""
    unknown = set(kafka_config) - set(_AIOKAFKA_ARGS)
    assert not unknown, f"no aiokafka mapping for {sorted(unknown)}"
    args: dict[str, Any] = {_AIOKAFKA_ARGS[k]: v for k, v in kafka_config.items()}
    for key in ("security_protocol", "sasl_mechanism"):
        if key in args:
            args[key] = args[key].upper()
    return args


def _read_all(
    bootstrap: str, config: dict[str, str], topic: str, expected: int, group: str
) -> list[bytes | None]:
    got: list[bytes | None] = []
    with Consumer(bootstrap, group, extra_config=config) as consumer:
        consumer.subscribe([topic])
        for _ in range(40):
            got.extend(m.value() for m in consumer.consume(100, timeout_s=0.5))
            if len(got) >= expected:
                # One more poll: anything aborted would show up now if it leaked.
                got.extend(m.value() for m in consumer.consume(100, timeout_s=1.0))
                break
    return got


def test_confluent_transactions_read_committed(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(topic_name)])
    producer = transactional_producer(bootstrap, kafka_config)
    send_in_transaction(producer, topic_name, [f"committed-{i}".encode() for i in range(5)])
    send_in_transaction(
        producer, topic_name, [f"aborted-{i}".encode() for i in range(5)], commit=False
    )
    send_in_transaction(producer, topic_name, [b"committed-last"])
    producer.close()
    got = _read_all(bootstrap, kafka_config, topic_name, 6, group_id)
    assert got == [f"committed-{i}".encode() for i in range(5)] + [b"committed-last"]


def test_confluent_offsets_committed_inside_transaction(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    """Consume, produce and commit the input offsets atomically (the gate's protocol)."""
    source, sink = topic_name, topic_name + ".out"
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(source), TopicSpec(sink)])
    with Producer(bootstrap, extra_config=kafka_config) as plain:
        for i in range(10):
            plain.produce(source, str(i).encode())
    txp = transactional_producer(bootstrap, kafka_config)
    with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
        consumer.subscribe([source])
        batch = []
        for _ in range(20):
            batch += consumer.consume(10, timeout_s=0.5)
            if len(batch) >= 10:
                break
        assert len(batch) == 10
        txp.begin_transaction()
        for msg in batch:
            value = msg.value()
            assert value is not None
            txp.produce(sink, value * 2)
        last = batch[-1]
        partition, offset = last.partition(), last.offset()
        assert partition is not None and offset is not None
        txp.send_offsets_to_transaction(
            [TopicPartition(source, partition, offset + 1)], consumer.group_metadata()
        )
        txp.commit_transaction()
    # A new consumer in the same group starts after the committed offsets.
    with Consumer(bootstrap, group_id, extra_config=kafka_config) as again:
        again.subscribe([source])
        assert again.consume(10, timeout_s=3.0) == []
    assert _read_all(bootstrap, kafka_config, sink, 10, group_id + "-sink") == [
        str(i).encode() * 2 for i in range(10)
    ]


def test_aiokafka_transactions_read_committed(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(topic_name)])
    auth = _aiokafka_auth(kafka_config)

    async def scenario() -> list[bytes]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, transactional_id=f"aio-{uuid.uuid4().hex}", **auth
        )
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(3):
                    await producer.send_and_wait(topic_name, f"aio-ok-{i}".encode())
            await producer.begin_transaction()
            await producer.send_and_wait(topic_name, b"aio-aborted")
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait(topic_name, b"aio-ok-last")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic_name,
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            group_id=f"aio-{uuid.uuid4().hex}",
            **auth,
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            for _ in range(20):
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    got.extend(r.value for r in records)
                if len(got) >= 4:
                    break
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(scenario())
    assert got == [b"aio-ok-0", b"aio-ok-1", b"aio-ok-2", b"aio-ok-last"]
    # And librdkafka reads aiokafka's transactions the same way.
    assert _read_all(bootstrap, kafka_config, topic_name, 4, f"cross-{uuid.uuid4().hex}") == got
