"""The repartition stage's planning step: one submission in; where the bus puts it out.

An agency writes only its own submission topic ``govbus.submit.<agency>``; the broker
lets no other principal write it (:func:`operations.access.agency_rules`), so the topic
*is* the authenticated sender. This step moves a submission to the ingest topic of its
entry, where the gate (:mod:`topology.plan`) decides it. It is Kafka Streams' repartition
topic, done by the bus: the partition is computed here from the canonical subject, never by
the producer's client, so every event of one (entry, subject) reaches one ingest partition
in the order the stage read it, whatever language or partitioner sent it (GM 19, GM 22).

Pure: no I/O, no clock, no Kafka client; the loop (:mod:`topology.repartitioner`, the
processor's transaction loop) produces the plan's records inside its transaction.

For one submission (:func:`plan_submission`):

1. Sender: the agency named by the submission topic (:func:`schemas.topics.agency_of`).
2. Decode: bytes that are no released ChangeEvent version are dead-lettered on
   ``govbus.dlq.submit.<agency>`` (stage ``decode``, the schema error's code); nothing
   names an event to answer, so no receipt (the processor does the same).
3. Entry: an entry the catalog does not have, or whose ingest topic does not exist, is
   dead-lettered there too (``unknown_entry``, stage ``validate``), and the sender gets a
   ``rejected`` receipt when it is a registered agency. An entry that has no topics
   because it is not in force (a draft; withdrawn before it had topics) is answered with
   the gate's reason instead (``entry_not_published``, ``entry_withdrawn``).
4. Partition: the canonical subject of the event (:func:`exchange.admission.check_subject`)
   when it is valid, else the message key, else the subject key as sent;
   :func:`schemas.partitioning.partition_for` of its bytes among the ingest topic's
   partitions (Java kafka-clients' murmur2).
5. Forward: the submission's original bytes and key to ``govbus.ingest.<entry>`` at that
   partition, with the header :data:`schemas.topics.PROVIDER_HEADER` naming the sender.
   Everything else (a provider other than the sender, an invalid identity, a key that is
   not canonical, an entry not in force, a value too large) is the gate's to decide and
   answer, with the sender's receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from base.errors import SchemaError
from exchange.admission import Refusal, check_entry, check_subject
from exchange.catalog import Catalog
from exchange.gate import IncomingEvent, reject
from exchange.identity import Subject
from exchange.outcomes import ReasonCode
from schemas.partitioning import partition_for
from schemas.topics import PROVIDER_HEADER, TopicKind, agency_of, topic_name
from topology import records, routes
from topology.encoding import Encoder
from topology.plan import Input, Plan, PlanOptions, Tally, Write, dead_letter_of
from topology.state import ChainHead

#: DeadLetter.stage values of this step (the released enum: the dead letter's topic,
#: ``govbus.dlq.submit.<agency>``, and its source topic say it was the repartition stage).
DECODE, ROUTE, REPARTITION = "decode", "validate", "gate"
#: The repartition stage keeps no audit chain (the gate audits what it forwards).
NO_HEAD: ChainHead = (0, None)


@dataclass(frozen=True)
class Routing:
    """What the step routes with: the catalog, and each ingest topic's partition count."""

    catalog: Catalog
    partitions: Mapping[str, int]


def plan_submission(
    msg: Input, routing: Routing, now: datetime, *, encoder: Encoder, options: PlanOptions
) -> Plan:
    """Plan one submission (the steps are in the module docstring)."""
    sender = agency_of(msg.topic)  # Step 1.
    try:  # Step 2.
        raw = encoder.registry.decode("ChangeEvent", msg.value)
    except SchemaError as exc:
        code = exc.code or ReasonCode.UNDECODABLE
        return _rejected(msg, sender, None, (code, str(exc), DECODE), now, encoder, options)
    event = IncomingEvent.from_record(raw, msg.key, sender)
    entry = routing.catalog.entry(event.entry)
    ingest = _ingest_topic(event.entry)
    count = routing.partitions.get(ingest) if ingest else None
    if entry is None or ingest is None or count is None:  # Step 3.
        refusal = check_entry(routing.catalog, event.entry, now)
        if entry is not None and isinstance(refusal, Refusal):
            # Not published: it has no topics (topology.topics); the gate's answer.
            why = (refusal.reason, refusal.message, ROUTE)
        else:
            text = f"the catalog has no entry {event.entry!r}: nothing to submit it to"
            why = (ReasonCode.UNKNOWN_ENTRY, text, ROUTE)
        return _rejected(msg, sender, event, why, now, encoder, options, routing.catalog)
    # Step 4.
    subject = check_subject(entry, event.subject_kind, event.subject_key, now)
    if isinstance(subject, Subject):
        partition_key = subject.key
    else:
        partition_key = msg.key or f"{event.subject_kind}:{event.subject_key}".encode()
    # Step 5.
    write = Write(
        ingest,
        msg.value,
        msg.key,
        partition_for(partition_key, count),
        ((PROVIDER_HEADER, sender.encode()),),
    )
    return Plan((write,), NO_HEAD)


def plan_submission_quarantine(
    msg: Input, error: str, now: datetime, *, encoder: Encoder, options: PlanOptions
) -> Plan:
    """The answer to a submission the stage failed to route twice (the loop's step 10)."""
    why = (ReasonCode.PROCESSING_FAILED, f"processing failed twice: {error}", REPARTITION)
    return _rejected(msg, agency_of(msg.topic), None, why, now, encoder, options)


def _ingest_topic(entry: str) -> str | None:
    try:
        return topic_name(TopicKind.INGEST, entry)
    except SchemaError:
        return None


def _rejected(  # noqa: PLR0913 - the message, who, why, and the step's settings
    msg: Input,
    sender: str,
    event: IncomingEvent | None,
    why: tuple[str, str, str],
    now: datetime,
    encoder: Encoder,
    options: PlanOptions,
    catalog: Catalog | None = None,
) -> Plan:
    """A dead letter on the sender's submission dlq; a receipt when there is an event to
    name and a registered sender to tell."""
    code, text, _stage = why
    event_id = event.event_id if event else None
    letter = dead_letter_of(msg, event_id, why, now, options.dead_letter_value_bytes)
    dlq = topic_name(TopicKind.SUBMIT_DLQ, sender)
    key = event_id.encode() if event_id else None
    writes = [Write(dlq, encoder.encode("DeadLetter", letter), key)]
    receipts = None if event is None or catalog is None else routes.receipts(catalog, sender)
    if event is not None and receipts is not None:
        result = reject(ReasonCode(code), text, "GM 14")
        receipt = records.receipt(event, result, now)
        writes.append(Write(receipts, encoder.encode("Receipt", receipt), key))
    tally = Tally(dead_letters=((event.entry if event else "", code),))
    return Plan(tuple(writes), NO_HEAD, tally=tally)
