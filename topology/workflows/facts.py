"""The facts behind the workflow metrics and the compliance report, read from the store."""

from __future__ import annotations

from datetime import date, datetime

from exchange.catalog import start_of_day
from exchange.profiles import ProfileSet
from exchange.workdays import WorkCalendar
from exchange.workflows import catalog_obligation as co
from exchange.workflows import share_application as sa
from exchange.workflows.timing import due_within_one_workday, start_of_clock, workdays_between
from monitoring.workflows import CaseFact, WorkflowFacts
from storage.workflows import WorkflowStore
from topology.workflows.applications import last_day


def calendar_last_day(calendar: WorkCalendar) -> date | None:
    years = calendar.years
    return None if not years else date(max(years), 12, 31)


def case_facts(
    store: WorkflowStore, profiles: ProfileSet, calendar: WorkCalendar, now: datetime
) -> list[CaseFact]:
    """Every case with an obligation: sharing applications (``share_reply``) and catalog
    update obligations (G 13, GM 15)."""
    return [
        *share_facts(store, profiles, calendar, now),
        *obligation_facts(store, calendar, now),
    ]


def obligation_facts(store: WorkflowStore, calendar: WorkCalendar, now: datetime) -> list[CaseFact]:
    """Catalog update obligations: open, overdue, due soon, time to update (D1: counted
    from the day the circumstance arose)."""
    facts = []
    for row in store.all_cases(co.KIND):
        ob = co.from_document(row.document)
        is_open = ob.state is co.State.OPEN
        overdue = is_open and (ob.overdue or ob.is_overdue(now))
        soon = is_open and not overdue and _due_soon(ob.due_by, now, calendar)
        took = None
        if ob.fulfilled_at is not None:
            took = workdays_between(start_of_day(ob.arose_on), ob.fulfilled_at, calendar)
        facts.append(
            CaseFact(
                obligation=ob.obligation,
                agency=ob.agency,
                profile=ob.profile,
                open=is_open,
                overdue=overdue,
                due_soon=soon,
                deemed=False,
                late=ob.late,
                answer_workdays=took,
            )
        )
    return facts


def share_facts(
    store: WorkflowStore, profiles: ProfileSet, calendar: WorkCalendar, now: datetime
) -> list[CaseFact]:
    """Sharing applications (``share_reply``, G 15, S 25)."""
    facts = []
    for row in store.all_cases(sa.KIND):
        app = sa.from_document(row.document)
        answer = app.answer
        awaiting = app.state in sa.AWAITING
        overdue = awaiting and (app.overdue or app.is_overdue(now))
        soon = awaiting and not overdue and _due_soon(app.due_by, now, calendar)
        took = None
        obligation = profiles.get(app.profile).obligation(sa.OBLIGATION)
        start = None if obligation is None else start_of_clock(obligation, app.events)
        clock_start = start or app.received_at
        if answer is not None and not answer.deemed:
            took = workdays_between(clock_start, answer.at, calendar)
        facts.append(
            CaseFact(
                obligation=sa.OBLIGATION,
                agency=app.provider,
                profile=app.profile,
                open=app.state in sa.OPEN,
                overdue=overdue,
                due_soon=soon,
                deemed=bool(answer and answer.deemed),
                late=bool(answer and answer.late),
                answer_workdays=took,
            )
        )
    return facts


def _due_soon(due_by: datetime | None, now: datetime, calendar: WorkCalendar) -> bool:
    """A deadline whose last day is within one workday of ``now``."""
    return due_by is not None and due_within_one_workday(last_day(due_by), now, calendar)


def workflow_facts(
    store: WorkflowStore, profiles: ProfileSet, calendar: WorkCalendar, now: datetime
) -> WorkflowFacts:
    last = calendar_last_day(calendar)
    return WorkflowFacts(
        case_facts(store, profiles, calendar, now), None if last is None else start_of_day(last)
    )


def overdue_answers(
    store: WorkflowStore, profiles: ProfileSet, calendar: WorkCalendar, now: datetime
) -> dict[str, int]:
    """Per agency owing answers to sharing applications: cases past their deadline
    unanswered, plus answers given late (G 30, S 47)."""
    counts: dict[str, int] = {}
    for fact in share_facts(store, profiles, calendar, now):
        if fact.overdue or fact.late:
            counts[fact.agency] = counts.get(fact.agency, 0) + 1
    return counts
