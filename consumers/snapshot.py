"""A topic copied whole, as written: for backups (GM 28, S 45).

Unlike :func:`consumers.reader.read_to_end`, a copy is complete or an error: each partition
is read (read_committed) up to the end it had when the copy began, and a partition that
cannot be read that far within the timeout raises :class:`base.errors.KafkaTimeoutError`.
Records keep their partition, offset, key, value, timestamp and headers, untouched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING

from base.errors import KafkaError, KafkaTimeoutError
from kafkaclient import Admin, Consumer, TopicPartition, coordinates

READ_TIMEOUT_S = 120.0
BATCH = 1000


@dataclass(frozen=True)
class CopiedRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class TopicCopy:
    """One topic: its partition count, configuration and every committed record."""

    name: str
    partitions: int
    config: dict[str, str]
    #: Per partition, the end offset the copy read up to (the high watermark at its start).
    ends: dict[int, int] = field(default_factory=dict)
    records: list[CopiedRecord] = field(default_factory=list)


def copy_topic(
    bootstrap: str,
    topic: str,
    *,
    extra_config: Mapping[str, Any] | None = None,
    timeout_s: float = READ_TIMEOUT_S,
) -> TopicCopy:
    """Every committed record of ``topic`` up to its end as of the call."""
    config = Admin(bootstrap, extra_config=extra_config).topic_overrides(topic)
    with Consumer(bootstrap, f"govbus-backup-{uuid.uuid4().hex}", extra_config=extra_config) as c:
        meta = c.topic(topic, timeout_s)
        if not meta.readable:
            raise KafkaError(f"topic {topic} does not exist or is not readable: {meta.error}")
        copy = TopicCopy(topic, len(meta.partitions), dict(config))
        copy.ends = {p: c.watermarks(topic, p, timeout_s)[1] for p in meta.partitions}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        pending = {p for p, end in copy.ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(
                    f"copying {topic}: partition(s) {sorted(pending)} not read to their end "
                    f"within {timeout_s:.0f} s"
                )
            for msg in c.consume(BATCH, timeout_s=0.2):
                _, partition, offset = coordinates(msg)
                if offset >= copy.ends[partition]:
                    continue  # written after the copy began
                _, ts = msg.timestamp()
                headers = _headers(msg.headers())
                copy.records.append(
                    CopiedRecord(partition, offset, msg.key(), msg.value(), int(ts), headers)
                )
            for tp in c.position([TopicPartition(topic, p) for p in list(pending)]):
                if tp.offset >= copy.ends[tp.partition]:
                    pending.discard(tp.partition)
    return copy


def _headers(raw: object) -> tuple[tuple[str, bytes], ...]:
    """librdkafka's headers (a list of name/value pairs, values bytes or None)."""
    out: list[tuple[str, bytes]] = []
    for pair in raw if isinstance(raw, list) else ():
        name, value = pair
        out.append((str(name), value if isinstance(value, bytes) else b""))
    return tuple(out)
