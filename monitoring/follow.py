"""Follow topics incrementally, read_committed, without a consumer group.

Partitions are assigned at chosen start offsets and read up to given end offsets (the
last stable offsets of this round); the next round continues where this one stopped.
Nothing is committed and no group is joined: monitoring reads beside the data path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kafkaclient import Consumer, Message, TopicPartition, coordinates

#: Records per consume() call and the wait for one call.
BATCH = 500
POLL_S = 0.2
#: A round that has not reached the ends after this long continues next round.
ROUND_BUDGET_S = 10.0

TP = tuple[str, int]
#: A record's headers: (name, value) pairs in their order; a value may be None.
Headers = tuple[tuple[str, str | bytes | None], ...]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class Follower:
    """Reads new committed records of the partitions it follows, round by round."""

    def __init__(self, bootstrap: str, *, extra_config: Mapping[str, Any] | None = None) -> None:
        self._consumer = Consumer(
            bootstrap,
            f"govbus-monitor-follow-{uuid.uuid4().hex}",
            extra_config={"fetch.wait.max.ms": 100, **(extra_config or {})},
        )
        #: Next offset to read per followed partition.
        self._next: dict[TP, int] = {}
        self._assigned: frozenset[TP] = frozenset()

    @property
    def followed(self) -> frozenset[TP]:
        return frozenset(self._next)

    def follow(self, starts: Mapping[TP, int]) -> None:
        """Start following these partitions at these offsets (known ones keep their place)."""
        for tp, offset in starts.items():
            self._next.setdefault(tp, offset)

    def read(self, ends: Mapping[TP, int], budget_s: float = ROUND_BUDGET_S) -> Iterator[Record]:
        """Yield records of followed partitions until each reaches its end in ``ends``."""
        pending = {tp for tp, nxt in self._next.items() if nxt < ends.get(tp, 0)}
        if not pending:
            return
        self._assign()
        deadline = time.monotonic() + budget_s
        while pending and time.monotonic() < deadline:
            for msg in self._consumer.consume(BATCH, timeout_s=POLL_S):
                topic, partition, offset = coordinates(msg)
                self._next[(topic, partition)] = offset + 1
                _, ts = msg.timestamp()
                yield Record(
                    topic, partition, offset, int(ts), msg.key(), msg.value(), _headers(msg)
                )
            # Positions move past transaction markers too: that is how the end is reached.
            for tp in self._consumer.position([TopicPartition(t, p) for t, p in pending]):
                key = (tp.topic, tp.partition)
                if tp.offset >= 0:
                    self._next[key] = max(self._next[key], tp.offset)
                if self._next[key] >= ends.get(key, 0):
                    pending.discard(key)

    def behind(self, ends: Mapping[TP, int]) -> list[TP]:
        """Followed partitions not yet read up to their end in ``ends``."""
        return sorted(tp for tp, nxt in self._next.items() if nxt < ends.get(tp, 0))

    def _assign(self) -> None:
        if frozenset(self._next) == self._assigned:
            return
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in self._next.items()])
        self._assigned = frozenset(self._next)

    def close(self) -> None:
        self._consumer.close()


def _headers(msg: Message) -> Headers:
    """A consumed message's headers (librdkafka: a list of pairs, or None)."""
    raw = msg.headers() or ()
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple((name, value) for name, value in pairs)
