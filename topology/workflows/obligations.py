"""Catalog update obligations: the application layer over the pure machine
(:mod:`exchange.workflows.catalog_obligation`), shared by the HTTP routers and the CLI.

The bureau, or the agency concerned, records the day a law or circumstance changed (G 13,
GM 15 ¶2-3); the bureau opens each agency's yearly full maintenance (GM 15 ¶1). Each case
gets a reminder one working day before its deadline and a deadline timer that marks it
overdue (G 30, S 47); both are due rows taken by the timer worker, as for sharing
applications. The agency closes the case by stating what it updated.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import datetime

from base.errors import NotFound, WorkflowError
from exchange.catalog import LifecycleState, start_of_day
from exchange.workflows import catalog_obligation as co
from exchange.workflows.cases import Act, Transition
from exchange.workflows.roles import SYSTEM, Action, Actor, authorize
from storage.workflows import CaseChange, CaseRow, TimerRow, TransitionRow
from topology.workflows import casework
from topology.workflows.applications import DEADLINE, REMINDER, reply_timers
from topology.workflows.casework import CaseKind, Casework


def case_row(ob: co.CatalogObligation, now: datetime) -> CaseRow:
    return casework.case_row(
        ob,
        co.KIND,
        co.to_document(ob),
        opened_at=ob.recorded_at,
        now=now,
        obligation=ob.obligation,
        applicant=ob.agency,
        respondent=ob.agency,
        entry_id=ob.entry_id,
        clock_started_at=start_of_day(ob.arose_on),
        due_at=ob.due_by,
        answered_at=ob.fulfilled_at,
        overdue=ob.overdue or ob.late,
    )


def transition_row(ob: co.CatalogObligation, t: Transition[co.State]) -> TransitionRow:
    details = {"obligation": ob.obligation, "agency": ob.agency, **dict(t.details)}
    return casework.transition_row(co.KIND, ob.id, t, details)


def maintenance_id(agency: str, year: int) -> str:
    """One full-maintenance case per agency and year: its id says which."""
    digest = hashlib.sha256(agency.encode("utf-8")).hexdigest()[:16]
    return f"mnt-{year}-{digest}"


class CatalogObligations(Casework[co.CatalogObligation]):
    """The steps of a catalog update obligation, for any caller (HTTP, CLI, the timers)."""

    case = CaseKind(
        co.KIND,
        co.from_document,
        lambda ob: (ob.agency, ob.agency),
        noun="obligation",
        missing="catalog obligation",
        missing_code="unknown_obligation_case",
    )

    # -- steps ----------------------------------------------------------------------------
    def record(self, actor: Actor, notice: co.Notice) -> co.CatalogObligation:
        """The day an update obligation arose, for an agency (and one of its entries)."""
        authorize(actor, Action.RECORD_OBLIGATION, applicant=notice.agency)
        if self.reference.store.registered_agency(notice.agency) is None:
            raise NotFound(f"no registered agency {notice.agency}", code="unknown_agency")
        if notice.entry_id is not None:
            entry = self.reference.find_entry(notice.entry_id)
            if entry is None:
                raise NotFound(f"no catalog entry {notice.entry_id}", code="unknown_entry")
            if notice.agency not in {entry.provider} | {i.provider for i in entry.items}:
                raise WorkflowError(
                    f"{notice.agency} provides nothing of {entry.id}",
                    code="not_the_provider",
                    article="G 13; GM 15",
                )
        now = self.deployment.clock.now()
        ob, transition = co.record(
            notice,
            case_id=f"obl-{uuid.uuid4().hex[:16]}",
            profile=self.deployment.profile,
            calendar=self.deployment.calendar,
            act=Act(actor, now),
        )
        self._create(ob, transition, now)
        return ob

    def open_maintenance(self, actor: Actor, year: int) -> tuple[co.CatalogObligation, ...]:
        """The year's full-maintenance case of every agency that provides a published
        entry (GM 15 ¶1); one already open for an agency and year is kept."""
        authorize(actor, Action.OPEN_MAINTENANCE)
        now = self.deployment.clock.now()
        providers: set[str] = set()
        for row in self.reference.store.list_entries():
            if row.state == LifecycleState.PUBLISHED.value:
                entry = self.reference.find_entry(row.id)
                if entry is not None:
                    providers |= {entry.provider} | {i.provider for i in entry.items}
        opened: list[co.CatalogObligation] = []
        for agency in sorted(providers):
            case_id = maintenance_id(agency, year)
            if self.store.get(case_id) is not None:
                opened.append(self.load(case_id))
                continue
            ob, transition = co.open_maintenance(
                agency, year, case_id=case_id, profile=self.deployment.profile, act=Act(actor, now)
            )
            self._create(ob, transition, now)
            opened.append(ob)
        return tuple(opened)

    def fulfil(self, actor: Actor, case_id: str, *, reason: str) -> co.CatalogObligation:
        return self.take_step(
            actor, case_id, Action.FULFIL, lambda ob, _p, act: co.fulfil(ob, act, reason=reason)
        )

    # -- timers (topology.workflows.timers) ------------------------------------------------
    def on_timer(self, timer: TimerRow, now: datetime) -> CaseChange | None:
        ob = self.load(timer.case_id)
        act = Act(SYSTEM, now)
        step = co.remind(ob, act) if timer.kind == REMINDER else co.on_deadline(ob, act)
        if step is None:
            return None
        new, transition = step
        cancel = (REMINDER,) if timer.kind == DEADLINE else ()
        return replace(self.change_of(ob, new, transition, now), cancel_kinds=cancel)

    def change_of(
        self,
        old: co.CatalogObligation,
        new: co.CatalogObligation,
        transition: Transition[co.State],
        now: datetime,
    ) -> CaseChange:
        """A fulfilled obligation needs no reminder or deadline any more."""
        done = (REMINDER, DEADLINE) if new.state is co.State.FULFILLED else ()
        return CaseChange(
            case_row(new, now), old.version, transition_row(new, transition), cancel_kinds=done
        )

    # -- plumbing -------------------------------------------------------------------------
    def _create(
        self, ob: co.CatalogObligation, transition: Transition[co.State], now: datetime
    ) -> None:
        calendar = self.deployment.calendar
        timers = [] if ob.due_by is None else reply_timers(ob.id, ob.due_by, calendar, now)
        self.store.create(case_row(ob, now), transition_row(ob, transition), timers)
        self.notify(ob.id)
