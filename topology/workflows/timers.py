"""The timer worker: acts on due rows (reminders, deadlines, expiries, grants and catalog
changes to publish), for every kind of case.

Timers are rows in SQL, never an in-memory sleep, so a deadline that fell while no
service ran is acted on when one comes back, and only once. One pass
(:meth:`TimerWorker.run_due`):

1. List the rows due at the injected clock's ``now`` (not done, not leased).
2. Lease each with a conditional UPDATE; a row another instance leased first is skipped.
3. Act: the service of the case's kind (:class:`TimerTarget`) reads the case again and
   says what the timer does: a side effect (a grant or an entry to publish through
   :class:`topology.reference_service.ReferenceService`, idempotent), and the step to
   write, if any (deemed consent or overdue at a deadline, a reminder, an expiry, the
   publication of a catalog change). The step is written together with the timer's
   ``done_at``, guarded by the lease and the case's version
   (:meth:`storage.workflows.WorkflowStore.apply`); with no step the row is done.
4. On failure (broker down, the case changed meanwhile) the row keeps its error and stays
   leased until a retry time; the next pass after it tries again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from base.errors import GovbusError, StateError
from storage.workflows import CaseChange, Lease, TimerRow, WorkflowStore
from topology.workflows.clock import Clock

log = logging.getLogger(__name__)

#: A worker holds a due row this long; one that dies is replaced after it.
LEASE = timedelta(minutes=2)
#: A failed action is tried again after this long.
RETRY = timedelta(seconds=30)
#: A case another step changed while the timer acted is read again this often.
CONFLICT_RETRIES = 3


class TimerTarget(Protocol):
    """The service of one kind of case, as the timer worker sees it."""

    def on_timer(self, timer: TimerRow, now: datetime) -> CaseChange | None:
        """Step 3 for a due timer of one of its cases: do its side effect, if any, and
        return the step to write (None: nothing to write, the timer is spent)."""
        ...

    def notify(self, case_id: str) -> None:
        """After a step was written (the audit relay, a grant to publish at once)."""
        ...


class TimerWorker:
    def __init__(
        self,
        store: WorkflowStore,
        targets: Mapping[str, TimerTarget],
        clock: Clock,
        *,
        owner: str | None = None,
        lease: timedelta = LEASE,
        retry: timedelta = RETRY,
    ) -> None:
        self.store = store
        self.targets = dict(targets)
        self.clock = clock
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.retry = retry

    def run_due(self, *, case_id: str | None = None, limit: int = 50) -> int:
        """One pass; the number of timers this worker acted on."""
        acted = 0
        now = self.clock.now()
        # Step 1
        for timer in self.store.due_timers(now, limit, case_id=case_id):
            if timer.id is None:  # pragma: no cover - read rows have ids
                continue
            # Step 2
            if not self.store.take_timer(timer.id, self.owner, now, now + self.lease):
                continue
            # Step 3
            try:
                if self._act(timer, timer.id, now):
                    acted += 1
            except GovbusError as exc:
                # Step 4
                log.warning(
                    "timer %s (%s, %s) failed: %s", timer.id, timer.kind, timer.case_id, exc
                )
                self.store.fail_timer(timer.id, self.owner, str(exc), now + self.retry)
        return acted

    def _act(self, timer: TimerRow, timer_id: int, now: datetime) -> bool:
        for _attempt in range(CONFLICT_RETRIES):
            row = self.store.get(timer.case_id)  # read again: another step may have moved it
            target = None if row is None else self.targets.get(row.kind)
            if target is None:
                return self.store.finish_timer(timer_id, self.owner, now, "orphaned")
            change = target.on_timer(timer, now)
            if change is None:
                return self.store.finish_timer(timer_id, self.owner, now, "done")
            lease = Lease(timer_id, self.owner, change.transition.action)
            if self.store.apply(change, lease=lease):
                target.notify(timer.case_id)  # e.g. publish a deemed grant now
                return True
        raise StateError(
            f"case {timer.case_id} kept changing, or the lease lapsed; tried again later",
            code="timer_guard",
        )
