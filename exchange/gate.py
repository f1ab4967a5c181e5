"""The gate's decision for one incoming change event, as a pure function.

Steps, each with the article it enforces:

1. The event belongs to the topic's entry, and the entry is in force
   (:func:`exchange.admission.check_entry`: GM 10, GM 14, S 27 ¶2).
2. The provider is a registered agency (G 32, S 3) and, when the bus knows who sent the
   event (``IncomingEvent.authenticated``: the agency whose submission topic it arrived
   on, authenticated by the broker), it is that agency: an event naming another provider
   is refused (GM 22: one number, one source means nothing if a source can be claimed).
   The event's ``event_time`` is not later than the decision time plus the allowed clock
   skew (G 13: data true and accurate; an event stamped in the future would order wrongly).
3. The items and the identity, by the admission rules the agency publisher runs too
   (:mod:`exchange.admission`): the event changes items, each named once, each a data
   item of the entry, each value of the item's declared type and length (GM 21, S 20),
   whatever the producer did; the subject key is valid for the entry's key kind (GM 18
   ¶2; a market entity without a credit code may be keyed by its business licence
   number), normalised, so 15- and 18-digit ID numbers of one person are one canonical
   subject.
4. The message key equals the canonical subject: the bus keeps one subject's changes in
   one partition, in order; a producer that keys otherwise is refused, not re-keyed.
5. One number, one source (GM 19, GM 22, S 20): :func:`exchange.onesource.decide_event`,
   with the event's place in its provider's history (:class:`SourceOrder`: source system,
   source sequence, event time), so a change older than the authoritative record is
   ``stale`` and never applied, however long ago the record was set.
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
from exchange.admission import Refusal, check_entry, check_items, check_subject
from exchange.catalog import Catalog, ItemValue
from exchange.grants import Grant
from exchange.identity import Subject
from exchange.onesource import (
    AuthoritativeRecord,
    ChangeEvent,
    Conflict,
    Operation,
    SourceOrder,
    decide_event,
)
from exchange.outcomes import DESCRIPTIONS, OUTCOME_OF, Outcome, ReasonCode
from exchange.policy import (
    OPEN_FEED,
    AcceptedChange,
    Delivery,
    Recipient,
    RosterSource,
    deliveries_for,
    plan_fanout,
)
from exchange.subscriptions import SubscriptionIndex


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
    #: The items in the producer's order, each as often as named (``items`` keeps the last).
    named: tuple[tuple[str, ItemValue], ...] | None = None
    #: Where the change stands in its provider's history; None: not ordered (never stale).
    order: SourceOrder | None = None
    #: The agency the broker authenticated as the sender (the repartition stage's header);
    #: None: written to the ingest topic by the bus or an administrator themselves.
    authenticated: str | None = None

    @property
    def sender(self) -> str:
        """Who is answered (receipts): the authenticated agency, else the named provider."""
        return self.authenticated or self.provider

    @property
    def item_list(self) -> tuple[tuple[str, ItemValue], ...]:
        """(name, value) as the producer named them."""
        return self.named if self.named is not None else tuple(self.items.items())

    @classmethod
    def from_record(
        cls, raw: Mapping[str, Any], message_key: bytes | None, authenticated: str | None = None
    ) -> IncomingEvent:
        """From a decoded ChangeEvent record (schemas/avro/ChangeEvent.avsc): its
        ``source_system``, ``source_sequence`` and ``event_time`` are its order."""
        event_time = raw.get("event_time")
        order = None
        if isinstance(event_time, datetime) and event_time.utcoffset() is not None:
            order = SourceOrder(str(raw["source_system"]), int(raw["source_sequence"]), event_time)
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
            event_time=event_time,
            named=tuple((i["name"], i["after"]) for i in raw["items"]),
            order=order,
            authenticated=authenticated,
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
    #: Records of unchanged items moved on in the source's order: kept, not propagated.
    refreshed: Mapping[str, AuthoritativeRecord] = field(default_factory=dict)
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


def refused(refusal: Refusal, subject: Subject | None = None) -> GateResult:
    """The rejection of an admission rule's refusal (:mod:`exchange.admission`)."""
    return reject(refusal.reason, refusal.message, refusal.article or "", subject)


def _change_refused(exc: GovbusError) -> ReasonCode:
    """The code of a change one number, one source refuses as a whole."""
    try:
        return ReasonCode(getattr(exc, "code", ""))
    except ValueError:
        return ReasonCode.INVALID_CHANGE


def _provider_refused(event: IncomingEvent, catalog: Catalog) -> GateResult | None:
    """Step 2's provider: a registered agency, and the one that sent the event."""
    if catalog.agency(event.sender) is None:
        return reject(
            ReasonCode.UNKNOWN_PROVIDER, f"{event.sender} is not a registered agency", "S 3"
        )
    if event.provider != event.sender:
        return reject(
            ReasonCode.PROVIDER_MISMATCH,
            f"the event names provider {event.provider!r}, but was sent by {event.sender!r}",
            "GM 22",
        )
    return None


def fanout_recipients(catalog: Catalog, provider: str) -> list[Recipient]:
    """Who may receive a change ``provider`` sent (step 6): every registered agency but the
    provider, then the open feed."""
    recipients: list[Recipient] = [a for a in catalog.agencies if a.id != provider]
    recipients.append(OPEN_FEED)
    return recipients


def _fan_out(
    accepted: AcceptedChange,
    provider: str,
    catalog: Catalog,
    grants: Sequence[Grant],
    subscriptions: SubscriptionIndex | None,
    rosters: RosterSource | None,
) -> tuple[Delivery, ...]:
    """Step 6: the deliveries of ``accepted``, under the roster kept for its entry or,
    without ``rosters``, one decided for this change (the same deliveries)."""
    if rosters is not None:
        return tuple(deliveries_for(accepted, rosters(accepted.entry, provider, accepted.at)))
    recipients = fanout_recipients(catalog, provider)
    return tuple(plan_fanout(accepted, recipients, grants, subscriptions=subscriptions))


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
    rosters: RosterSource | None = None,
) -> GateResult:
    """Decide one event at ``at`` (see the module docstring for the steps).

    ``max_future_skew``: how far past ``at`` an ``event_time`` may lie (the providers'
    clocks are not ours); None checks nothing (callers that replay history).
    ``subscriptions``: who receives unconditional entries (:func:`exchange.policy.plan_fanout`).
    ``rosters``: who receives an entry's changes and what, kept while it holds
    (:class:`exchange.policy.RosterSource`), built from the same ``catalog``, ``grants`` and
    ``subscriptions``; None decides it for every change (the same deliveries).
    """
    # Step 1: the entry.
    if event.entry != topic_entry:
        return reject(
            ReasonCode.WRONG_TOPIC,
            f"event for {event.entry} arrived on {topic_entry}'s topic",
            "GM 11",
        )
    entry = check_entry(catalog, event.entry, at)
    if isinstance(entry, Refusal):
        return refused(entry)
    # Step 2: the provider (the sender), the time.
    not_sender = _provider_refused(event, catalog)
    if not_sender is not None:
        return not_sender
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
    # Step 3: the items, the identity (the publisher's rules, run again).
    bad_items = check_items(entry, event.item_list)
    if bad_items is not None:
        return refused(bad_items)
    subject = check_subject(entry, event.subject_kind, event.subject_key, at)
    if isinstance(subject, Refusal):
        return refused(subject)
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
        event.event_id, event.provider, entry.id, str(subject), operation, event.items, event.order
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
        accepted = AcceptedChange(entry, str(subject), decided.accepted, event.event_id, at)
        deliveries = _fan_out(accepted, event.provider, catalog, grants, subscriptions, rosters)
    return GateResult(
        outcome=OUTCOME_OF[decided.outcome],
        reason_code=code,
        reason_text=DESCRIPTIONS.get(code, decided.outcome.value),
        article=first.article,
        subject=subject,
        new_states=decided.new_states,
        refreshed=decided.refreshed,
        accepted=decided.accepted,
        conflicts=decided.conflicts,
        deliveries=deliveries,
    )
