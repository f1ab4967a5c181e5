"""The gate and fan-out processor: consume, plan, produce, in Kafka transactions.

The transaction loop below is shared: the repartition stage
(:class:`topology.repartitioner.Repartitioner`) is this loop with another input (the
submission topics), another pure planning step (:func:`topology.repartition.plan_submission`)
and no state; it overrides :meth:`Processor._input_topics`, :meth:`Processor._ensure_topics`,
:meth:`Processor._restore`, :meth:`Processor._plan` and :meth:`Processor._quarantine`
(steps 2, 4 and 10), never the commit protocol.

Commit protocol (exactly once; ``ProcessorConfig.exactly_once``):

1. Start: ``init_transactions()`` with a transactional id fixed per worker. The broker
   fences any earlier incarnation of this worker and aborts its open transaction, so
   nothing a crashed worker wrote half-way ever becomes visible.
2. Assignment: for each ingest partition assigned, restore its one-source state and the
   head of its audit hash chain from its changelog partition (read_committed) before
   processing any message from it: a published entry's partitions when they are assigned
   (all in one restore), the partitions of an entry that is not published (withdrawn, or
   a draft whose topics exist) when their first message arrives, so such entries cost a
   start nothing while a late submission to them is still answered. Rebalancing is
   incremental (cooperative-sticky): a worker is told only of the partitions it gains or
   loses, restores only those, and keeps processing the partitions it keeps while others
   move.
3. Batch: ``consume(n)``; refresh the reference data (catalog, agencies, grants,
   subscriptions) up to the current end of the state topics, so a grant or subscription
   added or revoked before an event was published applies to that event. Note each
   partition's first message in the batch: where a rewind starts if the batch must be
   read again.
4. Plan each message: the pure planning step (:func:`topology.plan.plan_message`:
   decode, decide, route, build, encode once per grant class, seal the audit records into
   the partition's hash chain), given the subject's records and the chain's head.
5. Write: the plan's records (receipt, audit records, conflicts, changelog, canonical
   stream, feeds, open feed, dead letters) are *produced* inside the open transaction, and
   its state (the subject's records, the chain's new head) is staged, not committed.
   From the start of step 4 to the end of step 5 the transaction is *in doubt*: it may
   hold part of a message's records.
6. Commit adaptively: as soon as the input is drained (the batch read was not full: no
   message was waiting behind it), and under load at the latest when ``commit_interval_s``
   has passed since the transaction began. A lone event is committed right after it is
   planned, so its outputs are visible within one transaction's round trips; under load
   batches fill and a transaction spans many of them. Then, in order: the chains'
   new heads to the changelog (6a), then ``send_offsets_to_transaction`` with the
   positions after the processed messages and the group metadata, then
   ``commit_transaction``. Outputs, changelog and input offsets become visible
   atomically; then the staged state commits, and failures behind the committed
   positions are forgotten.

Failure semantics: no message is lost, and no single message stops a worker.

7. A Kafka transaction error: an abortable one aborts the transaction, forgets the staged
   state and rewinds each partition of the transaction and of the batch to its first
   uncommitted message, which is then read again; a fatal one (fenced, say) stops the
   worker, and step 1 of its successor aborts what it left open. A write the producer
   refuses because of its transaction's state (``_STATE`` after an earlier request's
   abortable error, seen in a broker's restart) is such an error, not the message's.
8. Any other error while a message is planned or written (a bug; a library raising on
   hostile input; a record too large for the topics): the transaction is in doubt, so it
   is aborted, never committed (what was produced is delivered into it first; a producer
   that cannot abort is replaced, and the new one's ``init_transactions`` aborts it); the
   staged state is forgotten and the partitions rewound as in step 7. The message is
   remembered as failed once, and the worker goes on.
9. Retry: the batch is read again. Just before a message that failed, the open
   transaction commits (step 6): the messages before it are answered once and for all,
   and the failed message is retried in a transaction of its own.
10. Quarantine: a message that fails again is aborted again (step 8); when it is read
    next it is answered by :func:`topology.plan.plan_quarantine` instead of the planning
    step: a dead letter (``processing_failed``, stage ``gate``) with the exception's type
    and message and the message's original bytes, and its audit record. The partition
    moves on.
11. Revocation or shutdown: a transaction that is not in doubt commits (step 6) when its
    partitions are revoked and when the worker stops cleanly; one in doubt (an interrupt
    or an error escaped while a message was being processed) is aborted, never
    committed, and so is any transaction still open when the loop ends by an exception.
    A clean stop then leaves the group (:meth:`kafkaclient.Consumer.leave`: a static
    member too; one already fenced has nothing to leave), so its partitions move to the
    other workers at once; a crashed worker does not leave, and a static one takes its
    partitions back when it restarts.

Consumers of feeds, receipts and audit read committed. With ``exactly_once=False`` the
same loop runs without transactions (at-least-once: flush, then commit offsets), for the
benchmark's comparison; a crash or a failed message there repeats outputs, and `govbus
audit verify` shows the repeated audit records as duplicates in their chain.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException

from base.errors import ConfigError, GovbusError, TransactionError
from base.settings import DEFAULT_DEAD_LETTER_VALUE_BYTES, DEFAULT_MAX_FUTURE_SKEW_S
from exchange.catalog import Catalog
from kafkaclient import Admin, Consumer, Message, Producer, TopicPartition, coordinates
from monitoring.metrics import ProcessorMetrics
from schemas import SchemaRegistry
from schemas.topics import MAX_EVENT_BYTES, MAX_OUTPUT_BYTES, TopicKind, topic_name
from topology.encoding import Encoder
from topology.metering import Meter
from topology.plan import Input, Plan, PlanOptions, Reference, plan_message, plan_quarantine
from topology.records import MAX_DEAD_LETTER_VALUE_BYTES
from topology.reference import ReferenceSnapshot, ReferenceSource
from topology.state import (
    AUDIT_HEAD_KEY,
    OneSourceState,
    changelog_topic,
    encode_head,
)
from topology.topics import ensure_catalog_topics, entries_in_force

log = logging.getLogger("govbus.processor")
#: One DEBUG line per step that read or committed something: where the loop's time went
#: (``GOVBUS_LOG_LEVEL=DEBUG``; bench/README.md, 2026-12-07, the latency tail).
timing_log = logging.getLogger("govbus.processor.timing")

#: Upper bound of one consume() wait; keeps shutdown and commit timing responsive.
POLL_TIMEOUT_S = 0.1
#: Consumer metadata refresh: new ingest topics are found within this many ms.
METADATA_REFRESH_MS = 5000
#: Partitions move one by one between workers, never all revoked at once.
ASSIGNMENT_STRATEGY = "cooperative-sticky"
#: How often a member asks the coordinator whether a rebalance is under way. A cooperative
#: rebalance has two rounds and each waits for the other members' next heartbeat: the
#: member that keeps partitions learns of the first round, the joining one of the second,
#: only then (librdkafka's default 3 s: up to 6 s of the gained partitions' pause).
HEARTBEAT_INTERVAL_MS = 1000
#: Transaction timeout on the broker: a worker that hangs longer is aborted by the broker.
TRANSACTION_TIMEOUT_MS = 60000

PartitionKey = tuple[str, int]


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
    #: How much of a value a dead letter keeps (base.settings.dead_letter_value_bytes).
    dead_letter_value_bytes: int = DEFAULT_DEAD_LETTER_VALUE_BYTES
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    #: Consumer-only settings (session timeout, static membership if asked).
    consumer_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.dead_letter_value_bytes <= MAX_DEAD_LETTER_VALUE_BYTES:
            raise ConfigError(
                f"dead_letter_value_bytes must be between 1 and {MAX_DEAD_LETTER_VALUE_BYTES} "
                f"(a dead letter must fit the processor's {MAX_OUTPUT_BYTES}-byte messages), "
                f"not {self.dead_letter_value_bytes}"
            )

    @property
    def transactional_id(self) -> str:
        return f"{self.group_id}-worker-{self.worker}"

    @property
    def plan_options(self) -> PlanOptions:
        return PlanOptions(
            audit=self.audit,
            max_event_bytes=self.max_event_bytes,
            max_future_skew=timedelta(seconds=self.max_future_skew_s),
            dead_letter_value_bytes=self.dead_letter_value_bytes,
        )


@dataclass
class _Transaction:
    """The open transaction: which input it covers, since when, and whether a message is
    half-way through it."""

    open: bool = False
    started: float = 0.0
    #: Offset of the first message of each partition in it: where an abort rewinds to.
    first: dict[PartitionKey, int] = field(default_factory=dict)
    #: Position after the last message of each partition in it: the offsets it commits.
    next: dict[PartitionKey, int] = field(default_factory=dict)
    #: A message is between steps 4 and 5: the transaction may hold part of its records.
    in_doubt: bool = False

    def reset(self) -> None:
        self.open = False
        self.in_doubt = False
        self.first.clear()
        self.next.clear()


@dataclass
class _Failure:
    """A message that failed (step 8) and how often: twice means quarantine (step 10)."""

    count: int
    #: ``<exception type>: <message>`` of the last failure.
    error: str


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
        self._meter = Meter(metrics)
        self._encoder = Encoder(registry)
        self._options = config.plan_options
        extra = dict(config.extra_config)
        self._producer = self._new_producer()
        self._consumer = Consumer(
            config.bootstrap,
            config.group_id,
            extra_config={
                "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
                # Incremental rebalancing (KIP-429): a worker joining or leaving moves only
                # the partitions that change hands; the others keep flowing (step 2).
                "partition.assignment.strategy": ASSIGNMENT_STRATEGY,
                "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
                **extra,
                **config.consumer_config,
            },
        )
        self._admin = Admin(config.bootstrap, extra_config=extra)
        self._state = OneSourceState(config.bootstrap, extra)
        self._snapshot: ReferenceSnapshot | None = None
        self._planned_with: Reference | None = None
        self._subscribed: tuple[str, ...] = ()
        #: The ingest topics consumed, and those of them restored on a first message.
        self._served: tuple[str, ...] = ()
        self._lazy_topics: frozenset[str] = frozenset()
        #: Assigned partitions of lazy topics not restored yet (step 2).
        self._unrestored: set[PartitionKey] = set()
        #: Topics this loop had to create (a bus whose catalog import made them: none).
        self.created_topics: list[str] = []
        #: Partitions restored since start: each gained partition once (step 2).
        self.restored_partitions = 0
        self._txn = _Transaction()
        #: First unprocessed message of each partition of the batch being processed.
        self._batch_next: dict[PartitionKey, int] = {}
        #: Messages that failed (step 8), by (topic, partition, offset).
        self._failures: dict[tuple[str, int, int], _Failure] = {}
        self.processed = 0
        #: The last commit's phases in s (heads, send_offsets, commit_transaction): the
        #: timing log's.
        self._commit_times = (0.0, 0.0, 0.0)
        #: When the last step began, and whether a restore is under way (the worker's
        #: liveness watchdog reads both: topology.watchdog).
        self.progress_at = time.monotonic()
        self.restoring = False

    def _new_producer(self) -> Producer:
        config = self.config
        return Producer(
            config.bootstrap,
            extra_config={
                "linger.ms": 5,
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                **config.extra_config,
                # What the topics take (schemas.topics): a larger record of a plan fails
                # at once in produce() and its message is quarantined (step 10).
                "message.max.bytes": MAX_OUTPUT_BYTES,
            },
            transactional_id=config.transactional_id if config.exactly_once else None,
        )

    # -- lifecycle -------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        # Step 1: fence earlier incarnations; abort what they left open.
        began = time.monotonic()
        if self.config.exactly_once:
            self._producer.init_transactions()
        self._refresh_reference()
        log.info(
            "worker %d started in %.2f s (transactions and topics), %d topic(s) created",
            self.config.worker,
            time.monotonic() - began,
            len(self.created_topics),
        )
        try:
            while not stop.is_set():
                self.step()
            # Step 11: a clean stop commits what is done (nothing is in doubt here), then
            # leaves the group, so the other workers take its partitions at once.
            self._commit()
            self._consumer.leave()
        finally:
            # Step 11: an exception ended the loop: whatever is open is in doubt.
            self._abort_open("the processing loop ended by an exception")
            self._consumer.close()
            try:
                self._producer.close()
            except (GovbusError, KafkaException) as exc:  # nothing of it is to be kept
                log.warning("closing the producer: %s", exc)

    def step(self) -> int:
        """One batch (steps 3-10); returns the number of messages read."""
        t0 = self.progress_at = time.monotonic()
        # Wait for the first message only, then take what is already there: consume(n, t)
        # would otherwise hold a partial batch for the whole timeout.
        msgs = self._consumer.consume(1, timeout_s=POLL_TIMEOUT_S)
        t1 = time.monotonic()
        if msgs and self.config.batch_size > 1:
            msgs += self._consumer.consume(self.config.batch_size - 1, timeout_s=0)
        t2 = time.monotonic()
        self._refresh_reference()
        began = time.monotonic()
        if msgs:
            self._begin()
            try:
                self._process_batch(msgs)
            except TransactionError as exc:
                self._abort(exc)
                return 0
            finally:
                self._batch_next.clear()
            self._meter.batch(time.monotonic() - began)
        # Step 6: commit when drained (nothing was waiting behind this batch), or when the
        # transaction has been open for commit_interval_s under load.
        drained = len(msgs) < self.config.batch_size
        t4 = time.monotonic()
        committing = self._txn.open and (
            drained or t4 - self._txn.started >= self.config.commit_interval_s
        )
        if committing:
            self._commit()
        if (msgs or committing) and timing_log.isEnabledFor(logging.DEBUG):
            phases = (t1 - t0, t2 - t1, began - t2, t4 - began, time.monotonic() - t4)
            heads, offsets, end = self._commit_times if committing else (0.0, 0.0, 0.0)
            timing_log.debug(
                "%s n=%d wait=%.1f drain=%.1f refresh=%.1f process=%.1f commit=%.1f "
                "(heads=%.1f send_offsets=%.1f end=%.1f) ms",
                self.config.group_id,
                len(msgs),
                *(1000 * x for x in (*phases, heads, offsets, end)),
            )
        return len(msgs)

    # -- reference data -----------------------------------------------------------------
    def _refresh_reference(self) -> None:
        snapshot = self._reference.refresh()
        if self._snapshot is None or snapshot.version != self._snapshot.version:
            self._snapshot = snapshot
            self._ensure_topics(snapshot.catalog)
            self._subscribe(snapshot.catalog)
            self._planned_with = None
        reference = Reference.at(
            snapshot.catalog, snapshot.grants, datetime.now(UTC), snapshot.subscriptions
        )
        before = self._planned_with
        if (
            before is None
            or reference.grants != before.grants
            or reference.subscriptions != before.subscriptions
        ):
            self._planned_with = reference

    def _ensure_topics(self, catalog: Catalog) -> None:
        """Every topic a plan can route to exists before a message is planned with this
        catalog (topology.routes), and a changelog partition per ingest partition. The
        catalog import made them (topology.topics): one metadata request finds them; a bus
        imported by an older version gets the missing ones here. Entries in force are
        consumed and restored at assignment; an entry not in force gets no topics, and is
        consumed (restored lazily, step 2) only when its topics exist."""
        current = entries_in_force(catalog, datetime.now(UTC))
        ensured = ensure_catalog_topics(self._admin, current, [a.id for a in catalog.agencies])
        self.created_topics += ensured.created
        now_in_force = set(current)
        served = {topic_name(TopicKind.INGEST, e.id): e.id in now_in_force for e in catalog.entries}
        present = {t: eager for t, eager in served.items() if t in ensured.topics}
        self._served = tuple(sorted(present))
        self._lazy_topics = frozenset(t for t, eager in present.items() if not eager)

    def _input_topics(self, catalog: Catalog) -> tuple[str, ...]:
        """What this loop consumes: the ingest topics of the catalog's entries that have
        them (:meth:`_ensure_topics`)."""
        return self._served

    def _subscribe(self, catalog: Catalog) -> None:
        topics = self._input_topics(catalog)
        if topics and topics != self._subscribed:
            self._commit()
            self._consumer.subscribe(
                list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke
            )
            self._subscribed = topics

    def restored(self, topic: str, partition: int) -> bool:
        """Whether the state of ``partition`` of ingest ``topic`` is restored here."""
        return self._state.owns(topic, partition)

    # Step 2: state follows the assignment.
    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        log.info(
            "worker %d assigned %d partition(s) of group %s",
            self.config.worker,
            len(partitions),
            self.config.group_id,
        )
        lazy = [tp for tp in partitions if tp.topic in self._lazy_topics]
        self._unrestored.update((tp.topic, tp.partition) for tp in lazy)
        eager = [tp for tp in partitions if tp.topic not in self._lazy_topics]
        if eager:
            self._restoring(eager)

    def _restoring(self, partitions: list[TopicPartition]) -> None:
        """Restore ``partitions``, telling the watchdog (topology.watchdog) it may last."""
        self.restoring = True
        try:
            self._restore(partitions)
        finally:
            self.restoring = False
            self.progress_at = time.monotonic()

    def _restore_first_messages(self, keys: Set[PartitionKey]) -> None:
        """Step 2 for the partitions of ``keys`` that wait for their first message."""
        pending = sorted(k for k in keys if k in self._unrestored)
        if pending:
            self._restoring([TopicPartition(t, p) for t, p in pending])
            self._unrestored.difference_update(pending)

    def _restore(self, partitions: list[TopicPartition]) -> None:
        began = time.monotonic()
        restored = self._state.restore_many([(tp.topic, tp.partition) for tp in partitions])
        self.restored_partitions += len(partitions)
        log.info(
            "worker %d restored %d partition(s): %d changelog records in %.2f s",
            self.config.worker,
            len(partitions),
            restored,
            time.monotonic() - began,
        )

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        began = time.monotonic()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._unrestored -= revoked
        # Step 11: commit what is done; a transaction in doubt is aborted instead.
        if self._txn.in_doubt:
            self._abort_open("partitions revoked while a message was in doubt", revoked)
        else:
            self._commit(revoked)
        for tp in partitions:
            self._state.drop(tp.topic, tp.partition)
        log.info(
            "worker %d revoked %d partition(s) of group %s in %.2f s",
            self.config.worker,
            len(partitions),
            self.config.group_id,
            time.monotonic() - began,
        )
        # Failures are remembered (step 10) if the partition comes back: a message that
        # failed here twice is quarantined, not retried twice again after each rebalance.

    # -- transactions ------------------------------------------------------------------
    def _begin(self) -> None:
        if self._txn.open:
            return
        if self.config.exactly_once:
            self._producer.begin_transaction()
        self._txn.open = True
        self._txn.started = time.monotonic()

    def _commit(self, leaving: Set[PartitionKey] = frozenset()) -> bool:
        """Step 6; False when the commit failed and the transaction was aborted (step 7).
        ``leaving``: partitions being revoked (an abort does not rewind them)."""
        if not self._txn.open:
            return True
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._txn.next.items()]
        t0 = time.monotonic()
        t1 = t2 = t0
        try:
            # Step 6a: the audit chains' new heads go to the changelog in this transaction,
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
                # Step 6: outputs, changelog and input offsets in one atomic commit.
                t1 = time.monotonic()
                if offsets:
                    self._producer.send_offsets_to_transaction(
                        offsets, self._consumer.group_metadata()
                    )
                t2 = time.monotonic()
                self._producer.commit_transaction()
            else:
                self._producer.flush()
                if offsets:
                    self._consumer.commit(offsets)
        except TransactionError as exc:
            self._abort(exc, leaving)
            return False
        t3 = time.monotonic()
        self._commit_times = (t1 - t0, t2 - t1, t3 - t2)
        self._state.commit()
        self._meter.committed(datetime.now(UTC))
        done = self._txn.next
        self._failures = {
            k: f for k, f in self._failures.items() if k[:2] not in done or k[2] >= done[k[:2]]
        }
        self._txn.reset()
        return True

    def _abort(self, exc: TransactionError, leaving: Set[PartitionKey] = frozenset()) -> None:
        # Step 7: forget everything of this transaction and read it again.
        if exc.fatal or not self.config.exactly_once:
            raise exc
        log.warning("aborting transaction: %s", exc)
        self._producer.abort_transaction()
        self._forget(leaving)

    def _abort_open(
        self, why: str, leaving: Set[PartitionKey] = frozenset(), *, renew: bool = False
    ) -> None:
        """Steps 8 and 11: abort an open transaction that must not commit.

        The records just produced are delivered into it first: librdkafka may otherwise
        end a transaction whose partitions are still being added, which the broker refuses
        (INVALID_TXN_STATE, a fatal error; confluentinc/librdkafka#4849, seen right after a
        commit). If the abort fails all the same, ``renew`` replaces the producer, whose
        ``init_transactions`` aborts the transaction (as step 1 does for a new worker);
        otherwise the broker aborts it when it times out or the next incarnation starts."""
        if not self._txn.open:
            return
        log.warning("aborting the open transaction: %s", why)
        if self.config.exactly_once:
            try:
                self._producer.flush()
                self._producer.abort_transaction()
            except (GovbusError, KafkaException) as exc:
                log.error("abort failed: %s", exc)
                if renew:
                    self._renew_producer()
        self._forget(leaving)

    def _renew_producer(self) -> None:
        try:
            self._producer.close(timeout_s=0)
        except (GovbusError, KafkaException) as exc:
            log.warning("closing the failed producer: %s", exc)
        self._producer = self._new_producer()
        self._producer.init_transactions()

    def _forget(self, leaving: Set[PartitionKey]) -> None:
        """After an abort: forget the staged state, rewind every partition of the
        transaction and of the batch (but those being revoked) to its first message."""
        rewind = {**self._batch_next, **self._txn.first}
        self._batch_next.clear()
        self._state.rollback()
        self._meter.aborted()
        self._txn.reset()
        for (topic, partition), offset in rewind.items():
            if (topic, partition) not in leaving:
                self._seek(TopicPartition(topic, partition, offset))

    def _seek(self, tp: TopicPartition) -> None:
        self._consumer.seek(tp)

    # -- processing ----------------------------------------------------------------------
    def _process_batch(self, msgs: Sequence[Message]) -> None:
        reference = self._planned_with
        if reference is None:  # pragma: no cover - run() refreshes first
            raise GovbusError("no reference data")
        now = datetime.now(UTC)
        # Step 3: where each partition of the batch starts.
        for msg in msgs:
            topic, partition, offset = coordinates(msg)
            self._batch_next.setdefault((topic, partition), offset)
        # Step 2: the partitions restored on their first message.
        self._restore_first_messages(set(self._batch_next))
        for msg in msgs:
            topic, partition, offset = coordinates(msg)
            incarnation = self._state.incarnation(topic, partition)
            inp = Input(
                topic,
                partition,
                offset,
                msg.key(),
                msg.value() or b"",
                incarnation,
                _headers(msg),
            )
            failure = self._failures.get((topic, partition, offset))
            # Step 9: a message that failed is retried in a transaction of its own.
            if failure is not None and self._txn.next:
                if not self._commit():
                    return
                self._begin()
            self._txn.first.setdefault((topic, partition), offset)
            self._txn.in_doubt = True
            try:
                if failure is not None and failure.count > 1:
                    # Step 10: it failed twice; its dead letter answers it.
                    plan = self._quarantine(inp, failure.error, now)
                else:
                    plan = self._plan(inp, reference, now)  # Step 4.
                self._apply(inp, plan)  # Step 5.
            except TransactionError:
                raise
            except Exception as exc:  # noqa: BLE001 - Step 8: any error of one message is quarantined
                self._failed(inp, exc)
                return
            self._txn.in_doubt = False
            self._txn.next[(topic, partition)] = offset + 1
            self._batch_next[(topic, partition)] = offset + 1
            self.processed += 1

    def _plan(self, inp: Input, reference: Reference, now: datetime) -> Plan:
        """Step 4: what the message needs of the state, then the pure planning step."""
        hint = inp.subject_hint
        states = {} if hint is None else self._state.get(inp.topic, inp.partition, hint)
        head = self._state.chain_head(inp.topic, inp.partition)
        return plan_message(
            inp, states, head, reference, now, encoder=self._encoder, options=self._options
        )

    def _quarantine(self, inp: Input, error: str, now: datetime) -> Plan:
        head = self._state.chain_head(inp.topic, inp.partition)
        log.error("quarantining %s after two failures: %s", inp.position, error)
        return plan_quarantine(inp, head, error, now, encoder=self._encoder, options=self._options)

    def _apply(self, inp: Input, plan: Plan) -> None:
        """Step 5: the plan's records into the open transaction; its state staged."""
        produce = self._producer.produce
        for topic, value, key, partition, headers in plan.writes:
            produce(topic, value, key=key, partition=partition, headers=headers)
        if plan.state is not None:
            self._state.stage(inp.topic, inp.partition, plan.state.subject, plan.state.records)
        if self.config.audit:
            self._state.advance_chain(inp.topic, inp.partition, plan.head)
        self._meter.planned(plan.tally)

    def _failed(self, inp: Input, exc: Exception) -> None:
        """Step 8: abort the transaction in doubt, rewind, remember the failure."""
        key = (inp.topic, inp.partition, inp.offset)
        known = self._failures.get(key)
        count = 1 if known is None else known.count + 1
        self._failures[key] = _Failure(count, f"{type(exc).__name__}: {exc}")
        log.error(
            "message %s failed (%d time(s)): %s: %s",
            inp.position,
            count,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        self._abort_open(f"message {inp.position} failed", renew=True)


def _headers(msg: Message) -> tuple[tuple[str, bytes], ...]:
    """A consumed record's headers (a header without a value reads as b'')."""
    raw = msg.headers() or ()
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple((k, v.encode() if isinstance(v, str) else (v or b"")) for k, v in pairs)
