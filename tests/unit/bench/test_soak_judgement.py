"""The soak's judgement (bench.faults.leaks): growth between the window after the warm-up
and the last window, bounded lag, the verdict over a series."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.faults.leaks import (
    FD_SLACK,
    RSS_JUDGED_S,
    Growth,
    Sample,
    Soak,
    growth,
    lag_bound,
    windows,
)


def test_windows_skip_the_warmup_and_take_the_last_tenth() -> None:
    first, last = windows(180)
    assert first == range(36, 54)
    assert last == range(162, 180)


def test_windows_of_a_short_series_hold_one_sample_each() -> None:
    assert windows(1) == (range(0, 1), range(0, 1))
    assert windows(3) == (range(1, 2), range(2, 3))
    with pytest.raises(ValueError, match="no samples"):
        windows(0)


def test_growth_compares_medians_not_single_samples() -> None:
    # A warm-up doubling the memory, then flat at 100 with one spike in each window.
    series = [50.0] * 20 + [100.0] * 80
    series[25] = 500.0
    series[95] = 500.0
    g = growth(series)
    assert g == Growth(100.0, 100.0)
    assert g.ratio == 0.0


def test_growth_of_a_steady_leak_is_seen() -> None:
    series = [100.0 + n for n in range(100)]  # one unit per sample
    g = growth(series)
    assert g.baseline == pytest.approx(124.5)
    assert g.last == pytest.approx(194.5)
    assert g.ratio == pytest.approx(70 / 124.5)
    assert g.difference == pytest.approx(70.0)


def test_growth_of_a_zero_baseline_is_zero() -> None:
    assert Growth(0.0, 5.0).ratio == 0.0


def test_lag_within_twice_the_first_half_is_bounded() -> None:
    lags = [5000, 5000, 10, 40, 20, 30, 35, 60, 10, 80]  # the warm-up (its backlog) left out
    bound = lag_bound(lags, floor=0)
    assert (bound.first, bound.second, bound.bound) == (40, 80, 80)
    assert bound.ok


def test_lag_growing_beyond_the_bound_is_not_bounded() -> None:
    lags = [0, 10, 20, 30, 40, 50, 100, 200, 400, 800]
    bound = lag_bound(lags, floor=100)
    assert bound.first == 40
    assert bound.second == 800
    assert not bound.ok


def test_lag_under_the_floor_is_bounded_whatever_the_first_half() -> None:
    bound = lag_bound([0, 0, 0, 0, 3, 90], floor=100)
    assert (bound.first, bound.bound) == (0, 100)
    assert bound.ok


def _sample(n: int, rss: int, fds: int, lag: int = 3, pids: tuple[int, ...] = (1, 2)) -> Sample:
    return Sample(n * 10.0, n * 100, pids, (rss, rss), (fds, fds), 300, lag, 0)


def _soak(samples: list[Sample], final_lag: int = 3) -> Soak:
    return Soak(50.0, "given", tuple(samples), final_lag, 250, 3, ((1.0, 1.0, 1.0),) * 2)


def test_a_flat_long_soak_passes_and_describes_its_series() -> None:
    soak = _soak([_sample(n, 80_000 + n % 3, 45) for n in range(181)])
    assert soak.seconds == 1800.0 >= RSS_JUDGED_S
    assert soak.rss_judged and soak.ok
    described = soak.describe()
    assert len(described["samples"]) == 181  # type: ignore[arg-type]
    assert described["judged"]["ok"] is True  # type: ignore[index]


def test_memory_growing_over_five_percent_fails_a_long_soak_only() -> None:
    leaking = [_sample(n, 80_000 + 50 * n, 45) for n in range(181)]
    assert not _soak(leaking).ok
    assert _soak(leaking[:9]).ok  # 80 s: memory not judged


def test_one_more_open_file_at_the_end_fails() -> None:
    samples = [_sample(n, 80_000, 45 if n < 150 else 46 + FD_SLACK) for n in range(181)]
    assert not _soak(samples).ok


def test_a_restarted_worker_or_a_lag_not_at_rest_fails() -> None:
    flat = [_sample(n, 80_000, 45) for n in range(20)]
    restarted = [*flat[:10], *(_sample(n, 80_000, 45, pids=(1, 9)) for n in range(10, 20))]
    assert _soak(flat).ok
    assert not _soak(restarted).ok
    assert not _soak(flat, final_lag=4).ok


def _kept(n: int, rss: int, lag: int = 3, load1: float | None = 1.0) -> Sample:
    """A sample of a publisher keeping 50 events/s, on a machine at ``load1``."""
    return Sample(n * 10.0, n * 500, (1, 2), (rss, rss), (45, 45), 300, lag, 0, load1)


def _judged(samples: list[Sample]) -> Soak:
    return Soak(50.0, "given", tuple(samples), 3, 250, 3, ((1.0, 1.0, 1.0),) * 2, cores=2)


def test_the_warmup_ends_at_a_reported_sample() -> None:
    soak = _judged([_kept(n, 80_000) for n in range(181)])
    assert soak.warmup_index == 36
    judged = soak.describe()["judged"]
    assert judged["warmup_ends_at_sample"] == 36  # type: ignore[index]
    assert judged["warmup_ends_at_s"] == 360.0  # type: ignore[index]
    assert soak.verdict == "ok"


def test_a_saturated_machine_makes_a_failure_inconclusive() -> None:
    growing = [_kept(n, 80_000, lag=10 * n) for n in range(181)]  # the lag without bound
    assert _judged(growing).verdict == "not ok"
    overloaded = [_kept(n, 80_000, lag=10 * n, load1=9.0 if n > 150 else 1.0) for n in range(181)]
    soak = _judged(overloaded)
    assert soak.saturation().overloaded and not soak.saturation().publisher_behind
    assert soak.verdict == "inconclusive: machine saturated"
    assert not soak.ok
    assert soak.describe()["judged"]["machine_saturated"] is True  # type: ignore[index]


def test_a_publisher_behind_its_rate_is_a_saturated_machine() -> None:
    behind = [
        Sample(n * 10.0, n * 400, (1, 2), (80_000 + 50 * n,) * 2, (45, 45), 300, 3, 0, 1.0)
        for n in range(181)
    ]
    soak = _judged(behind)
    assert soak.saturation().sent_rate == pytest.approx(40.0)
    assert soak.saturation().publisher_behind
    assert soak.verdict == "inconclusive: machine saturated"


def test_saturation_never_excuses_open_files_and_never_spoils_a_pass() -> None:
    files = [
        Sample(n * 10.0, n * 500, (1, 2), (80_000,) * 2, (45, 45 + n // 150), 300, 3, 0, 9.0)
        for n in range(181)
    ]
    assert _judged(files).verdict == "not ok"
    flat = [_kept(n, 80_000, load1=9.0) for n in range(181)]
    assert _judged(flat).saturation().saturated
    assert _judged(flat).verdict == "ok"


def test_a_warmup_counted_in_events_sent_moves_the_baseline_later() -> None:
    # The state fills until 60,000 events were sent (sample 120 at 500 per sample): the
    # memory climbs until then, flat after; judged from the 20 % it would fail.
    samples = [_kept(n, 80_000 + 100 * min(n, 120)) for n in range(181)]
    by_time = _judged(samples)
    assert by_time.warmup_index == 36 and by_time.verdict == "not ok"
    by_events = replace(by_time, warmup_sent=60_000)
    assert by_events.warmup_index == 120
    assert by_events.rss()[0] == Growth(92_000.0, 92_000.0)
    assert by_events.verdict == "ok"
    # A soak too short for its warm-up: its memory is not judged (said so), and its
    # baseline never moves into the last window.
    endless = replace(by_time, warmup_sent=10**9)
    assert endless.warmup_index == 181 - 18
    assert not endless.warmed_up and not endless.rss_judged
    assert endless.describe()["judged"]["rss_judged"] is False  # type: ignore[index]
