"""``govbus monitor``: one round every interval reads the cluster beside the data path and
publishes a :class:`~monitoring.snapshot.Snapshot` to the metrics bundle.

A round: the catalog (entries, agencies) names the bus topics to watch; the last stable,
high-watermark and earliest offsets of their partitions (a last stable offset held behind
the high watermark is an open, perhaps hanging, transaction: :mod:`monitoring.transactions`);
consumer groups, their committed offsets and lag (:mod:`monitoring.lag`); new records of
govbus.accepted (last change per entry and provider), of govbus.conflicts and
govbus.conflicts.resolved (open cases, GM 19) and of govbus.dlq (dead letters per entry and
reason); the brokers' health (brokers, active controller, under-replicated, offline and
under-min-ISR partitions). Nothing joins a group or commits.

govbus.accepted and govbus.dlq are shared by every entry: a record belongs to the entry its
:data:`~schemas.topics.ENTRY_HEADER` names, else (a record written without it) to the entry
its decoded value names (a ChangeEvent's ``entry``, a DeadLetter's ingest ``source_topic``).
Changes count for the catalog's entries in force only; a change of another entry is not
decoded when its header names it. Dead letters are counted for every entry and reported for
the catalog's (an entry added later shows its earlier dead letters, as a topic of its own
read from the start did).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from base.errors import GovbusError
from exchange.catalog import Catalog, in_force
from kafkaclient import Admin
from kafkaclient.groups import RecordProbe, partition_offsets
from monitoring.burrow import MIN_SAMPLES, WINDOW_SIZE, Windows
from monitoring.exporter import MonitorMetrics
from monitoring.follow import TP, Follower, Record
from monitoring.lag import LagReader, Watched
from monitoring.snapshot import ClusterRow, Snapshot
from monitoring.tracking import DeadLetters, LastChanges, OpenCases
from monitoring.transactions import OpenTransactions
from schemas import decode
from schemas.topics import POLICIES, TopicKind, bus_topics, entry_of, header_entry, name_part

log = logging.getLogger("govbus.monitor")

#: Records of govbus.accepted read per partition when the monitor starts (the newest ones,
#: every entry's: the topic is shared, so a busy entry leaves less of a quiet one's history).
LOOKBACK_RECORDS = 1000
#: Default seconds between rounds (Prometheus scrapes every 15 s by default).
INTERVAL_S = 15.0


@dataclass(frozen=True)
class MonitorConfig:
    bootstrap: str
    #: Only consumer groups whose id matches this regular expression (None: all).
    group_pattern: str | None = None
    window: int = WINDOW_SIZE
    min_samples: int = MIN_SAMPLES
    lookback: int = LOOKBACK_RECORDS
    extra_config: Mapping[str, Any] = field(default_factory=dict)


class Monitor:
    def __init__(
        self,
        config: MonitorConfig,
        catalog: Callable[[], Catalog],
        *,
        metrics: MonitorMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._catalog = catalog
        self._metrics = metrics
        self._clock = clock
        extra = dict(config.extra_config)
        self._admin = Admin(config.bootstrap, extra_config=extra)
        self._probe = RecordProbe(config.bootstrap, extra_config=extra)
        self._follower = Follower(config.bootstrap, extra_config=extra)
        self._lag = LagReader(
            self._admin,
            self._probe,
            group_pattern=config.group_pattern,
            windows=Windows(config.window),
            min_samples=config.min_samples,
        )
        self._changes = LastChanges()
        self._cases = OpenCases()
        self._dead = DeadLetters()
        self._transactions = OpenTransactions()
        self.last: Snapshot | None = None

    def refresh(self) -> Snapshot:
        """One round; publishes and returns the snapshot."""
        began = time.monotonic()
        now = self._clock()
        catalog = self._catalog()
        watched = self._watched(catalog)
        partitions = [(w.topic, p) for w in watched.values() for p in range(w.partitions)]
        # A partition whose offsets cannot be had this round is left out of it.
        ends = partition_offsets(self._admin, partitions, "latest", strict=False)
        high = partition_offsets(self._admin, partitions, "latest", strict=False, committed=False)
        earliest = partition_offsets(self._admin, partitions, "earliest", strict=False)
        lag = self._lag.read(watched, ends, earliest, now)
        problems = self._follow(catalog, watched, ends, earliest, now)
        cluster = self._cluster(problems)
        entries = [e.id for e in catalog.entries]
        snapshot = Snapshot(
            at=now,
            lags=lag.lags,
            groups=lag.groups,
            feeds=lag.feeds,
            entries=self._changes.rows(catalog, now),
            cases=self._cases.rows(entries, now),
            dead_letters=self._dead.rows(entries),
            refresh_seconds=time.monotonic() - began,
            problems=tuple(problems),
            cluster=cluster,
            open_transactions=self._transactions.observe(ends, high, now),
        )
        self.last = snapshot
        if self._metrics is not None:
            self._metrics.publish(snapshot)
        return snapshot

    def run(self, stop: threading.Event, interval_s: float = INTERVAL_S) -> None:
        """Rounds until ``stop`` is set; a failed round is counted and logged, not fatal."""
        while not stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # a daemon: one bad round must not end the monitor
                log.warning("monitor round failed: %s", exc, exc_info=True)
                if self._metrics is not None:
                    self._metrics.failed()
            stop.wait(interval_s)

    def close(self) -> None:
        self._follower.close()
        self._probe.close()

    def _cluster(self, problems: list[str]) -> ClusterRow | None:
        """Brokers, controller and partition health; a failure is a problem of the round."""
        try:
            h = self._admin.partition_health()
        except GovbusError as exc:
            problems.append(f"cluster health: {exc}")
            return None
        return ClusterRow(
            brokers=h.brokers,
            controller=h.controller,
            partitions=h.partitions,
            under_replicated=h.under_replicated,
            offline=h.offline,
            under_min_isr=h.under_min_isr,
        )

    # -- what to watch ------------------------------------------------------------------
    def _watched(self, catalog: Catalog) -> dict[str, Watched]:
        existing = self._admin.topics()
        defs = bus_topics([e.id for e in catalog.entries], [a.id for a in catalog.agencies])
        out = {}
        for d in defs:
            if d.name in existing:
                part = name_part(d.kind, d.name) if POLICIES[d.kind].per else None
                out[d.name] = Watched(d.name, d.kind, part, existing[d.name])
        return out

    # -- followed topics ------------------------------------------------------------------
    def _follow(
        self,
        catalog: Catalog,
        watched: Mapping[str, Watched],
        ends: Mapping[tuple[str, int], int],
        earliest: Mapping[tuple[str, int], int],
        now: float,
    ) -> list[str]:
        live = frozenset(e.id for e in catalog.entries if in_force(e, _dt(now)))
        for entry in live:
            self._changes.watch(entry, now)
        starts: dict[TP, int] = {}
        for w in watched.values():
            tps = [(w.topic, p) for p in range(w.partitions) if (w.topic, p) in ends]
            if w.kind is TopicKind.ACCEPTED:
                first = self._lookback(tps, ends, earliest)
                self._changes.follow(first)
                starts.update({tp: s for tp, (s, _) in first.items()})
            elif w.kind in (TopicKind.CONFLICTS, TopicKind.RESOLVED, TopicKind.DLQ):
                starts.update({tp: earliest.get(tp, 0) for tp in tps})
        self._follower.follow(starts)
        problems: list[str] = []
        for record in self._follower.read(ends):
            source = watched.get(record.topic)
            if source is None:
                continue
            try:
                self._take(source, record, live)
            except GovbusError as exc:
                problems.append(f"{record.topic}/{record.partition}/{record.offset}: {exc}")
        return problems

    def _lookback(
        self, tps: list[TP], ends: Mapping[TP, int], earliest: Mapping[TP, int]
    ) -> dict[TP, tuple[int, int]]:
        """Accepted partitions not followed yet -> (start, earliest offset): each starts
        ``lookback`` records before its end (the topic is shared: records of every entry)."""
        return {
            tp: (max(earliest[tp], ends[tp] - self.config.lookback), earliest[tp])
            for tp in tps
            if tp not in self._follower.followed and tp in earliest
        }

    def _take(self, w: Watched, record: Record, live: frozenset[str]) -> None:
        value = record.value or b""
        if w.kind is TopicKind.ACCEPTED:
            self._accepted(record, live)
        elif w.kind is TopicKind.CONFLICTS:
            conflict = decode("Conflict", value)
            self._cases.add(conflict, conflict["detected_at"].timestamp())
        elif w.kind is TopicKind.RESOLVED:
            self._cases.resolve(decode("ConflictResolution", value))
        elif w.kind is TopicKind.DLQ:
            self._dead.add(*dead_letter_of(record))

    def _accepted(self, record: Record, live: frozenset[str]) -> None:
        """A record of govbus.accepted: a change of its entry when the entry is watched."""
        at_s = record.timestamp_ms / 1000.0
        self._changes.seen((record.topic, record.partition), at_s)
        change = change_of(record, live)
        if change is not None:
            self._changes.add(*change, at_s)


def change_of(record: Record, live: Set[str]) -> tuple[str, str] | None:
    """(entry, provider) of a record of govbus.accepted when its entry is in ``live``, else
    None; another entry's record named by its header is not decoded."""
    entry = header_entry(record.headers)
    if entry is not None and entry not in live:
        return None
    event = decode("ChangeEvent", record.value or b"")
    entry = entry or str(event["entry"])
    return (entry, str(event["provider"])) if entry in live else None


def dead_letter_of(record: Record) -> tuple[str, str]:
    """(entry, reason code) of a record of govbus.dlq: the entry its header names, else the
    entry of the ingest topic the dead letter came from."""
    dead = decode("DeadLetter", record.value or b"")
    entry = header_entry(record.headers) or entry_of(str(dead["source_topic"]))
    return entry, str(dead["reason_code"])


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
