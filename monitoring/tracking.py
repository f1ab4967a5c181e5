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
    """Where following a partition of the accepted topic began and the first record seen."""

    truncated: bool  # began after the earliest retained record
    first_s: float | None = None


class LastChanges:
    """Last accepted change per (entry, provider), from the accepted topic, which every
    entry shares (its records name their entry).

    Each partition is followed from at most ``lookback`` records before its end, so what
    is read is shared by every entry: a busy entry leaves less of a quiet one. When a
    provider has no record in what was read, its silence counts from ``observed_since``:

    * no record of the entry was read at all: the moment the monitor began watching the
      entry (never early: the entry may be new, or its records lie before what was read);
    * else the latest of the entry's first record read and, over the partitions whose
      earlier records were skipped, the first record read there, any entry's (from then
      on every update would have been seen, whichever partition its subject hashes to);
      a skipped partition with nothing read yet: the moment watching began.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._watching_since: dict[str, float] = {}
        self._first: dict[str, float] = {}
        self._windows: dict[TP, _Window] = {}

    def watch(self, entry: str, now: float) -> None:
        """Begin watching ``entry`` (known entries keep their moment)."""
        self._watching_since.setdefault(entry, now)

    def follow(self, starts: Mapping[TP, tuple[int, int]]) -> None:
        """Partitions of the accepted topic followed: partition -> (start, earliest offset)."""
        for tp, (start, earliest) in starts.items():
            self._windows.setdefault(tp, _Window(truncated=start > earliest))

    def seen(self, tp: TP, at_s: float) -> None:
        """A record of ``tp`` was read, whichever entry it belongs to."""
        window = self._windows.get(tp)
        if window is not None and window.first_s is None:
            window.first_s = at_s

    def add(self, entry: str, provider: str, at_s: float) -> None:
        """A change of a watched ``entry`` by ``provider`` at ``at_s``."""
        self._first[entry] = min(self._first.get(entry, at_s), at_s)
        key = (entry, provider)
        self._last[key] = max(self._last.get(key, at_s), at_s)

    def last_change(self, entry: str, provider: str) -> float | None:
        return self._last.get((entry, provider))

    def observed_since(self, entry: str, now: float) -> float:
        since = self._watching_since.get(entry, now)
        first = self._first.get(entry)
        cut = [w.first_s for w in self._windows.values() if w.truncated]
        if first is None or None in cut:
            return since
        return max([first, *(s for s in cut if s is not None)])

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
    """Dead letters per (entry, reason), counted from the dead-letter topic (shared by every
    entry); rows keep the entries asked for."""

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
