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
     when the change is newer than the record (see below), the record takes the change's
     place in the source's order (:attr:`Decision.refreshed`), so a still older change
     that arrives later is judged against it;
   * the change is not newer than the authoritative record: **stale**, never applied,
     however long ago the record's event was first seen (GM 22; S 20 `动态更新`: the
     source's latest state is the one number). The order is the provider's *source
     sequence* when the record came from the same provider and source system
     (``source_sequence_not_newer``: lower, or the same sequence with another value),
     else the *event time* (``event_time_older``: strictly earlier; equal times cannot be
     ordered, and the later arrival is taken);
   * else **accept**, ``authoritative_source`` (GM 22; S 21 `谁主管，谁提供，谁负责`),
     with the new state, which keeps the change's order.

   A change or record without an order (:class:`SourceOrder`; records written before
   orders were kept) is not judged stale: it is accepted as before, and the accepted
   record keeps the change's order from then on.
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
:data:`OUTCOME_PRECEDENCE` (stopped > conflict > stale > accept > confirmation >
duplicate), while accepted items propagate whatever happened to their siblings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

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
    STALE = "stale"


#: Most serious first: an event's outcome is the first kind any of its items got.
OUTCOME_PRECEDENCE: tuple[DecisionKind, ...] = (
    DecisionKind.STOPPED,
    DecisionKind.CONFLICT,
    DecisionKind.STALE,
    DecisionKind.ACCEPT,
    DecisionKind.CONFIRMATION,
    DecisionKind.DUPLICATE,
)

#: Articles of a stale decision: one number is the source's latest (GM 22; S 20 动态更新).
STALE_ARTICLE = "GM 22; S 20"
STALE_BY_SEQUENCE = "source_sequence_not_newer"
STALE_BY_TIME = "event_time_older"


@dataclass(frozen=True, slots=True)
class SourceOrder:
    """Where a change stands in its provider's history (ChangeEvent ``source_system``,
    ``source_sequence``, ``event_time``): sequences order the changes of one source
    system of one provider; event times (aware) order everything else."""

    source_system: str
    sequence: int
    event_time: datetime

    def __post_init__(self) -> None:
        if self.event_time.utcoffset() is None:
            raise PolicyError(
                f"event time {self.event_time.isoformat()} has no UTC offset",
                code="naive_event_time",
                article=STALE_ARTICLE,
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the changelog's): ``{source_system, sequence, event_time}``."""
        return {
            "source_system": self.source_system,
            "sequence": self.sequence,
            "event_time": self.event_time.isoformat(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> SourceOrder | None:
        """The inverse of :meth:`to_dict`; None for None (a record kept without order)."""
        if raw is None:
            return None
        return cls(
            str(raw["source_system"]),
            int(raw["sequence"]),
            datetime.fromisoformat(str(raw["event_time"])),
        )


def not_newer(
    change: SourceOrder, change_provider: str, record: SourceOrder, record_provider: str
) -> str | None:
    """Why ``change`` may not replace ``record`` (a reason code), or None when it is newer
    or the two cannot be ordered (see the module docstring)."""
    if (change_provider, change.source_system) == (record_provider, record.source_system):
        return STALE_BY_SEQUENCE if change.sequence <= record.sequence else None
    return STALE_BY_TIME if change.event_time < record.event_time else None


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
    #: The source order of the change that set ``value`` (None: kept before orders were).
    order: SourceOrder | None = None


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One item of an incoming change event; ``order`` None: not ordered (never stale)."""

    event_id: str
    provider: str
    subject: str
    item: str
    value: ItemValue
    operation: Operation
    order: SourceOrder | None = None


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
    #: A duplicate newer than the record: the record with the change's order, to keep
    #: (not to propagate: the value did not change).
    refreshed: AuthoritativeRecord | None = None


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
        change.subject, change.item, value, change.provider, change.event_id, seen, change.order
    )
    return Decision(DecisionKind.ACCEPT, "authoritative_source", "GM 22; S 21", state)


def _stale(current: AuthoritativeRecord | None, change: ItemChange) -> str | None:
    if current is None or current.order is None or change.order is None:
        return None
    return not_newer(change.order, change.provider, current.order, current.provider)


def _unchanged(current: AuthoritativeRecord | None, change: ItemChange, code: str) -> Decision:
    """A duplicate; a newer one moves the record to the change's place in the order (a
    delete of what never was leaves an empty record with the order: an older value that
    arrives later must not appear)."""
    refreshed = None
    if change.order is not None and _stale(current, change) is None:
        if current is None:
            refreshed = AuthoritativeRecord(
                change.subject,
                change.item,
                None,
                change.provider,
                change.event_id,
                (change.event_id,),
                change.order,
            )
        elif current.order != change.order or current.provider != change.provider:
            refreshed = replace(current, provider=change.provider, order=change.order)
    return Decision(DecisionKind.DUPLICATE, code, "GM 22", refreshed=refreshed)


def _from_source(current: AuthoritativeRecord | None, change: ItemChange) -> Decision:
    value = None if change.operation is Operation.DELETE else change.value
    if value is None and (current is None or current.value is None):
        return _unchanged(current, change, "already_absent")
    if current is not None and current.value == value:
        return _unchanged(current, change, "same_value")
    stale = _stale(current, change)
    if stale is not None:
        return Decision(DecisionKind.STALE, stale, STALE_ARTICLE)
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
    order: SourceOrder | None = None


@dataclass(frozen=True, slots=True)
class EventDecision:
    """Per-item decisions of one event and their aggregate ``outcome``.

    ``new_states`` are the accepted items' records (to keep and propagate); ``refreshed``
    the records of items the event left unchanged but moved on in the source's order (to
    keep, not to propagate).
    """

    outcome: DecisionKind
    decisions: tuple[tuple[str, Decision], ...]
    accepted: Mapping[str, ItemValue]
    new_states: Mapping[str, AuthoritativeRecord]
    conflicts: tuple[Conflict, ...]
    refreshed: Mapping[str, AuthoritativeRecord] = field(default_factory=dict)


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
            event.event_id, event.provider, event.subject, item, value, event.operation, event.order
        )
        decisions.append((item, decide(spec.provider if spec else None, states.get(item), change)))
    new_states = {i: d.new_state for i, d in decisions if d.new_state is not None}
    return EventDecision(
        outcome=aggregate({d.kind for _, d in decisions}),
        decisions=tuple(decisions),
        accepted={i: s.value for i, s in new_states.items()},
        new_states=new_states,
        conflicts=tuple(d.conflict for _, d in decisions if d.conflict is not None),
        refreshed={i: d.refreshed for i, d in decisions if d.refreshed is not None},
    )
