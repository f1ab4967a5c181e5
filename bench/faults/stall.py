"""Where a stalled drain is stuck, as the cluster sees it (issue 18: the rolling-restart
stall that stack dumps alone did not explain).

Two causes leave every worker's loop stepping while nothing new comes out:

* a transaction held open on a partition: its last stable offset (LSO) stays behind its
  high watermark and no ``read_committed`` reader gets past it (the processors reading the
  ingest topic, the checker reading the feeds);
* input nobody reads: a consumer group's committed offset behind a partition's LSO while
  the group's members are busy elsewhere (or no member owns the partition).

:func:`diagnose` names both, one line each, for the scenario's topics.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.broker import BenchBroker
from kafkaclient import Admin
from kafkaclient.groups import committed_offsets, list_groups, partition_offsets


def diagnose(broker: BenchBroker, topics: Sequence[str]) -> list[str]:
    """Partitions of ``topics`` with an open transaction, and groups behind on them."""
    with Admin(broker.bootstrap, extra_config=broker.config) as admin:
        counts = admin.topics()
        parts = [(t, p) for t in topics if t in counts for p in range(counts[t])]
        stable = partition_offsets(admin, parts, "latest", strict=False)
        high = partition_offsets(admin, parts, "latest", strict=False, committed=False)
        lines = [
            f"open transaction on {t}/{p}: LSO {stable[(t, p)]} < high watermark {high[(t, p)]}"
            for t, p in parts
            if (t, p) in stable and (t, p) in high and stable[(t, p)] < high[(t, p)]
        ]
        for group, offsets in sorted(committed_offsets(admin, list_groups(admin)).items()):
            lines.extend(
                f"group {group} behind on {t}/{p}: committed {offsets[(t, p)]} < "
                f"LSO {stable[(t, p)]}"
                for t, p in parts
                if (t, p) in offsets and (t, p) in stable and offsets[(t, p)] < stable[(t, p)]
            )
    return lines or ["no open transaction and no group behind on the scenario's topics"]
