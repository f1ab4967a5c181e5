"""The confluent-kafka wrapper, against the real broker."""

from __future__ import annotations

import pytest

from base.errors import DeliveryError, KafkaError
from kafkaclient import Admin, Consumer, Producer, TopicSpec


def test_ensure_topics_is_idempotent(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    admin = Admin(bootstrap, extra_config=kafka_config)
    spec = TopicSpec(topic_name, partitions=3, config={"cleanup.policy": "compact"})
    assert admin.ensure_topics([spec]) == [topic_name]
    assert admin.ensure_topics([spec]) == []
    assert admin.topics()[topic_name] == 3


def test_produce_consume_roundtrip_in_order(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(topic_name)])
    reports: list[tuple[Exception | None, int | None]] = []
    with Producer(bootstrap, extra_config=kafka_config) as producer:
        for i in range(100):
            producer.produce(
                topic_name,
                f"值{i}".encode(),
                key=b"subject-1",
                on_delivery=lambda err, msg: reports.append((err, msg.offset())),
            )
    # The context manager flushed: every delivery report arrived, all successful.
    assert len(reports) == 100 and all(err is None for err, _ in reports)
    got: list[bytes | None] = []
    with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
        consumer.subscribe([topic_name])
        for _ in range(30):
            got.extend(m.value() for m in consumer.consume(100, timeout_s=1.0))
            if len(got) >= 100:
                break
    assert got == [f"值{i}".encode() for i in range(100)]


def test_delivery_failure_becomes_delivery_error(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    # auto.create.topics.enable=false on the local broker: the topic never appears.
    errors: list[Exception | None] = []
    producer = Producer(bootstrap, extra_config={**kafka_config, "message.timeout.ms": 1500})
    producer.produce(topic_name, b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.poll(0)
    try:
        producer.flush(10)
    except KafkaError:
        pass
    assert len(errors) == 1
    assert isinstance(errors[0], DeliveryError)
    assert errors[0].code  # the librdkafka error name is kept


def test_consumer_error_is_converted(
    bootstrap: str, kafka_config: dict[str, str], group_id: str
) -> None:
    consumer = Consumer(
        bootstrap, group_id, extra_config={**kafka_config, "auto.offset.reset": "error"}
    )
    with pytest.raises(KafkaError):
        consumer.subscribe(["^[invalid"])  # an invalid regex subscription
        consumer.consume(1, timeout_s=2.0)
    consumer.close()
