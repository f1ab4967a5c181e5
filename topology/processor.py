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
4. Process each message: the pure planning step (:func:`topology.plan.plan_message`:
   decode, decide, route, build, encode once per grant class, seal the audit records into
   the partition's hash chain) gets the subject's records and the chain's head; then the
   plan's records (receipt, audit records, conflicts, changelog, canonical stream, feeds,
   open feed, dead letters) are *produced* inside the open transaction, and its state
   (the subject's records, the chain's new head) is staged, not committed.
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
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from base.errors import GovbusError, TransactionError
from base.settings import DEFAULT_MAX_FUTURE_SKEW_S
from exchange.catalog import Catalog
from exchange.onesource import AuthoritativeRecord
from kafkaclient import Admin, Consumer, Message, Producer, TopicPartition, TopicSpec, coordinates
from monitoring.metrics import ProcessorMetrics
from schemas import SchemaRegistry
from schemas.topics import MAX_EVENT_BYTES, POLICIES, TopicKind, bus_topics, topic_name
from topology.encoding import Encoder
from topology.metering import Meter
from topology.plan import Input, Plan, PlanOptions, Reference, plan_message
from topology.reference import ReferenceSnapshot, ReferenceSource
from topology.state import (
    AUDIT_HEAD_KEY,
    ChainHead,
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

PartitionKey = tuple[str, int]


class PlanStep(Protocol):
    """The planning step's signature (:func:`topology.plan.plan_message`)."""

    def __call__(
        self,
        msg: Input,
        states: Mapping[str, AuthoritativeRecord],
        head: ChainHead,
        reference: Reference,
        now: datetime,
        *,
        encoder: Encoder,
        options: PlanOptions,
    ) -> Plan: ...


@dataclass(frozen=True)
class ProcessorConfig:
    bootstrap: str
    group_id: str = "govbus-processor"
    worker: int = 0
    batch_size: int = 500
    commit_interval_s: float = 0.5
    audit: bool = True
    exactly_once: bool = True
    #: The largest event value an agency may send (schemas.topics.MAX_EVENT_BYTES).
    max_event_bytes: int = MAX_EVENT_BYTES
    #: How far in the future an event_time may lie (base.settings.max_future_skew_s).
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    #: Consumer-only settings (static membership, session timeout).
    consumer_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def transactional_id(self) -> str:
        return f"{self.group_id}-worker-{self.worker}"

    @property
    def plan_options(self) -> PlanOptions:
        return PlanOptions(
            audit=self.audit,
            max_event_bytes=self.max_event_bytes,
            max_future_skew=timedelta(seconds=self.max_future_skew_s),
        )


@dataclass
class _Transaction:
    """The open transaction: which input it covers, since when."""

    open: bool = False
    started: float = 0.0
    #: Offset of the first message of each partition in it: where an abort rewinds to.
    first: dict[PartitionKey, int] = field(default_factory=dict)
    #: Position after the last message of each partition in it: the offsets it commits.
    next: dict[PartitionKey, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.open = False
        self.first.clear()
        self.next.clear()


class Processor:
    def __init__(
        self,
        config: ProcessorConfig,
        reference: ReferenceSource,
        metrics: ProcessorMetrics | None = None,
        registry: SchemaRegistry | None = None,
        *,
        plan_step: PlanStep = plan_message,
    ) -> None:
        self.config = config
        self._reference = reference
        self._meter = Meter(metrics)
        self._encoder = Encoder(registry)
        self._options = config.plan_options
        self._plan_step = plan_step
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
        self._planned_with: Reference | None = None
        self._subscribed: tuple[str, ...] = ()
        self._txn = _Transaction()
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
            self._meter.batch(time.monotonic() - began)
        if self._txn.open and time.monotonic() - self._txn.started >= self.config.commit_interval_s:
            self._commit()
        return len(msgs)

    # -- reference data -----------------------------------------------------------------
    def _refresh_reference(self) -> None:
        snapshot = self._reference.refresh()
        if self._snapshot is None or snapshot.version != self._snapshot.version:
            self._snapshot = snapshot
            self._ensure_topics(snapshot.catalog)
            self._subscribe(snapshot.catalog)
            self._planned_with = None
        reference = Reference.at(snapshot.catalog, snapshot.grants, datetime.now(UTC))
        if self._planned_with is None or reference.grants != self._planned_with.grants:
            self._planned_with = reference

    def _ensure_topics(self, catalog: Catalog) -> None:
        """Every topic a plan can route to exists before a message is planned with this
        catalog (topology.routes), and a changelog partition per ingest partition."""
        entries = [e.id for e in catalog.entries]
        defs = bus_topics(entries, [a.id for a in catalog.agencies])
        self._admin.ensure_topics([TopicSpec.of(d) for d in defs])
        existing = self._admin.topics()
        wanted = {}
        for entry in entries:
            ingest = topic_name(TopicKind.INGEST, entry)
            count = max(existing.get(ingest, 0), POLICIES[TopicKind.INGEST].partitions)
            wanted[changelog_topic(ingest)] = count
        self._admin.ensure_topics([topic_def_changelog(t, n) for t, n in wanted.items()])
        self._admin.grow_partitions(wanted)

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
        if self._txn.open:
            return
        if self.config.exactly_once:
            self._producer.begin_transaction()
        self._txn.open = True
        self._txn.started = time.monotonic()

    def _commit(self) -> None:
        if not self._txn.open:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._txn.next.items()]
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
        self._meter.committed(datetime.now(UTC))
        self._txn.reset()

    def _abort(self, exc: TransactionError) -> None:
        # Step 6: forget everything of this transaction and reprocess it.
        if exc.fatal or not self.config.exactly_once:
            raise exc
        log.warning("aborting transaction: %s", exc)
        self._producer.abort_transaction()
        self._state.rollback()
        for (topic, partition), first in self._txn.first.items():
            self._consumer.client.seek(TopicPartition(topic, partition, first))
        self._meter.aborted()
        self._txn.reset()

    # -- processing ----------------------------------------------------------------------
    def _process_batch(self, msgs: Sequence[Message]) -> None:
        reference = self._planned_with
        if reference is None:  # pragma: no cover - run() refreshes first
            raise GovbusError("no reference data")
        now = datetime.now(UTC)
        for msg in msgs:
            topic, partition, offset = coordinates(msg)
            key = (topic, partition)
            self._txn.first.setdefault(key, offset)
            self._txn.next[key] = offset + 1
            inp = Input(topic, partition, offset, msg.key(), msg.value() or b"")
            self._apply(inp, self._plan(inp, reference, now))
            self.processed += 1

    def _plan(self, inp: Input, reference: Reference, now: datetime) -> Plan:
        """Step 4: what the message needs of the state, then the pure planning step."""
        hint = inp.subject_hint
        states = {} if hint is None else self._state.get(inp.topic, inp.partition, hint)
        head = self._state.chain_head(inp.topic, inp.partition)
        return self._plan_step(
            inp, states, head, reference, now, encoder=self._encoder, options=self._options
        )

    def _apply(self, inp: Input, plan: Plan) -> None:
        """Step 4: the plan's records into the open transaction; its state staged."""
        for w in plan.writes:
            self._producer.produce(w.topic, w.value, key=w.key, partition=w.partition)
        if plan.state is not None:
            self._state.stage(inp.topic, inp.partition, plan.state.subject, plan.state.records)
        if self.config.audit:
            self._state.advance_chain(inp.topic, inp.partition, plan.head)
        self._meter.planned(plan.tally)


def topic_def_changelog(changelog: str, partitions: int) -> TopicSpec:
    return TopicSpec(
        changelog,
        partitions,
        1,
        {"cleanup.policy": "compact", "min.insync.replicas": "1"},
    )
