"""The confluent-kafka wrapper, against the real broker."""

from __future__ import annotations

from kafkaclient import Consumer, Producer


def test_no_io_in_init_and_config_precedence() -> None:
    # Nothing listens on port 1: creating the wrapper must not connect (lazy client).
    producer = Producer(
        "127.0.0.1:1", extra_config={"linger.ms": 50, "acks": "1"}, client_id="explicit"
    )
    assert producer._inner is None
    cfg = producer.config
    assert cfg["enable.idempotence"] is True  # default kept
    assert cfg["linger.ms"] == 50  # extra config beats defaults
    assert cfg["acks"] == "1"
    assert cfg["client.id"] == "explicit"  # explicit argument
    consumer = Consumer("127.0.0.1:1", "g", extra_config={"group.id": "overridden"})
    assert consumer._inner is None
    assert consumer.config["group.id"] == "g"  # explicit beats extra config
    assert consumer.config["enable.auto.commit"] is False
    assert consumer.config["isolation.level"] == "read_committed"


def test_secrets_are_redacted_in_config() -> None:
    p = Producer("127.0.0.1:1", extra_config={"sasl.password": "hunter2"})
    assert p.config["sasl.password"] == "***"
    assert "hunter2" not in repr(p.config)
