"""The supervisor's broker watch (topology.supervisor.BrokerWatch): when a broker that
answers again counts as back from a loss, so that every worker that lived through it gets
fresh clients (the bus resumes by itself, G 11). Times are injected; no broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from topology.supervisor import BROKER_PING_S, LOST_AFTER_S, WATCH_EVERY_S, BrokerWatch


def _watch(answers: list[bool]) -> tuple[BrokerWatch, list[float]]:
    """A watch whose questions get ``answers`` in turn; the timeouts it asked with."""
    replies: Iterator[bool] = iter(answers)
    timeouts: list[float] = []

    def ping(timeout_s: float) -> bool:
        timeouts.append(timeout_s)
        return next(replies)

    return BrokerWatch(ping), timeouts


def _looks(watch: BrokerWatch, times: list[float]) -> list[bool]:
    return [watch.look(t) for t in times]


def test_a_quick_restart_is_a_loss_counted_from_the_last_answer() -> None:
    """The broker answered at 0 and is gone at once; the first failed question only ends
    after its timeout, and the broker is back at 0.5 + LOST_AFTER_S: a loss, though the
    failed questions themselves span less than LOST_AFTER_S."""
    watch, timeouts = _watch([True, False, False, True])
    first_failed = WATCH_EVERY_S + BROKER_PING_S  # asked at 0.5, answered (no) at 1.5
    back = LOST_AFTER_S + 0.1
    assert back - first_failed < LOST_AFTER_S  # the old count (from a failure) missed it
    assert _looks(watch, [0.0, first_failed, first_failed + WATCH_EVERY_S, back]) == [
        False,
        False,
        False,
        True,
    ]
    assert timeouts == [BROKER_PING_S] * 4
    assert watch.answers


def test_the_loss_is_reported_once() -> None:
    watch, _ = _watch([True, False, True, True])
    assert _looks(watch, [0.0, 1.0, 5.0, 6.0]) == [False, False, True, False]


def test_one_or_two_slow_answers_are_not_a_loss() -> None:
    """A loaded machine: questions time out now and then; the broker never went away."""
    watch, _ = _watch([True, False, True, False, False, True])
    times = [0.0, 0.5, 2.0, 2.5, 3.75, 5.0]  # at most 3.0 s between two answers
    assert _looks(watch, times) == [False] * len(times)
    assert watch.answers


def test_questions_are_asked_at_most_every_watch_interval() -> None:
    watch, timeouts = _watch([True, True])
    assert _looks(watch, [10.0, 10.0 + WATCH_EVERY_S / 2, 10.0 + WATCH_EVERY_S]) == [False] * 3
    assert len(timeouts) == 2


@pytest.mark.parametrize("down_for", [LOST_AFTER_S, LOST_AFTER_S * 4])
def test_a_broker_down_since_the_start_counts_from_the_first_question(down_for: float) -> None:
    """The supervisor started while the broker was down: it has never answered."""
    watch, _ = _watch([False, False, True])
    assert _looks(watch, [0.0, down_for / 2, down_for]) == [False, False, True]
    assert not BrokerWatch(None).look(0.0)  # no connection: never asks, never lost
