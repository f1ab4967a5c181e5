"""Open transactions seen from outside: partitions whose last stable offset (LSO) stays
behind their high watermark.

A ``read_committed`` reader (every processor, every agency's feed reader) gets nothing of
a partition past its LSO, the first offset of the oldest transaction still open on it.
The transaction coordinator aborts a transaction after its timeout (60 s for govbus's
processors; at most the broker's ``transaction.max.timeout.ms``), so on a healthy bus an
LSO moves every few seconds under load and equals the high watermark when idle. An LSO
held behind the high watermark for minutes is a *hanging* transaction (Kafka KIP-664: a
partition with a transaction its coordinator no longer knows of), and every reader of the
partition waits behind it. The monitor compares both offsets each round; this module
keeps, per partition, since when its LSO has been held where it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitoring.snapshot import OpenTransactionRow

TP = tuple[str, int]


class OpenTransactions:
    """Partitions with an open transaction and for how long their LSO has not moved."""

    def __init__(self) -> None:
        #: partition -> (LSO when first seen held there, seconds since the epoch then)
        self._held: dict[TP, tuple[int, float]] = {}

    def observe(
        self, stable: Mapping[TP, int], high: Mapping[TP, int], now: float
    ) -> tuple[OpenTransactionRow, ...]:
        """One round's offsets; the partitions whose LSO is behind, oldest first.

        A partition read in only one of the two lists is left out of this round and keeps
        what was known of it; a partition whose LSO reached its high watermark, or moved,
        starts again.
        """
        rows = []
        for tp in stable.keys() & high.keys():
            lso, hw = stable[tp], high[tp]
            if lso >= hw:
                self._held.pop(tp, None)
                continue
            held = self._held.get(tp)
            if held is None or held[0] != lso:
                held = (lso, now)
                self._held[tp] = held
            rows.append(
                OpenTransactionRow(
                    topic=tp[0],
                    partition=tp[1],
                    stable_offset=lso,
                    high_watermark=hw,
                    held_seconds=max(0.0, now - held[1]),
                )
            )
        rows.sort(key=lambda r: (-r.held_seconds, r.topic, r.partition))
        return tuple(rows)
