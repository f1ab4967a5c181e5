"""State the monitor builds from the records it follows: last changes per (entry,
provider), open coordination cases, dead letters. Fed record by record, read as rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from exchange.catalog import Catalog, CatalogEntry, in_force
from exchange.coordination import conflict_key
from exchange.update_cycles import assessable, freshness
from monitoring.snapshot import CaseRow, DeadLetterRow, EntryRow

TP = tuple[str, int]


def providers_of(entry: CatalogEntry) -> tuple[str, ...]:
    """The entry's provider and every item's provider (GM 22: each answers for its items)."""
    return tuple(sorted({entry.provider, *(i.provider for i in entry.items)}))


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class _Window:
    """Where following an accepted-topic partition began and the first record seen."""

    truncated: bool  # began after the earliest retained record
    first_s: float | None = None


class LastChanges:
    """Last accepted change per (entry, provider), from the accepted topics.

    A partition is followed from at most ``lookback`` records before its end. When a
    provider has no record in what was read, its silence counts from ``observed_since``:
    the first record read of a partition whose earlier records were skipped (the latest
    moment from which an update would have been seen), else the earliest record of the
    topic, else the moment the monitor began watching the entry.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._watching_since: dict[str, float] = {}
        self._windows: dict[str, dict[TP, _Window]] = {}

    def watch(self, entry: str, starts: Mapping[TP, tuple[int, int]], now: float) -> None:
        """Begin watching ``entry``: partition -> (start offset, earliest offset)."""
        self._watching_since.setdefault(entry, now)
        windows = self._windows.setdefault(entry, {})
        for tp, (start, earliest) in starts.items():
            windows.setdefault(tp, _Window(truncated=start > earliest))

    def add(self, entry: str, tp: TP, provider: str, at_s: float) -> None:
        window = self._windows.get(entry, {}).get(tp)
        if window is not None and window.first_s is None:
            window.first_s = at_s
        key = (entry, provider)
        self._last[key] = max(self._last.get(key, at_s), at_s)

    def last_change(self, entry: str, provider: str) -> float | None:
        return self._last.get((entry, provider))

    def observed_since(self, entry: str, now: float) -> float:
        since = self._watching_since.get(entry, now)
        windows = list(self._windows.get(entry, {}).values())
        cut = [w for w in windows if w.truncated]
        if any(w.first_s is None for w in cut):
            return since
        if cut:
            return max(w.first_s for w in cut if w.first_s is not None)
        firsts = [w.first_s for w in windows if w.first_s is not None]
        return min(firsts) if firsts else since

    def rows(self, catalog: Catalog, now: float) -> tuple[EntryRow, ...]:
        out = []
        for entry in sorted(catalog.entries, key=lambda e: e.id):
            if not in_force(entry, _dt(now)):
                continue
            since = self.observed_since(entry.id, now)
            for provider in providers_of(entry):
                last = self.last_change(entry.id, provider)
                f = freshness(
                    entry.update_cycle,
                    last_change=None if last is None else _dt(last),
                    observed_since=_dt(since),
                    now=_dt(now),
                )
                out.append(
                    EntryRow(
                        entry=entry.id,
                        provider=provider,
                        cycle=entry.update_cycle.label,
                        period_seconds=f.period.total_seconds(),
                        assessable=assessable(entry.update_cycle),
                        last_change=last,
                        silent_since=f.silent_since.timestamp(),
                        silence_seconds=f.silence.total_seconds(),
                        overdue=f.overdue,
                    )
                )
        return tuple(out)


@dataclass(frozen=True)
class _Conflict:
    case: tuple[str, str, str]  # (entry, subject, item)
    reporter: str
    detected_s: float


class OpenCases:
    """Coordination cases (GM 19) from govbus.conflicts, one per (entry, subject, item),
    closed by govbus.conflicts.resolved.

    A conflict raised again for the same subject and item is the same case, aged from its
    first unresolved detection; a case is open while any of its conflicts is unresolved. A
    resolution may be read before its conflict (two topics): it is remembered. An (entry,
    reporter) that had conflicts keeps a row when all are resolved, with 0 open and age 0,
    so the gauges fall to zero instead of vanishing.
    """

    def __init__(self) -> None:
        self._conflicts: dict[str, _Conflict] = {}
        self._resolved: set[str] = set()
        self._seen: set[tuple[str, str]] = set()

    def add(self, record: Mapping[str, object], at_s: float) -> None:
        entry, subject, item = (str(record[k]) for k in ("entry", "canonical_subject", "item"))
        reporter = str(record["reported_provider"])
        self._conflicts.setdefault(
            conflict_key(record["conflict_id"]), _Conflict((entry, subject, item), reporter, at_s)
        )
        self._seen.add((entry, reporter))

    def resolve(self, record: Mapping[str, object]) -> None:
        """A ConflictResolution: its conflict no longer counts."""
        self._resolved.add(conflict_key(record["conflict_id"]))

    def rows(self, entries: Iterable[str], now: float) -> tuple[CaseRow, ...]:
        wanted = set(entries)
        cases: dict[tuple[str, str, str], tuple[str, float]] = {}
        for cid, c in self._conflicts.items():
            if cid in self._resolved or c.case[0] not in wanted:
                continue
            reporter, first = cases.get(c.case, (c.reporter, c.detected_s))
            cases[c.case] = (reporter, min(first, c.detected_s))
        grouped: dict[tuple[str, str], list[float]] = {
            seen: [] for seen in self._seen if seen[0] in wanted
        }
        for (entry, _, _), (reporter, first) in cases.items():
            grouped.setdefault((entry, reporter), []).append(first)
        return tuple(
            CaseRow(entry, reporter, len(firsts), max(0.0, now - min(firsts)) if firsts else 0.0)
            for (entry, reporter), firsts in sorted(grouped.items())
        )


class DeadLetters:
    """Dead letters per (entry, reason), counted from the dead-letter topics."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, entry: str, reason: str) -> None:
        self._counts[(entry, reason)] = self._counts.get((entry, reason), 0) + 1

    def rows(self, entries: Iterable[str]) -> tuple[DeadLetterRow, ...]:
        wanted = set(entries)
        return tuple(
            DeadLetterRow(entry, reason, n)
            for (entry, reason), n in sorted(self._counts.items())
            if entry in wanted
        )
