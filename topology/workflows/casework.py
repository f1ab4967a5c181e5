"""What every kind of case (办件: a sharing application, a catalog change, an obligation)
does the same way: read it, check who may see it, list a page of them, apply a step's
change only if the case still has the version read, and wake the audit relay after.

Each kind's application service (:mod:`topology.workflows.applications`,
:mod:`topology.workflows.catalog`, :mod:`topology.workflows.obligations`) subclasses
:class:`Casework` with its :class:`CaseKind` and adds its own steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from base.errors import NotFound, StateError
from exchange.profiles import Profile
from exchange.workflows.cases import Act, Transition, Versioned
from exchange.workflows.roles import Action, Actor, authorize, authorize_list
from storage.workflows import CaseChange, CaseQuery, CaseRow, TransitionRow, WorkflowStore
from topology.reference_service import ReferenceService
from topology.workflows.deployment import Deployment

C = TypeVar("C", bound="Case")


class Case(Versioned, Protocol):
    """What every case has (:class:`exchange.workflows.cases.Versioned`: the applications,
    changes, obligations), and the profile it is counted under."""

    @property
    def profile(self) -> str: ...


def case_row(
    case: Case,
    kind: str,
    document: Mapping[str, Any],
    *,
    opened_at: datetime,
    now: datetime,
    **columns: Any,
) -> CaseRow:
    """The ``cases`` row of ``case``: its identity, state and document as of ``now``, and
    the kind's own ``columns`` (applicant, respondent, entry, clock, ...)."""
    return CaseRow(
        id=case.id,
        kind=kind,
        profile=case.profile,
        state=case.state.value,
        document=document,
        version=case.version,
        opened_at=opened_at,
        updated_at=now,
        **columns,
    )


def transition_row(
    kind: str, case_id: str, t: Transition[Any], details: Mapping[str, Any]
) -> TransitionRow:
    """The ``transitions`` row of one step of a case: who, when, what, why, on which article."""
    return TransitionRow(
        subject_kind=kind,
        subject_id=case_id,
        action=t.action.value,
        from_state=None if t.from_state is None else t.from_state.value,
        to_state=t.to_state.value,
        actor=t.actor.id,
        actor_role=t.actor.role.value,
        actor_agency=t.actor.agency,
        at=t.at,
        reason=t.reason,
        article=t.article,
        details=details,
    )


@dataclass(frozen=True)
class CaseKind(Generic[C]):
    """One kind of case as its service reads and names it."""

    #: ``cases.kind``.
    kind: str
    #: The case from its stored document.
    from_document: Callable[[Mapping[str, Any]], C]
    #: (applicant, provider) of a case: who may read it (exchange.workflows.roles).
    parties: Callable[[C], tuple[str, str]]
    #: What a case is called in messages ("application", "change", ...).
    noun: str
    #: NotFound: its message ("no <missing> <id>") and code.
    missing: str
    missing_code: str


class Casework(Generic[C]):
    """Reading and writing the cases of one :class:`CaseKind`."""

    case: ClassVar[CaseKind[Any]]

    def __init__(
        self,
        store: WorkflowStore,
        reference: ReferenceService,
        deployment: Deployment,
        *,
        after_change: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.reference = reference
        self.deployment = deployment
        self.after_change = after_change

    # -- reading ------------------------------------------------------------------------
    def load(self, case_id: str) -> C:
        row = self.store.get(case_id)
        if row is None or row.kind != self.case.kind:
            raise NotFound(f"no {self.case.missing} {case_id}", code=self.case.missing_code)
        found: C = self.case.from_document(row.document)
        return found

    def get(self, actor: Actor, case_id: str) -> C:
        found = self.load(case_id)
        applicant, provider = self.case.parties(found)
        authorize(actor, Action.READ, applicant=applicant, provider=provider)
        return found

    def history(self, actor: Actor, case_id: str) -> list[TransitionRow]:
        self.get(actor, case_id)
        return self.store.transitions_of(self.case.kind, case_id)

    def list(
        self,
        actor: Actor,
        *,
        states: Sequence[str] = (),
        overdue: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[C]:
        party = authorize_list(actor)
        rows = self.store.list_cases(
            CaseQuery(self.case.kind, party, states, overdue, limit=limit, offset=offset)
        )
        return [self.case.from_document(r.document) for r in rows]

    # -- writing ------------------------------------------------------------------------
    def take_step(
        self,
        actor: Actor,
        case_id: str,
        action: Action,
        step: Callable[[C, Profile, Act], tuple[C, Transition[Any]]],
    ) -> C:
        """One step of a case: read it and check that ``actor`` may take ``action`` on it,
        run the pure ``step`` with the case's profile at the clock's time, write its
        :meth:`change_of` (:meth:`write_step`); the new case."""
        case = self.load(case_id)
        applicant, provider = self.case.parties(case)
        authorize(actor, action, applicant=applicant, provider=provider)
        now = self.deployment.clock.now()
        new, transition = step(case, self.deployment.profiles.get(case.profile), Act(actor, now))
        self.write_step(case_id, self.change_of(case, new, transition, now))
        return new

    def change_of(self, old: C, new: C, transition: Transition[Any], now: datetime) -> CaseChange:
        """The guarded write of a step from ``old`` to ``new``: the kind's rows and timers."""
        raise NotImplementedError

    def write_step(self, case_id: str, change: CaseChange) -> None:
        """Write ``change`` if the case still has the version read (else a 409), then
        wake the audit relay."""
        if not self.store.apply(change):
            raise StateError(
                f"{self.case.noun} {case_id} changed while this step was taken; read it again",
                code="concurrent_change",
            )
        self.notify(case_id)

    def notify(self, case_id: str) -> None:
        if self.after_change is not None:
            self.after_change(case_id)
