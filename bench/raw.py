"""The ceiling: raw confluent-kafka produce, then consume, of the same encoded events.

The producer uses the pipeline's producer settings (``govbus.kafka.Producer.DEFAULTS``:
acks=all, idempotence, linger.ms=5, lz4); the consumer reads the topic from the start
with the pipeline's consumer defaults (read_committed), assigning every partition (no
group join in the timed part). Raw events/s = events / (produce time + consume time):
the time to move each event into Kafka and out again once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import confluent_kafka

from bench.scenario import Events
from govbus.kafka import Consumer, Producer

FLUSH_TIMEOUT_S = 120.0
CONSUME_TIMEOUT_S = 120.0
CONSUME_BATCH = 1000


@dataclass(frozen=True)
class RawResult:
    events: int
    produce_s: float
    consume_s: float

    @property
    def produce_eps(self) -> float:
        return self.events / self.produce_s

    @property
    def consume_eps(self) -> float:
        return self.events / self.consume_s

    @property
    def events_per_s(self) -> float:
        return self.events / (self.produce_s + self.consume_s)


def produce_all(producer: confluent_kafka.Producer, topic: str, events: Events) -> None:
    """Produce every event (retrying on a full queue), then flush; raise on any failure."""
    failures: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(err)

    for key, value in zip(events.keys, events.values, strict=True):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(FLUSH_TIMEOUT_S):
        raise SystemExit(f"raw producer: messages to {topic} not delivered in time")
    if failures:
        raise SystemExit(f"raw producer: {len(failures)} delivery failures, first {failures[0]}")


def run_raw(bootstrap: str, topic: str, events: Events, partitions: int) -> RawResult:
    config = {**Producer.DEFAULTS, "bootstrap.servers": bootstrap}
    producer = confluent_kafka.Producer(config)
    started = time.perf_counter()
    produce_all(producer, topic, events)
    produced = time.perf_counter()
    with Consumer(bootstrap, f"bench-raw-{uuid.uuid4().hex[:8]}") as consumer:
        consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in range(partitions)])
        seen = 0
        began = time.perf_counter()
        deadline = began + CONSUME_TIMEOUT_S
        while seen < len(events):
            if time.perf_counter() > deadline:
                raise SystemExit(f"raw consumer: {seen} of {len(events)} read in time")
            seen += len(consumer.consume(CONSUME_BATCH, timeout_s=0.5))
        consumed = time.perf_counter()
    return RawResult(len(events), produced - started, consumed - began)
