"""Catalog changes: the application layer over the pure machine
(:mod:`exchange.workflows.catalog_change`), shared by the HTTP routers and the command line.

Each step reads the case, checks the caller's permission, runs the pure step with the
injected clock's time and writes the new state, its transition and its timers in one
transaction guarded by the case's version (a 409 when another step came first), as
:mod:`topology.workflows.applications` does. A proposed entry is checked as the catalog
would take it (:meth:`topology.reference_service.ReferenceService.check_entry`: every
city's rules, the profile's admission, registered providers, one number one source).

Publication is the bus's: an approved change gets a ``publish`` timer, due at once, which
the timer worker runs (:meth:`CatalogChanges.on_timer`):

1. store the entry and create its topics, then publish its state record and re-apply the
   ACLs of its providers (:meth:`~topology.reference_service.ReferenceService.
   publish_entry`, idempotent);
2. write the ``publish`` transition (approved -> published) under the timer's lease.

A broker failure in step 1 leaves the timer due; the worker tries again. A published
withdrawal gets a ``stop`` timer at 00:00 of the day it takes effect: the provider's ACLs
are applied again, without the entry (the processors stop serving it from that day).

:func:`import_catalog` is ``govbus catalog import``: it never changes a published entry
silently, it opens a change request for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from base.errors import NotFound, StateError
from exchange.catalog import CatalogEntry, Lifecycle, LifecycleState, Withdrawal, start_of_day
from exchange.catalog_loader import CheckResult
from exchange.deadlines import legal_date
from exchange.profiles import Profile
from exchange.workflows import catalog_change as cc
from exchange.workflows.cases import Act, Transition
from exchange.workflows.roles import (
    SYSTEM,
    Action,
    Actor,
    authorize,
    authorize_role,
)
from schemas.state import entry_document
from storage.workflows import CaseChange, CaseQuery, CaseRow, TimerRow, TransitionRow
from topology.reference_service import ImportReport
from topology.workflows import casework
from topology.workflows.casework import CaseKind, Casework

#: Timer kinds: publish an approved change; at 00:00 of the day a published withdrawal
#: takes effect, take its provider's right to write the entry away (its ACLs).
PUBLISH = "publish"
STOP = "stop"


def case_row(change: cc.CatalogChange, now: datetime) -> CaseRow:
    return casework.case_row(
        change,
        cc.KIND,
        cc.to_document(change),
        opened_at=change.submitted_at,
        now=now,
        applicant=change.agency,
        entry_id=change.entry_id,
        answered_at=change.published_at,
    )


def transition_row(change: cc.CatalogChange, t: Transition[cc.State]) -> TransitionRow:
    details = {k: v for k, v in t.details.items() if v is not None}
    return casework.transition_row(cc.KIND, change.id, t, {"entry": change.entry_id, **details})


def timers_for(change: cc.CatalogChange, now: datetime) -> list[TimerRow]:
    """An approved change is published by the bus, at once; a published withdrawal stops
    the provider's writes on the day it takes effect (S 27 ¶2)."""
    if change.state is cc.State.APPROVED:
        return [TimerRow(change.id, PUBLISH, now, now)]
    stop = change.document.get("withdrawal")
    if change.state is cc.State.PUBLISHED and isinstance(stop, dict):
        effective = start_of_day(date.fromisoformat(str(stop["effective_on"])))
        return [TimerRow(change.id, STOP, max(effective, now), now)]
    return []


def withdrawal_proposal(
    current: CatalogEntry, *, reason: str, filed_on: date, effective_on: date
) -> cc.Proposal:
    """Stopping ``current``: its reason, filed on ``filed_on``, effective from ``effective_on``
    (S 27 ¶2)."""
    stop = Withdrawal(reason.strip(), filed_on, effective_on)
    entry = replace(current, lifecycle=Lifecycle(LifecycleState.WITHDRAWN, stop))
    return cc.Proposal(entry, entry_document(entry), reason)


class CatalogChanges(Casework[cc.CatalogChange]):
    """The steps of a catalog change, for any caller (HTTP, CLI, the timer worker)."""

    case = CaseKind(
        cc.KIND,
        cc.from_document,
        lambda change: (change.agency, change.agency),
        noun="change",
        missing="catalog change",
        missing_code="unknown_change",
    )

    # -- steps ----------------------------------------------------------------------------
    def submit(
        self, actor: Actor, document: Mapping[str, Any], *, reason: str = ""
    ) -> cc.CatalogChange:
        """A new entry or an amendment of a published one, as the provider proposes it."""
        authorize_role(actor, Action.SUBMIT_CHANGE)
        return self.open(actor, self.proposal(document, reason))

    def withdraw(
        self, actor: Actor, entry_id: str, *, reason: str, effective_on: date
    ) -> cc.CatalogChange:
        """Stop a published entry from ``effective_on``, filed today (S 27 ¶2)."""
        authorize_role(actor, Action.SUBMIT_CHANGE)
        current = self.reference.find_entry(entry_id)
        if current is None:
            raise NotFound(f"no catalog entry {entry_id}", code="unknown_entry")
        today = legal_date(self.deployment.clock.now())
        return self.open(
            actor,
            withdrawal_proposal(current, reason=reason, filed_on=today, effective_on=effective_on),
        )

    def proposal(self, document: Mapping[str, Any], reason: str) -> cc.Proposal:
        """``document`` (an entry as in a catalog file) checked, as it will be published."""
        published = {**document, "state": LifecycleState.PUBLISHED.value}
        published.pop("withdrawal", None)
        entry = self.reference.check_entry(published, self.deployment.profile)
        return cc.Proposal(entry, entry_document(entry), reason)

    def open(self, actor: Actor, proposal: cc.Proposal) -> cc.CatalogChange:
        """Open a change case for ``proposal`` (a checked entry) as ``actor``."""
        change, transition = self.plan(actor, proposal)
        now = transition.at
        self.store.create(
            case_row(change, now), transition_row(change, transition), timers_for(change, now)
        )
        self.notify(change.id)
        return self.load(change.id)  # published already, when nothing was left to review

    def plan(self, actor: Actor, proposal: cc.Proposal) -> cc.Step:
        """The submission as it would be made now, written nowhere (refused as it would be)."""
        entry_id = proposal.entry.id
        current = self.reference.find_entry(entry_id)
        provider = proposal.entry.provider if current is None else current.provider
        authorize(actor, Action.SUBMIT_CHANGE, applicant=provider)
        self._no_open_change(entry_id)
        return cc.submit(
            proposal,
            case_id=f"chg-{uuid.uuid4().hex[:16]}",
            profile=self.deployment.profile,
            current=current,
            act=Act(actor, self.deployment.clock.now()),
        )

    def _no_open_change(self, entry_id: str) -> None:
        open_states = [s.value for s in cc.OPEN]
        found = self.store.list_cases(CaseQuery(cc.KIND, states=open_states, entry_id=entry_id))
        if found:
            raise StateError(
                f"entry {entry_id} has change {found[0].id} open ({found[0].state}): finish "
                "or cancel it first",
                code="change_open",
            )

    def resubmit(
        self, actor: Actor, case_id: str, document: Mapping[str, Any], *, reason: str = ""
    ) -> cc.CatalogChange:
        authorize_role(actor, Action.RESUBMIT)
        proposal = self.proposal(document, reason)
        current = self.reference.find_entry(proposal.entry.id)
        return self._step(
            actor,
            case_id,
            Action.RESUBMIT,
            lambda c, p, act: cc.resubmit(c, proposal, profile=p, current=current, act=act),
        )

    def review(self, actor: Actor, case_id: str, *, reason: str = "") -> cc.CatalogChange:
        return self._step(
            actor, case_id, Action.REVIEW, lambda c, p, act: cc.review(c, p, act, reason=reason)
        )

    def ratify(self, actor: Actor, case_id: str, *, reason: str = "") -> cc.CatalogChange:
        return self._step(
            actor, case_id, Action.RATIFY, lambda c, p, act: cc.ratify(c, p, act, reason=reason)
        )

    def return_for_revision(self, actor: Actor, case_id: str, *, reasons: str) -> cc.CatalogChange:
        return self._step(
            actor,
            case_id,
            Action.RETURN,
            lambda c, p, act: cc.return_for_revision(c, p, act, reasons=reasons),
        )

    def cancel(self, actor: Actor, case_id: str, *, reason: str = "") -> cc.CatalogChange:
        return self._step(
            actor, case_id, Action.CANCEL, lambda c, p, act: cc.cancel(c, act, reason=reason)
        )

    # -- timers (topology.workflows.timers) ------------------------------------------------
    def on_timer(self, timer: TimerRow, now: datetime) -> CaseChange | None:
        """Steps 1 and 2 of publication (module docstring)."""
        change = self.load(timer.case_id)
        if timer.kind == STOP:
            entry = self.reference.find_entry(change.entry_id)
            if entry is not None:
                self.reference.sync_acls({entry.provider} | {i.provider for i in entry.items}, now)
            return None
        if timer.kind != PUBLISH or change.state is not cc.State.APPROVED:
            return None  # published already, or not a timer of this kind: spent
        # Step 1
        profile = self.deployment.profiles.get(change.profile)
        entry = self.reference.check_entry(change.document, profile)
        self.reference.publish_entry(entry)
        # Step 2
        new, transition = cc.publish(change, profile, Act(SYSTEM, now))
        return self.change_of(change, new, transition, now)

    # -- plumbing -------------------------------------------------------------------------
    def _step(
        self,
        actor: Actor,
        case_id: str,
        action: Action,
        step: Callable[[cc.CatalogChange, Profile, Act], cc.Step],
    ) -> cc.CatalogChange:
        self.take_step(actor, case_id, action, step)
        return self.load(case_id)  # published already, when this was the last review

    def change_of(
        self,
        old: cc.CatalogChange,
        new: cc.CatalogChange,
        transition: Transition[cc.State],
        now: datetime,
    ) -> CaseChange:
        return CaseChange(
            case_row(new, now), old.version, transition_row(new, transition), timers_for(new, now)
        )


def _imported(entry: CatalogEntry, today: date) -> cc.Proposal:
    """A file's change of a published entry as a proposal; a withdrawal is filed today."""
    stop = entry.lifecycle.withdrawal
    if stop is None:
        return cc.Proposal(entry, entry_document(entry), "目录导入 (govbus catalog import)")
    filed = replace(
        entry, lifecycle=Lifecycle(LifecycleState.WITHDRAWN, replace(stop, filed_on=today))
    )
    return cc.Proposal(filed, entry_document(filed), stop.reason)


@dataclass(frozen=True)
class CatalogImport:
    """What ``govbus catalog import`` did: the import, and a change request for every
    published entry the file would have changed."""

    report: ImportReport
    change_requests: tuple[cc.CatalogChange, ...]


def import_catalog(changes: CatalogChanges, result: CheckResult, actor: Actor) -> CatalogImport:
    """Import a valid catalog without changing a published entry silently.

    1. Find the file's entries that change an entry in force (published, or withdrawn with
       its stop ahead).
    2. Plan a change request for each, as ``actor`` on the provider's behalf: a refused one
       (e.g. a withdrawal not filed in advance, S 27 ¶2) stops the import before anything
       is written.
    3. Import the rest of the catalog (agencies, other entries, grants; their topics and
       state records).
    4. Open the change requests; each then goes through its reviews.
    """
    catalog = result.catalog
    now = changes.deployment.clock.now()
    # Step 1
    changed = [] if catalog is None else changes.reference.changed_published(catalog, now)
    # Step 2
    proposals = [_imported(e, legal_date(now)) for e in changed]
    for proposal in proposals:
        changes.plan(actor, proposal)
    # Step 3
    report = changes.reference.import_catalog(result, held={e.id for e in changed}, at=now)
    # Step 4
    opened = tuple(changes.open(actor, p) for p in proposals)
    return CatalogImport(report, opened)
