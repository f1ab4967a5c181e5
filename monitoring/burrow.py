"""Burrow-style consumer status from a sliding window of committed offsets (pure).

LinkedIn's Burrow judges a consumer by its recent offset commits instead of a lag
threshold. govbus samples each group's committed offset and lag once per monitor
interval; a partition's window holds the last ``WINDOW_SIZE`` samples, oldest first.

Rules for one partition, first match wins (Burrow's order, adapted to sampling):

1. **ok** when the current lag is 0: a caught-up consumer is never in trouble.
2. **stopped** when the group has no active member: nobody is consuming, yet records
   wait (Burrow infers this from commits that stopped coming; sampling sees it directly).
3. **ok** while the window holds fewer than ``MIN_SAMPLES`` samples: too little evidence.
4. **ok** when the lag was 0 at any sample of the window: the consumer caught up lately.
5. **stalled** when the committed offset did not move over the whole window although
   records wait: the consumer is alive but not making progress.
6. **rewound** when the committed offset went backwards between two samples (a reset).
7. **warning** when the lag never decreased between two consecutive samples: the
   consumer moves but falls further behind.
8. **ok** otherwise.

A group's status is its worst partition's, by severity
ok < warning < rewound < stalled < stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

#: Samples per window (Burrow's default ``intervals``).
WINDOW_SIZE = 10
#: Fewer samples than this are not evidence of anything.
MIN_SAMPLES = 3


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    REWOUND = "rewound"
    STALLED = "stalled"
    STOPPED = "stopped"


SEVERITY: dict[Status, int] = {s: i for i, s in enumerate(Status)}


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the epoch
    offset: int  # committed offset
    lag: int  # records behind the end (0 when caught up)


def partition_status(
    window: Sequence[Sample], *, active: bool, min_samples: int = MIN_SAMPLES
) -> Status:
    """The status of one partition from its window (oldest first) and group liveness."""
    if not window or window[-1].lag <= 0:
        return Status.OK
    if not active:
        return Status.STOPPED
    if len(window) < min_samples:
        return Status.OK
    if any(s.lag <= 0 for s in window):
        return Status.OK
    pairs = list(pairwise(window))
    if all(b.offset == a.offset for a, b in pairs):
        return Status.STALLED
    if any(b.offset < a.offset for a, b in pairs):
        return Status.REWOUND
    if all(b.lag >= a.lag for a, b in pairs):
        return Status.WARNING
    return Status.OK


def worst(statuses: Iterable[Status]) -> Status:
    """A group's status: the most severe of its partitions' (ok when it has none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=Status.OK)


class Windows:
    """Sliding windows of samples per key (group, topic, partition); keys not observed in
    a round are dropped by :meth:`retain`."""

    def __init__(self, size: int = WINDOW_SIZE) -> None:
        self.size = size
        self._windows: dict[Hashable, deque[Sample]] = {}

    def observe(self, key: Hashable, sample: Sample) -> tuple[Sample, ...]:
        window = self._windows.setdefault(key, deque(maxlen=self.size))
        window.append(sample)
        return tuple(window)

    def retain(self, keys: Iterable[Hashable]) -> None:
        keep = set(keys)
        for key in [k for k in self._windows if k not in keep]:
            del self._windows[key]
