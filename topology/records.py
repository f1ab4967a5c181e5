"""Build the Avro records (schemas/avro) the processor writes, from the gate's results.

Ids are derived deterministically (UUID 5) from the input record's position (topic,
partition, offset), so a record reprocessed after a crash carries the same id as the
aborted attempt, while an event an agency sent twice (two positions) gets two: auditors
and tests can check "exactly once" by id.

A dead letter always fits its topic: it keeps at most ``value_bound`` bytes of the value
(the processor's ``dead_letter_value_bytes``, at most :data:`MAX_DEAD_LETTER_VALUE_BYTES`)
and :data:`DEAD_LETTER_KEY_BYTES` of the key, and records the size and SHA-256 of what it
cut (DeadLetter v2); reason texts are cut at :data:`REASON_TEXT_CHARS` characters. The
rest of a dead letter (topic name, event id, times, codes) takes at most
:data:`DEAD_LETTER_FRAME_BYTES`, so the largest dead letter is within the processor's
producer limit (:data:`schemas.topics.MAX_OUTPUT_BYTES`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from exchange.gate import GateResult, IncomingEvent
from exchange.grants import GrantUse
from exchange.onesource import Conflict
from exchange.policy import Delivery, OpenFeed, Recipient
from schemas.audit.trail import LEGACY_JOIN
from schemas.topics import MAX_OUTPUT_BYTES

GOVBUS_NS = uuid.UUID("6f1c3a52-2f0e-4d5e-9a51-6b8f8c1e7a10")
#: A dead letter keeps at most this much of a message key (a canonical subject is under 40
#: bytes); a longer key is stored cut, with its size and SHA-256.
DEAD_LETTER_KEY_BYTES = 4096
#: Reason texts (an exception's message included) are cut at this many characters.
REASON_TEXT_CHARS = 2000
#: Everything of a dead letter but its value, at most: key, reason text (4 bytes a
#: character in UTF-8), source topic (249), event id, the Kafka key, header and the rest.
DEAD_LETTER_FRAME_BYTES = DEAD_LETTER_KEY_BYTES + 4 * REASON_TEXT_CHARS + 4096
#: The largest value bound with which every dead letter still fits the producer's limit.
MAX_DEAD_LETTER_VALUE_BYTES = MAX_OUTPUT_BYTES - DEAD_LETTER_FRAME_BYTES


def derived_id(*parts: object) -> str:
    return str(uuid.uuid5(GOVBUS_NS, "|".join(str(p) for p in parts)))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def reason(text: str) -> str:
    """``text``, cut at :data:`REASON_TEXT_CHARS` characters (marked by an ellipsis)."""
    if len(text) <= REASON_TEXT_CHARS:
        return text
    return text[: REASON_TEXT_CHARS - 1] + "…"


def kept(data: bytes, bound: int) -> tuple[bytes, int | None, bytes | None]:
    """(what a dead letter keeps of ``data``, the full size, its SHA-256): ``data`` whole
    and (None, None) up to ``bound`` bytes, else its first ``bound`` bytes, size, digest."""
    if len(data) <= bound:
        return data, None, None
    return data[:bound], len(data), hashlib.sha256(data).digest()


def receipt(event: IncomingEvent, result: GateResult, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "entry": event.entry,
        "provider": event.provider,
        "outcome": result.outcome,
        "reason_code": result.reason_code,
        "reason_text": reason(result.reason_text),
        "article": result.article or None,
        "decided_at": at,
        "audit_position": None,
        "canonical_subject": result.canonical_subject,
    }


class DeadLetterFields(TypedDict):
    """What a dead letter says: the message (where it was read, its bytes), why, when, and
    how much of its value it keeps."""

    event_id: str | None
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    reason_code: str
    reason_text: str
    stage: str
    at: datetime
    value_bound: int


def dead_letter(**f: Unpack[DeadLetterFields]) -> dict[str, Any]:
    """The DeadLetter record; the value cut at ``value_bound`` bytes, the key at
    :data:`DEAD_LETTER_KEY_BYTES` (each with its size and SHA-256 when cut)."""
    key = f["key"]
    value_kept, value_size, value_sha256 = kept(f["value"], f["value_bound"])
    key_kept, key_size, key_sha256 = (
        (None, None, None) if key is None else kept(key, DEAD_LETTER_KEY_BYTES)
    )
    return {
        "event_id": f["event_id"],
        "source_topic": f["topic"],
        "source_partition": f["partition"],
        "source_offset": f["offset"],
        "original_key": key_kept,
        "original_value": value_kept,
        "reason_code": f["reason_code"],
        "reason_text": reason(f["reason_text"]),
        "stage": f["stage"],
        "failed_at": f["at"],
        "original_value_size": value_size,
        "original_value_sha256": value_sha256,
        "original_key_size": key_size,
        "original_key_sha256": key_sha256,
    }


def conflict(entry: str, c: Conflict, at: datetime) -> dict[str, Any]:
    """The Conflict record. Its id derives from the report, the item and the authoritative
    event it contradicts, not from the input position: an agency that resends the same
    report (a retry after a lost acknowledgement) gets the same receipt and the *same*
    conflict, which every reader takes once (GM 19: one case for the bureau, not two)."""
    against = c.authoritative_event_id or "no-authoritative-value"
    return {
        "conflict_id": derived_id("conflict", c.event_id, c.item, against),
        "entry": entry,
        "canonical_subject": c.subject,
        "item": c.item,
        "authoritative_value": _text(c.authoritative_value),
        "authoritative_provider": c.authoritative_provider,
        # A source that holds no value yet has no event: the nil UUID says so.
        "authoritative_event_id": c.authoritative_event_id or str(uuid.UUID(int=0)),
        "reported_value": _text(c.reported_value),
        "reported_provider": c.reporter,
        "reported_event_id": c.event_id,
        "detected_at": at,
        "article": "GM 19",
    }


class DecisionFields(TypedDict):
    """What an audit record (Avro ``Decision`` v5) says: one per input event (two for a
    rejected one: its dead letter and its outcome); an accepted change's record lists
    every delivery it caused (:meth:`topology.encoding.Encoder.listing`)."""

    kind: str
    event_id: str | None
    entry: str
    provider: str | None
    subject: str | None
    reason_code: str | None
    article: str | None
    at: datetime
    #: The input's ``topic/partition/offset``: the audit id derives from it.
    position: str
    #: The items accepted (kind accepted).
    items: NotRequired[tuple[str, ...]]


def decision(**f: Unpack[DecisionFields]) -> dict[str, Any]:
    """The Decision record; its ``audit_id`` derives from the kind and the input's position
    (one id per record, and at most two records per input)."""
    return {
        # None: where records before v5 named a delivery's recipient (the ids stay the same).
        "audit_id": derived_id("audit", f["kind"], f["position"], None),
        "kind": f["kind"],
        "event_id": f["event_id"],
        "entry": f["entry"],
        "provider": f["provider"],
        "canonical_subject": f["subject"],
        "reason_code": f["reason_code"],
        "article": f["article"],
        "recipient": None,
        "grant_id": None,
        "purpose": None,
        "grants": [],
        "items_delivered": list(f.get("items", ())),
        "masked_items": [],
        "deliveries": [],  # listed by the encoder (topology.encoding, schemas.listing)
        "occurred_at": f["at"],
        "chain": None,
        "seq": None,
        "prev_hash": None,
        "record_hash": None,
    }


class FeedFields(TypedDict):
    """A feed record's event facts, its time of delivery and the grants it is under:
    ``grants`` (exact, FeedRecord v2), or for callers that know one grant ``grant_id`` and
    ``purpose``."""

    operation: str
    event_time: datetime
    at: datetime
    grant_id: NotRequired[str | None]
    purpose: NotRequired[str | None]
    grants: NotRequired[tuple[GrantUse, ...] | None]


def feed_record(
    event: IncomingEvent, delivery: Delivery, **f: Unpack[FeedFields]
) -> dict[str, Any]:
    """The FeedRecord of ``delivery``; its grants from ``grants`` (exact, FeedRecord v2)
    or, for callers that know one grant, ``grant_id`` and ``purpose``."""
    masked = dict(delivery.rules_applied)
    return {
        "event_id": event.event_id,
        "entry": event.entry,
        "canonical_subject": delivery.subject,
        "operation": f["operation"],
        "items": [
            {
                "name": name,
                "value": _text(delivery.values[name]),
                "masked": name in masked,
                "mask_rule": masked.get(name),
            }
            for name in delivery.items
        ],
        "provider": event.provider,
        "event_time": f["event_time"],
        "delivered_at": f["at"],
        **_grant_fields(f.get("grant_id"), f.get("purpose"), f.get("grants")),
    }


def grant_fields(grants: tuple[GrantUse, ...]) -> dict[str, Any]:
    """The grant fields of FeedRecord (v2) for ``grants``: ``grants``
    exact; ``grant_id`` and ``purpose`` for readers of the older versions (several
    grants' ids and purposes joined by :data:`LEGACY_JOIN`, in the order of ``grants``)."""
    if not grants:
        return {"grant_id": None, "purpose": None, "grants": []}
    return {
        "grant_id": LEGACY_JOIN.join(g.grant_id for g in grants),
        "purpose": LEGACY_JOIN.join(g.purpose for g in grants),
        "grants": _grant_list(grants),
    }


def _grant_list(grants: tuple[GrantUse, ...]) -> list[dict[str, Any]]:
    """``grants`` as the Avro ``GrantUse`` array of FeedRecord v2 and Decision v4/v5."""
    return [{"grant_id": g.grant_id, "purpose": g.purpose, "items": list(g.items)} for g in grants]


def _grant_fields(
    grant_id: str | None, purpose: str | None, grants: tuple[GrantUse, ...] | None
) -> dict[str, Any]:
    if grants is not None:
        return grant_fields(grants)
    return {"grant_id": grant_id, "purpose": purpose, "grants": []}


def recipient_id(recipient: Recipient) -> str:
    return "open" if isinstance(recipient, OpenFeed) else recipient.id


def grant_of(
    grants_by_agency: Mapping[tuple[str, str], tuple[str, str]], agency: str, entry: str
) -> tuple[str | None, str | None]:
    """(grant id, purpose) under which ``agency`` receives ``entry``; (None, None) when the
    entry is shared unconditionally.

    One grant per (agency, entry) only: with several, use the delivery's attribution
    (:meth:`exchange.policy.Delivery.grants_of`) instead (the processor does)."""
    found = grants_by_agency.get((agency, entry))
    return (None, None) if found is None else found
