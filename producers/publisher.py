"""The agency publisher: check locally, send to ``govbus.ingest.<entry>``, report back.

For each :class:`~producers.model.Draft`, :meth:`AgencyPublisher.publish`:

1. gives it an event id (the draft's, normalised to the canonical UUID text, or a new
   one) and skips it when the journal says the broker acknowledged that id before
   (``skipped_already_acknowledged``: a restart does not resend);
2. refuses a second event with an id still in flight in this run (``duplicate_event_id``);
3. runs the catalog and identity checks of :func:`exchange.ingest_checks.admit` (agency
   registered; then the admission rules the gate runs again, :mod:`exchange.admission`:
   entry in force, identity key of the entry's kind, items of the entry, each named once,
   each value of the item's declared type and length; then this agency the source of
   every item it writes unless the draft is a non-authoritative report);
4. builds the ChangeEvent and encodes it; a record that does not fit the schema is
   refused with the field (``schema_invalid``);
5. sends it with idempotence and acks=all, keyed by the canonical subject key
   (``kind:number``), so one subject's changes stay in order on one partition and the
   15- and 18-digit forms of one ID share a key.

A refusal sends nothing. Each result is a :class:`~producers.model.PublishResult`
future, completed by the broker's delivery report (delivered with partition and offset,
or failed with a :class:`base.errors.DeliveryError`); an acknowledged event is written
to the journal. :meth:`AgencyPublisher.wait_receipts` and
:meth:`AgencyPublisher.poll_receipts` read ``govbus.receipts.<agency>`` to learn what
the bus decided. No I/O happens in ``__init__``; the context manager flushes and closes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from base.errors import DeliveryError, KafkaError, PublishError, SchemaError
from exchange.catalog import Catalog, CatalogEntry
from exchange.ingest_checks import Admitted, ProposedChange, Refusal, admit
from exchange.outcomes import ReasonCode
from kafkaclient import Admin, Closing, Producer
from producers.journal import Ack, Journal
from producers.model import Draft, PublisherOptions, PublishResult, Receipt
from producers.receipts import ReceiptReader, receipt_group
from schemas import encode
from schemas.topics import TopicKind, topic_name

#: Flushing waits this long for outstanding delivery reports.
FLUSH_TIMEOUT_S = 30.0
#: One poll of the receipts consumer while waiting for receipts.
RECEIPT_POLL_S = 0.5
MICROS = 1_000_000


@dataclass(frozen=True)
class Prepared:
    """An admitted, encoded event ready to send."""

    event_id: str
    topic: str
    key: bytes
    value: bytes
    source_system: str
    source_sequence: int


def normalise_event_id(text: str) -> str:
    """The canonical lower-case UUID text of ``text``, or ``text`` unchanged if it is no
    UUID (the schema then refuses it)."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return text


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AgencyPublisher(Closing):
    """Publishes one agency's changes; see the module docstring.

    ``state_dir`` keeps the journal of acknowledged events and receipts (None: memory
    only, no protection across restarts). ``options``: the source system, the receipts
    group, the hooks and the clock (:class:`~producers.model.PublisherOptions`).
    """

    def __init__(
        self,
        bootstrap: str,
        agency_id: str,
        catalog: Catalog,
        *,
        extra_config: Mapping[str, Any] | None = None,
        state_dir: Path | None = None,
        options: PublisherOptions | None = None,
    ) -> None:
        options = options or PublisherOptions()
        self.agency_id = agency_id
        self.catalog = catalog
        self.source_system = options.source_system or agency_id
        self.receipts_topic = topic_name(TopicKind.RECEIPTS, agency_id)
        self._producer = Producer(
            bootstrap, extra_config=extra_config, client_id=f"{agency_id}.publisher"
        )
        self._admin = Admin(bootstrap, extra_config=extra_config)
        self._reader = ReceiptReader(
            bootstrap,
            self.receipts_topic,
            options.receipts_group or receipt_group(agency_id),
            extra_config=extra_config,
        )
        self._journal = Journal(state_dir, agency_id)
        self._in_flight: dict[str, PublishResult] = {}
        self._topics_seen: set[str] = set()
        self._on_delivery = options.on_delivery
        self._on_receipt = options.on_receipt
        self._clock = options.clock

    # -- publishing ----------------------------------------------------------------
    def publish(self, entry_id: str, draft: Draft) -> PublishResult:
        """Check and send one change; the result completes with its delivery report."""
        event_id = normalise_event_id(draft.event_id) if draft.event_id else str(uuid.uuid4())
        topic = _ingest_topic(entry_id)
        ack = self._journal.acknowledged(event_id)
        if ack is not None:
            return PublishResult.skipped(event_id, entry_id, ack.topic, ack.partition, ack.offset)
        if event_id in self._in_flight:
            return PublishResult.refused(
                event_id,
                entry_id,
                topic,
                Refusal.of(
                    ReasonCode.DUPLICATE_EVENT_ID,
                    f"event id {event_id} is already being sent in this run",
                    field="event_id",
                ),
            )
        prepared = self.prepare(entry_id, draft, event_id=event_id)
        if isinstance(prepared, Refusal):
            return PublishResult.refused(event_id, entry_id, topic, prepared)
        return self._send(entry_id, prepared)

    def publish_many(self, entry_id: str, drafts: Iterable[Draft]) -> list[PublishResult]:
        """:meth:`publish` each draft in order (call :meth:`flush` to complete them)."""
        return [self.publish(entry_id, draft) for draft in drafts]

    def prepare(self, entry_id: str, draft: Draft, *, event_id: str) -> Prepared | Refusal:
        """Local checks and encoding only; nothing is sent."""
        now = self._clock()
        change = ProposedChange(draft.subject_key, draft.items, draft.authoritative, draft.provider)
        admitted = admit(self.catalog, self.agency_id, entry_id, change, now)
        if isinstance(admitted, Refusal):
            return admitted
        topic = _ingest_topic(entry_id)
        if not topic:
            return Refusal.of(
                ReasonCode.SCHEMA_INVALID,
                f"entry id {entry_id!r} cannot name a Kafka topic",
                field="entry",
            )
        source_system = draft.source_system or self.source_system
        if draft.source_sequence is None:
            sequence = self._journal.next_sequence(source_system, int(now.timestamp() * MICROS))
        else:
            sequence = draft.source_sequence
            self._journal.note_sequence(source_system, sequence)
        record = _record(
            admitted, draft, _Envelope(event_id, self.agency_id, source_system, sequence, now)
        )
        try:
            value = encode("ChangeEvent", record)
        except SchemaError as exc:
            return Refusal.of(ReasonCode.SCHEMA_INVALID, str(exc), field=exc.field)
        return Prepared(
            event_id, topic, admitted.canonical_subject.encode(), value, source_system, sequence
        )

    def _send(self, entry_id: str, prepared: Prepared) -> PublishResult:
        self._require_topic(prepared.topic)
        result = PublishResult(
            prepared.event_id, entry_id, prepared.topic, poll=self._producer.poll
        )

        def delivered(err: Exception | None, msg: Any) -> None:
            self._in_flight.pop(prepared.event_id, None)
            if err is None:
                result.mark_delivered(msg.partition(), msg.offset())
                self._journal.record_ack(
                    Ack(
                        prepared.event_id,
                        entry_id,
                        prepared.topic,
                        msg.partition(),
                        msg.offset(),
                        prepared.source_system,
                        prepared.source_sequence,
                    )
                )
            else:
                result.mark_failed(
                    err if isinstance(err, DeliveryError) else DeliveryError(str(err))
                )
            if self._on_delivery is not None:
                self._on_delivery(result)

        self._in_flight[prepared.event_id] = result
        try:
            self._producer.produce(
                prepared.topic, prepared.value, key=prepared.key, on_delivery=delivered
            )
        except KafkaError as exc:  # refused by the client at once (e.g. too large)
            self._in_flight.pop(prepared.event_id, None)
            result.mark_failed(
                DeliveryError(str(exc), code=exc.code, retriable=exc.retriable, fatal=exc.fatal)
            )
            if self._on_delivery is not None:
                self._on_delivery(result)
            return result
        self._producer.poll(0)
        return result

    def _require_topic(self, topic: str) -> None:
        if topic in self._topics_seen:
            return
        if topic not in self._admin.topics():
            raise PublishError(
                f"topic {topic} does not exist; create the bus topics first "
                "(govbus topics ensure --catalog CATALOG)",
                code="topic_missing",
            )
        self._topics_seen.add(topic)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery reports (callbacks) for up to ``timeout_s``."""
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait for every delivery report, then make the journal durable."""
        try:
            self._producer.flush(timeout_s)
        finally:
            self._journal.sync()

    # -- receipts ------------------------------------------------------------------
    def poll_receipts(self, timeout_s: float = RECEIPT_POLL_S) -> list[Receipt]:
        """Read the next batch of receipts: journal them, call ``on_receipt``, commit."""
        self._require_topic(self.receipts_topic)
        batch = self._reader.poll(timeout_s)
        for receipt in batch:
            self._journal.record_receipt(receipt)
            if self._on_receipt is not None:
                self._on_receipt(receipt)
        self._reader.commit()
        return batch

    def wait_receipts(self, event_ids: Iterable[str], timeout_s: float) -> dict[str, Receipt]:
        """Receipts of these events, by event id: those known (journal) and those read
        within ``timeout_s``. Events still undecided are absent from the answer."""
        wanted = {normalise_event_id(e) for e in event_ids}
        found: dict[str, Receipt] = {}
        for event_id in wanted:
            known = self._journal.receipt(event_id)
            if known is not None:
                found[event_id] = known
        deadline = time.monotonic() + timeout_s
        while len(found) < len(wanted):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for receipt in self.poll_receipts(min(RECEIPT_POLL_S, remaining)):
                if receipt.event_id in wanted:
                    found[receipt.event_id] = receipt
        return found

    @property
    def undecodable_receipts(self) -> int:
        """Records on the receipts topic that did not decode as a Receipt (logged, skipped)."""
        return self._reader.undecodable

    # -- lifecycle -----------------------------------------------------------------
    def close(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Flush what is in flight, close the receipts consumer and the journal."""
        try:
            self._producer.close(timeout_s)
        finally:
            try:
                self._reader.close()
            finally:
                self._journal.close()


def _ingest_topic(entry_id: str) -> str:
    """``govbus.ingest.<entry>``, or '' when the id cannot be part of a topic name."""
    try:
        return topic_name(TopicKind.INGEST, entry_id)
    except SchemaError:
        return ""


@dataclass(frozen=True)
class _Envelope:
    """What the publisher adds to a draft: the event's id, who sends it, from which system
    in which order, and when (the event time of a draft that gives none)."""

    event_id: str
    provider: str
    source_system: str
    source_sequence: int
    now: datetime


def _record(admitted: Admitted, draft: Draft, envelope: _Envelope) -> dict[str, Any]:
    entry: CatalogEntry = admitted.entry
    items = []
    for name, value in draft.items.items():
        if draft.operation == "create":
            before, after = None, value
        elif draft.operation == "delete":
            before, after = value, None
        else:
            before, after = draft.before.get(name), value
        items.append({"name": name, "before": before, "after": after})
    return {
        "event_id": envelope.event_id,
        "entry": entry.id,
        "provider": envelope.provider,
        "subject_key": draft.subject_key,
        "subject_kind": entry.key_kind.value,
        "operation": draft.operation,
        "authoritative": draft.authoritative,
        "items": items,
        "source_system": envelope.source_system,
        "event_time": draft.event_time if draft.event_time is not None else envelope.now,
        "source_sequence": envelope.source_sequence,
        "trace_id": draft.trace_id,
        "legal_basis": draft.legal_basis,
    }
