"""The processor's planning step: one ingest message in; the records to write and the
state to stage out.

Pure: no I/O, no clock, no Kafka client. It reads only its arguments (the message and its
coordinates, the subject's authoritative records, the head of the partition's audit
chain, the reference data of the batch, ``now``) and returns a :class:`Plan`; the
transaction loop (:mod:`topology.processor`) produces the plan's records inside its
transaction and stages its state. The rules are unit-tested here without a broker.

For one message (:func:`plan_message`):

1. Size: a value above ``PlanOptions.max_event_bytes`` (the most an agency may send) is
   rejected, ``event_too_large`` (G 10: the standard interface); when it decodes, the
   provider is told by a receipt as well.
2. Decode: bytes that are no released ChangeEvent version are dead-lettered (stage
   ``decode``, the schema error's code), with an audit record.
3. Decide: :func:`exchange.gate.decide` against the subject's records, with the allowed
   future skew of ``event_time`` and the sender the repartition stage authenticated (the
   :data:`schemas.topics.PROVIDER_HEADER` header; only the bus writes ingest topics, so
   it is trusted; a record without it was written by the bus or an administrator). A
   rejection: a dead letter (stage ``validate``), a ``rejected`` receipt to the sender,
   an audit record.
4. Route (:mod:`topology.routes`) and build (:mod:`topology.records`) what was decided:
   the receipt, conflicts; the changelog record of the subject's records when the decision
   changed them (accepted, or an unchanged item moved on in its source's order); for an
   accepted change the canonical stream and every delivery (feed records encoded once per
   grant class, :mod:`topology.encoding`; the open feed); then the event's one audit record
   of the outcome (``stale`` included: an older change is answered and audited, never
   applied), listing every delivery (Decision v5 ``deliveries``: recipient, topic, items,
   masking, grants).
5. Seal every audit record (one per event; two for a rejected one: its dead letter and
   its outcome), in order, into the input partition's hash chain from the head given
   (:mod:`topology.sealing`); the plan carries the new head.

Every input is answered by a receipt (an event decided for a registered provider) or a
dead letter with its reason (anything else), never by an audit record alone.
:func:`plan_quarantine` answers a message that could not be planned at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from base.errors import EncodingError, SchemaError
from base.settings import DEFAULT_DEAD_LETTER_VALUE_BYTES, DEFAULT_MAX_FUTURE_SKEW_S
from exchange.catalog import Catalog
from exchange.gate import GateResult, IncomingEvent, decide, reject
from exchange.grants import Grant, is_active
from exchange.onesource import AuthoritativeRecord
from exchange.outcomes import ReasonCode
from exchange.subscriptions import SubscriptionIndex, SubscriptionState
from schemas.topics import MAX_EVENT_BYTES, PROVIDER_HEADER, entry_of
from topology import records, routes
from topology.encoding import NO_GRANT, Encoder
from topology.fanout import RosterMemo
from topology.sealing import chain_name, seal_next
from topology.state import ChainHead, changelog_topic, encode_records

#: DeadLetter.stage values.
DECODE, VALIDATE, GATE = "decode", "validate", "gate"


@dataclass(frozen=True, slots=True)
class Input:
    """One consumed ingest message: where it was read, and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    #: The partition's incarnation (topology.state): 0 until the bus is restored.
    incarnation: int = 0
    #: The record's headers, in order (the repartition stage's PROVIDER_HEADER).
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` as text; None when absent."""
        values = [v for k, v in self.headers if k == name]
        return values[-1].decode("utf-8", errors="replace") if values else None

    @property
    def position(self) -> str:
        """``topic/partition/offset`` (``topic/partition/offset@incarnation`` after a
        restore): derived record ids (topology.records) use it."""
        where = f"{self.topic}/{self.partition}/{self.offset}"
        return f"{where}@{self.incarnation}" if self.incarnation else where

    @property
    def subject_hint(self) -> str | None:
        """The key as text: the state is looked up by it. The gate rejects a key that is
        not the canonical subject before any state is used; None: no key, no state."""
        return None if self.key is None else self.key.decode("utf-8", errors="replace")


def dead_letter_of(
    msg: Input, event_id: str | None, why: tuple[str, str, str], at: datetime, value_bound: int
) -> dict[str, Any]:
    """The DeadLetter record of ``msg``, for ``why`` (reason code, reason text, stage): its
    coordinates, key and bytes (cut to ``value_bound``), as every stage writes one."""
    code, text, stage = why
    return records.dead_letter(
        event_id=event_id,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        reason_code=code,
        reason_text=text,
        stage=stage,
        at=at,
        value_bound=value_bound,
    )


class Write(NamedTuple):
    """One record to produce inside the transaction (a tuple: a plan has dozens)."""

    topic: str
    value: bytes
    key: bytes | None = None
    #: Pinned partition (a changelog follows its ingest partition); None: by key.
    partition: int | None = None
    #: Record headers (the repartition stage's PROVIDER_HEADER); None: none.
    headers: tuple[tuple[str, bytes], ...] | None = None


@dataclass(frozen=True, slots=True)
class Staged:
    """A subject's authoritative records after the message (the changelog says the same)."""

    subject: str
    records: Mapping[str, AuthoritativeRecord]


@dataclass(frozen=True, slots=True)
class Tally:
    """What one message adds to the processor's metrics (topology.metering)."""

    #: (entry, outcome) of each decided event: govbus_events.
    events: tuple[tuple[str, str], ...] = ()
    #: (entry, reason) of each dead letter: govbus_dead_letters.
    dead_letters: tuple[tuple[str, str], ...] = ()
    #: The entry of each conflict raised: govbus_conflicts.
    conflicts: tuple[str, ...] = ()
    #: (entry, recipient) of each delivery: govbus_deliveries.
    deliveries: tuple[tuple[str, str], ...] = ()
    #: An accepted change's event time: govbus_end_to_end_seconds when it commits.
    event_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What the loop does for one message: produce ``writes`` in order, stage ``state``
    and the audit chain's new ``head``, count ``tally``."""

    writes: tuple[Write, ...]
    head: ChainHead
    state: Staged | None = None
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class Reference:
    """The reference data a batch is planned with: the catalog, the grants active at the
    batch's time and who subscribed to unconditional entries. ``grant_index`` ((grant id,
    purpose) by (agency, entry)) keeps one grant per pair, for the bench's faust gate; the
    processor attributes each delivery to its grants (``Delivery.grants_of``)."""

    catalog: Catalog
    grants: tuple[Grant, ...] = ()
    grant_index: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: Who receives unconditional entries (G 15 ¶1, S 25 ¶1); None: every agency.
    subscriptions: SubscriptionIndex | None = None
    #: The fan-out rosters of these catalog, grants and subscriptions (topology.fanout).
    rosters: RosterMemo = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        memo = RosterMemo(self.catalog, self.grants, self.subscriptions)
        object.__setattr__(self, "rosters", memo)  # frozen: set once, here

    @classmethod
    def at(
        cls,
        catalog: Catalog,
        grants: Sequence[Grant],
        now: datetime,
        subscriptions: SubscriptionState | None = None,
    ) -> Reference:
        active = tuple(g for g in grants if is_active(g, now))
        return cls(
            catalog,
            active,
            {(g.consumer, g.entry_id): (g.id, g.purpose) for g in active},
            None if subscriptions is None else subscriptions.index(now),
        )


@dataclass(frozen=True)
class PlanOptions:
    """The processor's settings the plan follows."""

    #: Write audit records (the benchmark's comparison switches them off).
    audit: bool = True
    #: The largest ChangeEvent value an agency may send (schemas.topics, README "Limits").
    max_event_bytes: int = MAX_EVENT_BYTES
    #: How far past ``now`` an event_time may lie (base.settings.max_future_skew_s).
    max_future_skew: timedelta = timedelta(seconds=DEFAULT_MAX_FUTURE_SKEW_S)
    #: A dead letter keeps this much of a value (base.settings.dead_letter_value_bytes).
    dead_letter_value_bytes: int = DEFAULT_DEAD_LETTER_VALUE_BYTES


def plan_message(  # noqa: PLR0913 - the plan step's inputs: message, state, reference, now
    msg: Input,
    states: Mapping[str, AuthoritativeRecord],
    head: ChainHead,
    reference: Reference,
    now: datetime,
    *,
    encoder: Encoder,
    options: PlanOptions,
) -> Plan:
    """Plan one ingest message (the steps are in the module docstring)."""
    draft = _Draft(msg, head, encoder, options, now)
    too_large = len(msg.value) > options.max_event_bytes
    # Step 2 (first, so that an oversized event still names its event and provider).
    try:
        raw = encoder.registry.decode("ChangeEvent", msg.value)
    except SchemaError as exc:
        # Step 1, or 2: nothing to tell a provider; the dead letter answers.
        if too_large:
            draft.dead_letter(None, ReasonCode.EVENT_TOO_LARGE, _too_large(msg, options), DECODE)
        else:
            draft.dead_letter(None, exc.code or ReasonCode.UNDECODABLE, str(exc), DECODE)
        return draft.plan()
    event = IncomingEvent.from_record(raw, msg.key, msg.header(PROVIDER_HEADER))
    if too_large:  # Step 1.
        result = reject(ReasonCode.EVENT_TOO_LARGE, _too_large(msg, options), "G 10")
    else:  # Step 3.
        result = decide(
            event,
            entry_of(msg.topic),
            reference.catalog,
            reference.grants,
            states,
            now,
            max_future_skew=options.max_future_skew,
            subscriptions=reference.subscriptions,
            rosters=reference.rosters,
        )
    if result.rejected:
        draft.dead_letter(event, result.reason_code, result.reason_text, VALIDATE)
        draft.receipt(event, result, reference.catalog)
        return draft.plan()
    # Step 4.
    return draft.decided(event, raw, result, states, reference)


def plan_quarantine(
    msg: Input,
    head: ChainHead,
    error: str,
    now: datetime,
    *,
    encoder: Encoder,
    options: PlanOptions,
) -> Plan:
    """The answer to a message the processor failed to plan or write twice
    (topology.processor, step 10): a dead letter naming the error (``<exception type>:
    <message>``), its bytes, an audit record."""
    draft = _Draft(msg, head, encoder, options, now)
    text = f"processing failed twice: {error}"
    draft.dead_letter(None, ReasonCode.PROCESSING_FAILED, text, GATE)
    return draft.plan()


def _too_large(msg: Input, options: PlanOptions) -> str:
    return (
        f"the event is {len(msg.value)} bytes; an agency may send at most "
        f"{options.max_event_bytes} bytes per event"
    )


class _Draft:
    """One message's records as they are routed, built, encoded and sealed."""

    def __init__(
        self, msg: Input, head: ChainHead, encoder: Encoder, options: PlanOptions, now: datetime
    ) -> None:
        if now.utcoffset() is None:  # the records are encoded unguarded (topology.encoding)
            raise EncodingError(
                f"the plan's time must be timezone-aware, got {now!r}", code="naive_time"
            )
        self.msg = msg
        self.position = msg.position
        self.head = head
        self.encoder = encoder
        self.audit_on = options.audit
        self.value_bound = options.dead_letter_value_bytes
        self.now = now
        self.chain = chain_name(msg.topic, msg.partition)
        self.writes: list[Write] = []
        self.events: list[tuple[str, str]] = []
        self.dead_letters: list[tuple[str, str]] = []
        self.conflicts: list[str] = []
        self.deliveries: list[tuple[str, str]] = []

    def plan(self, state: Staged | None = None, event_time: datetime | None = None) -> Plan:
        tally = Tally(
            tuple(self.events),
            tuple(self.dead_letters),
            tuple(self.conflicts),
            tuple(self.deliveries),
            event_time,
        )
        return Plan(tuple(self.writes), self.head, state, tally)

    def write(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        partition: int | None = None,
        headers: tuple[tuple[str, bytes], ...] | None = None,
    ) -> None:
        self.writes.append(Write(topic, value, key, partition, headers))

    def audit(self, key: str, record: dict[str, Any], entries: Sequence[bytes] = ()) -> None:
        """Step 5: seal ``record`` into the chain after the current head, ``entries`` (of
        :meth:`topology.encoding.Encoder.listing`) as its deliveries."""
        if not self.audit_on:
            return
        encode = self.encoder.decision_with(entries)
        message, self.head = seal_next(encode, record, self.chain, self.head)
        self.write(routes.AUDIT, message, key.encode())

    def dead_letter(self, event: IncomingEvent | None, code: str, text: str, stage: str) -> None:
        msg = self.msg
        entry = entry_of(msg.topic)
        event_id = event.event_id if event else None
        record = dead_letter_of(msg, event_id, (code, text, stage), self.now, self.value_bound)
        self.write(
            routes.DEAD_LETTERS,
            self.encoder.encode("DeadLetter", record),
            event_id.encode() if event_id else None,
            headers=routes.headers_of(entry),
        )
        self.audit(
            event_id or self.position,
            records.decision(
                kind="dead_letter",
                event_id=event_id,
                entry=entry,
                provider=event.provider if event else None,
                subject=None,
                reason_code=code,
                article=None,
                at=self.now,
                position=self.position,
            ),
        )
        self.dead_letters.append((entry, code))

    def receipt(self, event: IncomingEvent, result: GateResult, catalog: Catalog) -> None:
        self.events.append((event.entry, result.outcome))
        topic = routes.receipts(catalog, event.sender)
        if topic is not None:
            receipt = records.receipt(event, result, self.now)
            self.write(topic, self.encoder.built("Receipt", receipt), event.event_id.encode())
        if result.rejected:
            self.audit_outcome(event, result, subject=result.canonical_subject)

    def audit_outcome(
        self,
        event: IncomingEvent,
        result: GateResult,
        *,
        subject: str | None,
        items: tuple[str, ...] = (),
        deliveries: Sequence[bytes] = (),
    ) -> None:
        """Step 5 for the gate's judgement of ``event``: its Decision record (the accepted
        ``items`` and their ``deliveries`` for an accepted change)."""
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
                items=items,
                position=self.position,
            ),
            deliveries,
        )

    def decided(
        self,
        event: IncomingEvent,
        raw: dict[str, Any],
        result: GateResult,
        states: Mapping[str, AuthoritativeRecord],
        reference: Reference,
    ) -> Plan:
        self.receipt(event, result, reference.catalog)
        for c in result.conflicts:
            conflict = records.conflict(event.entry, c, self.now)
            self.write(
                routes.CONFLICTS, self.encoder.built("Conflict", conflict), routes.conflict_key(c)
            )
            self.conflicts.append(event.entry)
        deliveries: list[bytes] = []
        state, event_time = self._apply(event, raw, result, states, deliveries)
        # The event's one audit record, its deliveries listed (Decision v5).
        self.audit_outcome(
            event,
            result,
            subject=result.canonical_subject or "",
            items=tuple(sorted(result.accepted)),
            deliveries=deliveries,
        )
        return self.plan(state, event_time)

    def _apply(
        self,
        event: IncomingEvent,
        raw: dict[str, Any],
        result: GateResult,
        states: Mapping[str, AuthoritativeRecord],
        deliveries: list[bytes],
    ) -> tuple[Staged | None, datetime | None]:
        """The changelog, the canonical stream and the fan-out of what was decided; the
        state to stage and the accepted change's event time."""
        subject = result.subject
        if subject is None or not (result.new_states or result.refreshed):
            return None, None
        merged = {**states, **result.refreshed, **result.new_states}
        self.write(
            changelog_topic(self.msg.topic),
            encode_records(merged),
            subject.key,
            self.msg.partition,
        )
        if not result.new_states:  # moved on in the source's order only: kept, not sent
            return Staged(str(subject), merged), None
        # The canonical stream: what was accepted, under the canonical subject.
        canonical = {
            **raw,
            "subject_key": subject.number,
            "items": [i for i in raw["items"] if i["name"] in result.accepted],
        }
        self.write(
            routes.ACCEPTED,
            self.encoder.built("ChangeEvent", canonical),
            subject.key,
            headers=routes.headers_of(event.entry),
        )
        self._fan_out(event, raw, result, deliveries)
        return Staged(str(subject), merged), raw["event_time"]

    def _fan_out(
        self,
        event: IncomingEvent,
        raw: dict[str, Any],
        result: GateResult,
        deliveries: list[bytes],
    ) -> None:
        """Every delivery to each recipient, under the grants that entitle exactly the items
        it carries (``Delivery.grants_of``; G 17, S 29), listed in ``deliveries`` for the
        event's audit record."""
        for delivery in result.deliveries:
            payloads = self.encoder.feed(
                records.feed_record(
                    event,
                    delivery,
                    operation=raw["operation"],
                    event_time=raw["event_time"],
                    at=self.now,
                    grants=NO_GRANT,
                )
            )
            key = delivery.subject.encode()
            listing = self.encoder.listing(delivery) if self.audit_on else None
            for recipient in delivery.recipients:
                topic = routes.delivery(recipient)
                grants = delivery.grants_of(recipient)
                shared = topic == routes.OPEN
                headers = routes.headers_of(event.entry) if shared else None
                self.write(topic, payloads.under(grants), key, headers=headers)
                rid = records.recipient_id(recipient)
                if listing is not None:
                    deliveries.append(listing.of(rid, topic, grants))
                self.deliveries.append((event.entry, rid))
