"""Update-cycle compliance (GM 11 更新周期, G 13; liabilities G 30, S 47) as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import DeadlineError
from exchange.catalog import UpdateCycle
from exchange.update_cycles import assess_window, assessable, freshness, missed_deadlines

T0 = datetime(2025, 3, 3, tzinfo=UTC)


DAILY = UpdateCycle.parse("daily")


REALTIME = UpdateCycle.parse("realtime")


def test_gm11_daily_entry_overdue_after_a_day_of_silence() -> None:
    last = T0
    assert not freshness(
        DAILY, last_change=last, observed_since=T0, now=T0 + timedelta(days=1)
    ).overdue
    f = freshness(DAILY, last_change=last, observed_since=T0, now=T0 + timedelta(days=1, seconds=1))
    assert f.overdue and f.silence == timedelta(days=1, seconds=1) and f.silent_since == last


def test_unknown_last_change_counts_from_observed_since() -> None:
    """Never early: with no update seen, the clock starts when updates would be seen."""
    since = T0 + timedelta(hours=5)
    f = freshness(DAILY, last_change=None, observed_since=since, now=T0 + timedelta(days=1))
    assert f.silent_since == since and not f.overdue
    assert freshness(
        DAILY, last_change=None, observed_since=since, now=since + timedelta(days=2)
    ).overdue


def test_realtime_is_not_assessable_by_silence() -> None:
    assert not assessable(REALTIME) and assessable(DAILY)
    f = freshness(REALTIME, last_change=T0, observed_since=T0, now=T0 + timedelta(days=400))
    assert not f.overdue
    a = assess_window(REALTIME, [], start=T0, end=T0 + timedelta(days=30))
    assert a.missed_cycles == 0 and a.longest_gap == timedelta(days=30)


def test_naive_times_are_refused() -> None:
    with pytest.raises(DeadlineError) as err:
        freshness(DAILY, last_change=None, observed_since=datetime(2025, 1, 1), now=T0)
    assert err.value.code == "naive_time"
    with pytest.raises(DeadlineError):
        assess_window(DAILY, [datetime(2025, 1, 1)], start=T0, end=T0)
    with pytest.raises(DeadlineError) as bad:
        assess_window(DAILY, [], start=T0, end=T0 - timedelta(seconds=1))
    assert bad.value.code == "bad_window"


def test_window_counts_missed_cycles_inside_the_window_only() -> None:
    """The last update 10 days before a 3-day window: the deadlines missed before the
    window belong to earlier windows; those of days 10, 11 and 12 fall inside it, and the
    one at the window's very end (day 13) is not missed yet."""
    start, end = T0 + timedelta(days=10), T0 + timedelta(days=13)
    a = assess_window(DAILY, [T0], start=start, end=end)
    assert a.updates == 0 and a.last_update == T0
    assert a.longest_gap == timedelta(days=13)
    assert a.missed_cycles == 3
    assert a.overdue


def test_an_update_exactly_at_the_deadline_is_in_time() -> None:
    ups = [T0 + timedelta(days=i) for i in range(0, 6)]
    a = assess_window(DAILY, ups, start=T0, end=T0 + timedelta(days=5))
    assert a.missed_cycles == 0 and a.updates == 6 and not a.overdue


minutes = st.integers(min_value=0, max_value=600)


def _brute(anchor: int, following: int, period: int, not_before: int) -> int:
    return sum(
        1
        for k in range(1, 1000)
        if anchor + k * period < following and anchor + k * period >= not_before
    )


@given(minutes, st.integers(0, 600), st.integers(1, 60), st.integers(0, 1200))
def test_missed_deadlines_match_enumeration(a: int, gap: int, p: int, nb: int) -> None:
    m = timedelta(minutes=1)
    got = missed_deadlines(T0 + a * m, T0 + (a + gap) * m, p * m, not_before=T0 + nb * m)
    assert got == _brute(a, a + gap, p, nb)


#: (period, update times, window start, window end)
Scenario = tuple[timedelta, list[datetime], datetime, datetime]


@st.composite
def scenario(draw: st.DrawFn) -> Scenario:
    period = timedelta(minutes=draw(st.integers(1, 120)))
    start = T0 + timedelta(minutes=draw(st.integers(0, 500)))
    end = start + timedelta(minutes=draw(st.integers(0, 1000)))
    ups = [T0 + timedelta(minutes=x) for x in draw(st.lists(st.integers(0, 2000), max_size=15))]
    return period, ups, start, end


@given(scenario(), st.integers(0, 2000))
def test_an_update_in_the_window_never_adds_missed_cycles(s: Scenario, extra: int) -> None:
    """(An update *before* the window can: it starts the clock earlier than the window's
    start, which is where the clock starts when no earlier update is known.)"""
    period, ups, start, end = s
    cycle = UpdateCycle("test", period)
    before = assess_window(cycle, ups, start=start, end=end)
    update = start + timedelta(minutes=extra)
    after = assess_window(cycle, [*ups, update], start=start, end=end)
    assert after.missed_cycles <= before.missed_cycles
    assert after.longest_gap <= before.longest_gap


@given(scenario())
def test_without_prior_update_overdue_iff_a_gap_exceeds_the_period(s: Scenario) -> None:
    period, ups, start, end = s
    cycle = UpdateCycle("test", period)
    ups = [u for u in ups if u >= start]
    a = assess_window(cycle, ups, start=start, end=end)
    assert a.overdue == (a.longest_gap > period)
    assert a.updates == sum(1 for u in ups if u <= end)
    assert a.longest_gap <= end - start


@given(st.integers(0, 10_000), st.integers(1, 5_000))
def test_freshness_overdue_iff_silence_exceeds_period(silence: int, period: int) -> None:
    cycle = UpdateCycle("test", timedelta(seconds=period))
    f = freshness(cycle, last_change=T0, observed_since=T0, now=T0 + timedelta(seconds=silence))
    assert f.overdue == (silence > period)
