"""Topic conventions: names, keys, partitions, retention and compaction per topic kind.

This is part of the bus contract (like the Avro schemas): producers, processors and
consumers all derive topic names from here. Pure data, no Kafka client.

``govbus.audit.workflows`` holds the governance workflows' state changes (WorkflowEvent,
one hash chain, so one partition), written by the HTTP service, never by the processors.

``govbus.conflicts.resolved`` (GM 19) is written by administration only (``govbus conflicts
resolve``), never by the processors; one partition, so the first resolution of a conflict
is first for every reader.

| kind      | name                          | key                  | retention            |
|-----------|-------------------------------|----------------------|----------------------|
| submit    | govbus.submit.<agency>        | canonical subject    | forever              |
| ingest    | govbus.ingest.<entry>         | canonical subject    | forever              |
| accepted  | govbus.accepted               | canonical subject    | forever              |
| receipts  | govbus.receipts.<agency>      | event id             | 7 days               |
| dlq       | govbus.dlq                    | event id or none     | forever              |
| dlq.submit| govbus.dlq.submit.<agency>    | event id or none     | forever              |
| conflicts | govbus.conflicts              | subject + data item  | forever              |
| resolved  | govbus.conflicts.resolved     | conflict id          | forever              |
| feed      | govbus.feed.<agency>          | canonical subject    | 14 days              |
| open      | govbus.open                   | canonical subject    | forever (override)   |
| audit     | govbus.audit                  | subject or event     | forever              |
| workflows | govbus.audit.workflows        | case or account id   | forever              |
| state     | govbus.state.<name>           | entity id            | compacted            |

The canonical stream, the dead letters and the open feed are one topic each for every
entry, not one per entry (issue 19 item 4: an entry costs its ingest and changelog
partitions only, 6 instead of 11). No agency reads them (agencies read their own feed and
receipts); every record in them carries the header :data:`ENTRY_HEADER` naming its catalog
entry, so a reader takes one entry's records without decoding the others. An entry keeps
topics of its own where isolation needs them: ``govbus.ingest.<entry>`` (only the bus
writes it, and its partitions are the unit of the one-source state).

An agency writes only its own submission topic ``govbus.submit.<agency>`` (its principal's
literal ACL); the bus's repartition stage (:mod:`topology.repartition`) moves each
submission to ``govbus.ingest.<entry>``, at the partition :func:`schemas.partitioning.partition_for`
computes from the canonical subject, with the header :data:`PROVIDER_HEADER` naming the
agency the broker authenticated. Only the bus writes ingest topics. A submission the stage
cannot route (undecodable, no such entry) is dead-lettered on ``govbus.dlq.submit.<agency>``.

Sizes (``max.message.bytes``): submission and ingest topics take one event of at most
:data:`MAX_EVENT_BYTES` (1 MiB batches); every other topic takes what the processor writes
for such an event (2 MiB batches, the processor's messages at most
:data:`MAX_OUTPUT_BYTES`). Topics that exist already keep their configuration.

Replication is not a property of a kind but of the cluster a topic is made on
(:class:`Replication`): every bus topic gets ``min(3, brokers)`` replicas, and
``min.insync.replicas=2`` when it has three, so that a write acknowledged to a producer
with ``acks=all`` is on two nodes and the loss of one node loses nothing and stops nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from base.errors import SchemaError

PREFIX = "govbus"
#: Kafka's legal topic characters and length (Topic.java: [a-zA-Z0-9._-], at most 249).
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_LENGTH = 249
DAY_MS = 24 * 60 * 60 * 1000
FOREVER = "-1"
#: The largest ChangeEvent value (bytes) an agency may send; the processor rejects a larger
#: one (``event_too_large``). It is also the default ``message.max.bytes`` of librdkafka
#: producers, so a default agency client refuses a larger message itself. README "Limits".
MAX_EVENT_BYTES = 1_000_000
#: ``max.message.bytes`` of ingest topics: one event at the limit with its key, headers and
#: batch framing; the broker refuses a larger batch (RecordTooLarge to the agency).
INGEST_MAX_MESSAGE_BYTES = 1_048_576
#: The largest message the processor writes (its producer's ``message.max.bytes``): what it
#: writes for an event at the limit (feed records, canonical stream, dead letters) fits.
MAX_OUTPUT_BYTES = 2_000_000
#: ``max.message.bytes`` of every other bus topic: one message at MAX_OUTPUT_BYTES with its
#: batch framing (a producer batch holds one such message, or at most ``batch.size``).
MAX_MESSAGE_BYTES = 2_097_152
#: The header the repartition stage puts on every ingest record: the id of the agency whose
#: submission topic it arrived on (authenticated by the broker), UTF-8.
PROVIDER_HEADER = "govbus.provider"
#: The header on every record of the topics shared by all entries (accepted, dlq, open): the
#: catalog entry it belongs to, UTF-8.
ENTRY_HEADER = "govbus.entry"


class TopicKind(StrEnum):
    #: An agency's own topic for everything it publishes (its principal alone writes it).
    SUBMIT = "submit"
    INGEST = "ingest"
    ACCEPTED = "accepted"
    RECEIPTS = "receipts"
    DLQ = "dlq"
    #: Submissions the repartition stage could not route; nests under the dlq kind's name.
    SUBMIT_DLQ = "dlq.submit"
    CONFLICTS = "conflicts"
    #: Resolutions of conflicts (GM 19); the name nests under the conflicts topic's.
    RESOLVED = "conflicts.resolved"
    FEED = "feed"
    OPEN = "open"
    AUDIT = "audit"
    #: The workflows' audit chain (WorkflowEvent); the name nests under the audit topic's.
    WORKFLOW_AUDIT = "audit.workflows"
    STATE = "state"


@dataclass(frozen=True)
class TopicPolicy:
    """How every topic of one kind is made."""

    kind: TopicKind
    partitions: int
    config: Mapping[str, str]
    per: str | None  # "entry", "agency", "name" or None for a single topic


@dataclass(frozen=True)
class TopicDef:
    name: str
    kind: TopicKind
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


_DURABLE = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
#: Replicas of a topic on a cluster of this many brokers or more.
MAX_REPLICAS = 3
MIN_INSYNC = "min.insync.replicas"


@dataclass(frozen=True)
class Replication:
    """How many copies of every partition a topic gets, and how many must have a write
    before it is acknowledged (``min.insync.replicas``), on a cluster of some size."""

    factor: int
    min_insync: int

    @classmethod
    def for_brokers(cls, brokers: int) -> Replication:
        """``min(3, brokers)`` replicas; two in sync when there are three, else one."""
        factor = max(1, min(MAX_REPLICAS, brokers))
        return cls(factor, 2 if factor >= MAX_REPLICAS else 1)

    @classmethod
    def for_factor(cls, factor: int) -> Replication:
        return cls.for_brokers(factor)


_INGEST_CONFIG = {
    "retention.ms": FOREVER,
    "retention.bytes": "-1",
    **_DURABLE,
    "max.message.bytes": str(INGEST_MAX_MESSAGE_BYTES),
}

POLICIES: Mapping[TopicKind, TopicPolicy] = {
    TopicKind.SUBMIT: TopicPolicy(TopicKind.SUBMIT, 3, _INGEST_CONFIG, "agency"),
    TopicKind.INGEST: TopicPolicy(TopicKind.INGEST, 3, _INGEST_CONFIG, "entry"),
    TopicKind.ACCEPTED: TopicPolicy(
        TopicKind.ACCEPTED,
        6,
        {"retention.ms": FOREVER, "retention.bytes": "-1", **_DURABLE},
        None,
    ),
    TopicKind.RECEIPTS: TopicPolicy(
        TopicKind.RECEIPTS, 1, {"retention.ms": str(7 * DAY_MS), **_DURABLE}, "agency"
    ),
    TopicKind.DLQ: TopicPolicy(TopicKind.DLQ, 3, {"retention.ms": FOREVER, **_DURABLE}, None),
    TopicKind.SUBMIT_DLQ: TopicPolicy(
        TopicKind.SUBMIT_DLQ, 1, {"retention.ms": FOREVER, **_DURABLE}, "agency"
    ),
    TopicKind.CONFLICTS: TopicPolicy(
        TopicKind.CONFLICTS, 1, {"retention.ms": FOREVER, **_DURABLE}, None
    ),
    TopicKind.RESOLVED: TopicPolicy(
        TopicKind.RESOLVED, 1, {"retention.ms": FOREVER, **_DURABLE}, None
    ),
    TopicKind.FEED: TopicPolicy(
        TopicKind.FEED, 3, {"retention.ms": str(14 * DAY_MS), **_DURABLE}, "agency"
    ),
    TopicKind.OPEN: TopicPolicy(TopicKind.OPEN, 3, {"retention.ms": FOREVER, **_DURABLE}, None),
    TopicKind.AUDIT: TopicPolicy(
        TopicKind.AUDIT, 3, {"retention.ms": FOREVER, "retention.bytes": "-1", **_DURABLE}, None
    ),
    TopicKind.WORKFLOW_AUDIT: TopicPolicy(
        TopicKind.WORKFLOW_AUDIT,
        1,
        {"retention.ms": FOREVER, "retention.bytes": "-1", **_DURABLE},
        None,
    ),
    TopicKind.STATE: TopicPolicy(
        TopicKind.STATE, 1, {"cleanup.policy": "compact", **_DURABLE}, "name"
    ),
}


#: The bus's topics that every entry shares (one each), in :func:`bus_topics`' order.
SHARED_BUS_KINDS = (
    TopicKind.CONFLICTS,
    TopicKind.RESOLVED,
    TopicKind.AUDIT,
    TopicKind.ACCEPTED,
    TopicKind.DLQ,
    TopicKind.OPEN,
)


def entry_headers(entry: str) -> tuple[tuple[str, bytes]]:
    """The headers of a record of ``entry`` in a shared topic (:data:`ENTRY_HEADER`)."""
    return ((ENTRY_HEADER, entry.encode()),)


Headers = Iterable[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


def header_entry(headers: Headers | None) -> str | None:
    """The entry an :data:`ENTRY_HEADER` names (the last one), None when there is none.
    ``headers``: pairs, or a mapping (confluent-kafka gives either)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    found = None
    for name, value in pairs:
        if name == ENTRY_HEADER and value is not None:
            found = value.decode() if isinstance(value, bytes) else value
    return found


def topic_name(kind: TopicKind, part: str | None = None) -> str:
    """The topic of ``kind`` for an entry, agency or state name (``part``)."""
    policy = POLICIES[kind]
    if (policy.per is None) != (part is None):
        needs = f"a {policy.per}" if policy.per else "no name part"
        raise SchemaError(f"topic kind {kind} needs {needs}", code="topic_name")
    name = f"{PREFIX}.{kind}" if part is None else f"{PREFIX}.{kind}.{part}"
    if not _LEGAL.match(name) or len(name) > MAX_TOPIC_LENGTH:
        raise SchemaError(
            f"{part!r} cannot be part of a Kafka topic name (letters, digits, '.', '_', '-'; "
            f"at most {MAX_TOPIC_LENGTH} characters)",
            code="topic_name",
        )
    return name


def name_part(kind: TopicKind, topic: str) -> str:
    """The entry, agency or state name in ``topic``, a topic of ``kind``: the inverse of
    :func:`topic_name` (``govbus.ingest.GY-RK-0001`` -> ``GY-RK-0001``)."""
    prefix = f"{PREFIX}.{kind}."
    if POLICIES[kind].per is None or not topic.startswith(prefix) or topic == prefix:
        raise SchemaError(f"{topic!r} is not a {kind} topic ({prefix}<name>)", code="topic_name")
    return topic[len(prefix) :]


def entry_of(topic: str) -> str:
    """The catalog entry of an ingest topic (``govbus.ingest.<entry>``)."""
    return name_part(TopicKind.INGEST, topic)


def agency_of(topic: str) -> str:
    """The agency of a submission topic (``govbus.submit.<agency>``)."""
    return name_part(TopicKind.SUBMIT, topic)


def topic_def(
    kind: TopicKind, part: str | None = None, overrides: Mapping[str, str] | None = None
) -> TopicDef:
    policy = POLICIES[kind]
    return TopicDef(
        topic_name(kind, part), kind, policy.partitions, {**policy.config, **(overrides or {})}
    )


def bus_topics(entries: Iterable[str], agencies: Iterable[str]) -> list[TopicDef]:
    """Every topic the bus needs for these catalog entries and agencies, in a stable order."""
    defs = [topic_def(k) for k in SHARED_BUS_KINDS]
    defs += [topic_def(TopicKind.INGEST, entry) for entry in sorted(set(entries))]
    for agency in sorted(set(agencies)):
        kinds = (TopicKind.SUBMIT, TopicKind.SUBMIT_DLQ, TopicKind.RECEIPTS, TopicKind.FEED)
        defs += [topic_def(k, agency) for k in kinds]
    return defs
