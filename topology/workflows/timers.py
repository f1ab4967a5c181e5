"""The timer worker: acts on due rows (reminders, deadlines, expiries, grant publication).

Timers are rows in SQL, never an in-memory sleep, so a deadline that fell while no
service ran is acted on when one comes back, and only once. One pass
(:meth:`TimerWorker.run_due`):

1. List the rows due at the injected clock's ``now`` (not done, not leased).
2. Lease each with a conditional UPDATE; a row another instance leased first is skipped.
3. Act: compute the case's step (deemed consent or overdue at a deadline, a reminder, an
   expiry) and write it together with the timer's ``done_at``, guarded by the lease and
   the case's version (:meth:`storage.workflows.WorkflowStore.apply`); a grant to
   publish or revoke goes through :class:`topology.reference_service.ReferenceService`,
   idempotent by grant id, and then the row is done.
4. On failure (broker down, the case changed meanwhile) the row keeps its error and stays
   leased until a retry time; the next pass after it tries again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from base.errors import GovbusError, GrantError
from exchange.catalog import CatalogEntry
from exchange.workflows import share_application as sa
from exchange.workflows.cases import Act
from exchange.workflows.roles import SYSTEM
from storage.workflows import Lease, TimerRow, WorkflowStore
from topology.reference_service import GrantTerms
from topology.workflows.applications import (
    DEADLINE,
    EXPIRY,
    GRANT_SYNC,
    REMINDER,
    ShareApplications,
    case_row,
    timers_for,
    transition_row,
)
from topology.workflows.clock import Clock

log = logging.getLogger(__name__)

#: A worker holds a due row this long; one that dies is replaced after it.
LEASE = timedelta(minutes=2)
#: A failed action is tried again after this long.
RETRY = timedelta(seconds=30)
#: A case another step changed while the timer acted is read again this often.
CONFLICT_RETRIES = 3


class TimerWorker:
    def __init__(
        self,
        store: WorkflowStore,
        applications: ShareApplications,
        clock: Clock,
        *,
        owner: str | None = None,
        lease: timedelta = LEASE,
        retry: timedelta = RETRY,
    ) -> None:
        self.store = store
        self.applications = applications
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
                if self._act(timer, now):
                    acted += 1
            except GovbusError as exc:
                # Step 4
                log.warning(
                    "timer %s (%s, %s) failed: %s", timer.id, timer.kind, timer.case_id, exc
                )
                self.store.fail_timer(timer.id, self.owner, str(exc), now + self.retry)
        return acted

    def _act(self, timer: TimerRow, now: datetime) -> bool:
        assert timer.id is not None
        apps = self.applications
        if timer.kind == GRANT_SYNC:
            self._sync_grants(apps.load(timer.case_id), now)
            return self.store.finish_timer(timer.id, self.owner, now, "done")
        for _attempt in range(CONFLICT_RETRIES):
            app = apps.load(timer.case_id)  # read again: another step may have moved it
            step = self._step(timer, app, now)
            if step is None:  # answered meanwhile, or nothing due yet: the row is spent
                return self.store.finish_timer(timer.id, self.owner, now, "skipped")
            new, transition = step
            add, cancel = timers_for(app, new, apps.calendar, now)
            if timer.kind == DEADLINE:
                cancel.append(REMINDER)
            if self.store.apply(
                case_row(new, now),
                app.version,
                transition_row(new, transition),
                new_timers=add,
                cancel_kinds=cancel,
                lease=Lease(timer.id, self.owner, transition.action.value),
            ):
                apps.notify(app.id)  # publish a deemed grant now, not at the next pass
                return True
        raise GrantError(
            f"case {timer.case_id} kept changing, or the lease lapsed; tried again later",
            code="timer_guard",
        )

    def _step(self, timer: TimerRow, app: sa.ShareApplication, now: datetime) -> sa.Step | None:
        act = Act(SYSTEM, now)
        if timer.kind == REMINDER:
            return sa.remind(app, act)
        if timer.kind == DEADLINE:
            profile = self.applications.profiles.get(app.profile)
            return sa.on_deadline(app, profile, self._entry(app), act)
        if timer.kind == EXPIRY:
            return sa.expire(app, act)
        raise GrantError(f"unknown timer kind {timer.kind!r}", code="unknown_timer")

    def _entry(self, app: sa.ShareApplication) -> CatalogEntry | None:
        try:
            return self.applications.entry(app.request.entry_id)
        except GrantError:
            return None

    def _sync_grants(self, app: sa.ShareApplication, now: datetime) -> None:
        """Make the grants of the case what its state says: the current grant exists while
        granted, is revoked once the case is revoked, and grants it replaced are revoked."""
        reference = self.applications.reference
        current = app.grant_id if app.state in sa.GRANTED else None
        for n in range(1, app.grants_issued + 1):
            grant_id = f"grant-{app.id}-{n}"
            stored = reference.store.get_grant(grant_id)
            if grant_id == current:
                if stored is None:
                    self._issue(app, grant_id)
                continue
            replaced = n < app.grants_issued or app.state is sa.State.REVOKED
            if replaced and stored is not None and stored.revoked_at is None:
                reference.revoke_grant(grant_id, now)

    def _issue(self, app: sa.ShareApplication, grant_id: str) -> None:
        answer = app.answer
        if answer is None or app.grant_from is None:  # pragma: no cover - granted states
            return
        self.applications.reference.add_grant(
            GrantTerms(
                consumer=app.applicant,
                entry_id=app.request.entry_id,
                items=list(answer.items),
                purpose=app.request.purpose,
                basis=f"{app.request.legal_basis}（共享申请 {app.id}）",
                granted_by=app.provider,
                valid_from=app.grant_from,
                valid_until=answer.valid_until,
                grant_id=grant_id,
            )
        )
