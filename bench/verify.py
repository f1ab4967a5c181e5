"""Count the committed records of output topics: every feed must hold every event once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from govbus.kafka import OFFSET_BEGINNING, Consumer, TopicPartition

#: Stop reading a topic when nothing new came for this long after the expected count.
SETTLE_S = 0.3
#: Give up on a topic that never reaches the expected count after this long.
TOPIC_TIMEOUT_S = 30.0
BATCH = 5000


def count_committed(bootstrap: str, topics: Sequence[str], expected: int) -> dict[str, int]:
    """Records per topic readable ``read_committed`` (reads until ``expected`` plus a
    short settle, or a timeout)."""
    counts = {}
    with Consumer(bootstrap, f"bench-verify-{uuid.uuid4().hex[:8]}") as consumer:
        for topic in topics:
            meta = consumer.client.list_topics(topic, timeout=10.0).topics[topic]
            consumer.assign(
                [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
            )
            seen = 0
            deadline = time.monotonic() + TOPIC_TIMEOUT_S
            quiet = time.monotonic()
            while time.monotonic() < deadline:
                got = len(consumer.consume(BATCH, timeout_s=0.1))
                seen += got
                if got:
                    quiet = time.monotonic()
                elif seen >= expected and time.monotonic() - quiet >= SETTLE_S:
                    break
            counts[topic] = seen
    return counts
