"""What an agency hands the publisher (:class:`Draft`) and what it gets back
(:class:`PublishResult`, :class:`Receipt`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from base.errors import DeliveryError, KafkaTimeoutError
from exchange.admission import Refusal

#: How long :meth:`PublishResult.wait` serves delivery reports by default.
DELIVERY_WAIT_S = 30.0
#: One poll of the producer while waiting for a delivery report.
DELIVERY_POLL_S = 0.1


@dataclass(frozen=True)
class Draft:
    """One change of one subject as the agency system has it.

    ``items`` maps data item names to new values (for ``delete``: the values withdrawn,
    written as ``before``); ``before`` optionally gives previous values for ``update``.
    ``authoritative=False`` marks a non-authoritative report of items another agency is
    the source of (S 20). Unset ids, times and sequence numbers are filled in by the
    publisher; give ``event_id`` to make a re-publish after a restart recognisable.
    """

    subject_key: str
    operation: str
    items: Mapping[str, str | None]
    authoritative: bool = True
    before: Mapping[str, str | None] = field(default_factory=dict)
    event_id: str | None = None
    event_time: datetime | None = None
    source_system: str | None = None
    source_sequence: int | None = None
    trace_id: str | None = None
    legal_basis: str | None = None
    provider: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PublisherOptions:
    """How an :class:`~producers.publisher.AgencyPublisher` names its events and reports
    back; every field is optional.

    ``source_system``: the agency system each event names (default: the agency id);
    ``receipts_group``: the consumer group that reads the agency's receipts (default:
    :func:`producers.receipts.receipt_group`); ``on_delivery`` is called with each
    completed :class:`PublishResult`, ``on_receipt`` with each :class:`Receipt` read, both
    on the caller's thread inside ``poll``, ``flush``, ``poll_receipts`` or
    ``wait_receipts``; ``clock``: the time that stamps events without an event time.
    """

    source_system: str | None = None
    receipts_group: str | None = None
    on_delivery: Callable[[PublishResult], None] | None = None
    on_receipt: Callable[[Receipt], None] | None = None
    clock: Callable[[], datetime] = _utc_now


class PublishStatus(StrEnum):
    REFUSED = "refused"  # refused locally, nothing sent
    SKIPPED = "skipped_already_acknowledged"  # acknowledged before (journal), not resent
    PENDING = "pending"  # handed to the producer, no delivery report yet
    DELIVERED = "delivered"  # acknowledged by the broker (acks=all)
    FAILED = "failed"  # the broker did not acknowledge it (``error``)


class PublishResult:
    """The future of one event: refused, skipped, pending, delivered or failed.

    A new result is pending; the publisher completes it with :meth:`mark_delivered` or
    :meth:`mark_failed` when the delivery report arrives, while it polls or flushes;
    :meth:`wait` polls until this one has arrived. :meth:`refused` and :meth:`skipped`
    make results that are complete from the start.
    """

    def __init__(
        self, event_id: str, entry: str, topic: str, *, poll: Callable[[float], Any] | None = None
    ) -> None:
        self.event_id = event_id
        self.entry = entry
        self.topic = topic
        self.status = PublishStatus.PENDING
        self.refusal: Refusal | None = None
        self.partition: int | None = None
        self.offset: int | None = None
        self.error: DeliveryError | None = None
        self._poll = poll

    @classmethod
    def refused(cls, event_id: str, entry: str, topic: str, refusal: Refusal) -> PublishResult:
        """Refused locally: nothing was sent."""
        result = cls(event_id, entry, topic)
        result.status, result.refusal = PublishStatus.REFUSED, refusal
        return result

    @classmethod
    def skipped(
        cls, event_id: str, entry: str, topic: str, partition: int, offset: int
    ) -> PublishResult:
        """Acknowledged before, at ``partition``/``offset`` (the journal): not sent again."""
        result = cls(event_id, entry, topic)
        result.mark_delivered(partition, offset)
        result.status = PublishStatus.SKIPPED
        return result

    def done(self) -> bool:
        return self.status is not PublishStatus.PENDING

    def wait(self, timeout_s: float = DELIVERY_WAIT_S) -> PublishResult:
        """Serve delivery reports until this event's arrived; KafkaTimeoutError if not in time."""
        deadline = time.monotonic() + timeout_s
        while not self.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._poll is None:
                raise KafkaTimeoutError(
                    f"no delivery report for event {self.event_id} within {timeout_s}s"
                )
            self._poll(min(DELIVERY_POLL_S, remaining))
        return self

    def mark_delivered(self, partition: int, offset: int) -> None:
        """The broker acknowledged the event at ``partition``/``offset``."""
        self.status, self.partition, self.offset = PublishStatus.DELIVERED, partition, offset

    def mark_failed(self, error: DeliveryError) -> None:
        """The broker did not acknowledge the event."""
        self.status, self.error = PublishStatus.FAILED, error

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "entry": self.entry,
            "topic": self.topic,
            "status": self.status.value,
            "partition": self.partition,
            "offset": self.offset,
            "refusal": None if self.refusal is None else self.refusal.to_json(),
            "error": None if self.error is None else str(self.error),
        }

    def __repr__(self) -> str:
        where = f" p{self.partition}@{self.offset}" if self.partition is not None else ""
        why = f" {self.refusal.reason.value}" if self.refusal is not None else ""
        return f"<PublishResult {self.event_id} {self.status.value}{where}{why}>"


@dataclass(frozen=True)
class AuditPosition:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Receipt:
    """What the bus decided about one event (schemas/avro/Receipt.avsc)."""

    event_id: str
    entry: str
    provider: str
    outcome: str
    reason_code: str
    reason_text: str
    article: str | None
    decided_at: datetime
    audit_position: AuditPosition | None = None
    canonical_subject: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Receipt:
        """From a decoded Avro record (uuid as UUID, times as aware datetimes) or from
        :meth:`to_json` output (text)."""
        position = record.get("audit_position")
        decided = record["decided_at"]
        if isinstance(decided, str):
            decided = datetime.fromisoformat(decided)
        elif isinstance(decided, int | float):
            decided = datetime.fromtimestamp(decided / 1000, UTC)
        return cls(
            event_id=str(record["event_id"]),
            entry=str(record["entry"]),
            provider=str(record["provider"]),
            outcome=str(record["outcome"]),
            reason_code=str(record["reason_code"]),
            reason_text=str(record["reason_text"]),
            article=record.get("article"),
            decided_at=decided,
            audit_position=None
            if position is None
            else AuditPosition(
                str(position["topic"]), int(position["partition"]), int(position["offset"])
            ),
            canonical_subject=record.get("canonical_subject"),
        )

    def to_json(self) -> dict[str, Any]:
        position = self.audit_position
        return {
            "event_id": self.event_id,
            "entry": self.entry,
            "provider": self.provider,
            "outcome": self.outcome,
            "reason_code": self.reason_code,
            "reason_text": self.reason_text,
            "article": self.article,
            "decided_at": self.decided_at.isoformat(),
            "audit_position": None if position is None else asdict(position),
            "canonical_subject": self.canonical_subject,
        }
