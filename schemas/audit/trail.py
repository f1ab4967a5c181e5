"""Who received a subject's data, from the audit records (G 17, S 29, J 19, S 43).

Since Decision v5 the processor writes one audit record per input event; an accepted
change's record lists every delivery it caused (``deliveries``: recipient, topic, items,
masking, grants). Records before v5 recorded each delivery as a record of its own (kind
``delivery`` or ``open_delivery``, the delivery in the record's top-level fields, the
open feed's under the masked subject key). :func:`deliveries_of` reads both;
:func:`subject_trail` answers "who received this subject's data" from any mix of them.

Pure functions over decoded ``Decision`` records (:func:`schemas.decode`, any released
version read as the current one); no I/O. The records come from ``govbus.audit`` (their
chain and seq say where; ``govbus audit verify`` says whether they are intact). A
per-subject index with inclusion proofs would answer the same question without reading
the whole topic; this module is what such an index would hold per subject.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.grants import GrantUse
from schemas.topics import TopicKind, topic_name

#: The kinds of the per-delivery records written before Decision v5.
DELIVERY = "delivery"
OPEN_DELIVERY = "open_delivery"
#: The recipient id of the open feed (``exchange.policy.OpenFeed``).
OPEN = "open"
#: Where the open feed of an entry was written when those records were: one topic per
#: entry (``govbus.open`` is shared by every entry since issue 19 item 4).
LEGACY_OPEN_TOPIC = "govbus.open.{entry}"
#: Joins several grants' ids or purposes in the fields readers of FeedRecord v1 and
#: Decision v1-v3 know (``grant_id``, ``purpose``; :func:`topology.records.grant_fields`).
LEGACY_JOIN = "; "


@dataclass(frozen=True)
class AuditedDelivery:
    """One delivery as its audit record states it: who received which items on which
    topic, how they were masked, under which grants."""

    recipient: str
    topic: str
    items: tuple[str, ...]
    #: (item, masking rule) of each item desensitised or dropped.
    masked: tuple[tuple[str, str], ...]
    #: The rule that masked the subject key; None: in clear, or not recorded (before v5).
    subject_rule: str | None
    grants: tuple[GrantUse, ...]


@dataclass(frozen=True)
class TrailEntry:
    """A delivery of one subject's data and the audit record that states it."""

    event_id: str | None
    entry: str
    provider: str | None
    occurred_at: datetime
    chain: str | None
    seq: int | None
    delivery: AuditedDelivery


def deliveries_of(decision: Mapping[str, Any]) -> tuple[AuditedDelivery, ...]:
    """The deliveries a decoded Decision record states: its ``deliveries`` (v5), or the
    record itself for a per-delivery record written before v5; () for any other record."""
    listed = decision.get("deliveries") or ()
    if listed:
        return tuple(_listed(d) for d in listed)
    kind = decision.get("kind")
    if kind not in (DELIVERY, OPEN_DELIVERY):
        return ()
    recipient = decision.get("recipient") or OPEN
    topic = (
        LEGACY_OPEN_TOPIC.format(entry=decision["entry"])
        if kind == OPEN_DELIVERY
        else topic_name(TopicKind.FEED, recipient)
    )
    items = tuple(decision.get("items_delivered") or ())
    return (
        AuditedDelivery(
            recipient=recipient,
            topic=topic,
            items=items,
            masked=_masked(decision.get("masked_items")),
            subject_rule=None,
            grants=_grants(decision.get("grants")) or _legacy_grants(decision, items),
        ),
    )


def subject_trail(records: Iterable[Mapping[str, Any]], subject: str) -> tuple[TrailEntry, ...]:
    """Every delivery of ``subject``'s data (a canonical subject) that ``records`` (decoded
    Decision records, any versions) state, in the order of ``records``.

    A v5 record names the canonical subject. A per-delivery record before v5 named the
    subject as delivered (the open feed's key masked), so it counts when its event's
    decision, in the same entry, names ``subject``."""
    seen = list(records)
    events = {
        (r["entry"], str(r["event_id"]))
        for r in seen
        if r.get("canonical_subject") == subject and r.get("event_id") is not None
    }
    trail: list[TrailEntry] = []
    for r in seen:
        event_id = None if r.get("event_id") is None else str(r["event_id"])
        ours = r.get("canonical_subject") == subject or (
            r.get("kind") in (DELIVERY, OPEN_DELIVERY) and (r["entry"], event_id) in events
        )
        if not ours:
            continue
        trail.extend(
            TrailEntry(
                event_id,
                r["entry"],
                r.get("provider"),
                r["occurred_at"],
                r.get("chain"),
                r.get("seq"),
                d,
            )
            for d in deliveries_of(r)
        )
    return tuple(trail)


def _listed(d: Mapping[str, Any]) -> AuditedDelivery:
    return AuditedDelivery(
        recipient=d["recipient"],
        topic=d["topic"],
        items=tuple(d["items"]),
        masked=_masked(d["masked_items"]),
        subject_rule=d.get("subject_rule"),
        grants=_grants(d["grants"]),
    )


def _masked(found: Iterable[Mapping[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    return tuple((m["name"], m["rule"]) for m in found or ())


def _grants(found: Iterable[Mapping[str, Any]] | None) -> tuple[GrantUse, ...]:
    return tuple(GrantUse(g["grant_id"], g["purpose"], tuple(g["items"])) for g in found or ())


def _legacy_grants(decision: Mapping[str, Any], items: tuple[str, ...]) -> tuple[GrantUse, ...]:
    """A record before Decision v4 named its grant(s) only by id and purpose: each entitles
    the items delivered, as far as the record tells."""
    grant_id = decision.get("grant_id")
    if not grant_id:
        return ()
    ids = str(grant_id).split(LEGACY_JOIN)
    purposes = str(decision.get("purpose") or "").split(LEGACY_JOIN)
    purposes += [""] * (len(ids) - len(purposes))
    return tuple(GrantUse(i, p, tuple(sorted(items))) for i, p in zip(ids, purposes, strict=False))
