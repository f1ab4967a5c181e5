"""Consumer lag per group and topic, in records and in seconds, with a Burrow-style status.

Lag in records is the distance from a group's committed offset to the partition's last
stable offset. On transactional topics (every feed) commit markers occupy offsets too, so
a reader that consumed everything still sits one offset short: the record probe settles
it. When no committed record lies between the committed offset and the end, the lag is
0; otherwise the record at (or first after) the committed offset is the oldest one
unconsumed, and its timestamp gives the lag in seconds. The distance in offsets is then an
upper bound of the records waiting (markers of later transactions count too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kafkaclient import Admin
from kafkaclient.groups import (
    GroupState,
    Probed,
    RecordProbe,
    committed_offsets,
    describe_groups,
    list_groups,
)
from monitoring.burrow import Sample, Status, Windows, partition_status, worst
from monitoring.snapshot import FeedRow, GroupRow, LagRow
from schemas.topics import TopicKind

TP = tuple[str, int]
#: Topic kinds whose name part is an agency (the rest name an entry or nothing).
AGENCY_KINDS = frozenset({TopicKind.FEED, TopicKind.RECEIPTS})


@dataclass(frozen=True)
class Watched:
    """A bus topic the monitor watches: its kind and its name part (entry or agency)."""

    topic: str
    kind: TopicKind
    part: str | None
    partitions: int

    @property
    def agency(self) -> str:
        return (self.part or "") if self.kind in AGENCY_KINDS else ""


@dataclass(frozen=True)
class LagResult:
    lags: tuple[LagRow, ...]
    groups: tuple[GroupRow, ...]
    feeds: tuple[FeedRow, ...]


class LagReader:
    """One instance per monitor: it keeps the Burrow windows between rounds."""

    def __init__(
        self,
        admin: Admin,
        probe: RecordProbe,
        *,
        group_pattern: str | None = None,
        windows: Windows | None = None,
        min_samples: int | None = None,
    ) -> None:
        self._admin = admin
        self._probe = probe
        self._pattern = re.compile(group_pattern) if group_pattern else None
        self._windows = windows or Windows()
        self._min_samples = min_samples
        self._probed: dict[tuple[str, int, int], Probed] = {}

    def read(
        self,
        watched: Mapping[str, Watched],
        ends: Mapping[TP, int],
        earliest: Mapping[TP, int],
        now: float,
    ) -> LagResult:
        ids = [g for g in list_groups(self._admin) if self._wanted(g)]
        offsets = {
            group: {tp: o for tp, o in parts.items() if tp[0] in watched and tp in ends}
            for group, parts in committed_offsets(self._admin, ids).items()
        }
        offsets = {g: parts for g, parts in offsets.items() if parts}
        states = describe_groups(self._admin, offsets)
        unread = _unread_starts(watched, _furthest(offsets, watched), earliest, ends)
        wanted = {(tp, o) for parts in offsets.values() for tp, o in parts.items() if o < ends[tp]}
        wanted.update(unread.items())
        probed = self._probe_all(wanted)
        lags, groups = self._lags(offsets, states, watched, ends, probed, now)
        feeds = _feeds(watched, offsets, unread, probed, now)
        return LagResult(lags, groups, feeds)

    def _wanted(self, group: str) -> bool:
        return self._pattern is None or self._pattern.search(group) is not None

    def _probe_all(
        self, wanted: Iterable[tuple[TP, int]]
    ) -> dict[tuple[str, int, int], Probed | None]:
        """Probe each (partition, offset) once; several offsets of one partition take
        several rounds. Found records are cached (a committed record never changes)."""
        out: dict[tuple[str, int, int], Probed | None] = {}
        todo: dict[TP, list[int]] = {}
        for (t, p), o in wanted:
            key = (t, p, o)
            if key in self._probed:
                out[key] = self._probed[key]
            else:
                todo.setdefault((t, p), []).append(o)
        while todo:
            round_ = {tp: offs.pop() for tp, offs in todo.items()}
            todo = {tp: offs for tp, offs in todo.items() if offs}
            for tp, found in self._probe.first_records(round_).items():
                out[(tp[0], tp[1], round_[tp])] = found
        self._probed = {k: v for k, v in out.items() if v is not None}
        return out

    def _lags(
        self,
        offsets: Mapping[str, Mapping[TP, int]],
        states: Mapping[str, GroupState],
        watched: Mapping[str, Watched],
        ends: Mapping[TP, int],
        probed: Mapping[tuple[str, int, int], Probed | None],
        now: float,
    ) -> tuple[tuple[LagRow, ...], tuple[GroupRow, ...]]:
        lags: list[LagRow] = []
        groups: list[GroupRow] = []
        seen: list[tuple[str, str, int]] = []
        for group in sorted(offsets):
            state = states.get(group, GroupState(group, "UNKNOWN", 0))
            statuses: list[Status] = []
            by_topic: dict[str, list[tuple[int, int, float | None]]] = {}
            for (t, p), committed in sorted(offsets[group].items()):
                lag, age = _lag(t, p, committed, ends[(t, p)], probed, now)
                key = (group, t, p)
                seen.append(key)
                window = self._windows.observe(key, Sample(now, committed, lag))
                kwargs = {} if self._min_samples is None else {"min_samples": self._min_samples}
                statuses.append(partition_status(window, active=state.active, **kwargs))
                by_topic.setdefault(t, []).append((committed, lag, age))
            for topic, rows in by_topic.items():
                w = watched[topic]
                ages = [a for _, lag, a in rows if a is not None and lag > 0]
                unknown = any(a is None and lag > 0 for _, lag, a in rows)
                lags.append(
                    LagRow(
                        group=group,
                        topic=topic,
                        kind=str(w.kind),
                        agency=w.agency,
                        partitions=len(rows),
                        committed=sum(c for c, _, _ in rows),
                        lag_messages=sum(lag for _, lag, _ in rows),
                        lag_seconds=None if unknown else max(ages, default=0.0),
                    )
                )
            groups.append(
                GroupRow(group, state.state, state.members, str(worst(statuses)), len(statuses))
            )
        self._windows.retain(seen)
        return tuple(lags), tuple(groups)


def _lag(
    topic: str,
    partition: int,
    committed: int,
    end: int,
    probed: Mapping[tuple[str, int, int], Probed | None],
    now: float,
) -> tuple[int, float | None]:
    """(records behind, age in seconds of the oldest unconsumed record)."""
    if committed >= end:
        return 0, 0.0
    key = (topic, partition, committed)
    if key not in probed:  # the probe did not answer in time: offsets only
        return end - committed, None
    found = probed[key]
    if found is None:  # only markers or aborted records wait
        return 0, 0.0
    return end - committed, max(0.0, now - found.timestamp_ms / 1000.0)


def _furthest(
    offsets: Mapping[str, Mapping[TP, int]], watched: Mapping[str, Watched]
) -> dict[TP, int]:
    """Per feed partition, the furthest offset any group committed."""
    out: dict[TP, int] = {}
    for parts in offsets.values():
        for tp, o in parts.items():
            if watched[tp[0]].kind is TopicKind.FEED:
                out[tp] = max(out.get(tp, o), o)
    return out


def _feed_partitions(watched: Mapping[str, Watched]) -> list[TP]:
    return [
        (w.topic, p)
        for w in watched.values()
        if w.kind is TopicKind.FEED
        for p in range(w.partitions)
    ]


def _unread_starts(
    watched: Mapping[str, Watched],
    furthest: Mapping[TP, int],
    earliest: Mapping[TP, int],
    ends: Mapping[TP, int],
) -> dict[TP, int]:
    """Where the records nobody has read begin, per feed partition that has any."""
    out: dict[TP, int] = {}
    for tp in _feed_partitions(watched):
        if tp not in ends:
            continue
        start = max(furthest.get(tp, 0), earliest.get(tp, 0))
        if start < ends[tp]:
            out[tp] = start
    return out


def _feeds(
    watched: Mapping[str, Watched],
    offsets: Mapping[str, Mapping[TP, int]],
    starts: Mapping[TP, int],
    probed: Mapping[tuple[str, int, int], Probed | None],
    now: float,
) -> tuple[FeedRow, ...]:
    """Per feed: the groups that read it and the age of its oldest unread record
    (``starts``: where the unread records begin, :func:`_unread_starts`)."""
    rows = []
    for w in sorted(watched.values(), key=lambda w: w.topic):
        if w.kind is not TopicKind.FEED:
            continue
        readers = tuple(
            sorted(g for g, parts in offsets.items() if any(t == w.topic for t, _ in parts))
        )
        ages = [
            now - found.timestamp_ms / 1000.0
            for (t, p), start in starts.items()
            if t == w.topic and (found := probed.get((t, p, start))) is not None
        ]
        rows.append(FeedRow(w.agency, w.topic, readers, max([0.0, *ages])))
    return tuple(rows)
