"""When a case's answer is due, when to remind, how long an answer took (D1, D2).

The reply obligation and the event that starts its clock come from the jurisdiction
profile (``share_reply``: guiyang-2021 10 days from application, G 15 ¶2; guiyang-2017 10
working days from acceptance, G17 15 ¶2; shenyang-2019 5 working days from receipt, S 25
¶2). The case records every start event separately; :func:`start_of_clock` picks the one
the profile names, so no city is named here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from exchange.catalog import start_of_day
from exchange.deadlines import Deadline, compute_deadline, legal_date
from exchange.profiles import Obligation, StartEvent
from exchange.workdays import MAX_DAYS_SCANNED, WorkCalendar


def start_event(obligation: Obligation) -> StartEvent:
    """The event that starts the obligation's dated periods (one per obligation, D2)."""
    dated = [p for p in obligation.periods if not p.is_promptly]
    return (dated or list(obligation.periods))[0].starts_from


def start_of_clock(
    obligation: Obligation, events: Mapping[StartEvent, datetime | None]
) -> datetime | None:
    """The recorded time of the event the obligation counts from; None until it happens
    (e.g. guiyang-2017 counts from acceptance, G17 15 ¶2)."""
    return events.get(start_event(obligation))


def reply_deadline(
    obligation: Obligation, events: Mapping[StartEvent, datetime | None], calendar: WorkCalendar
) -> Deadline | None:
    """The deadline, or None while its start event has not happened."""
    start = start_of_clock(obligation, events)
    return None if start is None else compute_deadline(obligation, start, calendar)


def previous_workday(day: date, calendar: WorkCalendar) -> date:
    """The last statutory working day before ``day``."""
    for offset in range(1, MAX_DAYS_SCANNED):
        candidate = day - timedelta(days=offset)
        if calendar.is_workday(candidate):
            return candidate
    return day - timedelta(days=1)  # pragma: no cover - no arrangement rests for 400 days


def reminder_at(due_date: date, calendar: WorkCalendar) -> datetime:
    """00:00 legal time of the working day before the last day: from then on, at most one
    working day is left before the deadline (the alert ``within one working day``)."""
    return start_of_day(previous_workday(due_date, calendar))


def due_within_one_workday(due_date: date, at: datetime, calendar: WorkCalendar) -> bool:
    """Whether no working day other than the last one lies between ``at`` and the deadline."""
    today = legal_date(at)
    return today <= due_date and calendar.nth_workday_after(today, 1) >= due_date


def workdays_between(start: datetime, end: datetime, calendar: WorkCalendar) -> int:
    """Working days after the start day up to and including the end day (D1: the start
    day is not counted); an answer on the day of the start event took 0 working days."""
    first, last = legal_date(start), legal_date(end)
    count = 0
    day = first + timedelta(days=1)
    while day <= last:
        if calendar.is_workday(day):
            count += 1
        day += timedelta(days=1)
    return count


__all__ = [
    "due_within_one_workday",
    "previous_workday",
    "reminder_at",
    "reply_deadline",
    "start_event",
    "start_of_clock",
    "workdays_between",
]
