"""A consumer leaves its group on a clean stop (topology.processor, step 11); a static
member already fenced by its successor has nothing to leave, and leaving must not turn
the fencing into another error: a worker of the cluster fault run under load (2026-12-08)
ended as a crash on "unsubscribe: ... Fatal error" instead of being restarted as fenced."""

from __future__ import annotations

import time
import uuid

from base.errors import KafkaError
from kafkaclient import Admin, Consumer, TopicSpec
from kafkaclient.convert import fenced

WAIT_S = 60.0


def _assigned(consumer: Consumer) -> None:
    deadline = time.monotonic() + WAIT_S
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no assignment"
        consumer.consume(1, timeout_s=0.2)


def test_a_fenced_static_member_leaves_without_an_error(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(topic_name)])
    group = f"govbus-test-{uuid.uuid4().hex}"
    static = {**kafka_config, "group.instance.id": "worker-0"}
    first = Consumer(bootstrap, group, extra_config=static)
    second = Consumer(bootstrap, group, extra_config=static)
    try:
        first.subscribe([topic_name])
        _assigned(first)
        # The successor joins with the same instance id: the broker fences the first.
        second.subscribe([topic_name])
        _assigned(second)
        error: KafkaError | None = None
        deadline = time.monotonic() + WAIT_S
        while error is None and time.monotonic() < deadline:
            try:
                first.consume(1, timeout_s=0.2)
            except KafkaError as exc:
                error = exc
        assert error is not None and fenced(error), error
        assert first.leave() == 0
        # The successor keeps the partition.
        assert second.assignment()
    finally:
        first.close()
        second.close()
