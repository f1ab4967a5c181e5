"""The gate's decision for one incoming change event, as a pure function.

Steps, each with the article it enforces:

1. The event belongs to the topic's entry, and the entry is in force (GM 14, S 27 ¶2).
2. The provider is a registered agency (G 32, S 3), the event changes items (GM 21), and
   its ``event_time`` is not later than the decision time plus the allowed clock skew
   (G 13: data true and accurate; an event stamped in the future would order wrongly).
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
from datetime import datetime, timedelta
from typing import Any

from base.errors import GovbusError
from exchange.catalog import Catalog, ItemValue, KeyKind, in_force
from exchange.grants import Grant
from exchange.identity import IdentityKind, Subject, check
from exchange.onesource import (
    AuthoritativeRecord,
    ChangeEvent,
    Conflict,
    Operation,
    decide_event,
)
from exchange.outcomes import DESCRIPTIONS, OUTCOME_OF, Outcome, ReasonCode
from exchange.policy import OPEN_FEED, AcceptedChange, Delivery, Recipient, plan_fanout
from exchange.subscriptions import SubscriptionIndex

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
    #: When the change happened at the provider (ChangeEvent.event_time); None: not known.
    event_time: datetime | None = None

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
            event_time=raw.get("event_time"),
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything the processor writes for one event, before encoding."""

    outcome: Outcome
    reason_code: ReasonCode
    reason_text: str
    article: str
    subject: Subject | None = None
    new_states: Mapping[str, AuthoritativeRecord] = field(default_factory=dict)
    accepted: Mapping[str, ItemValue] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    #: ``<kind>:<number>`` (the receipt's and the audit record's field), if known.
    canonical_subject: str | None = field(init=False)
    rejected: bool = field(init=False)

    def __post_init__(self) -> None:
        subject = None if self.subject is None else str(self.subject)
        object.__setattr__(self, "canonical_subject", subject)
        object.__setattr__(self, "rejected", self.outcome == Outcome.REJECTED)


def reject(code: ReasonCode, text: str, article: str, subject: Subject | None = None) -> GateResult:
    """A rejection: the event goes to the dead-letter topic, the provider is told."""
    return GateResult(Outcome.REJECTED, code, text, article, subject=subject)


def canonical_subject(entry_kind: KeyKind, subject_kind: str, key: str) -> Subject | GateResult:
    """The canonical subject, or a rejection naming why (GM 18 ¶2)."""
    if subject_kind not in ACCEPTED_KINDS[entry_kind]:
        return reject(
            ReasonCode.SUBJECT_KIND_MISMATCH,
            f"entry is keyed by {entry_kind.value}, the event by {subject_kind}",
            "GM 18",
        )
    kind = IdentityKind(subject_kind)
    result = check(key, kind)
    if not result.valid:
        reason = result.reason
        return reject(
            ReasonCode.identity(reason) if reason else ReasonCode.IDENTITY_AMBIGUOUS,
            f"{subject_kind} {key!r} is invalid: {reason}",
            "GM 18",
        )
    return Subject(kind, result.normalized)


def _change_refused(exc: GovbusError) -> ReasonCode:
    """The code of a change one number, one source refuses as a whole."""
    try:
        return ReasonCode(getattr(exc, "code", ""))
    except ValueError:
        return ReasonCode.INVALID_CHANGE


def decide(  # noqa: PLR0913 - the gate's inputs, one each
    event: IncomingEvent,
    topic_entry: str,
    catalog: Catalog,
    grants: Sequence[Grant],
    states: Mapping[str, AuthoritativeRecord],
    at: datetime,
    *,
    max_future_skew: timedelta | None = None,
    subscriptions: SubscriptionIndex | None = None,
) -> GateResult:
    """Decide one event at ``at`` (see the module docstring for the steps).

    ``max_future_skew``: how far past ``at`` an ``event_time`` may lie (the providers'
    clocks are not ours); None checks nothing (callers that replay history).
    ``subscriptions``: who receives unconditional entries (:func:`exchange.policy.plan_fanout`).
    """
    # Step 1: the entry.
    if event.entry != topic_entry:
        return reject(
            ReasonCode.WRONG_TOPIC,
            f"event for {event.entry} arrived on {topic_entry}'s topic",
            "GM 11",
        )
    entry = catalog.entry(event.entry)
    if entry is None or not in_force(entry, at):
        return reject(
            ReasonCode.ENTRY_NOT_PUBLISHED, f"entry {event.entry} is not in force", "GM 14"
        )
    # Step 2: the provider, the change, the time.
    if catalog.agency(event.provider) is None:
        return reject(
            ReasonCode.UNKNOWN_PROVIDER, f"{event.provider} is not a registered agency", "S 3"
        )
    if not event.items:
        return reject(ReasonCode.EMPTY_CHANGE, "the event changes no data item", "GM 21")
    if (
        max_future_skew is not None
        and event.event_time is not None
        and event.event_time > at + max_future_skew
    ):
        return reject(
            ReasonCode.EVENT_TIME_IN_FUTURE,
            f"event_time {event.event_time.isoformat()} is more than "
            f"{max_future_skew.total_seconds():g} s after the bus's time {at.isoformat()}",
            "G 13",
        )
    # Step 3: identity.
    subject = canonical_subject(entry.key_kind, event.subject_kind, event.subject_key)
    if isinstance(subject, GateResult):
        return subject
    # Step 4: partitioning by canonical subject.
    if event.message_key != subject.key:
        return reject(
            ReasonCode.KEY_NOT_CANONICAL,
            f"message key must be the canonical subject {str(subject)!r}",
            "GM 18",
            subject,
        )
    # Step 5: one number, one source.
    operation = Operation(event.operation) if event.authoritative else Operation.REPORT
    change = ChangeEvent(
        event.event_id, event.provider, entry.id, str(subject), operation, event.items
    )
    try:
        decided = decide_event(entry, states, change)
    except GovbusError as exc:
        return reject(_change_refused(exc), str(exc), "GM 22", subject)
    first = next(d for _, d in decided.decisions if d.kind is decided.outcome)
    code = ReasonCode(first.reason_code)
    # Step 6: fan-out of what was accepted, by policy.
    deliveries: tuple[Delivery, ...] = ()
    if decided.accepted:
        recipients: list[Recipient] = [a for a in catalog.agencies if a.id != event.provider]
        recipients.append(OPEN_FEED)
        accepted = AcceptedChange(entry, str(subject), decided.accepted, event.event_id, at)
        deliveries = tuple(plan_fanout(accepted, recipients, grants, subscriptions=subscriptions))
    return GateResult(
        outcome=OUTCOME_OF[decided.outcome],
        reason_code=code,
        reason_text=DESCRIPTIONS.get(code, decided.outcome.value),
        article=first.article,
        subject=subject,
        new_states=decided.new_states,
        accepted=decided.accepted,
        conflicts=decided.conflicts,
        deliveries=deliveries,
    )
