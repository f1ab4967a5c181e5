"""The assessment view: what each agency did and failed to do over a window.

G 27-28 and GM 30 make the bureau assess agencies' sharing and opening work and publish the
results; G 30 and S 47 list the liabilities. Per agency this report gives, from the bus's
own records (the audit topic, govbus.conflicts, feeds and consumer-group offsets):

* entries it provides that were not updated within their declared cycle (GM 11, G 13;
  liability G 30, S 47), assessed by :func:`exchange.update_cycles.assess_window`;
* its events accepted, stopped as non-authoritative (GM 22, S 20), rejected and duplicate;
* coordination cases its events caused (GM 19);
* its feed: which consumer groups read it, how many records wait unread, and whether it
  counts as not consumed (records wait and no group reads it, or the oldest has waited
  longer than ``FEED_STALE_AFTER``);
* its overdue answers (G 30, S 47): sharing applications it owes an answer to past their
  deadline, and answers it gave late (from the workflows' SQL store, counted by
  :func:`topology.workflows.facts.overdue_answers`).

Computation only; :mod:`monitoring.compliance_read` gathers the facts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from exchange.catalog import LEGAL_TZ, Catalog, CatalogEntry, in_force, start_of_day
from exchange.update_cycles import assess_window, assessable
from monitoring.tracking import providers_of

#: A feed whose oldest unread record waited longer than this is not consumed (Decision).
FEED_STALE_AFTER = timedelta(days=1)
ARTICLES = {
    "assessment": "G 27; G 28; GM 30",
    "update_cycle": "GM 11; G 13; G 30; S 47",
    "stopped": "GM 22; S 20",
    "conflicts": "GM 19",
    "overdue_answers": "G 15 ¶2; S 25 ¶2; G 30; S 47",
}
#: Audit kinds counted per providing agency.
COUNTED = ("accepted", "stopped", "rejected", "duplicate")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def of_days(
        cls, first: date | None, last: date | None, now: datetime, *, opens: datetime
    ) -> Window:
        """Legal days (Asia/Shanghai) ``first`` to ``last`` inclusive, ending no later than
        ``now``; without ``first`` the window starts at ``opens`` (the first record)."""
        start = start_of_day(first) if first else opens
        end = start_of_day(last + timedelta(days=1)) if last else now
        return cls(start, max(start, min(end, now)))

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at <= self.end


@dataclass(frozen=True)
class AuditFact:
    kind: str
    entry: str
    provider: str | None
    at: datetime


@dataclass(frozen=True)
class CaseFact:
    entry: str
    reporter: str
    at: datetime


@dataclass(frozen=True)
class FeedFact:
    agency: str
    groups: tuple[str, ...]
    unread: int
    oldest_unread: datetime | None


@dataclass(frozen=True)
class Facts:
    """What the report is computed from (gathered by :mod:`monitoring.compliance_read`)."""

    audit: tuple[AuditFact, ...]
    cases: tuple[CaseFact, ...]
    feeds: tuple[FeedFact, ...]


@dataclass(frozen=True)
class EntryFinding:
    entry: str
    cycle: str
    updates: int
    last_update: datetime | None
    longest_gap_seconds: float
    missed_cycles: int


@dataclass(frozen=True)
class AgencyFigures:
    agency: str
    name_zh: str
    entries_provided: int
    overdue_entries: tuple[EntryFinding, ...]
    events_accepted: int
    events_stopped: int
    events_rejected: int
    events_duplicate: int
    conflicts_caused: int
    feed_groups: tuple[str, ...]
    feed_unread: int
    feed_oldest_unread: datetime | None
    feed_not_consumed: bool
    answers_overdue: int = 0

    @property
    def entries_overdue(self) -> int:
        return len(self.overdue_entries)


@dataclass(frozen=True)
class ComplianceReport:
    window: Window
    generated_at: datetime
    agencies: tuple[AgencyFigures, ...]


def _provided(catalog: Catalog, agency: str, window: Window) -> list[CatalogEntry]:
    return [
        e
        for e in catalog.entries
        if agency in providers_of(e) and (in_force(e, window.start) or in_force(e, window.end))
    ]


def build_report(
    catalog: Catalog,
    facts: Facts,
    window: Window,
    *,
    now: datetime,
    agencies: Sequence[str] | None = None,
    overdue_answers: Mapping[str, int] | None = None,
) -> ComplianceReport:
    """The figures of ``agencies`` (default: every agency of ``catalog``) over ``window``."""
    counts: Counter[tuple[str, str]] = Counter()
    updates: dict[tuple[str, str], list[datetime]] = {}
    for f in facts.audit:
        if f.provider is None:
            continue
        if f.kind == "accepted":
            updates.setdefault((f.entry, f.provider), []).append(f.at)
        if f.at in window and f.kind in COUNTED:
            counts[(f.provider, f.kind)] += 1
    caused = Counter(c.reporter for c in facts.cases if c.at in window)
    feed_of = {f.agency: f for f in facts.feeds}
    wanted = agencies if agencies is not None else [a.id for a in catalog.agencies]
    rows = []
    for agency_id in wanted:
        agency = catalog.agency(agency_id)
        provided = _provided(catalog, agency_id, window)
        feed = feed_of.get(agency_id, FeedFact(agency_id, (), 0, None))
        stale = feed.oldest_unread is not None and now - feed.oldest_unread > FEED_STALE_AFTER
        rows.append(
            AgencyFigures(
                agency=agency_id,
                name_zh=agency.name_zh if agency else "",
                entries_provided=len(provided),
                overdue_entries=_overdue(provided, agency_id, updates, window),
                events_accepted=counts[(agency_id, "accepted")],
                events_stopped=counts[(agency_id, "stopped")],
                events_rejected=counts[(agency_id, "rejected")],
                events_duplicate=counts[(agency_id, "duplicate")],
                conflicts_caused=caused[agency_id],
                feed_groups=feed.groups,
                feed_unread=feed.unread,
                feed_oldest_unread=feed.oldest_unread,
                feed_not_consumed=feed.unread > 0 and (not feed.groups or stale),
                answers_overdue=(overdue_answers or {}).get(agency_id, 0),
            )
        )
    return ComplianceReport(window, now, tuple(rows))


def _overdue(
    provided: Iterable[CatalogEntry],
    agency_id: str,
    updates: Mapping[tuple[str, str], list[datetime]],
    window: Window,
) -> tuple[EntryFinding, ...]:
    """The entries ``agency_id`` provides that missed their update cycle in ``window``."""
    findings = []
    for entry in provided:
        if not assessable(entry.update_cycle):
            continue
        a = assess_window(
            entry.update_cycle,
            updates.get((entry.id, agency_id), []),
            start=window.start,
            end=window.end,
        )
        if a.overdue:
            findings.append(
                EntryFinding(
                    entry.id,
                    entry.update_cycle.label,
                    a.updates,
                    a.last_update,
                    a.longest_gap.total_seconds(),
                    a.missed_cycles,
                )
            )
    return tuple(findings)


def _iso(at: datetime | None) -> str | None:
    """Legal time (Asia/Shanghai, D1), ISO 8601 with its offset."""
    return None if at is None else at.astimezone(LEGAL_TZ).isoformat()


def report_to_dict(report: ComplianceReport) -> dict[str, object]:
    """The JSON document of ``govbus compliance report --json``."""
    return {
        "window": {"from": _iso(report.window.start), "to": _iso(report.window.end)},
        "generated_at": _iso(report.generated_at),
        "articles": ARTICLES,
        "agencies": [
            {
                "agency": a.agency,
                "name_zh": a.name_zh,
                "entries_provided": a.entries_provided,
                "entries_overdue": a.entries_overdue,
                "overdue_entries": [
                    {
                        "entry": f.entry,
                        "cycle": f.cycle,
                        "updates": f.updates,
                        "last_update": _iso(f.last_update),
                        "longest_gap_seconds": f.longest_gap_seconds,
                        "missed_cycles": f.missed_cycles,
                    }
                    for f in a.overdue_entries
                ],
                "events_accepted": a.events_accepted,
                "events_stopped": a.events_stopped,
                "events_rejected": a.events_rejected,
                "events_duplicate": a.events_duplicate,
                "conflicts_caused": a.conflicts_caused,
                "feed_groups": list(a.feed_groups),
                "feed_unread": a.feed_unread,
                "feed_oldest_unread": _iso(a.feed_oldest_unread),
                "feed_not_consumed": a.feed_not_consumed,
                "answers_overdue": a.answers_overdue,
            }
            for a in report.agencies
        ],
    }


CSV_COLUMNS = (
    "agency",
    "name_zh",
    "entries_provided",
    "entries_overdue",
    "overdue_entries",
    "events_accepted",
    "events_stopped",
    "events_rejected",
    "events_duplicate",
    "conflicts_caused",
    "feed_groups",
    "feed_unread",
    "feed_not_consumed",
    "answers_overdue",
    "window_from",
    "window_to",
)


def report_rows(report: ComplianceReport) -> list[dict[str, object]]:
    """One flat row per agency for CSV (lists joined with ';')."""
    return [
        {
            "agency": a.agency,
            "name_zh": a.name_zh,
            "entries_provided": a.entries_provided,
            "entries_overdue": a.entries_overdue,
            "overdue_entries": ";".join(f.entry for f in a.overdue_entries),
            "events_accepted": a.events_accepted,
            "events_stopped": a.events_stopped,
            "events_rejected": a.events_rejected,
            "events_duplicate": a.events_duplicate,
            "conflicts_caused": a.conflicts_caused,
            "feed_groups": ";".join(a.feed_groups),
            "feed_unread": a.feed_unread,
            "feed_not_consumed": str(a.feed_not_consumed).lower(),
            "answers_overdue": a.answers_overdue,
            "window_from": _iso(report.window.start),
            "window_to": _iso(report.window.end),
        }
        for a in report.agencies
    ]
