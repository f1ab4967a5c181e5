"""The gate's decision for one incoming change event, as a pure function.

Steps, each with the article it enforces:

1. The event belongs to the topic's entry, and the entry is in force (GM 14, S 27 ¶2).
2. The provider is a registered agency (G 32, S 3) and the event changes items (GM 21).
3. Identity (GM 18 ¶2): the subject key is valid for the entry's key kind; a market
   entity without a credit code may be keyed by its business licence number. The key is
   normalised, so 15- and 18-digit ID numbers of one person are one canonical subject.
4. The message key equals the canonical subject: the bus keeps one subject's changes in
   one partition, in order; a producer that keys otherwise is refused, not re-keyed.
5. One number, one source (GM 19, GM 22, S 20): :func:`exchange.onesource.decide_event`.
6. Accepted items are fanned out by policy (:func:`exchange.policy.plan_fanout`) to every
   registered agency but the provider itself, and to the open feed.

Any failure of steps 1-4 is a *rejection*: the event goes to the dead-letter topic with
its bytes and the reason, and the provider gets a ``rejected`` receipt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from base.errors import GovbusError
from exchange.catalog import Catalog, ItemValue, KeyKind, in_force
from exchange.grants import Grant
from exchange.identity import IdentityKind, check
from exchange.onesource import (
    AuthoritativeRecord,
    ChangeEvent,
    Conflict,
    DecisionKind,
    Operation,
    decide_event,
)
from exchange.policy import OPEN_FEED, AcceptedChange, Delivery, Recipient, plan_fanout

#: Which subject kinds an entry keyed by ``KeyKind`` accepts (GM 18 ¶2 licence fallback).
ACCEPTED_KINDS: Mapping[KeyKind, frozenset[str]] = {
    KeyKind.RESIDENT_ID: frozenset({"resident_id"}),
    KeyKind.CREDIT_CODE: frozenset({"credit_code", "business_licence"}),
    KeyKind.BUSINESS_LICENCE: frozenset({"business_licence"}),
}


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A decoded change event as the gate sees it (fields of ChangeEvent.avsc)."""

    event_id: str
    entry: str
    provider: str
    subject_key: str
    subject_kind: str
    operation: str
    authoritative: bool
    items: Mapping[str, ItemValue]
    message_key: bytes | None

    @classmethod
    def from_record(cls, raw: Mapping[str, Any], message_key: bytes | None) -> IncomingEvent:
        """From a decoded ChangeEvent record (schemas/avro/ChangeEvent.avsc)."""
        return cls(
            event_id=str(raw["event_id"]),
            entry=raw["entry"],
            provider=raw["provider"],
            subject_key=raw["subject_key"],
            subject_kind=raw["subject_kind"],
            operation=raw["operation"],
            authoritative=raw["authoritative"],
            items={i["name"]: i["after"] for i in raw["items"]},
            message_key=message_key,
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything the processor writes for one event, before encoding."""

    outcome: str  # accepted | duplicate | stopped | confirmation | conflict | rejected
    reason_code: str
    reason_text: str
    article: str
    canonical_subject: str | None = None
    new_states: Mapping[str, AuthoritativeRecord] = field(default_factory=dict)
    accepted: Mapping[str, ItemValue] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    deliveries: tuple[Delivery, ...] = ()

    @property
    def rejected(self) -> bool:
        return self.outcome == "rejected"


def _reject(code: str, text: str, article: str, subject: str | None = None) -> GateResult:
    return GateResult("rejected", code, text, article, canonical_subject=subject)


def canonical_subject(entry_kind: KeyKind, subject_kind: str, key: str) -> str | GateResult:
    """The canonical subject key, or a rejection naming why (GM 18 ¶2)."""
    if subject_kind not in ACCEPTED_KINDS[entry_kind]:
        return _reject(
            "subject_kind_mismatch",
            f"entry is keyed by {entry_kind.value}, the event by {subject_kind}",
            "GM 18",
        )
    result = check(key, IdentityKind(subject_kind))
    if not result.valid:
        return _reject(
            f"identity_{result.reason}",
            f"{subject_kind} {key!r} is invalid: {result.reason}",
            "GM 18",
        )
    return f"{subject_kind}:{result.normalized}"


def decide(
    event: IncomingEvent,
    topic_entry: str,
    catalog: Catalog,
    grants: Sequence[Grant],
    states: Mapping[str, AuthoritativeRecord],
    at: datetime,
) -> GateResult:
    """Decide one event (see the module docstring for the steps)."""
    # Step 1: the entry.
    if event.entry != topic_entry:
        return _reject(
            "wrong_topic", f"event for {event.entry} arrived on {topic_entry}'s topic", "GM 11"
        )
    entry = catalog.entry(event.entry)
    if entry is None or not in_force(entry, at):
        return _reject("entry_not_published", f"entry {event.entry} is not in force", "GM 14")
    # Step 2: the provider and the change.
    if catalog.agency(event.provider) is None:
        return _reject("unknown_provider", f"{event.provider} is not a registered agency", "S 3")
    if not event.items:
        return _reject("empty_change", "the event changes no data item", "GM 21")
    # Step 3: identity.
    subject = canonical_subject(entry.key_kind, event.subject_kind, event.subject_key)
    if isinstance(subject, GateResult):
        return subject
    # Step 4: partitioning by canonical subject.
    if event.message_key != subject.encode("utf-8"):
        return _reject(
            "key_not_canonical",
            f"message key must be the canonical subject {subject!r}",
            "GM 18",
            subject,
        )
    # Step 5: one number, one source.
    operation = Operation(event.operation) if event.authoritative else Operation.REPORT
    change = ChangeEvent(event.event_id, event.provider, entry.id, subject, operation, event.items)
    try:
        decided = decide_event(entry, states, change)
    except GovbusError as exc:
        return _reject(getattr(exc, "code", "") or "invalid_change", str(exc), "GM 22", subject)
    first = next(d for _, d in decided.decisions if d.kind is decided.outcome)
    # Step 6: fan-out of what was accepted, by policy.
    deliveries: tuple[Delivery, ...] = ()
    if decided.accepted:
        recipients: list[Recipient] = [a for a in catalog.agencies if a.id != event.provider]
        recipients.append(OPEN_FEED)
        accepted = AcceptedChange(entry, subject, decided.accepted, event.event_id, at)
        deliveries = tuple(plan_fanout(accepted, recipients, grants))
    return GateResult(
        outcome=_OUTCOME[decided.outcome],
        reason_code=first.reason_code,
        reason_text=_describe(decided.outcome, first.reason_code),
        article=first.article,
        canonical_subject=subject,
        new_states=decided.new_states,
        accepted=decided.accepted,
        conflicts=decided.conflicts,
        deliveries=deliveries,
    )


_OUTCOME: Mapping[DecisionKind, str] = {
    DecisionKind.ACCEPT: "accepted",
    DecisionKind.DUPLICATE: "duplicate",
    DecisionKind.STOPPED: "stopped",
    DecisionKind.CONFIRMATION: "confirmation",
    DecisionKind.CONFLICT: "conflict",
}


def _describe(kind: DecisionKind, code: str) -> str:
    return {
        "authoritative_source": "accepted from the authoritative source",
        "event_seen": "this event id was already processed",
        "same_value": "the authoritative record already holds this value",
        "already_absent": "nothing to delete",
        "not_the_source": "the provider is not the authoritative source of this item",
        "item_not_in_catalog": "the item is not in the catalog entry",
        "multi_source_verified": "the report confirms the authoritative value",
        "value_differs": "the report differs from the authoritative value; raised to the bureau",
        "source_has_no_value": "the source holds no value; raised to the bureau",
    }.get(code, kind.value)
