"""Count the committed records of output topics: every feed must hold every event once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence

from kafkaclient import OFFSET_BEGINNING, Consumer, TopicPartition

#: Stop reading when nothing new came for this long once every topic has the expected
#: count (catches extras: duplicates would show as counts above it).
SETTLE_S = 0.3
#: Give up when the counts are not reached after this long.
TIMEOUT_S = 60.0
BATCH = 10_000


def count_committed(
    bootstrap: str, topics: Sequence[str], expected: int, *, config: Mapping[str, str]
) -> dict[str, int]:
    """Records per topic readable ``read_committed``, all topics read at once; ``config``:
    client settings (credentials)."""
    counts = dict.fromkeys(topics, 0)
    group = f"bench-verify-{uuid.uuid4().hex[:8]}"
    with Consumer(bootstrap, group, extra_config=config) as consumer:
        partitions = []
        for topic in topics:
            meta = consumer.topic(topic)
            partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        consumer.assign(partitions)
        deadline = time.monotonic() + TIMEOUT_S
        quiet = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(BATCH, timeout_s=0.05)
            for msg in batch:
                counts[msg.topic() or ""] += 1
            if batch:
                quiet = time.monotonic()
            elif min(counts.values()) >= expected and time.monotonic() - quiet >= SETTLE_S:
                break
    return counts
