"""Catalog update obligations as cases, by profile (G 13, G17 13, GM 15, J 11).

When a law changes or an agency's duties change (``catalog_update_law_change``), or when
circumstances change the data (``catalog_update_circumstances``), the agency concerned must
update its catalog (and, where the profile says so, its data) within the profile's period
from the day the circumstance arose (`情形发生之日`, D1): guiyang-2021 15 days (G 13 ¶2) and
10 working days (GM 15 ¶2), the earliest binding (D2); 2 working days for circumstances
(GM 15 ¶3); Jinan promptly, with no fixed period (J 11); Shenyang has no such obligation.
The bureau or the agency records the day it arose; the bus tracks the update against the
deadline, reminds one working day before it and marks the case overdue after it (G 30,
S 47). The agency closes the case by stating what it updated.

Where the profile has ``catalog_lifecycle.full_maintenance_basis`` (GM 15 ¶1 `每年至少开展
一次全面维护`), the bureau opens one full-maintenance case per agency and year, due at
24:00 of 31 December::

    open --fulfil--> fulfilled        (late when after the deadline)
    open --deadline (the bus)--> open, overdue

Every step takes an :class:`~exchange.workflows.cases.Act`; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from base.errors import WorkflowError
from exchange.deadlines import compute_deadline, end_of_day, legal_date
from exchange.profiles import Profile, StartEvent
from exchange.workdays import WorkCalendar
from exchange.workflows.cases import Act, Transition, advance, iso, moment, require_state, text
from exchange.workflows.roles import Action

KIND = "catalog_obligation"
LAW_CHANGE = "catalog_update_law_change"
CIRCUMSTANCES = "catalog_update_circumstances"
#: The obligations a notice can record (named as in the profiles).
UPDATE_OBLIGATIONS = (LAW_CHANGE, CIRCUMSTANCES)
#: The yearly full maintenance (GM 15 ¶1): not a profile obligation with periods.
FULL_MAINTENANCE = "catalog_full_maintenance"
UPDATE_ARTICLE = "G 13; GM 15"


class State(StrEnum):
    OPEN = "open"  # 待更新
    FULFILLED = "fulfilled"  # 已更新


@dataclass(frozen=True)
class Notice:
    """What is recorded: which obligation arose for which agency (and entry), on which
    day, about what (the profile's case of the obligation: ``catalog`` or ``data``)."""

    obligation: str
    agency: str
    arose_on: date
    description: str
    entry_id: str | None = None
    matter: str | None = None


@dataclass(frozen=True)
class CatalogObligation:
    id: str
    profile: str
    obligation: str
    agency: str
    arose_on: date
    description: str
    state: State
    recorded_at: datetime
    recorded_by: str
    entry_id: str | None = None
    matter: str | None = None
    due_by: datetime | None = None  # None: promptly (及时), no statutory date
    due_basis: str = ""
    overdue: bool = False
    fulfilled_at: datetime | None = None
    fulfilment: str = ""
    late: bool = False
    version: int = 1

    def is_overdue(self, at: datetime) -> bool:
        return self.state is State.OPEN and self.due_by is not None and at >= self.due_by


Step = tuple[CatalogObligation, Transition[State]]


def _opened(ob: CatalogObligation, act: Act) -> Step:
    transition = Transition(
        Action.RECORD_OBLIGATION,
        None,
        ob.state,
        act.actor,
        act.at,
        ob.description,
        ob.due_basis,
        {"obligation": ob.obligation, "arose_on": ob.arose_on.isoformat()},
    )
    return ob, transition


# -- steps --------------------------------------------------------------------------------
def record(
    notice: Notice, *, case_id: str, profile: Profile, calendar: WorkCalendar, act: Act
) -> Step:
    """The bureau or the agency records the day an update obligation arose; the deadline
    is the profile's, counted from that day (D1, D2)."""
    if notice.obligation not in UPDATE_OBLIGATIONS:
        raise WorkflowError(
            f"{notice.obligation!r} is not a catalog update obligation "
            f"(one of {', '.join(UPDATE_OBLIGATIONS)})",
            code="unknown_obligation",
            article=UPDATE_ARTICLE,
        )
    obligation = profile.obligation(notice.obligation)
    if obligation is None:
        raise WorkflowError(
            f"profile {profile.id} sets no period for {notice.obligation}",
            code="no_such_obligation",
            article=UPDATE_ARTICLE,
        )
    if any(p.starts_from is not StartEvent.OCCURRENCE for p in obligation.periods):
        raise WorkflowError(  # pragma: no cover - the profiles count from occurrence
            f"{notice.obligation} does not count from the day it arose", code="bad_obligation"
        )
    if notice.arose_on > legal_date(act.at):
        raise WorkflowError(
            f"the circumstance arose on {notice.arose_on}, after today",
            code="arose_in_future",
            article="D1",
        )
    deadline = compute_deadline(obligation, notice.arose_on, calendar, case=notice.matter)
    ob = CatalogObligation(
        id=case_id,
        profile=profile.id,
        obligation=notice.obligation,
        agency=notice.agency,
        arose_on=notice.arose_on,
        description=text(notice.description, "description", deadline.basis),
        state=State.OPEN,
        recorded_at=act.at,
        recorded_by=act.actor.id,
        entry_id=notice.entry_id,
        matter=notice.matter,
        due_by=deadline.due_by,
        due_basis=deadline.basis,
    )
    return _opened(ob, act)


def open_maintenance(agency: str, year: int, *, case_id: str, profile: Profile, act: Act) -> Step:
    """The year's full maintenance of ``agency``'s catalog (GM 15 ¶1), due at 24:00 of
    31 December; where the profile has no such duty, refused."""
    basis = profile.catalog_lifecycle.full_maintenance_basis
    if not basis:
        raise WorkflowError(
            f"profile {profile.id} has no yearly full maintenance of catalogs",
            code="no_full_maintenance",
            article="GM 15 ¶1",
        )
    if year < legal_date(act.at).year:
        raise WorkflowError(f"the year {year} has ended", code="year_past", article=basis)
    ob = CatalogObligation(
        id=case_id,
        profile=profile.id,
        obligation=FULL_MAINTENANCE,
        agency=agency,
        arose_on=date(year, 1, 1),
        description=f"{year}年度政府数据资源目录全面维护",
        state=State.OPEN,
        recorded_at=act.at,
        recorded_by=act.actor.id,
        due_by=end_of_day(date(year, 12, 31)),
        due_basis=basis,
    )
    return _opened(ob, act)


def fulfil(ob: CatalogObligation, act: Act, *, reason: str) -> Step:
    """The agency reports the update done, stating what it updated."""
    require_state(ob, "obligation", Action.FULFIL, frozenset({State.OPEN}))
    why = text(reason, "reason", ob.due_basis)
    new = replace(
        ob,
        state=State.FULFILLED,
        fulfilled_at=act.at,
        fulfilment=why,
        late=ob.is_overdue(act.at),
    )
    return advance(ob, new, Action.FULFIL, act, why, ob.due_basis)


def on_deadline(ob: CatalogObligation, act: Act) -> Step | None:
    """The deadline passed with the update not reported: overdue (G 30, S 47)."""
    if not ob.is_overdue(act.at) or ob.overdue:
        return None
    new = replace(ob, overdue=True)
    return advance(ob, new, Action.MISS_DEADLINE, act, "逾期未更新", ob.due_basis)


def remind(ob: CatalogObligation, act: Act) -> Step | None:
    """At most one working day is left: remind the agency (no state change)."""
    if ob.state is not State.OPEN or ob.due_by is None or act.at >= ob.due_by:
        return None
    return advance(ob, ob, Action.REMIND, act, "更新期限将至", ob.due_basis)


# -- documents ----------------------------------------------------------------------------
def to_document(ob: CatalogObligation) -> dict[str, Any]:
    return {
        "id": ob.id,
        "kind": KIND,
        "profile": ob.profile,
        "obligation": ob.obligation,
        "agency": ob.agency,
        "entry_id": ob.entry_id,
        "matter": ob.matter,
        "arose_on": ob.arose_on.isoformat(),
        "description": ob.description,
        "state": ob.state.value,
        "recorded_at": ob.recorded_at.isoformat(),
        "recorded_by": ob.recorded_by,
        "due_by": iso(ob.due_by),
        "due_basis": ob.due_basis or None,
        "overdue": ob.overdue,
        "fulfilled_at": iso(ob.fulfilled_at),
        "fulfilment": ob.fulfilment or None,
        "late": ob.late,
        "version": ob.version,
    }


def from_document(doc: Mapping[str, Any]) -> CatalogObligation:
    recorded = moment(doc["recorded_at"])
    if recorded is None:  # pragma: no cover - always written
        raise ValueError("recorded_at is required")
    return CatalogObligation(
        id=str(doc["id"]),
        profile=str(doc["profile"]),
        obligation=str(doc["obligation"]),
        agency=str(doc["agency"]),
        arose_on=date.fromisoformat(str(doc["arose_on"])),
        description=str(doc["description"]),
        state=State(doc["state"]),
        recorded_at=recorded,
        recorded_by=str(doc["recorded_by"]),
        entry_id=doc.get("entry_id"),
        matter=doc.get("matter"),
        due_by=moment(doc.get("due_by")),
        due_basis=str(doc.get("due_basis") or ""),
        overdue=bool(doc.get("overdue")),
        fulfilled_at=moment(doc.get("fulfilled_at")),
        fulfilment=str(doc.get("fulfilment") or ""),
        late=bool(doc.get("late")),
        version=int(doc.get("version") or 1),
    )


__all__ = [
    "CIRCUMSTANCES",
    "FULL_MAINTENANCE",
    "KIND",
    "LAW_CHANGE",
    "UPDATE_OBLIGATIONS",
    "CatalogObligation",
    "Notice",
    "State",
    "Step",
    "from_document",
    "fulfil",
    "on_deadline",
    "open_maintenance",
    "record",
    "remind",
    "to_document",
]
