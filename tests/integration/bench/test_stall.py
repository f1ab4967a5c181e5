"""What a stalled fault run names (issue 18): a transaction held open on a partition (its
last stable offset behind the high watermark: read_committed readers wait) and a group
whose committed offset is behind, on the real broker."""

from __future__ import annotations

import os
import time
import uuid

from base.errors import KafkaError
from bench.broker import BenchBroker
from bench.faults.stall import diagnose
from kafkaclient import Admin, Consumer, Producer, TopicPartition, TopicSpec
from schemas.topics import TopicDef, TopicKind


def test_an_open_transaction_and_a_group_behind_are_named(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    broker = BenchBroker(bootstrap, "session", kafka_config, dict(os.environ))
    held, read = f"stall-{uuid.uuid4().hex[:8]}", f"stall-{uuid.uuid4().hex[:8]}"
    specs = [TopicSpec.of(TopicDef(name, TopicKind.FEED, 2)) for name in (held, read)]
    Admin(bootstrap, extra_config=kafka_config).ensure_topics(specs)
    assert diagnose(broker, [held, read]) == [
        "no open transaction and no group behind on the scenario's topics"
    ]
    with Producer(bootstrap, extra_config=kafka_config) as plain:
        for _ in range(4):
            plain.produce(read, b"r", key=b"k", partition=0)
    group = f"stall-{uuid.uuid4().hex[:8]}"
    with Consumer(bootstrap, group, extra_config=kafka_config) as consumer:
        for attempt in range(30):  # a fresh broker's group coordinator may still be loading
            try:
                consumer.commit([TopicPartition(read, 0, 1)])
                break
            except KafkaError as exc:
                if (not exc.retriable and exc.code != "NOT_COORDINATOR") or attempt == 29:
                    raise
                time.sleep(1.0)
    producer = Producer(
        bootstrap, extra_config=kafka_config, transactional_id=f"stall-{uuid.uuid4().hex}"
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.produce(held, b"open", key=b"k", partition=1)
        producer.flush()
        lines = diagnose(broker, [held, read])
    finally:
        producer.abort_transaction()
        producer.close()
    assert f"open transaction on {held}/1: LSO 0 < high watermark 1" in lines
    assert f"group {group} behind on {read}/0: committed 1 < LSO 4" in lines
    assert len(lines) == 2, lines
