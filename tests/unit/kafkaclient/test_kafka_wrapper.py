"""The confluent-kafka wrapper, against the real broker."""

from __future__ import annotations

import pytest

from base.errors import KafkaError
from kafkaclient import Consumer, Producer

#: librdkafka refuses this setting when it creates a client.
UNKNOWN_SETTING = {"no.such.setting": "x"}


def test_the_client_is_created_on_first_use_not_in_init() -> None:
    """A setting librdkafka refuses passes ``__init__`` (no client, no I/O yet) and fails,
    converted, when the client is first needed."""
    producer = Producer("127.0.0.1:1", extra_config=UNKNOWN_SETTING)
    with pytest.raises(KafkaError, match=r"no\.such\.setting"):
        producer.produce("t", b"x")
    consumer = Consumer("127.0.0.1:1", "g", extra_config=UNKNOWN_SETTING)
    with pytest.raises(KafkaError, match=r"no\.such\.setting"):
        consumer.subscribe(["t"])


def test_config_precedence() -> None:
    producer = Producer(
        "127.0.0.1:1", extra_config={"linger.ms": 50, "acks": "1"}, client_id="explicit"
    )
    cfg = producer.config
    assert cfg["enable.idempotence"] is True  # default kept
    assert cfg["linger.ms"] == 50  # extra config beats defaults
    assert cfg["acks"] == "1"
    assert cfg["client.id"] == "explicit"  # explicit argument
    consumer = Consumer("127.0.0.1:1", "g", extra_config={"group.id": "overridden"})
    assert consumer.config["group.id"] == "g"  # explicit beats extra config
    assert consumer.config["enable.auto.commit"] is False
    assert consumer.config["isolation.level"] == "read_committed"


def test_transactional_producers_retry_concurrent_transactions_soon() -> None:
    """A transactional producer retries after 10 ms, and never more than 50 ms later
    (CONCURRENT_TRANSACTIONS between back to back transactions), a plain one keeps
    librdkafka's defaults; extra config wins."""
    txn = Producer("127.0.0.1:1", transactional_id="t")
    assert txn.config["retry.backoff.ms"] == 10
    assert txn.config["retry.backoff.max.ms"] == 50
    plain = Producer("127.0.0.1:1").config
    assert "retry.backoff.ms" not in plain
    assert "retry.backoff.max.ms" not in plain
    tuned = Producer("127.0.0.1:1", extra_config={"retry.backoff.ms": 50}, transactional_id="t")
    assert tuned.config["retry.backoff.ms"] == 50


def test_secrets_are_redacted_in_config() -> None:
    p = Producer("127.0.0.1:1", extra_config={"sasl.password": "hunter2"})
    assert p.config["sasl.password"] == "***"
    assert "hunter2" not in repr(p.config)


def test_a_consumer_prefetches_at_most_2_mib_a_partition_and_librdkafka_accepts_it() -> None:
    consumer = Consumer("127.0.0.1:1", "g")
    assert consumer.config["queued.max.messages.kbytes"] == 2048
    consumer.client  # librdkafka checks the configuration here (fetch.max.bytes follows)
    consumer.close()
    wider = Consumer("127.0.0.1:1", "g", extra_config={"queued.max.messages.kbytes": 65536})
    assert wider.config["queued.max.messages.kbytes"] == 65536
