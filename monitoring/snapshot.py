"""What one monitor round found: plain frozen rows, rendered as metrics or as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LagRow:
    """One consumer group on one topic (partitions summed; seconds = the oldest record)."""

    group: str
    topic: str
    kind: str  # topic kind: feed, ingest, receipts, ...
    agency: str  # the agency of a feed or receipts topic, else ""
    partitions: int
    committed: int  # sum of committed offsets
    lag_messages: int  # offsets behind the last stable offset (0 when nothing committed waits)
    lag_seconds: float | None  # age of the oldest unconsumed record; None when not probed


@dataclass(frozen=True)
class GroupRow:
    group: str
    state: str  # the broker's group state (STABLE, EMPTY, ...)
    members: int
    status: str  # Burrow-style: ok, warning, rewound, stalled, stopped
    partitions: int


@dataclass(frozen=True)
class FeedRow:
    """An agency's feed: who reads it and how long its oldest unread record has waited."""

    agency: str
    topic: str
    groups: tuple[str, ...]
    unread_seconds: float  # 0 when every committed record was read by some group


@dataclass(frozen=True)
class EntryRow:
    """Update-cycle compliance of one (entry, provider) (GM 11, G 13)."""

    entry: str
    provider: str
    cycle: str
    period_seconds: float
    assessable: bool
    last_change: float | None  # seconds since the epoch
    silent_since: float
    silence_seconds: float
    overdue: bool


@dataclass(frozen=True)
class CaseRow:
    """Open coordination cases (GM 19) of one entry raised by one reporting provider."""

    entry: str
    provider: str
    open: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class DeadLetterRow:
    entry: str
    reason: str
    records: int


@dataclass(frozen=True)
class ClusterRow:
    """The brokers' health: how many answer, which node is the active KRaft controller,
    and the partitions that lost replicas (GM 28, S 45: no single copy of the data)."""

    brokers: int
    controller: int | None  # the active controller's node id; -1: none; None: not asked
    partitions: int
    under_replicated: int  # fewer in-sync replicas than replicas
    offline: int  # no leader: neither read nor written
    under_min_isr: int  # fewer in sync than min.insync.replicas: acks=all writes refused


@dataclass(frozen=True)
class OpenTransactionRow:
    """A partition whose last stable offset is behind its high watermark: a transaction is
    open on it, and ``read_committed`` readers wait at ``stable_offset``
    (:mod:`monitoring.transactions`)."""

    topic: str
    partition: int
    stable_offset: int
    high_watermark: int
    held_seconds: float  # how long the stable offset has stayed where it is


@dataclass(frozen=True)
class Snapshot:
    at: float
    lags: tuple[LagRow, ...] = ()
    groups: tuple[GroupRow, ...] = ()
    feeds: tuple[FeedRow, ...] = ()
    entries: tuple[EntryRow, ...] = ()
    cases: tuple[CaseRow, ...] = ()
    dead_letters: tuple[DeadLetterRow, ...] = ()
    refresh_seconds: float = 0.0
    problems: tuple[str, ...] = field(default_factory=tuple)
    #: None when the round could not describe the cluster (counted in ``problems``).
    cluster: ClusterRow | None = None
    #: Partitions of the watched topics with a transaction open, the longest held first.
    open_transactions: tuple[OpenTransactionRow, ...] = ()

    def overdue_by_provider(self) -> dict[str, int]:
        """provider -> number of its entries overdue (0 for providers with none)."""
        out: dict[str, int] = {}
        for row in self.entries:
            out[row.provider] = out.get(row.provider, 0) + int(row.overdue)
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["entries_overdue"] = self.overdue_by_provider()
        return data
