"""The workflow store: cases, their transitions, due rows (timers) and named leases.

Every write is one transaction that starts with its guarding UPDATE or INSERT (so SQLite
takes its write lock first and two writers never deadlock on an upgrade), and applies
only when its condition holds: the case still has the version that was read; the timer
is still leased to the caller. A condition that fails changes nothing and is reported as
``False``, for the application layer to turn into a 409 or to skip the timer.

Timers follow the scheduler pattern of leases on due rows (Polar's ``scheduler``):

1. :meth:`WorkflowStore.due_timers` lists rows due at ``now``, not done, not leased.
2. :meth:`WorkflowStore.take_timer` leases one with a conditional UPDATE
   (``WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until < now)``): of two
   workers only one sees ``rowcount == 1``.
3. The worker acts; the case change and ``done_at`` are written in one transaction that
   requires the lease still held (:meth:`WorkflowStore.apply`), so a worker whose lease
   lapsed (it was too slow, another took over) changes nothing.
4. A failed action keeps the row, with its error, leased until a retry time
   (:meth:`WorkflowStore.fail_timer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from base.errors import StorageError
from storage.engine import Store
from storage.reference import _in, _utc
from storage.tables import cases, leases, timers, transitions


class _GuardFailed(Exception):
    """A conditional UPDATE matched no row: roll the transaction back."""


@dataclass(frozen=True)
class CaseRow:
    id: str
    kind: str
    profile: str
    state: str
    document: Mapping[str, Any]
    version: int
    opened_at: datetime
    updated_at: datetime
    obligation: str | None = None
    applicant: str | None = None
    respondent: str | None = None
    entry_id: str | None = None
    clock_started_at: datetime | None = None
    due_at: datetime | None = None
    answered_at: datetime | None = None
    overdue: bool = False
    deemed: bool = False


@dataclass(frozen=True)
class TransitionRow:
    subject_kind: str
    subject_id: str
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    actor_role: str
    at: datetime
    actor_agency: str | None = None
    reason: str = ""
    article: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    audit_seq: int | None = None
    audit_hash: str | None = None


@dataclass(frozen=True)
class TimerRow:
    case_id: str
    kind: str
    due_at: datetime
    created_at: datetime
    id: int | None = None
    done_at: datetime | None = None
    outcome: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class CaseQuery:
    """Which cases to list: of ``kind``; ``party``: only those it applied for or answers;
    in ``states``; overdue or not; about ``entry_id``; one page of them."""

    kind: str | None = None
    party: str | None = None
    states: Sequence[str] = ()
    overdue: bool | None = None
    entry_id: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class CaseChange:
    """One guarded write of a case: its new row, the version it was read at, the transition
    that records the step, the timers the new state needs and the kinds it cancels."""

    case: CaseRow
    expected_version: int
    transition: TransitionRow
    new_timers: Sequence[TimerRow] = ()
    cancel_kinds: Sequence[str] = ()


@dataclass(frozen=True)
class Lease:
    """Step 3's guard: the timer ``timer_id`` must still be leased to ``owner``."""

    timer_id: int
    owner: str
    outcome: str


class WorkflowStore(Store):
    # -- cases ---------------------------------------------------------------------------
    def create(
        self, case: CaseRow, transition: TransitionRow, new_timers: Sequence[TimerRow] = ()
    ) -> None:
        """A new case, its first transition and its timers, in one transaction."""
        with self._tx(f"create case {case.id}") as conn:
            conn.execute(cases.insert().values(id=case.id, **_case_values(case)))
            insert_transition(conn, transition)
            for timer in new_timers:
                _insert_timer(conn, timer)

    def apply(self, change: CaseChange, *, lease: Lease | None = None) -> bool:
        """Write a case's new state if it still has ``change.expected_version`` (and, for a
        timer's action, if ``lease`` is still held): the transition, new timers, cancelled
        timers of ``cancel_kinds`` and the timer done, together, all stamped with the
        transition's time. False when a guard failed."""
        case, transition = change.case, change.transition
        moment = _in(transition.at)
        try:
            with self.engine.begin() as conn:
                if lease is not None and not _finish_leased(conn, lease, moment):
                    raise _GuardFailed
                done = conn.execute(
                    update(cases)
                    .where(cases.c.id == case.id, cases.c.version == change.expected_version)
                    .values(**_case_values(case))
                )
                if done.rowcount != 1:
                    raise _GuardFailed
                insert_transition(conn, transition)
                if change.cancel_kinds:
                    conn.execute(
                        update(timers)
                        .where(
                            timers.c.case_id == case.id,
                            timers.c.kind.in_(list(change.cancel_kinds)),
                            timers.c.done_at.is_(None),
                        )
                        .values(done_at=moment, outcome="cancelled")
                    )
                for timer in change.new_timers:
                    _insert_timer(conn, timer)
        except _GuardFailed:
            return False  # rolled back: nothing of this step was written
        except IntegrityError as exc:
            raise StorageError(f"update case {case.id}: conflicts ({exc.orig})") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"update case {case.id}: {exc.__class__.__name__}: {exc}") from exc
        return True

    def get(self, case_id: str) -> CaseRow | None:
        return self._first("read case", select(cases).where(cases.c.id == case_id), _case)

    def list_cases(self, q: CaseQuery) -> list[CaseRow]:
        """Cases, newest first, as ``q`` selects them."""
        query = select(cases).order_by(cases.c.opened_at.desc(), cases.c.id)
        if q.kind is not None:
            query = query.where(cases.c.kind == q.kind)
        if q.entry_id is not None:
            query = query.where(cases.c.entry_id == q.entry_id)
        if q.party is not None:
            query = query.where(or_(cases.c.applicant == q.party, cases.c.respondent == q.party))
        if q.states:
            query = query.where(cases.c.state.in_(list(q.states)))
        if q.overdue is not None:
            query = query.where(cases.c.overdue.is_(q.overdue))
        return self._all("list cases", query.limit(q.limit).offset(q.offset), _case)

    def all_cases(self, kind: str) -> list[CaseRow]:
        """Every case of ``kind`` (for metrics and reports)."""
        query = select(cases).where(cases.c.kind == kind).order_by(cases.c.id)
        return self._all("list cases", query, _case)

    # -- transitions -----------------------------------------------------------------------
    def record(self, transition: TransitionRow) -> None:
        """A transition on its own (e.g. an account change)."""
        with self._tx("record transition") as conn:
            insert_transition(conn, transition)

    def transitions_of(self, subject_kind: str, subject_id: str) -> list[TransitionRow]:
        query = (
            select(transitions)
            .where(
                transitions.c.subject_kind == subject_kind,
                transitions.c.subject_id == subject_id,
            )
            .order_by(transitions.c.id)
        )
        return self._all("read transitions", query, _transition)

    def unsealed(self, limit: int) -> list[TransitionRow]:
        """Transitions not yet in the audit chain, oldest first."""
        query = (
            select(transitions)
            .where(transitions.c.audit_seq.is_(None))
            .order_by(transitions.c.id)
            .limit(limit)
        )
        return self._all("read transitions", query, _transition)

    def mark_sealed(self, sealed: Sequence[tuple[int, int, str]]) -> None:
        """(transition id, audit seq, audit hash hex) of transitions now in the chain."""
        with self._tx("mark transitions sealed") as conn:
            for transition_id, seq, digest in sealed:
                conn.execute(
                    update(transitions)
                    .where(transitions.c.id == transition_id, transitions.c.audit_seq.is_(None))
                    .values(audit_seq=seq, audit_hash=digest)
                )

    def last_sealed(self) -> tuple[int, str] | None:
        """(seq, hash hex) of the newest transition in the chain, by SQL's record."""
        with self._tx("read transitions") as conn:
            top = conn.execute(select(func.max(transitions.c.audit_seq))).scalar()
            if top is None:
                return None
            digest = conn.execute(
                select(transitions.c.audit_hash).where(transitions.c.audit_seq == top)
            ).scalar()
        return int(top), str(digest)

    # -- timers -------------------------------------------------------------------------------
    def due_timers(
        self, now: datetime, limit: int = 50, *, case_id: str | None = None
    ) -> list[TimerRow]:
        """Step 1: rows due at ``now``, not done and not leased (or their lease lapsed)."""
        query = select(timers).where(*_due(now)).order_by(timers.c.due_at, timers.c.id).limit(limit)
        if case_id is not None:
            query = query.where(timers.c.case_id == case_id)
        return self._all("read due timers", query, _timer)

    def take_timer(self, timer_id: int, owner: str, now: datetime, until: datetime) -> bool:
        """Step 2: lease one due row; True for exactly one of several callers."""
        with self._tx("take timer") as conn:
            done = conn.execute(
                update(timers)
                .where(timers.c.id == timer_id, *_due(now))
                .values(lease_owner=owner, lease_until=_in(until), attempts=timers.c.attempts + 1)
            )
        return done.rowcount == 1

    def finish_timer(self, timer_id: int, owner: str, now: datetime, outcome: str) -> bool:
        """A timer whose action changed no case (nothing to do any more): done."""
        with self._tx("finish timer") as conn:
            return _finish_leased(conn, Lease(timer_id, owner, outcome), _in(now))

    def fail_timer(self, timer_id: int, owner: str, error: str, retry_at: datetime) -> None:
        """Step 4: keep the row, leased until ``retry_at``, with its error."""
        with self._tx("fail timer") as conn:
            conn.execute(
                update(timers)
                .where(timers.c.id == timer_id, timers.c.lease_owner == owner)
                .values(lease_until=_in(retry_at), last_error=error[:2000])
            )

    def add_timers(self, new_timers: Sequence[TimerRow]) -> None:
        with self._tx("add timers") as conn:
            for timer in new_timers:
                _insert_timer(conn, timer)

    def timers_of(self, case_id: str) -> list[TimerRow]:
        query = select(timers).where(timers.c.case_id == case_id).order_by(timers.c.id)
        return self._all("read timers", query, _timer)

    # -- leases ---------------------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Hold the named lease until ``until`` (renewing one's own); False if another holds it."""
        moment = _in(now)
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    update(leases)
                    .where(
                        leases.c.name == name,
                        or_(
                            leases.c.owner.is_(None),
                            leases.c.owner == owner,
                            leases.c.until < moment,
                        ),
                    )
                    .values(owner=owner, until=_in(until))
                )
                if done.rowcount == 1:
                    return True
                exists = conn.execute(select(leases.c.name).where(leases.c.name == name)).first()
                if exists is not None:
                    return False
                conn.execute(leases.insert().values(name=name, owner=owner, until=_in(until)))
                return True
        except IntegrityError:
            return False  # another caller created the row first: it holds the lease
        except SQLAlchemyError as exc:
            raise StorageError(f"lease {name}: {exc.__class__.__name__}: {exc}") from exc

    def release_lease(self, name: str, owner: str) -> None:
        with self._tx(f"release lease {name}") as conn:
            conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.owner == owner))
                .values(owner=None, until=None)
            )


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A timer row due at ``now``: not done, its time come, not leased (or its lease lapsed)."""
    moment = _in(now)
    return (
        timers.c.done_at.is_(None),
        timers.c.due_at <= moment,
        or_(timers.c.lease_until.is_(None), timers.c.lease_until < moment),
    )


def _finish_leased(conn: Connection, lease: Lease, moment: datetime | None) -> bool:
    """Mark the timer of ``lease`` done at ``moment`` with the lease's outcome, if it is
    still leased to the lease's owner and not done; whether it was."""
    done = conn.execute(
        update(timers)
        .where(
            timers.c.id == lease.timer_id,
            timers.c.lease_owner == lease.owner,
            timers.c.done_at.is_(None),
        )
        .values(done_at=moment, outcome=lease.outcome)
    )
    return done.rowcount == 1


# -- row mapping ------------------------------------------------------------------------------
def insert_transition(conn: Connection, t: TransitionRow) -> None:
    conn.execute(
        transitions.insert().values(
            subject_kind=t.subject_kind,
            subject_id=t.subject_id,
            action=t.action,
            from_state=t.from_state,
            to_state=t.to_state,
            actor=t.actor,
            actor_role=t.actor_role,
            actor_agency=t.actor_agency,
            at=_in(t.at),
            reason=t.reason,
            article=t.article,
            details=dict(t.details),
        )
    )


def _insert_timer(conn: Connection, t: TimerRow) -> None:
    exists = conn.execute(
        select(timers.c.id).where(
            timers.c.case_id == t.case_id, timers.c.kind == t.kind, timers.c.due_at == _in(t.due_at)
        )
    ).first()
    if exists is None:
        conn.execute(
            timers.insert().values(
                case_id=t.case_id, kind=t.kind, due_at=_in(t.due_at), created_at=_in(t.created_at)
            )
        )


def _case_values(c: CaseRow) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "profile": c.profile,
        "obligation": c.obligation,
        "state": c.state,
        "applicant": c.applicant,
        "respondent": c.respondent,
        "entry_id": c.entry_id,
        "opened_at": _in(c.opened_at),
        "clock_started_at": _in(c.clock_started_at),
        "due_at": _in(c.due_at),
        "answered_at": _in(c.answered_at),
        "overdue": c.overdue,
        "deemed": c.deemed,
        "document": dict(c.document),
        "version": c.version,
        "updated_at": _in(c.updated_at),
    }


def _required(value: datetime | None) -> datetime:
    if value is None:  # pragma: no cover - NOT NULL columns
        raise StorageError("a required time column is null")
    return value


def _case(m: RowMapping) -> CaseRow:
    return CaseRow(
        id=m["id"],
        kind=m["kind"],
        profile=m["profile"],
        state=m["state"],
        document=dict(m["document"]),
        version=int(m["version"]),
        opened_at=_required(_utc(m["opened_at"])),
        updated_at=_required(_utc(m["updated_at"])),
        obligation=m["obligation"],
        applicant=m["applicant"],
        respondent=m["respondent"],
        entry_id=m["entry_id"],
        clock_started_at=_utc(m["clock_started_at"]),
        due_at=_utc(m["due_at"]),
        answered_at=_utc(m["answered_at"]),
        overdue=bool(m["overdue"]),
        deemed=bool(m["deemed"]),
    )


def _transition(m: RowMapping) -> TransitionRow:
    return TransitionRow(
        subject_kind=m["subject_kind"],
        subject_id=m["subject_id"],
        action=m["action"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        actor=m["actor"],
        actor_role=m["actor_role"],
        at=_required(_utc(m["at"])),
        actor_agency=m["actor_agency"],
        reason=m["reason"] or "",
        article=m["article"] or "",
        details=dict(m["details"] or {}),
        id=int(m["id"]),
        audit_seq=None if m["audit_seq"] is None else int(m["audit_seq"]),
        audit_hash=m["audit_hash"],
    )


def _timer(m: RowMapping) -> TimerRow:
    return TimerRow(
        case_id=m["case_id"],
        kind=m["kind"],
        due_at=_required(_utc(m["due_at"])),
        created_at=_required(_utc(m["created_at"])),
        id=int(m["id"]),
        done_at=_utc(m["done_at"]),
        outcome=m["outcome"],
        lease_owner=m["lease_owner"],
        lease_until=_utc(m["lease_until"]),
        attempts=int(m["attempts"]),
        last_error=m["last_error"],
    )
