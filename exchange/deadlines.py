"""Statutory deadlines (Decisions D1, D2) as pure functions over a :class:`WorkCalendar`.

D1: legal time is Asia/Shanghai; the trigger day is not counted; "N个工作日" is the N-th
statutory working day after it; "N日" is the trigger day + N, moved to the next working day
when that day is a rest day or holiday; the deadline ends at 24:00 of its last day, given
as ``due_by`` = 00:00 Asia/Shanghai of the following day.

Trigger times must be timezone-aware (converted to Asia/Shanghai first): a naive
``datetime`` is a :class:`DeadlineError`, because platform timestamps are often naive UTC
and a silent guess would move the legal day. A plain ``date`` is taken as the legal
(Shanghai) date itself.

D2: when several periods of one obligation apply, each due date is computed and the
earliest binds; the basis cites them all. A "promptly" (及时) period has no statutory date
(``due_date`` None); an operator's service-level target is reported apart as
``sla_due_date`` and never as the statutory date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from base.errors import DeadlineError
from exchange.profiles import Obligation, Period, Unit
from exchange.workdays import LEGAL_TIMEZONE, WorkCalendar

BASIS_SEPARATOR = "; "


@dataclass(frozen=True)
class ServiceLevel:
    """An operator's own answer target: never statutory, reported as ``sla_due_date``."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit is Unit.PROMPTLY or self.amount < 1:
            raise DeadlineError(
                "a service level needs a positive amount of working or calendar days",
                code="bad_service_level",
            )


@dataclass(frozen=True)
class PeriodDue:
    """One period and its own due date (None for "promptly")."""

    period: Period
    due_date: date | None

    @property
    def due_by(self) -> datetime | None:
        return None if self.due_date is None else end_of_day(self.due_date)


@dataclass(frozen=True)
class Deadline:
    obligation: str
    case: str | None
    start_date: date
    periods: tuple[PeriodDue, ...]
    binding: PeriodDue
    sla_due_date: date | None
    notes: tuple[str, ...]

    @property
    def due_date(self) -> date | None:
        return self.binding.due_date

    @property
    def due_by(self) -> datetime | None:
        return self.binding.due_by

    @property
    def basis(self) -> str:
        """Every applicable period's article, in profile order (D2 cites them all)."""
        return BASIS_SEPARATOR.join(dict.fromkeys(p.period.basis for p in self.periods))


def legal_date(moment: datetime | date) -> date:
    """The Asia/Shanghai calendar date of a trigger (D1)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise DeadlineError(
                f"{moment.isoformat()} has no UTC offset; give one (e.g. +08:00)",
                code="naive_datetime",
                article="D1",
            )
        return moment.astimezone(LEGAL_TIMEZONE).date()
    return moment


def end_of_day(day: date) -> datetime:
    """24:00 of ``day`` in legal time, i.e. 00:00 Asia/Shanghai of the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LEGAL_TIMEZONE)


def last_day(amount: int, unit: Unit, start: date, calendar: WorkCalendar) -> date:
    """The last day of ``amount`` ``unit`` counted from the (uncounted) ``start`` day."""
    if unit is Unit.WORKING_DAYS:
        return calendar.nth_workday_after(start, amount)
    if unit is Unit.CALENDAR_DAYS:
        return calendar.next_workday_on_or_after(start + timedelta(days=amount))
    raise DeadlineError("a 'promptly' period has no last day", code="promptly", article="D1")


def applicable_periods(obligation: Obligation, case: str | None) -> tuple[Period, ...]:
    """Periods for ``case``; with no case every period counts (the conservative reading)."""
    if case is None:
        return obligation.periods
    if case not in obligation.cases:
        known = ", ".join(obligation.cases) or "none"
        raise DeadlineError(
            f"{obligation.name} has no case {case!r} (cases: {known})", code="unknown_case"
        )
    return tuple(p for p in obligation.periods if not p.applies_to or case in p.applies_to)


def compute_deadline(
    obligation: Obligation,
    start: datetime | date,
    calendar: WorkCalendar,
    *,
    case: str | None = None,
    sla: ServiceLevel | None = None,
) -> Deadline:
    """Every applicable period's due date; the earliest dated one binds (D2)."""
    start_day = legal_date(start)
    dues = tuple(
        PeriodDue(p, None if p.amount is None else last_day(p.amount, p.unit, start_day, calendar))
        for p in applicable_periods(obligation, case)
    )
    dated = [d for d in dues if d.due_date is not None]
    binding = min(dated, key=lambda d: d.due_date or start_day) if dated else dues[0]
    sla_day = None if sla is None else last_day(sla.amount, sla.unit, start_day, calendar)
    return Deadline(
        obligation=obligation.name,
        case=case,
        start_date=start_day,
        periods=dues,
        binding=binding,
        sla_due_date=sla_day,
        notes=_notes(obligation, case, dues, binding, sla_day),
    )


def _notes(
    obligation: Obligation,
    case: str | None,
    dues: tuple[PeriodDue, ...],
    binding: PeriodDue,
    sla_day: date | None,
) -> tuple[str, ...]:
    notes: list[str] = []
    if binding.due_date is None:
        notes.append(
            f"no statutory period: answer promptly (及时), {binding.period.basis}; "
            "due_date is null."
        )
    dated = [d for d in dues if d.due_date is not None]
    if len(dated) > 1:
        notes.append(
            f"{len(dated)} periods apply; the earliest binds (D2): {binding.period.basis}."
        )
    if case is None and any(p.applies_to for p in obligation.periods):
        notes.append(
            f"periods limited to a case ({', '.join(obligation.cases)}) were all counted; "
            "give the case to narrow them."
        )
    if sla_day is not None:
        notes.append("sla_due_date is the operator's service-level target, not a statutory date.")
    return tuple(notes)
