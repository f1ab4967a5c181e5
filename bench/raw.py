"""The ceiling: raw confluent-kafka produce, then consume, of the same encoded events.

The producer uses the pipeline's producer settings (``kafkaclient.Producer.DEFAULTS``:
acks=all, idempotence, linger.ms=5, lz4); the consumer reads the topic from the start
with the pipeline's consumer defaults (read_committed; fetch wait 10 ms), assigning every
partition (no group join). The first ``warmup`` events go to a separate warm-up topic, produced and
consumed untimed (connections, producer id, first fetch), so nothing of the timed topic is
prefetched. Raw events/s = events / (produce time + consume time): the
time to move each event into Kafka and out again once. Both clients connect with the
benchmark's client settings (credentials, :mod:`bench.broker`) merged in, as every client
of the pipeline does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import confluent_kafka

from bench.scenario import Events
from kafkaclient import Consumer, Producer

FLUSH_TIMEOUT_S = 120.0
CONSUME_TIMEOUT_S = 120.0
CONSUME_BATCH = 1000
#: The broker's long-poll wait when a fetch finds nothing new (default 500 ms): the fetch
#: left waiting on the drained warm-up topic would otherwise delay the timed read by it.
FETCH_WAIT_MS = 10


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


def raw_producer(bootstrap: str, config: Mapping[str, str]) -> confluent_kafka.Producer:
    """A plain confluent-kafka producer: the pipeline's defaults < ``config`` < bootstrap
    (the order of :func:`kafkaclient.base.merge_config`)."""
    return confluent_kafka.Producer({**Producer.DEFAULTS, **config, "bootstrap.servers": bootstrap})


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


def run_raw(
    bootstrap: str,
    topic: str,
    warm_topic: str,
    events: Events,
    warmup: int,
    *,
    config: Mapping[str, str],
) -> RawResult:
    """Time producing, then consuming, ``events`` after the first ``warmup`` of them (those
    go to ``warm_topic``, untimed); ``config``: client settings (credentials)."""
    producer = raw_producer(bootstrap, config)
    produce_all(producer, warm_topic, events.slice(0, warmup))
    timed = events.slice(warmup, len(events))
    started = time.perf_counter()
    produce_all(producer, topic, timed)
    produced = time.perf_counter()
    with Consumer(
        bootstrap,
        f"bench-raw-{uuid.uuid4().hex[:8]}",
        extra_config={**config, "fetch.wait.max.ms": FETCH_WAIT_MS},
    ) as consumer:
        _consume(consumer, warm_topic, warmup)
        began = time.perf_counter()
        _consume(consumer, topic, len(timed))
        consumed = time.perf_counter()
    return RawResult(len(timed), produced - started, consumed - began)


def _consume(consumer: Consumer, topic: str, target: int) -> None:
    meta = consumer.topic(topic)
    consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in meta.partitions])
    deadline = time.perf_counter() + CONSUME_TIMEOUT_S
    seen = 0
    while seen < target:
        if time.perf_counter() > deadline:
            raise SystemExit(f"raw consumer: {seen} of {target} read from {topic} in time")
        seen += len(consumer.consume(CONSUME_BATCH, timeout_s=0.5))
