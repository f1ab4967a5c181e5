"""The gate and fan-out processor: consume, decide, fan out, produce, in Kafka transactions.

Commit protocol (exactly once; ``ProcessorConfig.exactly_once``):

1. Start: ``init_transactions()`` with a transactional id fixed per worker. The broker
   fences any earlier incarnation of this worker and aborts its open transaction, so
   nothing a crashed worker wrote half-way ever becomes visible.
2. Assignment: for each ingest partition assigned, restore its one-source state and the
   head of its audit hash chain from its changelog partition (read_committed) before
   processing any message from it.
3. Batch: ``consume(n)``; refresh the reference data (catalog, agencies, grants) up to
   the current end of the state topics, so a grant added or revoked before an event was
   published applies to that event.
4. Process each message: decode (undecodable -> dead letter), decide (exchange.gate),
   fan out by policy, encode once per grant class, and *produce* every output (receipt,
   audit records, conflicts, changelog, canonical stream, feeds, open feed, dead letters)
   inside the open transaction; each audit record is sealed into its partition's hash
   chain (schemas.audit). State changes and chain heads are staged, not committed.
5. Commit when ``commit_interval_s`` has passed since the transaction began (or on
   revocation or shutdown): the chains' new heads to the changelog (5a), then
   ``send_offsets_to_transaction`` with the positions after the
   processed messages and the group metadata, then ``commit_transaction``. Outputs,
   changelog and input offsets become visible atomically; then the staged state commits.
6. Failure: an abortable error aborts the transaction, forgets the staged state and seeks
   each partition back to the first message of the aborted transaction, which is then
   processed again; a fatal error (fenced, say) stops the worker and step 1 recovers.

Consumers of feeds, receipts and audit read committed. With ``exactly_once=False`` the
same loop runs without transactions (at-least-once: flush, then commit offsets), for the
benchmark's comparison; a crash there repeats outputs, and `govbus audit verify` shows the
repeated audit records as duplicates in their chain.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from base.errors import GovbusError, SchemaError, TransactionError
from exchange.catalog import Catalog
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.grants import Grant, is_active
from exchange.policy import OpenFeed
from kafkaclient import Admin, Consumer, Message, Producer, TopicPartition, TopicSpec, coordinates
from monitoring.metrics import ProcessorMetrics
from schemas import SchemaRegistry, default_registry
from schemas.audit import check_schema, seal
from schemas.topics import POLICIES, TopicKind, bus_topics, entry_of, topic_name
from topology import records
from topology.reference import ReferenceSnapshot, ReferenceSource
from topology.state import (
    AUDIT_HEAD_KEY,
    OneSourceState,
    changelog_topic,
    encode_head,
)

log = logging.getLogger("govbus.processor")

#: Upper bound of one consume() wait; keeps shutdown and commit timing responsive.
POLL_TIMEOUT_S = 0.1
#: Consumer metadata refresh: new ingest topics are found within this many ms.
METADATA_REFRESH_MS = 5000
#: Transaction timeout on the broker: a worker that hangs longer is aborted by the broker.
TRANSACTION_TIMEOUT_MS = 60000


@dataclass(frozen=True)
class ProcessorConfig:
    bootstrap: str
    group_id: str = "govbus-processor"
    worker: int = 0
    batch_size: int = 500
    commit_interval_s: float = 0.5
    audit: bool = True
    exactly_once: bool = True
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    #: Consumer-only settings (static membership, session timeout).
    consumer_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def transactional_id(self) -> str:
        return f"{self.group_id}-worker-{self.worker}"


class Processor:
    def __init__(
        self,
        config: ProcessorConfig,
        reference: ReferenceSource,
        metrics: ProcessorMetrics | None = None,
        registry: SchemaRegistry | None = None,
    ) -> None:
        self.config = config
        self._reference = reference
        self._metrics = metrics
        self._schemas = registry or default_registry()
        #: Sets a conditional grant's id and purpose on a feed record encoded without them.
        self._set_grant = self._schemas.tail_setter("FeedRecord", FEED_GRANT_FIELDS)
        check_schema(self._schemas)  # audit records are sealed by appending their hash
        extra = dict(config.extra_config)
        self._producer = Producer(
            config.bootstrap,
            extra_config={
                "linger.ms": 5,
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                **extra,
            },
            transactional_id=config.transactional_id if config.exactly_once else None,
        )
        self._consumer = Consumer(
            config.bootstrap,
            config.group_id,
            extra_config={
                "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
                **extra,
                **config.consumer_config,
            },
        )
        self._admin = Admin(config.bootstrap, extra_config=extra)
        self._state = OneSourceState(config.bootstrap, extra)
        self._snapshot: ReferenceSnapshot | None = None
        self._active_grants: tuple[Grant, ...] = ()
        self._grant_index: dict[tuple[str, str], tuple[str, str]] = {}
        self._subscribed: tuple[str, ...] = ()
        self._known_topics: set[str] = set()
        self._in_txn = False
        self._txn_started = 0.0
        self._txn_first: dict[tuple[str, int], int] = {}
        self._txn_next: dict[tuple[str, int], int] = {}
        self._txn_event_times: list[datetime] = []
        self.processed = 0

    # -- lifecycle -------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        # Step 1: fence earlier incarnations; abort what they left open.
        if self.config.exactly_once:
            self._producer.init_transactions()
        self._refresh_reference()
        try:
            while not stop.is_set():
                self.step()
            self._commit()
        finally:
            self._consumer.close()
            self._producer.close()

    def step(self) -> int:
        """One batch (steps 3-5); returns the number of messages processed."""
        # Wait for the first message only, then take what is already there: consume(n, t)
        # would otherwise hold a partial batch for the whole timeout.
        msgs = self._consumer.consume(1, timeout_s=POLL_TIMEOUT_S)
        if msgs and self.config.batch_size > 1:
            msgs += self._consumer.consume(self.config.batch_size - 1, timeout_s=0)
        self._refresh_reference()
        if msgs:
            began = time.monotonic()
            self._begin()
            try:
                self._process_batch(msgs)
            except TransactionError as exc:
                self._abort(exc)
                return 0
            if self._metrics:
                self._metrics.batch_seconds.observe(time.monotonic() - began)
        if self._in_txn and time.monotonic() - self._txn_started >= self.config.commit_interval_s:
            self._commit()
        return len(msgs)

    # -- reference data -----------------------------------------------------------------
    def _refresh_reference(self) -> None:
        snapshot = self._reference.refresh()
        now = datetime.now(UTC)
        if self._snapshot is None or snapshot.version != self._snapshot.version:
            self._snapshot = snapshot
            self._ensure_topics(snapshot.catalog)
            self._subscribe(snapshot.catalog)
        active = tuple(g for g in snapshot.grants if is_active(g, now))
        if active != self._active_grants:
            self._active_grants = active
            self._grant_index = {(g.consumer, g.entry_id): (g.id, g.purpose) for g in active}

    def _ensure_topics(self, catalog: Catalog) -> None:
        entries = [e.id for e in catalog.entries]
        defs = bus_topics(entries, [a.id for a in catalog.agencies])
        specs = [TopicSpec.of(d) for d in defs]
        self._admin.ensure_topics(specs)
        # A changelog partition per ingest partition: the same count, grown if need be.
        existing = self._admin.topics()
        wanted = {}
        for entry in entries:
            ingest = topic_name(TopicKind.INGEST, entry)
            count = max(existing.get(ingest, 0), POLICIES[TopicKind.INGEST].partitions)
            wanted[changelog_topic(ingest)] = count
        self._admin.ensure_topics([topic_def_changelog(t, n) for t, n in wanted.items()])
        self._admin.grow_partitions(wanted)
        self._known_topics = set(self._admin.topics())

    def _subscribe(self, catalog: Catalog) -> None:
        topics = tuple(sorted(topic_name(TopicKind.INGEST, e.id) for e in catalog.entries))
        if topics and topics != self._subscribed:
            self._commit()
            self._consumer.subscribe(
                list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke
            )
            self._subscribed = topics

    # Step 2: state follows the assignment.
    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            restored = self._state.restore(tp.topic, tp.partition)
            log.info("restored %s/%d: %d changelog records", tp.topic, tp.partition, restored)

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._commit()
        for tp in partitions:
            self._state.drop(tp.topic, tp.partition)

    # -- transactions ------------------------------------------------------------------
    def _begin(self) -> None:
        if self._in_txn:
            return
        if self.config.exactly_once:
            self._producer.begin_transaction()
        self._in_txn = True
        self._txn_started = time.monotonic()

    def _commit(self) -> None:
        if not self._in_txn:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._txn_next.items()]
        try:
            # Step 5a: the audit chains' new heads go to the changelog in this transaction,
            # so a worker that restores the partition continues the chain where the
            # committed audit records end (an aborted transaction's heads vanish with it).
            for (topic, partition), head in self._state.staged_heads().items():
                self._producer.produce(
                    changelog_topic(topic),
                    encode_head(head),
                    key=AUDIT_HEAD_KEY.encode(),
                    partition=partition,
                )
            if self.config.exactly_once:
                # Step 5: outputs, changelog and input offsets in one atomic commit.
                if offsets:
                    self._producer.send_offsets_to_transaction(
                        offsets, self._consumer.group_metadata()
                    )
                self._producer.commit_transaction()
            else:
                self._producer.flush()
                if offsets:
                    self._consumer.commit(offsets)
        except TransactionError as exc:
            self._abort(exc)
            return
        self._state.commit()
        if self._metrics:
            self._metrics.transactions.labels("committed").inc()
            now = datetime.now(UTC)
            for t in self._txn_event_times:
                self._metrics.end_to_end_seconds.observe(max(0.0, (now - t).total_seconds()))
        self._reset_txn()

    def _abort(self, exc: TransactionError) -> None:
        # Step 6: forget everything of this transaction and reprocess it.
        if exc.fatal or not self.config.exactly_once:
            raise exc
        log.warning("aborting transaction: %s", exc)
        self._producer.abort_transaction()
        self._state.rollback()
        for (topic, partition), first in self._txn_first.items():
            self._consumer.client.seek(TopicPartition(topic, partition, first))
        if self._metrics:
            self._metrics.transactions.labels("aborted").inc()
        self._reset_txn()

    def _reset_txn(self) -> None:
        self._in_txn = False
        self._txn_first.clear()
        self._txn_next.clear()
        self._txn_event_times.clear()

    # -- processing ----------------------------------------------------------------------
    def _process_batch(self, msgs: Sequence[Message]) -> None:
        snapshot = self._snapshot
        if snapshot is None:  # pragma: no cover - run() refreshes first
            raise GovbusError("no reference data")
        now = datetime.now(UTC)
        out = _Outputs(self, now)
        for msg in msgs:
            topic, partition, offset = coordinates(msg)
            key = (topic, partition)
            self._txn_first.setdefault(key, offset)
            self._txn_next[key] = offset + 1
            out.position = f"{topic}/{partition}/{offset}"
            out.chain = key
            try:
                self._process(msg, snapshot.catalog, now, out)
            except TransactionError:
                raise
            except GovbusError as exc:
                out.dead_letter(msg, None, "internal_error", str(exc), "gate")
            self.processed += 1

    def _process(self, msg: Message, catalog: Catalog, now: datetime, out: _Outputs) -> None:
        topic, partition, _ = coordinates(msg)
        value = msg.value() or b""
        try:
            raw = self._schemas.decode("ChangeEvent", value)
        except SchemaError as exc:
            out.dead_letter(msg, None, exc.code or "undecodable", str(exc), "decode")
            return
        entry_id = entry_of(topic)
        event = IncomingEvent.from_record(raw, msg.key())
        states = (
            self._state.get(topic, partition, _subject_hint(msg)) if msg.key() is not None else {}
        )
        result = decide(event, entry_id, catalog, self._active_grants, states, now)
        if result.rejected:
            out.dead_letter(msg, event, result.reason_code, result.reason_text, "validate")
            out.receipt(event, result, catalog)
            return
        out.decided(msg, event, raw, result, catalog)


def topic_def_changelog(changelog: str, partitions: int) -> TopicSpec:
    return TopicSpec(
        changelog,
        partitions,
        1,
        {"cleanup.policy": "compact", "min.insync.replicas": "1"},
    )


def _subject_hint(msg: Message) -> str:
    """State is looked up by the message key; the gate rejects a key that is not the
    canonical subject before any state is used."""
    return (msg.key() or b"").decode("utf-8", errors="replace")


#: FeedRecord's last fields, set per conditional grant (schemas.tail).
FEED_GRANT_FIELDS = ("grant_id", "purpose")


class _Outputs:
    """Produces one batch's outputs inside the open transaction, encoding each payload once."""

    def __init__(self, processor: Processor, now: datetime) -> None:
        self.p = processor
        self.now = now
        self.produce = processor._producer.produce
        self.encode = processor._schemas.encode
        self.metrics = processor._metrics
        self.audit_on = processor.config.audit
        self.audit_topic = topic_name(TopicKind.AUDIT)
        #: "topic/partition/offset" of the input being processed: derived ids use it.
        self.position = ""
        #: (topic, partition) of that input: its audit records extend this chain.
        self.chain: tuple[str, int] = ("", -1)

    def _exists(self, topic: str) -> bool:
        return topic in self.p._known_topics

    def audit(self, key: str, record: dict[str, Any]) -> None:
        """Seal ``record`` into the audit chain of the input's partition (schemas.audit):
        the next seq, the previous record's hash; the new head is staged with the state."""
        if not self.audit_on:
            return
        topic, partition = self.chain
        seq, prev = self.p._state.chain_head(topic, partition)
        # records.decision builds a fresh dict per call: filled in place, not copied.
        record.update(chain=f"{topic}/{partition}", seq=seq + 1, prev_hash=prev)
        message, digest = seal(self.encode("Decision", record))
        self.p._state.advance_chain(topic, partition, (seq + 1, digest))
        self.produce(self.audit_topic, message, key=key.encode())

    def dead_letter(
        self, msg: Message, event: IncomingEvent | None, code: str, text: str, stage: str
    ) -> None:
        topic, partition, offset = coordinates(msg)
        entry = entry_of(topic)
        dlq = topic_name(TopicKind.DLQ, entry)
        event_id = event.event_id if event else None
        record = records.dead_letter(
            event_id=event_id,
            topic=topic,
            partition=partition,
            offset=offset,
            key=msg.key(),
            value=msg.value() or b"",
            reason_code=code,
            reason_text=text,
            stage=stage,
            at=self.now,
        )
        if self._exists(dlq):
            self.produce(
                dlq, self.encode("DeadLetter", record), key=event_id.encode() if event_id else None
            )
        self.audit(
            event_id or f"{topic}/{partition}/{offset}",
            records.decision(
                kind="dead_letter",
                event_id=event_id,
                entry=entry,
                provider=event.provider if event else None,
                subject=None,
                reason_code=code,
                article=None,
                at=self.now,
                position=f"{topic}/{partition}/{offset}",
            ),
        )
        if self.metrics:
            self.metrics.dead_letters.labels(entry, code).inc()

    def receipt(self, event: IncomingEvent, result: GateResult, catalog: Catalog) -> None:
        if self.metrics:
            self.metrics.events.labels(event.entry, result.outcome).inc()
        topic = topic_name(TopicKind.RECEIPTS, event.provider)
        # An unregistered provider has no receipts topic: the dead letter tells.
        if catalog.agency(event.provider) is not None and self._exists(topic):
            self.produce(
                topic,
                self.encode("Receipt", records.receipt(event, result, self.now)),
                key=event.event_id.encode(),
            )
        if result.rejected:
            self.audit(
                event.event_id,
                records.decision(
                    kind="rejected",
                    event_id=event.event_id,
                    entry=event.entry,
                    provider=event.provider,
                    subject=result.canonical_subject,
                    reason_code=result.reason_code,
                    article=result.article,
                    at=self.now,
                    position=self.position,
                ),
            )

    def decided(
        self,
        msg: Message,
        event: IncomingEvent,
        raw: dict[str, Any],
        result: GateResult,
        catalog: Catalog,
    ) -> None:
        subject = result.canonical_subject or ""
        number = result.subject.number if result.subject else ""
        self.receipt(event, result, catalog)
        self.audit(
            event.event_id,
            records.decision(
                kind=result.outcome,
                event_id=event.event_id,
                entry=event.entry,
                provider=event.provider,
                subject=subject,
                reason_code=result.reason_code,
                article=result.article,
                at=self.now,
                items=tuple(sorted(result.accepted)),
                position=self.position,
            ),
        )
        for c in result.conflicts:
            self.produce(
                topic_name(TopicKind.CONFLICTS),
                self.encode("Conflict", records.conflict(event.entry, c, self.now)),
                key=f"{c.subject}|{c.item}".encode(),
            )
            if self.metrics:
                self.metrics.conflicts.labels(event.entry).inc()
        if not result.new_states:
            return
        topic, partition, _ = coordinates(msg)
        changelog = self.p._state.stage(topic, partition, subject, result.new_states)
        self.produce(changelog_topic(topic), changelog, key=subject.encode(), partition=partition)
        # The canonical stream: what was accepted, under the canonical subject.
        canonical = {
            **raw,
            "subject_key": number,
            "items": [i for i in raw["items"] if i["name"] in result.accepted],
        }
        self.produce(
            topic_name(TopicKind.ACCEPTED, event.entry),
            self.encode("ChangeEvent", canonical),
            key=subject.encode(),
        )
        self.p._txn_event_times.append(raw["event_time"])
        self._fan_out(event, raw, result)

    def _fan_out(self, event: IncomingEvent, raw: dict[str, Any], result: GateResult) -> None:
        operation = raw["operation"]
        for delivery in result.deliveries:
            # Once per grant class (a delivery: its items and masking): the record is
            # encoded without a grant, and every recipient shares these bytes; a conditional
            # grant's id and purpose are then appended per grant, not encoded again.
            base = self.encode(
                "FeedRecord",
                records.feed_record(
                    event,
                    delivery,
                    operation=operation,
                    event_time=raw["event_time"],
                    at=self.now,
                    grant_id=None,
                    purpose=None,
                ),
            )
            granted: dict[tuple[str | None, str | None], bytes] = {(None, None): base}
            grant: tuple[str | None, str | None]
            key = delivery.subject.encode()
            for recipient in delivery.recipients:
                if isinstance(recipient, OpenFeed):
                    topic, grant = topic_name(TopicKind.OPEN, event.entry), (None, None)
                    kind = "open_delivery"
                else:
                    topic = topic_name(TopicKind.FEED, recipient.id)
                    grant = records.grant_of(self.p._grant_index, recipient.id, event.entry)
                    kind = "delivery"
                if not self._exists(topic):
                    continue
                payload = granted.get(grant)
                if payload is None:
                    payload = granted[grant] = self.p._set_grant(base, grant)
                self.produce(topic, payload, key=key)
                rid = records.recipient_id(recipient)
                self.audit(
                    event.event_id,
                    records.decision(
                        kind=kind,
                        event_id=event.event_id,
                        entry=event.entry,
                        provider=event.provider,
                        subject=delivery.subject,
                        reason_code=None,
                        article=None,
                        at=self.now,
                        recipient=rid,
                        grant_id=grant[0],
                        purpose=grant[1],
                        items=delivery.items,
                        masked=delivery.rules_applied,
                        position=self.position,
                    ),
                )
                if self.metrics:
                    self.metrics.deliveries.labels(event.entry, rid).inc()
