"""The soak's judgement (issue 18 item 2): pure functions over its time series.

A soak samples, every few seconds, each worker's resident memory and open files, the
broker's open files and the processor group's lag. Samples come at a steady interval,
so a fraction of the series by index is a fraction of its time. The warm-up is left out
(the workers' imports, caches and buffers filling; a calibration backlog draining): the
first :data:`WARMUP` of the series, and longer if the soak says its caches fill with
events (:attr:`Soak.warmup_sent`: the one-source records remember each subject's last 64
event ids, so the state grows until every subject had 64 events). Judged from the first
sample after it (:attr:`Soak.warmup_index`, reported):

- **growth** of a quantity: the median of the last :data:`WINDOW` of the series against
  the median of the window of the same length right after the warm-up, as a fraction
  (0.05: 5 % more). Medians, not single samples: a garbage collection or a batch in
  flight moves one sample, not the median of 18.
- **file growth**: the same medians, as a difference of counts (open files are counted,
  not measured: any lasting growth is a leak);
- **bounded lag**: the largest lag of the second half of the series is at most
  :data:`LAG_FACTOR` times the largest lag between the warm-up and the half, or at most
  a floor (a lag of a few batches is no trend: the workers commit every 0.2 s).

A lag can only be bounded while the rate offered is one the workers can sustain, and a
backlog is memory (the consumers fetch ahead of it): both judgements mean something only
on a machine that gives the run its CPU. The machine is **saturated** (:func:`saturation`)
when, after the warm-up, the publisher could not keep the rate (it sent under
:data:`KEPT_RATE` of it) or the one-minute load average went above
:data:`LOAD_PER_CORE` times the cores. A soak that fails while saturated is
**inconclusive**, neither a pass nor a fail (:attr:`Soak.verdict`).
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


def windows(
    count: int, warmup: float = WARMUP, window: float = WINDOW, start: int | None = None
) -> tuple[range, range]:
    """The indices of the window after the warm-up (from sample ``start``, else from the
    ``warmup`` fraction) and of the last window of a series of ``count`` samples (each at
    least one sample; they may overlap in a very short series)."""
    if count < 1:
        raise ValueError("no samples")
    size = max(1, round(count * window))
    begin = min(round(count * warmup) if start is None else start, count - size)
    return range(begin, begin + size), range(count - size, count)


def growth(
    series: Sequence[float],
    warmup: float = WARMUP,
    window: float = WINDOW,
    start: int | None = None,
) -> Growth:
    """The last window's median against the median of the window after the warm-up."""
    first, last = windows(len(series), warmup, window, start)
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
    lags: Sequence[int],
    floor: int,
    factor: float = LAG_FACTOR,
    warmup: float = WARMUP,
    start: int | None = None,
) -> LagBound:
    """Whether the lag of the second half stays within ``factor`` times the first half's
    largest (after the warm-up: from sample ``start``, else the ``warmup`` fraction), or
    within ``floor``."""
    if not lags:
        raise ValueError("no samples")
    begin = round(len(lags) * warmup) if start is None else start
    start = min(begin, len(lags) - 1)
    half = max(start + 1, len(lags) // 2)
    first = max(lags[start:half])
    second = max(lags[half:], default=first)
    return LagBound(first, second, max(floor, int(first * factor)))


#: The publisher kept the rate if it sent at least this fraction of it after the warm-up.
KEPT_RATE = 0.95
#: A one-minute load average above this many times the cores: a saturated machine.
LOAD_PER_CORE = 4.0


@dataclass(frozen=True)
class Saturation:
    """What the machine gave the run after the warm-up: the publisher's rate against the
    offered one, and the largest one-minute load average sampled (None: not sampled)."""

    offered: float
    sent_rate: float
    peak_load: float | None
    cores: int

    @property
    def publisher_behind(self) -> bool:
        return self.sent_rate < KEPT_RATE * self.offered

    @property
    def overloaded(self) -> bool:
        return self.peak_load is not None and self.peak_load > LOAD_PER_CORE * self.cores

    @property
    def saturated(self) -> bool:
        return self.publisher_behind or self.overloaded


def saturation(
    samples: Sequence[Sample], rate: float, cores: int, start: int | None = None
) -> Saturation:
    """The machine after the warm-up (module docstring): from sample ``start`` (else the
    :data:`WARMUP` fraction) on."""
    if not samples:
        raise ValueError("no samples")
    begin = round(len(samples) * WARMUP) if start is None else start
    judged = samples[min(begin, len(samples) - 1) :]
    first, last = judged[0], judged[-1]
    span = last.at_s - first.at_s
    sent_rate = (last.sent - first.sent) / span if span > 0 else rate
    loads = [s.load1 for s in judged if s.load1 is not None]
    return Saturation(rate, sent_rate, max(loads) if loads else None, cores)


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
    #: The machine's one-minute load average (None: not sampled).
    load1: float | None = None

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
            "load1": self.load1,
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
    #: The machine's cores (the saturation's measure).
    cores: int = 1
    #: The warm-up lasts at least until this many events were sent (caches that fill with
    #: events, not with time: :attr:`warmup_index`).
    warmup_sent: int = 0

    @property
    def seconds(self) -> float:
        return self.samples[-1].at_s - self.samples[0].at_s if self.samples else 0.0

    @property
    def restarted(self) -> bool:
        """A worker's process changed: its memory and files start again (not judged)."""
        return len({s.pids for s in self.samples}) > 1

    def rss(self) -> list[Growth]:
        return [self._growth([s.rss_kib[n] for s in self.samples]) for n in self._workers()]

    def fds(self) -> list[Growth]:
        return [self._growth([s.fds[n] for s in self.samples]) for n in self._workers()]

    def broker_fds(self) -> Growth | None:
        counts = [s.broker_fds for s in self.samples if s.broker_fds is not None]
        if not counts:
            return None
        return self._growth(counts) if len(counts) == len(self.samples) else growth(counts)

    def _growth(self, series: Sequence[float]) -> Growth:
        return growth(series, start=self.warmup_index)

    def _workers(self) -> range:
        return range(len(self.samples[0].pids)) if self.samples else range(0)

    def lag(self) -> LagBound:
        lags = [s.lag + s.repartition_lag for s in self.samples]
        return lag_bound(lags, self.lag_floor, start=self.warmup_index)

    @property
    def warmed_up(self) -> bool:
        """The :attr:`warmup_sent` events were sent before the last window began."""
        if not self.samples:
            return False
        last = windows(len(self.samples))[1]
        return any(s.sent >= self.warmup_sent for s in self.samples[: last.start])

    @property
    def rss_judged(self) -> bool:
        """Memory is judged in a soak of :data:`RSS_JUDGED_S` whose warm-up ended before
        its last window (else the two windows would compare the warm-up with itself)."""
        return self.seconds >= RSS_JUDGED_S and self.warmed_up

    @property
    def warmup_index(self) -> int:
        """The first sample judged (the baseline window begins there): the later of the
        :data:`WARMUP` fraction and the first sample with :attr:`warmup_sent` events sent,
        but never within the last window."""
        if not self.samples:
            return 0
        by_time = round(len(self.samples) * WARMUP)
        by_events = next(
            (i for i, s in enumerate(self.samples) if s.sent >= self.warmup_sent),
            len(self.samples),
        )
        return windows(len(self.samples), start=max(by_time, by_events))[0].start

    def saturation(self) -> Saturation:
        return saturation(self.samples, self.rate, self.cores, self.warmup_index)

    @property
    def passed(self) -> bool:
        """Every judgement holds (memory, files, lag, the lag at rest at the end)."""
        if len(self.samples) < 2 or self.restarted:
            return False
        rss_ok = not self.rss_judged or all(g.ratio <= RSS_LIMIT for g in self.rss())
        return (
            rss_ok
            and all(g.difference <= FD_SLACK for g in self.fds())
            and self.lag().ok
            and self.final_lag <= self.rest_lag
        )

    @property
    def verdict(self) -> str:
        """``ok``; ``not ok``; or ``inconclusive: machine saturated`` (a failure on a
        machine that did not give the run its CPU: module docstring). A worker restarted
        or open files grown fail whatever the machine (no load explains those)."""
        if self.passed:
            return "ok"
        files_or_restart = (
            len(self.samples) < 2
            or self.restarted
            or any(g.difference > FD_SLACK for g in self.fds())
        )
        if not files_or_restart and self.saturation().saturated:
            return "inconclusive: machine saturated"
        return "not ok"

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def describe(self) -> dict[str, object]:
        lag = self.lag()
        broker = self.broker_fds()
        machine = self.saturation() if self.samples else None
        return {
            "rate": round(self.rate, 1),
            "rate_source": self.rate_source,
            "verdict": self.verdict,
            "judged": {
                "warmup_fraction": WARMUP,
                "warmup_events_sent": self.warmup_sent,
                "warmup_ends_at_sample": self.warmup_index,
                "warmup_ends_at_s": round(self.samples[self.warmup_index].at_s, 1)
                if self.samples
                else None,
                "window_fraction": WINDOW,
                "rss_limit": RSS_LIMIT,
                "rss_judged": self.rss_judged,
                "warmed_up": self.warmed_up,
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
                "publisher_rate_after_warmup": None
                if machine is None
                else round(machine.sent_rate, 1),
                "peak_load1_after_warmup": None if machine is None else machine.peak_load,
                "cores": self.cores,
                "machine_saturated": None if machine is None else machine.saturated,
                "ok": self.ok,
            },
            "load_average_start_end": [list(self.load_average[0]), list(self.load_average[1])],
            "samples": [s.describe() for s in self.samples],
        }
