"""Catalog update obligations as cases, by profile: the deadline counts from the day the
circumstance arose (D1), the earliest period binds (D2): guiyang-2021 15 days (G 13 ¶2) and
10 working days (GM 15 ¶2) after a change of law; 2 working days after other circumstances
(GM 15 ¶3); Jinan promptly (J 11); Shenyang none. The yearly full maintenance per agency
(GM 15 ¶1). Dates counted by hand from the 2026 arrangement (National Day 10-01..10-07 off,
10-10 worked)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from base.errors import DeadlineError, StateError, WorkflowError
from exchange.catalog import LEGAL_TZ
from exchange.profiles import load_profiles
from exchange.workdays import load_work_calendar
from exchange.workflows import catalog_obligation as co
from exchange.workflows.cases import Act
from exchange.workflows.roles import SYSTEM, Action, Actor, Role

PROFILES = load_profiles()
CALENDAR = load_work_calendar()
BUREAU = Actor("bureau", Role.BUREAU)
PSB = Actor("psb-clerk", Role.AGENCY, "city-psb")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LEGAL_TZ)


def midnight_after(day: str) -> datetime:
    return at(day + "T00:00") + timedelta(days=1)


def record(
    profile: str,
    obligation: str,
    arose: str,
    matter: str | None = "catalog",
    when: str = "2026-06-01T10:00",
) -> co.CatalogObligation:
    ob, t = co.record(
        co.Notice(
            obligation, "city-psb", date.fromisoformat(arose), "《某条例》修订", matter=matter
        ),
        case_id="ob-1",
        profile=PROFILES.get(profile),
        calendar=CALENDAR,
        act=Act(BUREAU, at(when)),
    )
    assert t.action is Action.RECORD_OBLIGATION and t.to_state is co.State.OPEN
    assert t.article == ob.due_basis
    return ob


@pytest.mark.parametrize(
    ("profile", "obligation", "arose", "matter", "last_day", "basis"),
    [
        # 15 days end 10-13; 10 working days only 10-16 (National Day): G 13 binds.
        ("guiyang-2021", co.LAW_CHANGE, "2026-09-28", "catalog", "2026-10-13", "G 13 ¶2; GM 15 ¶2"),
        # 10 working days end 06-15, before the 15 days (06-16): GM 15 binds.
        ("guiyang-2021", co.LAW_CHANGE, "2026-06-01", "catalog", "2026-06-15", "G 13 ¶2; GM 15 ¶2"),
        # The 15 days of G 13 ¶2 are for catalogs only: data has GM 15's 10 working days.
        ("guiyang-2021", co.LAW_CHANGE, "2026-06-01", "data", "2026-06-15", "GM 15 ¶2"),
        # G17 13 counts 15 working days: GM 15's 10 working days (10-16) bind.
        (
            "guiyang-2017",
            co.LAW_CHANGE,
            "2026-09-28",
            "catalog",
            "2026-10-16",
            "G17 13 ¶2; GM 15 ¶2",
        ),
        # 2 working days from Friday 06-05: Monday, Tuesday.
        ("guiyang-2021", co.CIRCUMSTANCES, "2026-06-05", "catalog", "2026-06-09", "GM 15 ¶3"),
    ],
)
def test_the_deadline_counts_from_the_day_it_arose_and_the_earliest_binds(
    profile: str, obligation: str, arose: str, matter: str, last_day: str, basis: str
) -> None:
    ob = record(profile, obligation, arose, matter, when="2026-09-28T15:00")
    assert ob.due_by == midnight_after(last_day) and ob.due_basis == basis


def test_jinan_updates_promptly_without_a_date_j11() -> None:
    ob = record("jinan-2024", co.CIRCUMSTANCES, "2026-06-01", matter=None)
    assert ob.due_by is None and ob.due_basis == "J 11"
    assert co.on_deadline(ob, Act(SYSTEM, at("2027-06-01T00:00"))) is None  # never overdue
    with pytest.raises(DeadlineError):  # Jinan distinguishes no catalog/data cases
        record("jinan-2024", co.CIRCUMSTANCES, "2026-06-01", matter="catalog")


def test_shenyang_sets_no_period_for_catalog_updates() -> None:
    with pytest.raises(WorkflowError) as none:
        record("shenyang-2019", co.LAW_CHANGE, "2026-06-01")
    assert none.value.code == "no_such_obligation"


def test_a_circumstance_arises_today_or_before_and_is_a_known_obligation() -> None:
    with pytest.raises(WorkflowError) as future:
        record("guiyang-2021", co.LAW_CHANGE, "2026-06-02")
    assert future.value.code == "arose_in_future"
    with pytest.raises(WorkflowError) as unknown:
        record("guiyang-2021", "share_reply", "2026-06-01")
    assert unknown.value.code == "unknown_obligation"


def test_overdue_once_at_the_deadline_reminded_before_late_when_fulfilled_after() -> None:
    ob = record("guiyang-2021", co.CIRCUMSTANCES, "2026-06-05", when="2026-06-05T16:00")
    due = midnight_after("2026-06-09")
    assert co.remind(ob, Act(SYSTEM, at("2026-06-09T00:00"))) is not None
    assert co.remind(ob, Act(SYSTEM, due)) is None
    assert co.on_deadline(ob, Act(SYSTEM, due - timedelta(seconds=1))) is None
    overdue, t = co.on_deadline(ob, Act(SYSTEM, due)) or (None, None)
    assert overdue is not None and t is not None
    assert overdue.overdue and t.action is Action.MISS_DEADLINE and t.article == "GM 15 ¶3"
    assert co.on_deadline(overdue, Act(SYSTEM, due + timedelta(days=1))) is None  # once
    done, t = co.fulfil(overdue, Act(PSB, due + timedelta(days=1)), reason="已更新目录")
    assert done.state is co.State.FULFILLED and done.late and t.action is Action.FULFIL
    with pytest.raises(StateError):
        co.fulfil(done, Act(PSB, due + timedelta(days=2)), reason="again")
    on_time, _ = co.fulfil(ob, Act(PSB, at("2026-06-08T10:00")), reason="已更新目录")
    assert not on_time.late
    with pytest.raises(WorkflowError) as bare:
        co.fulfil(ob, Act(PSB, at("2026-06-08T10:00")), reason="")
    assert bare.value.code == "missing_reason"


def test_guiyang_maintains_each_agencys_catalog_fully_every_year_gm15() -> None:
    ob, t = co.open_maintenance(
        "city-psb",
        2026,
        case_id="mnt-1",
        profile=PROFILES.get("guiyang-2021"),
        act=Act(BUREAU, at("2026-03-01T09:00")),
    )
    assert ob.obligation == co.FULL_MAINTENANCE and ob.due_by == midnight_after("2026-12-31")
    assert ob.due_basis == "GM 15 ¶1" and t.article == "GM 15 ¶1"
    for profile in ("shenyang-2019", "jinan-2024"):
        with pytest.raises(WorkflowError) as none:
            co.open_maintenance(
                "city-psb",
                2026,
                case_id="x",
                profile=PROFILES.get(profile),
                act=Act(BUREAU, at("2026-03-01T09:00")),
            )
        assert none.value.code == "no_full_maintenance"
    with pytest.raises(WorkflowError) as past:
        co.open_maintenance(
            "city-psb",
            2025,
            case_id="x",
            profile=PROFILES.get("guiyang-2021"),
            act=Act(BUREAU, at("2026-03-01T09:00")),
        )
    assert past.value.code == "year_past"


def test_the_stored_document_round_trips() -> None:
    ob = record("guiyang-2021", co.LAW_CHANGE, "2026-06-01")
    done, _ = co.fulfil(ob, Act(PSB, at("2026-06-03T10:00")), reason="已更新")
    for case in (ob, done):
        assert co.from_document(co.to_document(case)) == case
