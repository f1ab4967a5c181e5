"""govbus compliance report: the assessment view per agency (G 27-28, GM 30) of the duties
whose breach G 30 / S 47 make liabilities: update cycles (GM 11, G 13), one source
(GM 22, S 20), conflicts (GM 19), rejected events, feeds not consumed.

The broker test publishes a known scenario through the real processor and checks that the
report's figures are exactly what was published.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from exchange.catalog import LEGAL_TZ
from monitoring.compliance import (
    AuditFact,
    CaseFact,
    Facts,
    FeedFact,
    Window,
    build_report,
    report_rows,
    report_to_dict,
)
from tests.support.scenario import Names


def _at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LEGAL_TZ)


# -- computation ------------------------------------------------------------------------
def test_window_of_legal_days_is_shanghai_time() -> None:
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    first = datetime(2025, 1, 5, tzinfo=UTC)
    w = Window.of_days(date(2025, 3, 1), date(2025, 3, 2), now, opens=first)
    assert w.start == datetime(2025, 2, 28, 16, tzinfo=UTC)  # 00:00 in Shanghai
    assert w.end == datetime(2025, 3, 2, 16, tzinfo=UTC)  # 24:00 of 2 March
    assert Window.of_days(date(2025, 3, 10), None, now, opens=first).end == now
    assert Window.of_days(date(2025, 3, 9), date(2025, 3, 20), now, opens=first).end == now
    assert Window.of_days(None, None, now, opens=first) == Window(first, now)


def test_report_counts_only_the_window_and_flags_overdue_entries() -> None:
    names = Names()
    catalog = names.load().catalog
    amr, psb, hc = (names.agency(a) for a in ("city-amr", "city-psb", "city-hc"))
    reg = names.entry("amr.company.registration")
    day = date(2025, 3, 10)
    window = Window(_at(day), _at(day + timedelta(days=3)))
    audit = (
        AuditFact("accepted", reg, amr, _at(day, 12)),  # daily: then 2.5 days of silence
        AuditFact("accepted", names.entry("psb.person.contact"), psb, _at(day, 1)),
        AuditFact("accepted", names.entry("psb.person.contact"), psb, _at(day + timedelta(1), 1)),
        AuditFact("accepted", names.entry("psb.person.contact"), psb, _at(day + timedelta(2), 1)),
        AuditFact("stopped", reg, hc, _at(day, 3)),
        AuditFact("stopped", reg, hc, _at(day - timedelta(days=1))),  # before the window
        AuditFact("rejected", reg, amr, _at(day, 4)),
        AuditFact("dead_letter", reg, None, _at(day, 4)),
    )
    cases = (CaseFact(reg, hc, _at(day, 5)), CaseFact(reg, hc, _at(day + timedelta(days=9))))
    feeds = (
        FeedFact(hc, (), 4, _at(day, 6)),
        FeedFact(amr, ("amr.reader",), 0, None),
        FeedFact(psb, ("psb.reader",), 2, _at(day - timedelta(days=5))),
    )
    report = build_report(catalog, Facts(audit, cases, feeds), window, now=window.end)
    by = {a.agency: a for a in report.agencies}
    assert [f.entry for f in by[amr].overdue_entries] == [reg]
    finding = by[amr].overdue_entries[0]
    # Deadlines at day+1 12:00 and day+2 12:00 passed; the window ends at day+3 00:00.
    assert (finding.updates, finding.missed_cycles) == (1, 2)
    assert finding.longest_gap_seconds == 2.5 * 86400
    # psb updated its daily entry every day; its realtime entries are not assessable.
    assert by[psb].overdue_entries == ()
    assert (by[hc].events_stopped, by[hc].conflicts_caused) == (1, 1)
    assert (by[amr].events_rejected, by[amr].events_accepted) == (1, 1)
    assert by[hc].feed_not_consumed  # records wait, nobody reads
    assert not by[amr].feed_not_consumed
    assert by[psb].feed_not_consumed  # a reader, but the oldest unread waited 5 days
    assert by[hc].entries_provided == 0 and by[psb].entries_provided == 3
    agencies = report_to_dict(report)["agencies"]
    assert isinstance(agencies, list)
    assert [a["agency"] for a in agencies] == [a.id for a in catalog.agencies]
    rows = {r["agency"]: r for r in report_rows(report)}
    assert rows[amr]["overdue_entries"] == reg and rows[hc]["feed_not_consumed"] == "true"
