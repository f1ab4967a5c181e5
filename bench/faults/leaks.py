"""The soak's judgement (issue 18 item 2): pure functions over its time series.

A soak samples, every few seconds, each worker's resident memory and open files, the
broker's open files and the processor group's lag. Samples come at a steady interval,
so a fraction of the series by index is a fraction of its time. The first
:data:`WARMUP` of the series is left out (the workers' imports, caches and buffers
filling; a calibration backlog draining):

- **growth** of a quantity: the median of the last :data:`WINDOW` of the series against
  the median of the window of the same length right after the warm-up, as a fraction
  (0.05: 5 % more). Medians, not single samples: a garbage collection or a batch in
  flight moves one sample, not the median of 18.
- **file growth**: the same medians, as a difference of counts (open files are counted,
  not measured: any lasting growth is a leak);
- **bounded lag**: the largest lag of the second half of the series is at most
  :data:`LAG_FACTOR` times the largest lag between the warm-up and the half, or at most
  a floor (a lag of a few batches is no trend: the workers commit every 0.2 s).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: The leading fraction of the series left out of every judgement.
WARMUP = 0.2
#: The fraction of the series each compared window spans.
WINDOW = 0.1
#: The limit of the growth of resident memory (issue 18: 5 %).
RSS_LIMIT = 0.05
#: The second half's largest lag may be this many times the first half's.
LAG_FACTOR = 2.0


@dataclass(frozen=True)
class Growth:
    """The medians of the window after the warm-up (``baseline``) and of the last window."""

    baseline: float
    last: float

    @property
    def ratio(self) -> float:
        """How much more the last window holds, as a fraction of the baseline."""
        return self.last / self.baseline - 1 if self.baseline else 0.0

    @property
    def difference(self) -> float:
        return self.last - self.baseline


def windows(count: int, warmup: float = WARMUP, window: float = WINDOW) -> tuple[range, range]:
    """The indices of the window after the warm-up and of the last window of a series of
    ``count`` samples (each at least one sample; they may overlap in a very short series)."""
    if count < 1:
        raise ValueError("no samples")
    size = max(1, round(count * window))
    start = min(round(count * warmup), count - size)
    return range(start, start + size), range(count - size, count)


def growth(series: Sequence[float], warmup: float = WARMUP, window: float = WINDOW) -> Growth:
    """The last window's median against the median of the window after the warm-up."""
    first, last = windows(len(series), warmup, window)
    return Growth(
        statistics.median(series[i] for i in first), statistics.median(series[i] for i in last)
    )


@dataclass(frozen=True)
class LagBound:
    """The largest lag between the warm-up and the half (``first``), after it (``second``),
    and the bound the second must stay within."""

    first: int
    second: int
    bound: int

    @property
    def ok(self) -> bool:
        return self.second <= self.bound


def lag_bound(
    lags: Sequence[int], floor: int, factor: float = LAG_FACTOR, warmup: float = WARMUP
) -> LagBound:
    """Whether the lag of the second half stays within ``factor`` times the first half's
    largest (after the warm-up), or within ``floor``."""
    if not lags:
        raise ValueError("no samples")
    start = min(round(len(lags) * warmup), len(lags) - 1)
    half = max(start + 1, len(lags) // 2)
    first = max(lags[start:half])
    second = max(lags[half:], default=first)
    return LagBound(first, second, max(floor, int(first * factor)))


#: A soak shorter than this is not judged on its resident memory (CI's 90 s are noise).
RSS_JUDGED_S = 600.0
#: Open files a worker may hold beyond its baseline at the end of a judged soak.
FD_SLACK = 0


@dataclass(frozen=True)
class Sample:
    """One sample of a soak, ``at_s`` seconds after it began: events sent so far, per
    worker its process id, resident memory (KiB) and open files; the broker's open files
    (None: not a process of this run); the lag, in offsets, of the processor group on the
    ingest topic and of the repartition stage's group on the submission topic."""

    at_s: float
    sent: int
    pids: tuple[int, ...]
    rss_kib: tuple[int, ...]
    fds: tuple[int, ...]
    broker_fds: int | None
    lag: int
    repartition_lag: int

    def describe(self) -> dict[str, object]:
        return {
            "at_s": round(self.at_s, 1),
            "sent": self.sent,
            "pids": list(self.pids),
            "rss_kib": list(self.rss_kib),
            "fds": list(self.fds),
            "broker_fds": self.broker_fds,
            "lag": self.lag,
            "repartition_lag": self.repartition_lag,
        }


@dataclass(frozen=True)
class Soak:
    """A soak's series and its judgement (see the module): ``rate`` events per second,
    ``rate_source`` saying how it was chosen; ``final_lag``: both groups' lag once every
    acknowledged event was processed (at rest, up to one transaction marker per ingest
    partition); ``lag_floor``: the bound of :func:`lag_bound` at least."""

    rate: float
    rate_source: str
    samples: tuple[Sample, ...]
    final_lag: int
    lag_floor: int
    rest_lag: int
    load_average: tuple[tuple[float, float, float], tuple[float, float, float]]

    @property
    def seconds(self) -> float:
        return self.samples[-1].at_s - self.samples[0].at_s if self.samples else 0.0

    @property
    def restarted(self) -> bool:
        """A worker's process changed: its memory and files start again (not judged)."""
        return len({s.pids for s in self.samples}) > 1

    def rss(self) -> list[Growth]:
        return [growth([s.rss_kib[n] for s in self.samples]) for n in self._workers()]

    def fds(self) -> list[Growth]:
        return [growth([s.fds[n] for s in self.samples]) for n in self._workers()]

    def broker_fds(self) -> Growth | None:
        counts = [s.broker_fds for s in self.samples if s.broker_fds is not None]
        return growth(counts) if counts else None

    def _workers(self) -> range:
        return range(len(self.samples[0].pids)) if self.samples else range(0)

    def lag(self) -> LagBound:
        return lag_bound([s.lag + s.repartition_lag for s in self.samples], self.lag_floor)

    @property
    def rss_judged(self) -> bool:
        return self.seconds >= RSS_JUDGED_S

    @property
    def ok(self) -> bool:
        if len(self.samples) < 2 or self.restarted:
            return False
        rss_ok = not self.rss_judged or all(g.ratio <= RSS_LIMIT for g in self.rss())
        return (
            rss_ok
            and all(g.difference <= FD_SLACK for g in self.fds())
            and self.lag().ok
            and self.final_lag <= self.rest_lag
        )

    def describe(self) -> dict[str, object]:
        lag = self.lag()
        broker = self.broker_fds()
        return {
            "rate": round(self.rate, 1),
            "rate_source": self.rate_source,
            "judged": {
                "warmup_fraction": WARMUP,
                "window_fraction": WINDOW,
                "rss_limit": RSS_LIMIT,
                "rss_judged": self.rss_judged,
                "rss_kib_baseline_last_growth": [
                    [round(g.baseline), round(g.last), round(g.ratio, 4)] for g in self.rss()
                ],
                "fds_baseline_last": [[g.baseline, g.last] for g in self.fds()],
                "broker_fds_baseline_last": None
                if broker is None
                else [broker.baseline, broker.last],
                "lag_first_half_max": lag.first,
                "lag_second_half_max": lag.second,
                "lag_bound": lag.bound,
                "final_lag": self.final_lag,
                "rest_lag": self.rest_lag,
                "worker_restarted": self.restarted,
                "ok": self.ok,
            },
            "load_average_start_end": [list(self.load_average[0]), list(self.load_average[1])],
            "samples": [s.describe() for s in self.samples],
        }
