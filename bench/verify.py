"""Count the committed records of output topics: every feed must hold every event once.

In a topic the bus shares between entries (:data:`bench.scenario.SHARED_TOPICS`) only the
measured scenario's records count (:func:`bench.scenario.of_entry`): other measurements
on the same broker wrote there too."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from bench.scenario import of_entry
from kafkaclient import read_from_beginning

#: Stop reading when nothing new came for this long once every topic has the expected
#: count (catches extras: duplicates would show as counts above it).
SETTLE_S = 0.3
#: Give up when the counts are not reached after this long.
TIMEOUT_S = 60.0
BATCH = 10_000


def count_committed(
    bootstrap: str,
    topics: Sequence[str],
    expected: int,
    *,
    config: Mapping[str, str],
    entry: str | None,
) -> dict[str, int]:
    """Records per topic readable ``read_committed``, all topics read at once; of a topic
    every entry shares, ``entry``'s only; ``config``: client settings (credentials)."""
    counts = dict.fromkeys(topics, 0)
    for batch in read_from_beginning(
        bootstrap,
        topics,
        group_id=f"bench-verify-{uuid.uuid4().hex[:8]}",
        config=config,
        enough=lambda: min(counts.values()) >= expected,
        settle_s=SETTLE_S,
        timeout_s=TIMEOUT_S,
        batch=BATCH,
        poll_s=0.05,
    ):
        for msg in batch:
            if of_entry(msg, entry):
                counts[msg.topic() or ""] += 1
    return counts
