"""Update-cycle compliance: is a provider's data updated within the entry's declared cycle?

GM 11 makes the update cycle (更新周期) part of every catalog entry (S 27 ¶1: declared cycle
and method; J 11: 更新频率); G 13 requires data to be kept current; G 30 and S 47 make
"not updated against the declared cycle" a liability, and G 27-28 / GM 30 an item of the
assessment. Pure functions over aware datetimes.

Decisions (govbus conventions, not regulation text):

* **Overdue** means no update for longer than the cycle's period. Periods are the upper
  bounds of :class:`exchange.catalog.UpdateCycle` (a month is 31 days), so nothing is
  overdue early.
* ``realtime`` has no period: silence may mean that nothing changed, so a realtime entry
  is *not assessable* by silence and is never overdue.
* When the last update is unknown (nothing seen), the clock starts at ``observed_since``,
  the earliest moment from which an update would have been seen: the latest the last
  update can have been, so again never early.
* An update exactly at its deadline is in time; a deadline is missed when the next update
  comes strictly later (or has not come by the end of the assessed window).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from base.errors import DeadlineError
from exchange.catalog import UpdateCycle

ARTICLES = "GM 11; G 13; G 30; S 47"
_ZERO = timedelta(0)


def assessable(cycle: UpdateCycle) -> bool:
    """Whether silence can breach ``cycle`` (every cycle with a period; not ``realtime``)."""
    return cycle.period > _ZERO


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DeadlineError(
            f"{name} must be timezone-aware, got {value!r}", code="naive_time", article="GM 11"
        )


@dataclass(frozen=True)
class Freshness:
    """Where one (entry, provider) stands at ``now``."""

    period: timedelta
    last_change: datetime | None
    silent_since: datetime
    silence: timedelta
    overdue: bool


def freshness(
    cycle: UpdateCycle, *, last_change: datetime | None, observed_since: datetime, now: datetime
) -> Freshness:
    """Silence since the last change (or since ``observed_since`` when none was seen)."""
    for name, value in (("observed_since", observed_since), ("now", now)):
        _aware(value, name)
    if last_change is not None:
        _aware(last_change, "last_change")
    since = last_change if last_change is not None else observed_since
    silence = max(_ZERO, now - since)
    return Freshness(
        period=cycle.period,
        last_change=last_change,
        silent_since=since,
        silence=silence,
        overdue=assessable(cycle) and silence > cycle.period,
    )


@dataclass(frozen=True)
class CycleAssessment:
    """One (entry, provider) over an assessment window [start, end]."""

    period: timedelta
    updates: int  # updates inside the window
    last_update: datetime | None  # the latest update up to ``end`` (may precede the window)
    longest_gap: timedelta  # longest silence that ends or is still running inside the window
    missed_cycles: int  # deadlines inside the window that passed without an update

    @property
    def overdue(self) -> bool:
        return self.missed_cycles > 0


def _ceil_div(a: timedelta, b: timedelta) -> int:
    return -((-a) // b)


def missed_deadlines(
    anchor: datetime, following: datetime, period: timedelta, *, not_before: datetime
) -> int:
    """Deadlines ``anchor + k * period`` (k >= 1) strictly before ``following`` and not
    before ``not_before``: the cycles missed between two updates."""
    if period <= _ZERO or following <= anchor:
        return 0
    last_k = _ceil_div(following - anchor, period) - 1
    first_k = max(1, _ceil_div(not_before - anchor, period))
    return max(0, last_k - first_k + 1)


def assess_window(
    cycle: UpdateCycle, updates: Iterable[datetime], *, start: datetime, end: datetime
) -> CycleAssessment:
    """Assess the updates against the cycle over [start, end].

    ``updates`` may include updates before the window: the latest of them starts the
    clock; without one the clock starts at ``start``. Updates after ``end`` are ignored.
    """
    _aware(start, "start")
    _aware(end, "end")
    if end < start:
        raise DeadlineError(
            f"window ends ({end}) before it starts ({start})", code="bad_window", article="GM 11"
        )
    times = sorted(updates)
    for t in times:
        _aware(t, "update")
    prior = [t for t in times if t < start]
    inside = [t for t in times if start <= t <= end]
    anchor = prior[-1] if prior else start
    points = [anchor, *inside, end]
    gaps = list(pairwise(points))
    longest = max((b - a for a, b in gaps), default=_ZERO)
    missed = (
        sum(missed_deadlines(a, b, cycle.period, not_before=start) for a, b in gaps)
        if assessable(cycle)
        else 0
    )
    last = inside[-1] if inside else (prior[-1] if prior else None)
    return CycleAssessment(
        period=cycle.period,
        updates=len(inside),
        last_update=last,
        longest_gap=longest,
        missed_cycles=missed,
    )
