"""A worker's liveness watchdog: a loop that stops finishing steps ends the worker.

Why: a transactional call may not return within its timeout. In rolling restarts under
load the repartition stage's loop stayed inside ``send_offsets_to_transaction`` (60 s
timeout) for three to five minutes after its group coordinator's node restarted
(librdkafka 2.16.0; confluentinc/librdkafka#5456 and #5511, open). Meanwhile its
consumer stopped polling, so the group's rebalance waited ``max.poll.interval.ms`` (300 s)
for it: nothing moved, on any partition, until the group gave up on it
(docs/reliability.md). A member that is given up on while its transaction is still open
must not be the one to end it.

The protocol:

1. Each loop (:class:`topology.processor.Processor`, the repartition stage too) stamps
   ``progress_at`` (monotonic seconds) as each step begins, and sets ``restoring`` while it
   restores state inside the rebalance callback (a restore is bounded by the group's
   ``max.poll.interval.ms`` itself, and a large catalog may take minutes).
2. The watchdog's thread looks every ``interval_s``: a loop that is not restoring and has
   not begun a step for ``limit_s`` is stalled (:func:`stalled`).
3. A stalled loop ends the worker at once through ``on_stall`` (the worker writes every
   thread's stack to its log and exits with ``EXIT_RESTART``). The limit is below the
   consumers' ``max.poll.interval.ms``, so the worker leaves before the group gives its
   partitions away; its successor, with the same transactional ids, fences the stuck
   transaction in ``init_transactions`` before it reads, and its partitions go to the
   others once its session ends, or back to it (static membership). Nothing is processed
   twice, and the stall ends within the limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

#: Two transactional calls of a minute each (a timed-out commit, then its abort): a step
#: takes longer only when a call ignores its timeout. Well below max.poll.interval.ms.
LIMIT_S = 120.0
#: How often the watchdog looks.
INTERVAL_S = 1.0


class Loop(Protocol):
    """What the watchdog reads of a loop (step 1)."""

    progress_at: float
    restoring: bool


def stalled(now: float, loops: Mapping[str, Loop], limit_s: float) -> dict[str, float]:
    """Step 2: each stalled loop's name and the seconds since its last step began."""
    return {
        name: now - loop.progress_at
        for name, loop in loops.items()
        if not loop.restoring and now - loop.progress_at > limit_s
    }


@contextmanager
def watching(
    loops: Mapping[str, Loop], on_stall: Callable[[dict[str, float]], None], **options: Any
) -> Iterator[Watchdog]:
    """A :class:`Watchdog` over ``loops`` for the block."""
    watchdog = Watchdog(loops, on_stall, **options)
    watchdog.start()
    try:
        yield watchdog
    finally:
        watchdog.stop()


class Watchdog:
    """Watches ``loops`` in a daemon thread; calls ``on_stall`` once with the stalled ones."""

    def __init__(
        self,
        loops: Mapping[str, Loop],
        on_stall: Callable[[dict[str, float]], None],
        *,
        limit_s: float = LIMIT_S,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loops = dict(loops)
        self._on_stall = on_stall
        self._limit_s = limit_s
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self._interval_s):
            found = stalled(self._clock(), self._loops, self._limit_s)
            if found:
                # Step 3: the worker ends here (on_stall does not return in a worker).
                self._on_stall(found)
                return
