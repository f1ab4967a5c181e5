"""Deadlines under D1 (day counting) and D2 (earliest of two texts binds).

Expected dates are counted by hand from the State Council holiday notices:
2025 Spring Festival 1.28-2.4 off, 1.26 (Sun) and 2.8 (Sat) working; 2025 National Day and
Mid-Autumn 10.1-10.8 off, 9.28 (Sun) and 10.11 (Sat) working; 2026 Spring Festival
2.15-2.23 off, 2.14 (Sat) and 2.28 (Sat) working; 2026 Mid-Autumn 9.25-9.27 off;
2026 National Day 10.1-10.7 off, 9.20 (Sun) and 10.10 (Sat) working.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import CalendarError, DeadlineError
from exchange.deadlines import ServiceLevel, compute_deadline, end_of_day, last_day, legal_date
from exchange.profiles import Obligation, Period, ProfileSet, StartEvent, Unit, load_profiles
from exchange.workdays import (
    HOLIDAYS_DIR_ENV,
    WorkCalendar,
    holiday_dirs_from_env,
    load_work_calendar,
)

CAL = load_work_calendar()


PROFILES = load_profiles()


SHANGHAI_8 = timezone(timedelta(hours=8))


def _due(profile: str, obligation: str, start: date | datetime, case: str | None = None) -> date:
    found = PROFILES.get(profile).obligation(obligation)
    assert found is not None
    result = compute_deadline(found, start, CAL, case=case)
    assert result.due_date is not None
    return result.due_date


@pytest.mark.parametrize(
    ("profile", "obligation", "start", "due", "why"),
    [
        # 2025 Spring Festival
        ("guiyang-2021", "share_reply", date(2025, 1, 20), date(2025, 2, 5),
         "G 15: 10 days -> 1.30 is a holiday, next working day 2.5"),
        ("guiyang-2017", "share_reply", date(2025, 1, 24), date(2025, 2, 13),
         "G17 15: 10 wd, 1.26 (Sun) and 2.8 (Sat) count, 1.28-2.4 do not"),
        ("guiyang-2021", "error_report_reply", date(2025, 1, 25), date(2025, 2, 7),
         "GM 16: 5 wd from a Saturday: 1.26, 1.27, 2.5, 2.6, 2.7"),
        # 2025 National Day
        ("guiyang-2021", "error_report_reply", date(2025, 9, 26), date(2025, 10, 10),
         "GM 16: 9.28 (Sun) counts, 10.1-10.8 do not"),
        ("shenyang-2019", "open_reply", date(2025, 9, 25), date(2025, 10, 9),
         "S 34: 10 days -> 10.5 is a holiday, next working day 10.9"),
        ("shenyang-2019", "share_reply", date(2025, 9, 30), date(2025, 10, 14),
         "S 25: 5 wd: 10.9, 10.10, 10.11 (Sat), 10.13, 10.14"),
        # 2026 Spring Festival
        ("guiyang-2021", "open_reply", date(2026, 2, 6), date(2026, 2, 24),
         "G 21: 10 days -> 2.16 is a holiday, next working day 2.24"),
        ("guiyang-2017", "open_review", date(2026, 2, 24), date(2026, 3, 9),
         "G17 21: 10 wd, 2.28 (Sat) counts"),
        ("shenyang-2019", "share_reply", date(2026, 2, 12), date(2026, 2, 26),
         "S 25: 5 wd: 2.13, 2.14 (Sat), 2.24, 2.25, 2.26"),
        # 2026 Mid-Autumn and National Day
        ("guiyang-2021", "error_report_reply", date(2026, 9, 18), date(2026, 9, 24),
         "GM 16: 9.20 (Sun) counts"),
        ("guiyang-2021", "error_report_reply", date(2026, 9, 24), date(2026, 10, 9),
         "GM 16: 9.25 off, 9.28, 9.29, 9.30, 10.8, 10.9"),
        ("guiyang-2021", "share_reply", date(2026, 9, 24), date(2026, 10, 8),
         "G 15: 10 days -> 10.4 off, next working day 10.8"),
        ("shenyang-2019", "share_reply", date(2026, 9, 30), date(2026, 10, 13),
         "S 25: 5 wd: 10.8, 10.9, 10.10 (Sat), 10.12, 10.13"),
    ],
)  # fmt: skip
def test_deadlines_across_holidays(
    profile: str, obligation: str, start: date, due: date, why: str
) -> None:
    assert _due(profile, obligation, start) == due, why


def test_gm_31_complaint_across_2026_spring_festival() -> None:
    """GM 31: 5 wd from acceptance; 2.14 (Sat) working, 2.15-2.23 off."""
    assert _due("guiyang-2021", "complaint_reply", date(2026, 2, 13), "gm_breach") == date(
        2026, 2, 27
    )
    assert _due("guiyang-2021", "complaint_reply", date(2026, 2, 24), "gm_breach") == date(
        2026, 3, 2
    )


def test_two_texts_earliest_binds_and_both_are_cited() -> None:
    """D2, guiyang-2021 catalog_update_law_change: G 13 15 days and GM 15 10 wd.

    From 2025-01-24 the Spring Festival stretches the 10 working days to 2.13, while the
    15 days end on 2.8, an adjusted working Saturday: G 13 binds.
    """
    obligation = PROFILES.get("guiyang-2021").obligation("catalog_update_law_change")
    assert obligation is not None
    result = compute_deadline(obligation, date(2025, 1, 24), CAL)
    dues = {p.period.basis: p.due_date for p in result.periods}
    assert dues == {"G 13 ¶2": date(2025, 2, 8), "GM 15 ¶2": date(2025, 2, 13)}
    assert result.due_date == date(2025, 2, 8)
    assert result.binding.period.basis == "G 13 ¶2"
    assert "G 13" in result.basis and "GM 15" in result.basis
    # an ordinary fortnight: 10 wd from Monday 2025-03-03 is 3.17, 15 days is 3.18
    ordinary = compute_deadline(obligation, date(2025, 3, 3), CAL)
    assert (ordinary.due_date, ordinary.binding.period.basis) == (date(2025, 3, 17), "GM 15 ¶2")
    # for data (not catalogs) G 13's 15 days do not apply
    data_only = compute_deadline(obligation, date(2025, 1, 24), CAL, case="data")
    assert data_only.due_date == date(2025, 2, 13)
    assert data_only.basis == "GM 15 ¶2"


def test_trigger_day_is_not_counted_and_due_by_is_next_midnight_shanghai() -> None:
    """D1: 10.1 + 1 wd is never 10.1; the period ends 24:00 of its last day."""
    assert last_day(1, Unit.WORKING_DAYS, date(2025, 3, 3), CAL) == date(2025, 3, 4)
    assert last_day(1, Unit.CALENDAR_DAYS, date(2025, 3, 3), CAL) == date(2025, 3, 4)
    due_by = end_of_day(date(2025, 2, 5))
    assert due_by.isoformat() == "2025-02-06T00:00:00+08:00"


def test_trigger_times_are_converted_to_shanghai_first() -> None:
    """D1: legal time is Asia/Shanghai, whatever zone the platform recorded."""
    assert legal_date(datetime(2025, 1, 24, 15, 59, 59, tzinfo=UTC)) == date(2025, 1, 24)
    assert legal_date(datetime(2025, 1, 24, 16, 0, tzinfo=UTC)) == date(2025, 1, 25)
    late_utc = datetime(2025, 1, 19, 17, 0, tzinfo=UTC)  # 2025-01-20 01:00 in Shanghai
    assert _due("guiyang-2021", "share_reply", late_utc) == date(2025, 2, 5)
    assert legal_date(datetime(2025, 1, 24, 23, 0, tzinfo=SHANGHAI_8)) == date(2025, 1, 24)


def test_naive_trigger_time_is_an_error() -> None:
    with pytest.raises(DeadlineError) as info:
        legal_date(datetime(2025, 1, 24, 10, 0))
    assert info.value.code == "naive_datetime"


def test_unknown_year_is_an_error_never_a_weekday_guess() -> None:
    """D1: a date in a year with no arrangement loaded raises CalendarError."""
    with pytest.raises(CalendarError) as info:
        CAL.is_workday(date(2027, 1, 4))
    assert info.value.code == "unknown_year"
    with pytest.raises(CalendarError):
        _due("shenyang-2019", "share_reply", date(2026, 12, 28))  # runs into 2027
    with pytest.raises(CalendarError):
        _due("shenyang-2019", "share_reply", date(2003, 6, 2))


def test_extra_year_file_makes_a_year_usable(tmp_path: Path) -> None:
    """An operator adds a year as data; 2027 here is invented test data, not the notice."""
    (tmp_path / "2027.yaml").write_text(
        "year: 2027\nsource: test data\n"
        "holidays:\n  - {from: 2027-01-01, to: 2027-01-03}\n  - 2027-01-04\n"
        "workdays:\n  - 2027-01-09\n",
        encoding="utf-8",
    )
    calendar = load_work_calendar([tmp_path])
    assert 2027 in calendar.years
    assert not calendar.is_workday(date(2027, 1, 4))  # a Monday made a holiday
    assert calendar.is_workday(date(2027, 1, 9))  # a Saturday made a working day
    obligation = PROFILES.get("shenyang-2019").obligation("share_reply")
    assert obligation is not None
    # 12.29, 12.30, 12.31, then 1.5, 1.6
    assert compute_deadline(obligation, date(2026, 12, 28), calendar).due_date == date(2027, 1, 6)
    assert load_work_calendar().years == CAL.years  # the default calendar is unchanged


def test_year_file_replaces_the_library_year(tmp_path: Path) -> None:
    (tmp_path / "2025.json").write_text('{"year": 2025, "holidays": ["2025-03-03"]}', "utf-8")
    calendar = load_work_calendar([tmp_path])
    assert not calendar.is_workday(date(2025, 3, 3))
    assert calendar.is_workday(date(2025, 1, 28))  # the library's Spring Festival is gone


@pytest.mark.parametrize(
    "text",
    [
        "year: 2027\nholiday: [2027-01-01]\n",  # unknown key
        "year: 2027\nholidays: [2028-01-01]\n",  # outside the year
        "year: 2027\nworkdays: [2027-01-05]\n",  # a Tuesday as adjusted working day
        "year: 2027\nholidays: [2027-01-09]\nworkdays: [2027-01-09]\n",  # both
        "year: 2027\nholidays: [{from: 2027-01-03, to: 2027-01-01}]\n",  # reversed
        "year: '2027'\n",
        "- 2027-01-01\n",
    ],
)
def test_invalid_year_files_are_rejected(tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError) as info:
        load_work_calendar([tmp_path])
    assert info.value.code == "year_file"
    assert "bad.yaml" in str(info.value)


def test_holiday_dirs_from_env(tmp_path: Path) -> None:
    assert holiday_dirs_from_env({}) == ()
    joined = f"{tmp_path}/a:{tmp_path}/b"
    assert holiday_dirs_from_env({HOLIDAYS_DIR_ENV: joined}) == (tmp_path / "a", tmp_path / "b")


def test_promptly_has_no_statutory_date_and_sla_is_apart() -> None:
    """J 10 ¶3 "及时": no statutory date; an operator target is sla_due_date only."""
    obligation = PROFILES.get("jinan-2024").obligation("open_reply")
    assert obligation is not None
    plain = compute_deadline(obligation, date(2025, 1, 24), CAL)
    assert (plain.due_date, plain.due_by, plain.sla_due_date) == (None, None, None)
    assert plain.binding.period.unit is Unit.PROMPTLY
    assert any("promptly" in note for note in plain.notes)
    sla = compute_deadline(
        obligation, date(2025, 1, 24), CAL, sla=ServiceLevel(3, Unit.WORKING_DAYS)
    )
    assert sla.due_date is None
    assert sla.sla_due_date == date(2025, 2, 5)  # 1.26, 1.27, 2.5


def test_promptly_limb_next_to_a_dated_one() -> None:
    """GM 15 ¶3 2 wd and G 13 "promptly" for data: the dated period binds, both cited."""
    obligation = PROFILES.get("guiyang-2021").obligation("catalog_update_circumstances")
    assert obligation is not None
    result = compute_deadline(obligation, date(2025, 9, 26), CAL, case="data")
    assert result.due_date == date(2025, 9, 29)  # 9.28 (Sun) working, 9.29
    assert result.basis == "GM 15 ¶3; G 13 ¶2"


def test_unknown_case_and_bad_service_level() -> None:
    obligation = PROFILES.get("guiyang-2021").obligation("complaint_reply")
    assert obligation is not None
    with pytest.raises(DeadlineError):
        compute_deadline(obligation, date(2025, 3, 3), CAL, case="nonsense")
    with pytest.raises(DeadlineError):
        ServiceLevel(0, Unit.WORKING_DAYS)
    other = compute_deadline(obligation, date(2025, 3, 3), CAL, case="other")
    assert other.due_date is None  # G 29 only: promptly


# Far enough before the last year the calendar knows that start + 40 days + 30 working days stays
# inside it (chinesecalendar 1.11.0 knows 2004-2026).
starts = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 9, 1))


units = st.sampled_from([Unit.WORKING_DAYS, Unit.CALENDAR_DAYS])


amounts = st.integers(min_value=1, max_value=30)


@settings(max_examples=300)
@given(start=starts, amount=amounts, unit=units)
def test_a_deadline_never_falls_on_a_rest_day(start: date, amount: int, unit: Unit) -> None:
    due = last_day(amount, unit, start, CAL)
    assert due > start
    assert CAL.is_workday(due)
    if unit is Unit.WORKING_DAYS:
        between = (start + timedelta(days=n) for n in range(1, (due - start).days + 1))
        assert sum(CAL.is_workday(d) for d in between) == amount
    else:
        assert due >= start + timedelta(days=amount)


@settings(max_examples=300)
@given(start=starts, later_by=st.integers(0, 40), amount=amounts, unit=units)
def test_a_later_start_never_moves_the_deadline_earlier(
    start: date, later_by: int, amount: int, unit: Unit
) -> None:
    later = start + timedelta(days=later_by)
    assert last_day(amount, unit, later, CAL) >= last_day(amount, unit, start, CAL)


@settings(max_examples=200)
@given(start=starts, a=amounts, b=amounts, unit_a=units, unit_b=units)
def test_two_periods_bind_at_the_earlier(
    start: date, a: int, b: int, unit_a: Unit, unit_b: Unit
) -> None:
    """D2 for any pair of periods, and the answer is monotone in the start."""
    obligation = Obligation(
        "synthetic",
        (
            Period(unit_a, StartEvent.OCCURRENCE, "X 1", a),
            Period(unit_b, StartEvent.OCCURRENCE, "Y 2", b),
        ),
    )
    result = compute_deadline(obligation, start, CAL)
    each = [p.due_date for p in result.periods]
    assert result.due_date == min(d for d in each if d is not None)
    assert result.basis == "X 1; Y 2"
    later = compute_deadline(obligation, start + timedelta(days=1), CAL)
    assert later.due_date is not None and result.due_date is not None
    assert later.due_date >= result.due_date


def test_calendar_and_profiles_are_plain_values() -> None:
    assert isinstance(CAL, WorkCalendar) and isinstance(PROFILES, ProfileSet)
    assert load_work_calendar() == CAL
