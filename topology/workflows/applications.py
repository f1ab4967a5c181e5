"""Conditional-sharing applications: the application layer over the pure state machine.

One method per step, shared by the HTTP routers and the CLI. Each step:

1. reads the case and checks the caller's permission (:func:`exchange.workflows.roles.authorize`);
2. runs the pure step (:mod:`exchange.workflows.share_application`) with the case's
   profile and the injected clock's time;
3. writes the new state, the transition (who, when, what, why, article) and the timers
   the new state needs, in one transaction that applies only if the case still has the
   version read in step 1 (else :class:`StateError`, a 409);
4. runs the case's due timers at once (a grant to publish through
   :class:`topology.reference_service.ReferenceService`), so an approval reaches the
   state topics before the call returns; a broker failure leaves the timer due and the
   worker retries it;
5. wakes the audit relay, which seals the transition into ``govbus.audit.workflows``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from base.errors import GrantError, NotFound, StateError
from exchange.catalog import CatalogEntry
from exchange.profiles import Profile, ProfileSet
from exchange.workdays import LEGAL_TIMEZONE, WorkCalendar
from exchange.workflows import share_application as sa
from exchange.workflows.cases import Act, Transition
from exchange.workflows.roles import SYSTEM, Action, Actor, authorize
from exchange.workflows.timing import reminder_at
from storage.workflows import CaseChange, CaseRow, TimerRow, TransitionRow
from topology.workflows import casework
from topology.workflows.casework import CaseKind, Casework
from topology.workflows.clock import Clock
from topology.workflows.grants import sync_grants

#: Timer kinds (``timers.kind``).
REMINDER = "reminder"
DEADLINE = "deadline"
EXPIRY = "expiry"
GRANT_SYNC = "grant_sync"
REPLY_TIMERS = (REMINDER, DEADLINE)


def case_row(app: sa.ShareApplication, now: datetime) -> CaseRow:
    answer = app.answer
    return casework.case_row(
        app,
        sa.KIND,
        sa.to_document(app),
        opened_at=app.submitted_at,
        now=now,
        obligation=sa.OBLIGATION,
        applicant=app.applicant,
        respondent=app.provider,
        entry_id=app.request.entry_id,
        clock_started_at=None if app.due_by is None else _clock_start(app),
        due_at=app.due_by,
        answered_at=None if answer is None else answer.at,
        overdue=app.overdue or bool(answer and answer.late),
        deemed=bool(answer and answer.deemed),
    )


def _clock_start(app: sa.ShareApplication) -> datetime | None:
    return app.accepted_at if app.accepted_at and app.state is not sa.State.SUBMITTED else None


def transition_row(app: sa.ShareApplication, t: Transition[sa.State]) -> TransitionRow:
    details = {k: v for k, v in t.details.items() if v is not None}
    if app.grant_id and t.to_state in sa.GRANTED | {sa.State.APPROVED}:
        details.setdefault("grant_id", app.grant_id)
        details.setdefault("items", list(app.granted_items))
        until = app.granted_until
        details.setdefault("valid_until", None if until is None else until.isoformat())
    return casework.transition_row(sa.KIND, app.id, t, details)


def timers_for(
    old: sa.ShareApplication | None,
    new: sa.ShareApplication,
    calendar: WorkCalendar,
    now: datetime,
) -> tuple[list[TimerRow], list[str]]:
    """(timers to add, kinds to cancel) after a step from ``old`` to ``new``."""
    add: list[TimerRow] = []
    cancel: list[str] = []
    if new.state in sa.AWAITING and new.due_by is not None and not new.overdue:
        add += reply_timers(new.id, new.due_by, calendar, now)
    if old is not None and old.state in sa.AWAITING and new.state not in sa.AWAITING:
        cancel += list(REPLY_TIMERS)
    granted_changed = old is None or old.grant_id != new.grant_id or old.state != new.state
    if granted_changed and (new.grant_id is not None):
        add.append(TimerRow(new.id, GRANT_SYNC, now, now))
    if (
        new.state in sa.GRANTED
        and new.granted_until is not None
        and (old is None or old.grant_id != new.grant_id)
    ):
        add.append(TimerRow(new.id, EXPIRY, new.granted_until, now))
    if new.state in sa.FINAL and old is not None and old.state in sa.GRANTED:
        cancel.append(EXPIRY)
    return add, cancel


def last_day(due_by: datetime) -> date:
    """The last day of a deadline given as ``due_by`` (00:00 legal time of the next day)."""
    return (due_by.astimezone(LEGAL_TIMEZONE) - timedelta(days=1)).date()


def reply_timers(
    case_id: str, due_by: datetime, calendar: WorkCalendar, now: datetime
) -> list[TimerRow]:
    """The timers of a case to be answered by ``due_by`` (an application, an obligation):
    a reminder one working day before its last day, unless that time has passed, and the
    deadline itself."""
    remind = reminder_at(last_day(due_by), calendar)
    reminder = [TimerRow(case_id, REMINDER, remind, now)] if remind > now else []
    return [*reminder, TimerRow(case_id, DEADLINE, due_by, now)]


class ShareApplications(Casework[sa.ShareApplication]):
    """The steps of a sharing application, for any caller (HTTP, CLI, the timer worker)."""

    case = CaseKind(
        sa.KIND,
        sa.from_document,
        lambda app: (app.applicant, app.provider),
        noun="application",
        missing="application",
        missing_code="unknown_application",
    )

    @property
    def profiles(self) -> ProfileSet:
        return self.deployment.profiles

    @property
    def profile_id(self) -> str:
        return self.deployment.profile_id

    @property
    def profile(self) -> Profile:
        """The deployment's profile: new applications are counted under it."""
        return self.deployment.profile

    @property
    def calendar(self) -> WorkCalendar:
        return self.deployment.calendar

    @property
    def clock(self) -> Clock:
        return self.deployment.clock

    def entry(self, entry_id: str) -> CatalogEntry:
        return self.reference.entry(entry_id)

    # -- steps ----------------------------------------------------------------------------
    def apply(self, actor: Actor, request: sa.Request) -> sa.ShareApplication:
        authorize(actor, Action.APPLY, applicant=actor.agency or "")
        entry = self._entry_or_404(request.entry_id)
        now = self.clock.now()
        app, transition = sa.submit(
            request,
            case_id=f"app-{uuid.uuid4().hex[:16]}",
            profile=self.profile,
            calendar=self.calendar,
            entry=entry,
            act=Act(actor, now),
        )
        add, _ = timers_for(None, app, self.calendar, now)
        self.store.create(case_row(app, now), transition_row(app, transition), add)
        self.notify(app.id)
        return app

    def accept(self, actor: Actor, case_id: str) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.ACCEPT,
            lambda app, p, act: sa.accept(app, p, self.calendar, act),
        )

    def approve(
        self,
        actor: Actor,
        case_id: str,
        *,
        items: Sequence[str] | None = None,
        valid_until: datetime | None = None,
        reason: str = "",
    ) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.APPROVE,
            lambda app, p, act: sa.approve(
                app, act, items=items, valid_until=valid_until, reason=reason
            ),
        )

    def refuse(
        self, actor: Actor, case_id: str, *, reasons: str = "", legal_basis: str = ""
    ) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.REFUSE,
            lambda app, p, act: sa.refuse(app, p, act, reasons=reasons, legal_basis=legal_basis),
        )

    def withdraw(self, actor: Actor, case_id: str, *, reason: str = "") -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.WITHDRAW,
            lambda app, p, act: sa.withdraw(app, act, reason=reason),
        )

    def dispute(self, actor: Actor, case_id: str, *, reason: str) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.DISPUTE,
            lambda app, p, act: sa.dispute(app, p, act, reason=reason),
        )

    def settle(self, actor: Actor, case_id: str, ruling: sa.Ruling) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.SETTLE,
            lambda app, p, act: sa.settle(app, p, act, ruling),
        )

    def refer(self, actor: Actor, case_id: str, *, reason: str) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.REFER,
            lambda app, p, act: sa.refer(app, p, act, reason=reason),
        )

    def decide(self, actor: Actor, case_id: str, ruling: sa.Ruling) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.DECIDE,
            lambda app, p, act: sa.decide(app, p, act, ruling),
        )

    def revoke(self, actor: Actor, case_id: str, *, reason: str) -> sa.ShareApplication:
        return self.take_step(
            actor,
            case_id,
            Action.REVOKE,
            lambda app, p, act: sa.revoke(app, act, reason=reason),
        )

    # -- plumbing -----------------------------------------------------------------------------
    def _entry_or_404(self, entry_id: str) -> CatalogEntry:
        try:
            return self.reference.entry(entry_id)
        except GrantError as exc:
            raise NotFound(f"no catalog entry {entry_id}", code="unknown_entry") from exc

    def change_of(
        self,
        old: sa.ShareApplication,
        new: sa.ShareApplication,
        transition: Transition[sa.State],
        now: datetime,
    ) -> CaseChange:
        add, cancel = timers_for(old, new, self.calendar, now)
        return CaseChange(
            case_row(new, now), old.version, transition_row(new, transition), add, cancel
        )

    # -- timers (topology.workflows.timers) ------------------------------------------------
    def on_timer(self, timer: TimerRow, now: datetime) -> CaseChange | None:
        """Publish the case's grants, or the step its deadline, reminder or expiry takes."""
        app = self.load(timer.case_id)
        if timer.kind == GRANT_SYNC:
            sync_grants(self.reference, app, now)
            return None
        step = self._timer_step(timer, app, Act(SYSTEM, now))
        if step is None:  # answered meanwhile, or nothing due yet: the row is spent
            return None
        new, transition = step
        change = self.change_of(app, new, transition, now)
        if timer.kind == DEADLINE:
            return replace(change, cancel_kinds=[*change.cancel_kinds, REMINDER])
        return change

    def _timer_step(self, timer: TimerRow, app: sa.ShareApplication, act: Act) -> sa.Step | None:
        if timer.kind == REMINDER:
            return sa.remind(app, act)
        if timer.kind == DEADLINE:
            entry: CatalogEntry | None
            try:
                entry = self.entry(app.request.entry_id)
            except GrantError:
                entry = None  # gone: never deemed
            return sa.on_deadline(app, self.profiles.get(app.profile), entry, act)
        if timer.kind == EXPIRY:
            return sa.expire(app, act)
        raise StateError(f"unknown timer kind {timer.kind!r}", code="unknown_timer")
