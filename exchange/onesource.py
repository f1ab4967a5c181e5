"""One number, one source (GM 22 `一数一源、一源多用`; S 20 `一数一源、多元校核`; GM 19).

Each data item of an entry has exactly one authoritative provider (its *source*, from
the catalog). An incoming change of one item is decided against the current
authoritative record of (subject, item) by these rules, in order:

1. The item is not in the catalog entry (no source): **stopped**, ``item_not_in_catalog``
   (S 20: no collection beyond scope).
2. The event id was seen for this (subject, item): **duplicate**, ``event_seen`` (GM 22).
3. The writer is the source (any operation; a "report" by the source is its own data,
   so it is handled as a write):
   * the value (None for a delete) equals the authoritative one, or deleting what is
     absent: **duplicate**, ``same_value`` / ``already_absent`` (GM 22: no re-propagation);
   * else **accept**, ``authoritative_source`` (GM 22; S 21 `谁主管，谁提供，谁负责`),
     with the new state.
4. The writer is not the source:
   * a write (create / update / delete): **stopped**, ``not_the_source`` (GM 22 and S 20:
     data obtainable through the platform is not collected again or by several agencies);
   * a *report* (a non-authoritative observation for verification) of the same value as
     the authoritative record (both absent included): **confirmation**,
     ``multi_source_verified`` (S 20 多元校核);
   * a report of a different value: **conflict**, ``value_differs`` (GM 19: raised for
     consultation, then the bureau's verification; never propagated);
   * a report while the source holds no value: **conflict**, ``source_has_no_value``
     (GM 19; the source is asked to check, G 13), never adopted.

Values compare by exact equality. Only *accept* returns a new state; every decision
carries a reason code and the article. A whole change event is decided item by item
(:func:`decide_event`); its outcome is the most serious item decision by
:data:`OUTCOME_PRECEDENCE` (stopped > conflict > accept > confirmation > duplicate),
while accepted items propagate whatever happened to their siblings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from base.errors import PolicyError
from exchange.catalog import CatalogEntry, ItemValue

#: How many recent event ids a record remembers for duplicate detection.
SEEN_EVENTS_LIMIT = 64


class Operation(StrEnum):
    """What an incoming change does: a write, or a non-authoritative report."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPORT = "report"


class DecisionKind(StrEnum):
    """Outcome for one data item (see the module docstring)."""

    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    STOPPED = "stopped"
    CONFIRMATION = "confirmation"
    CONFLICT = "conflict"


#: Most serious first: an event's outcome is the first kind any of its items got.
OUTCOME_PRECEDENCE: tuple[DecisionKind, ...] = (
    DecisionKind.STOPPED,
    DecisionKind.CONFLICT,
    DecisionKind.ACCEPT,
    DecisionKind.CONFIRMATION,
    DecisionKind.DUPLICATE,
)


@dataclass(frozen=True, slots=True)
class AuthoritativeRecord:
    """The source's current value of one item of one subject (None: absent / deleted).

    ``seen_event_ids`` holds the most recent accepted event ids, newest last, at most
    :data:`SEEN_EVENTS_LIMIT`, including ``event_id``.
    """

    subject: str
    item: str
    value: ItemValue
    provider: str
    event_id: str
    seen_event_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One item of an incoming change event."""

    event_id: str
    provider: str
    subject: str
    item: str
    value: ItemValue
    operation: Operation


@dataclass(frozen=True, slots=True)
class Conflict:
    """Details of a conflict raised for coordination (GM 19)."""

    subject: str
    item: str
    authoritative_value: ItemValue
    authoritative_provider: str
    authoritative_event_id: str | None
    reported_value: ItemValue
    reporter: str
    event_id: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision for one item."""

    kind: DecisionKind
    reason_code: str
    article: str
    new_state: AuthoritativeRecord | None = None
    conflict: Conflict | None = None


def _seen(current: AuthoritativeRecord | None, event_id: str) -> bool:
    return current is not None and (
        event_id == current.event_id or event_id in current.seen_event_ids
    )


def _accepted(
    current: AuthoritativeRecord | None, change: ItemChange, value: ItemValue
) -> Decision:
    earlier = current.seen_event_ids if current is not None else ()
    seen = (*earlier, change.event_id)[-SEEN_EVENTS_LIMIT:]
    state = AuthoritativeRecord(
        change.subject, change.item, value, change.provider, change.event_id, seen
    )
    return Decision(DecisionKind.ACCEPT, "authoritative_source", "GM 22; S 21", state)


def _from_source(current: AuthoritativeRecord | None, change: ItemChange) -> Decision:
    value = None if change.operation is Operation.DELETE else change.value
    if value is None and (current is None or current.value is None):
        return Decision(DecisionKind.DUPLICATE, "already_absent", "GM 22")
    if current is not None and current.value == value:
        return Decision(DecisionKind.DUPLICATE, "same_value", "GM 22")
    return _accepted(current, change, value)


def _report(source: str, current: AuthoritativeRecord | None, change: ItemChange) -> Decision:
    authoritative = current.value if current is not None else None
    if authoritative == change.value:
        return Decision(DecisionKind.CONFIRMATION, "multi_source_verified", "S 20")
    conflict = Conflict(
        subject=change.subject,
        item=change.item,
        authoritative_value=authoritative,
        authoritative_provider=source,
        authoritative_event_id=current.event_id if current is not None else None,
        reported_value=change.value,
        reporter=change.provider,
        event_id=change.event_id,
    )
    if authoritative is None:
        return Decision(DecisionKind.CONFLICT, "source_has_no_value", "GM 19", conflict=conflict)
    return Decision(DecisionKind.CONFLICT, "value_differs", "GM 19", conflict=conflict)


def decide(source: str | None, current: AuthoritativeRecord | None, change: ItemChange) -> Decision:
    """Decide one item change; ``source`` is the item's provider in the catalog (None:
    the item is not in the entry). See the module docstring for the rules."""
    if current is not None and (current.subject, current.item) != (change.subject, change.item):
        raise PolicyError(
            f"record of {current.subject}/{current.item} used for {change.subject}/{change.item}",
            code="record_mismatch",
            article="GM 22",
        )
    if source is None:
        return Decision(DecisionKind.STOPPED, "item_not_in_catalog", "S 20")
    if _seen(current, change.event_id):
        return Decision(DecisionKind.DUPLICATE, "event_seen", "GM 22")
    if change.provider == source:
        return _from_source(current, change)
    if change.operation is not Operation.REPORT:
        return Decision(DecisionKind.STOPPED, "not_the_source", "GM 22; S 20")
    return _report(source, current, change)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """An incoming change of several items of one subject of one entry."""

    event_id: str
    provider: str
    entry_id: str
    subject: str
    operation: Operation
    values: Mapping[str, ItemValue]


@dataclass(frozen=True, slots=True)
class EventDecision:
    """Per-item decisions of one event and their aggregate ``outcome``."""

    outcome: DecisionKind
    decisions: tuple[tuple[str, Decision], ...]
    accepted: Mapping[str, ItemValue]
    new_states: Mapping[str, AuthoritativeRecord]
    conflicts: tuple[Conflict, ...]


def aggregate(kinds: set[DecisionKind] | frozenset[DecisionKind]) -> DecisionKind:
    """The most serious kind present (:data:`OUTCOME_PRECEDENCE`)."""
    for kind in OUTCOME_PRECEDENCE:
        if kind in kinds:
            return kind
    raise PolicyError("an event has no item", code="empty_change", article="GM 21")


def decide_event(
    entry: CatalogEntry, states: Mapping[str, AuthoritativeRecord], event: ChangeEvent
) -> EventDecision:
    """Decide every item of ``event`` against ``states`` (item -> record of this subject)."""
    if event.entry_id != entry.id:
        raise PolicyError(
            f"event {event.event_id} is for entry {event.entry_id}, not {entry.id}",
            code="wrong_entry",
            article="GM 22",
        )
    if not event.values:
        raise PolicyError(
            f"event {event.event_id} changes no item", code="empty_change", article="GM 21"
        )
    decisions: list[tuple[str, Decision]] = []
    for item, value in sorted(event.values.items()):
        spec = entry.item(item)
        change = ItemChange(
            event.event_id, event.provider, event.subject, item, value, event.operation
        )
        decisions.append((item, decide(spec.provider if spec else None, states.get(item), change)))
    new_states = {i: d.new_state for i, d in decisions if d.new_state is not None}
    return EventDecision(
        outcome=aggregate({d.kind for _, d in decisions}),
        decisions=tuple(decisions),
        accepted={i: s.value for i, s in new_states.items()},
        new_states=new_states,
        conflicts=tuple(d.conflict for _, d in decisions if d.conflict is not None),
    )
