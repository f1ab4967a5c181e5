"""Burrow-style consumer status from a sliding window of committed offsets (monitoring/burrow)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitoring.burrow import SEVERITY, Sample, Status, Windows, partition_status, worst


def window(*points: tuple[int, int]) -> list[Sample]:
    """(offset, lag) pairs, one second apart."""
    return [Sample(float(i), o, lag) for i, (o, lag) in enumerate(points)]


def test_rule_1_caught_up_is_ok_even_without_members() -> None:
    assert partition_status(window((5, 3), (5, 3), (9, 0)), active=False) is Status.OK


def test_rule_2_nobody_consumes_while_records_wait_is_stopped() -> None:
    assert partition_status(window((5, 3)), active=False) is Status.STOPPED


def test_rule_3_too_few_samples_are_no_evidence() -> None:
    assert partition_status(window((5, 3), (5, 4)), active=True) is Status.OK
    assert partition_status(window((5, 3), (5, 4)), active=True, min_samples=2) is Status.STALLED


def test_rule_4_zero_lag_anywhere_in_the_window_is_ok() -> None:
    assert partition_status(window((5, 0), (5, 4), (5, 9)), active=True) is Status.OK


def test_rule_5_offset_standing_still_with_records_waiting_is_stalled() -> None:
    assert partition_status(window((5, 3), (5, 3), (5, 8)), active=True) is Status.STALLED


def test_rule_6_offset_going_back_is_rewound() -> None:
    assert partition_status(window((50, 3), (60, 3), (10, 60)), active=True) is Status.REWOUND


def test_rule_7_moving_but_lag_never_decreasing_is_warning() -> None:
    assert partition_status(window((5, 3), (6, 5), (6, 5), (7, 9)), active=True) is Status.WARNING


def test_rule_8_moving_and_lag_decreasing_once_is_ok() -> None:
    assert partition_status(window((5, 3), (6, 5), (9, 2), (10, 4)), active=True) is Status.OK


def test_group_status_is_the_worst_partition() -> None:
    assert worst([]) is Status.OK
    assert worst([Status.OK, Status.WARNING, Status.STALLED]) is Status.STALLED
    assert worst([Status.STOPPED, Status.STALLED]) is Status.STOPPED
    assert [s for s in sorted(Status, key=SEVERITY.__getitem__)] == [
        Status.OK,
        Status.WARNING,
        Status.REWOUND,
        Status.STALLED,
        Status.STOPPED,
    ]


def test_windows_slide_and_forget() -> None:
    w = Windows(size=3)
    for i in range(5):
        got = w.observe("a", Sample(float(i), i, 1))
    assert [s.offset for s in got] == [2, 3, 4]
    w.observe("b", Sample(0.0, 0, 0))
    w.retain(["b"])
    assert [s.offset for s in w.observe("a", Sample(9.0, 9, 1))] == [9]


samples = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12).map(
    lambda pts: window(*pts)
)


@given(samples, st.booleans())
def test_current_lag_zero_is_always_ok(w: list[Sample], active: bool) -> None:
    w[-1] = Sample(w[-1].at, w[-1].offset, 0)
    assert partition_status(w, active=active) is Status.OK


@given(samples)
def test_without_members_only_ok_or_stopped(w: list[Sample]) -> None:
    assert partition_status(w, active=False) in (Status.OK, Status.STOPPED)


@given(samples)
def test_a_steady_consumer_is_never_flagged(w: list[Sample]) -> None:
    """Offsets that never go back and a lag that reaches 0 within the window: ok."""
    w = sorted(w, key=lambda s: s.offset)
    w = [Sample(float(i), s.offset, s.lag) for i, s in enumerate(w)]
    w[0] = Sample(w[0].at, w[0].offset, 0)
    assert partition_status(w, active=True) is Status.OK
