"""The fault suite's checker, as Jepsen's Kafka checker: pure functions over a history.

A :class:`History` holds every send (:class:`Send`: an event the project's publisher
handed the broker, with whether its delivery report acknowledged it) and every read
(:class:`Read`: one record of one output *stream* — an agency's feed, the open feed, the
provider's receipts, the audit stream's decision records — at its topic, partition and
offset). Each stream must hold every acknowledged send once. Reads come in two views
of the same topics: ``reads``, by a ``read_committed`` consumer (what an agency sees),
and ``uncommitted``, by a ``read_uncommitted`` consumer (every record written, aborted
transactions included).

:func:`check` finds, per stream:

- **lost**: an acknowledged send that no committed read holds;
- **duplicated**: an event read more than once (each copy beyond the first counts);
- **reordered**: a read of a subject's event that comes, in its partition, after a read
  of the same subject's later send (Kafka orders only within a partition; the bus keeps
  every event of one subject on one partition);
- **aborted read**: a committed read at a position the uncommitted view shows to be an
  aborted attempt: a copy of an event followed, in the same partition, by a later copy
  of it (the processor writes an event's outputs again after its transaction aborted;
  the committed copy is the last one);
- **unexpected**: a read of an event never sent.

A client may write one event twice (an idempotent producer's retry across a leader change
did, in a rolling restart): the bus answers the copy with a ``duplicate`` receipt and
publishes nothing. Where the history holds the submission topic's records (stream
:data:`SUBMITTED`) and those receipts (stream :data:`REANSWERED`), each event must have as
many ``duplicate`` receipts as extra copies submitted, no more (one more is the bus
answering twice: duplicated); the events submitted twice are reported as ``resubmitted``,
not as an anomaly of the bus. The submission topic is not transactional, so its copies
are never taken for aborted attempts.

:func:`resume_after` measures the time to resume after a fault from the reads' record
timestamps: no clock is read here; every time is in the history or an argument.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: The submission topic's records: what the agency's client wrote.
SUBMITTED = "submitted"
#: The receipts that answer a copy of an event already answered (``duplicate``).
REANSWERED = "receipts-duplicate"


@dataclass(frozen=True, order=True)
class Position:
    """Where a record is: topic, partition, offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Send:
    """One event handed to the broker, in send order (``index``). ``subject``: its
    canonical subject; ``partition``: its ingest partition; ``acknowledged``: the
    delivery report said the broker has it (acks=all); ``sent_at``: wall-clock seconds."""

    index: int
    event_id: str
    subject: str
    partition: int
    acknowledged: bool
    sent_at: float


@dataclass(frozen=True)
class Read:
    """One record of ``stream`` about ``event_id``, at ``position``; ``timestamp``: the
    record's wall-clock time in seconds (its producer's create time)."""

    stream: str
    event_id: str
    position: Position
    timestamp: float = 0.0


@dataclass(frozen=True)
class History:
    """What one run sent and read; ``streams``: every stream that must hold each
    acknowledged send exactly once."""

    sends: tuple[Send, ...]
    reads: tuple[Read, ...]
    uncommitted: tuple[Read, ...] = ()
    streams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reordering:
    """In ``stream``, ``earlier`` (sent first) was read after ``later``, both of ``subject``."""

    stream: str
    subject: str
    earlier: str
    later: str


@dataclass(frozen=True)
class Anomalies:
    """What :func:`check` found; empty tuples everywhere is a clean run."""

    lost: tuple[tuple[str, str], ...] = ()
    duplicated: tuple[tuple[str, str], ...] = ()
    reordered: tuple[Reordering, ...] = ()
    aborted_reads: tuple[Read, ...] = ()
    unexpected: tuple[Read, ...] = ()
    #: Events the client wrote more than once (information, not an anomaly of the bus).
    resubmitted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicated or self.reordered or self.aborted_reads or self.unexpected
        )

    def counts(self) -> dict[str, int]:
        """Each kind of anomaly: how many (a stream's lost event counts once per stream)."""
        return {
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "reordered": len(self.reordered),
            "aborted_reads": len(self.aborted_reads),
            "unexpected": len(self.unexpected),
        }

    def examples(self, most: int = 3) -> dict[str, list[str]]:
        """Up to ``most`` of each kind found, as text (what a failed run shows)."""
        kinds = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "aborted_reads": self.aborted_reads,
            "unexpected": self.unexpected,
        }
        return {kind: [str(a) for a in found[:most]] for kind, found in kinds.items() if found}


def check(history: History) -> Anomalies:
    """Every anomaly of ``history`` (see the module)."""
    by_id = {s.event_id: s for s in history.sends}
    acknowledged = {s.event_id for s in history.sends if s.acknowledged}
    reads_of: dict[str, list[Read]] = defaultdict(list)
    for read in history.reads:
        reads_of[read.stream].append(read)
    lost: list[tuple[str, str]] = []
    duplicated: list[tuple[str, str]] = []
    for stream in history.streams:
        seen = Counter(r.event_id for r in reads_of.get(stream, ()))
        lost += [(stream, e) for e in sorted(acknowledged - set(seen))]
        duplicated += [(stream, e) for e, n in sorted(seen.items()) for _ in range(n - 1)]
    copies = Counter(r.event_id for r in reads_of.get(SUBMITTED, ()))
    answers = Counter(r.event_id for r in reads_of.get(REANSWERED, ()))
    for event_id, n in sorted(answers.items()):
        duplicated += [(REANSWERED, event_id)] * max(n - max(copies[event_id] - 1, 0), 0)
    unexpected = tuple(r for r in history.reads if r.event_id not in by_id)
    transactional = [r for r in history.reads if r.stream != SUBMITTED]
    return Anomalies(
        lost=tuple(lost),
        duplicated=tuple(duplicated),
        reordered=tuple(reorderings(transactional, by_id)),
        aborted_reads=aborted_reads(
            transactional, [r for r in history.uncommitted if r.stream != SUBMITTED]
        ),
        unexpected=unexpected,
        resubmitted=tuple(e for e, n in sorted(copies.items()) if n > 1),
    )


def merged(parts: Iterable[Anomalies]) -> Anomalies:
    """The anomalies of histories checked apart, as one. :func:`check` of each topic's
    reads alone (with the sends and the topic's streams) finds what it finds over them all,
    provided the submission topic and the receipts (:data:`SUBMITTED`, :data:`REANSWERED`)
    are checked together: only that check looks across topics. The soak checks its
    topics so, one at a time, to hold one topic's records, not every one."""
    found = list(parts)
    return Anomalies(
        lost=tuple(a for p in found for a in p.lost),
        duplicated=tuple(a for p in found for a in p.duplicated),
        reordered=tuple(a for p in found for a in p.reordered),
        aborted_reads=tuple(a for p in found for a in p.aborted_reads),
        unexpected=tuple(a for p in found for a in p.unexpected),
        resubmitted=tuple(a for p in found for a in p.resubmitted),
    )


def reorderings(reads: Iterable[Read], sends: Mapping[str, Send]) -> list[Reordering]:
    """Reads that come, in their stream's partition, after a later send of their subject."""
    out: list[Reordering] = []
    latest: dict[tuple[str, str, int, str], Send] = {}
    for read in sorted(reads, key=lambda r: (r.stream, r.position)):
        send = sends.get(read.event_id)
        if send is None:
            continue
        key = (read.stream, read.position.topic, read.position.partition, send.subject)
        before = latest.get(key)
        if before is not None and before.index > send.index:
            out.append(Reordering(read.stream, send.subject, send.event_id, before.event_id))
        else:
            latest[key] = send
    return out


def aborted_positions(uncommitted: Iterable[Read]) -> frozenset[Position]:
    """Positions of the uncommitted view that hold an aborted attempt: every copy of an
    event in a stream's partition but the last."""
    last: dict[tuple[str, str, int, str], Position] = {}
    every: list[tuple[tuple[str, str, int, str], Position]] = []
    for read in uncommitted:
        key = (read.stream, read.position.topic, read.position.partition, read.event_id)
        every.append((key, read.position))
        if key not in last or last[key] < read.position:
            last[key] = read.position
    return frozenset(p for key, p in every if p != last[key])


def aborted_reads(reads: Iterable[Read], uncommitted: Iterable[Read]) -> tuple[Read, ...]:
    """Committed reads at a position the uncommitted view shows aborted."""
    aborted = aborted_positions(uncommitted)
    return tuple(r for r in reads if r.position in aborted)


def resume_after(
    history: History, stream: str, fault_at: float, partitions: Sequence[int]
) -> float | None:
    """Seconds from ``fault_at`` until ``stream`` held output again for each of the ingest
    ``partitions``: per partition, the earliest record time of an event sent at or after
    ``fault_at``; the slowest partition counts. None: some partition never resumed."""
    by_id = {s.event_id: s for s in history.sends}
    first: dict[int, float] = {}
    for read in history.reads:
        send = by_id.get(read.event_id)
        if read.stream != stream or send is None or send.sent_at < fault_at:
            continue
        if send.partition not in first or read.timestamp < first[send.partition]:
            first[send.partition] = read.timestamp
    if any(p not in first for p in partitions):
        return None
    return max(0.0, max(first[p] for p in partitions) - fault_at)
