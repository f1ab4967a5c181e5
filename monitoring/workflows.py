"""Workflow metrics (G 30, S 47: overdue answers are a liability): a collector that asks
for the current facts at each scrape, so the numbers are the SQL store's, never a copy.

Labels: ``obligation`` (the profile's name, e.g. ``share_reply``), ``agency`` (the agency
that owes the answer), ``profile``. Names are an interface (alert rules use them):

* ``govbus_workflow_cases_open``: cases someone still has to act on;
* ``govbus_workflow_cases_overdue``: open cases past their deadline, unanswered;
* ``govbus_workflow_cases_due_within_one_workday``: open cases with at most one working
  day left before the deadline (not yet overdue);
* ``govbus_workflow_answer_workdays``: histogram of answer times in working days (D1);
* ``govbus_workflow_answers_late_total``: answers given after the deadline;
* ``govbus_workflow_deemed_consents_total``: consents deemed on silence (S 25 ¶3);
* ``govbus_holiday_calendar_last_day_timestamp_seconds``: 00:00 Asia/Shanghai of the last
  day the holiday calendar knows; a deadline past it cannot be computed (D1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

#: Working days: the statutory periods are 5 and 10 working days (S 25, G17 15).
ANSWER_BUCKETS = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0)
LABELS = ("obligation", "agency", "profile")


@dataclass(frozen=True)
class CaseFact:
    obligation: str
    agency: str
    profile: str
    open: bool
    overdue: bool
    due_soon: bool
    deemed: bool
    late: bool
    answer_workdays: int | None


@dataclass(frozen=True)
class WorkflowFacts:
    cases: Sequence[CaseFact]
    calendar_last_day: datetime | None


class WorkflowCollector(Collector):
    def __init__(self, facts: Callable[[], WorkflowFacts]) -> None:
        self._facts = facts

    def collect(self) -> Iterator[Metric]:
        facts = self._facts()
        keys = sorted({(c.obligation, c.agency, c.profile) for c in facts.cases})
        gauges = {
            name: GaugeMetricFamily(f"govbus_workflow_cases_{name}", text, labels=LABELS)
            for name, text in (
                ("open", "Cases someone still has to act on."),
                ("overdue", "Open cases past their deadline without an answer (G 30, S 47)."),
                (
                    "due_within_one_workday",
                    "Open cases with at most one working day left before the deadline.",
                ),
            )
        }
        late = CounterMetricFamily(
            "govbus_workflow_answers_late", "Answers given after the deadline.", labels=LABELS
        )
        deemed = CounterMetricFamily(
            "govbus_workflow_deemed_consents",
            "Consents deemed on silence at the deadline (S 25 ¶3).",
            labels=LABELS,
        )
        answers = HistogramMetricFamily(
            "govbus_workflow_answer_workdays",
            "Answer times in working days from the event that starts the clock (D1).",
            labels=LABELS,
        )
        for key in keys:
            mine = [c for c in facts.cases if (c.obligation, c.agency, c.profile) == key]
            labels = list(key)
            gauges["open"].add_metric(labels, sum(c.open for c in mine))
            gauges["overdue"].add_metric(labels, sum(c.overdue for c in mine))
            gauges["due_within_one_workday"].add_metric(labels, sum(c.due_soon for c in mine))
            late.add_metric(labels, sum(c.late for c in mine))
            deemed.add_metric(labels, sum(c.deemed for c in mine))
            times = [c.answer_workdays for c in mine if c.answer_workdays is not None]
            buckets = [(_le(b), sum(t <= b for t in times)) for b in ANSWER_BUCKETS]
            buckets.append(("+Inf", len(times)))
            answers.add_metric(labels, buckets, sum(times))
        yield from gauges.values()
        yield late
        yield deemed
        yield answers
        calendar = GaugeMetricFamily(
            "govbus_holiday_calendar_last_day_timestamp_seconds",
            "00:00 Asia/Shanghai of the last day the holiday calendar knows (D1).",
        )
        if facts.calendar_last_day is not None:
            calendar.add_metric([], facts.calendar_last_day.timestamp())
        yield calendar


def _le(bound: float) -> str:
    return str(bound)


def workflow_registry(facts: Callable[[], WorkflowFacts]) -> CollectorRegistry:
    """A registry holding only the workflow collector (what ``/metrics`` serves)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkflowCollector(facts))
    return registry
