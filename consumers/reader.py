"""Read a topic from the beginning to its current end, read_committed: what a consuming
agency's feed reader, ``govbus feed tail`` and ``govbus conflicts list`` need.

Partitions are assigned, not subscribed, so reading starts at once; with a ``group_id``
(e.g. ``<agency>.tail``) the positions reached are committed, so the next read continues
where this one stopped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from base.errors import KafkaError
from kafkaclient import OFFSET_BEGINNING, Consumer, Message, TopicPartition, coordinates

#: Waiting for metadata and for the end of a topic on a loaded broker.
READ_TIMEOUT_S = 30.0
BATCH = 500


@dataclass(frozen=True)
class Read:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int
    value: Any


def read_to_end(
    bootstrap: str,
    topic: str,
    decode: Callable[[bytes], Any],
    *,
    group_id: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> Iterator[Read]:
    """Yield the committed records of ``topic`` up to its end as of the call."""
    timeout_s = READ_TIMEOUT_S
    group = group_id or f"govbus-reader-{uuid.uuid4().hex}"
    with Consumer(bootstrap, group, extra_config=extra_config) as consumer:
        meta = consumer.topic(topic, timeout_s)
        if not meta.readable:
            reason = f": {meta.error}" if meta.error is not None else ""
            raise KafkaError(f"topic {topic} does not exist or is not readable{reason}")
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        ends = {p: consumer.watermarks(topic, p, timeout_s)[1] for p in meta.partitions}
        committed = consumer.committed(parts, timeout_s) if group_id else []
        if group_id is not None:
            start = [
                TopicPartition(topic, c.partition, c.offset if c.offset >= 0 else OFFSET_BEGINNING)
                for c in committed
            ]
        else:
            start = [TopicPartition(topic, tp.partition, OFFSET_BEGINNING) for tp in parts]
        consumer.assign(start)
        pending = {p for p, end in ends.items() if end > 0}
        count = 0
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(BATCH, timeout_s=0.2):
                yield _read(msg, decode)
                count += 1
                if limit is not None and count >= limit:
                    _commit_positions(consumer, group_id, parts)
                    return
            for tp in consumer.position([TopicPartition(topic, p) for p in list(pending)]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
        _commit_positions(consumer, group_id, parts)


def read_labelled(
    bootstrap: str, topic: str, *, extra_config: Mapping[str, Any] | None = None
) -> list[tuple[str, bytes]]:
    """Every committed message of ``topic`` as ``("partition/offset", bytes)``, undecoded
    (what :func:`schemas.audit.verify` takes: it hashes the bytes as written)."""
    return [
        (f"{r.partition}/{r.offset}", r.value)
        for r in read_to_end(bootstrap, topic, lambda b: b, extra_config=extra_config)
    ]


def _read(msg: Message, decode: Callable[[bytes], Any]) -> Read:
    topic, partition, offset = coordinates(msg)
    _, ts = msg.timestamp()
    return Read(topic, partition, offset, msg.key(), int(ts), decode(msg.value() or b""))


def _commit_positions(
    consumer: Consumer, group_id: str | None, parts: list[TopicPartition]
) -> None:
    """Commit how far this read got, so the group's next read continues from there."""
    if group_id is None:
        return
    reached = [p for p in consumer.position(parts) if p.offset >= 0]
    if reached:
        consumer.commit(reached)
