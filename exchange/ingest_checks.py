"""Admission of a change before it is sent: what an agency may publish to an entry.

The agency publisher runs these checks at the agency's side so that most bad input is
refused with a clear reason and never reaches the bus; the gate can run the same
checks again. In order, the first failing check names the refusal:

1. ``unknown_agency``: the publishing agency is not registered in the catalog (S 21:
   the provider answers for its data, so it must be known).
2. ``provider_mismatch``: the change names a provider other than the publishing agency
   (S 21; an agency publishes only in its own name).
3. ``unknown_entry``: no catalog entry has this id (GM 10, GM 13).
4. ``entry_not_published`` (G 11, GM 14, S 18) or ``entry_withdrawn`` (S 27 ¶2): the
   entry is not in force at the time of sending (a withdrawal filed in advance is in
   force until its effective day).
5. ``empty_change``: no data item is changed (GM 21: data is structured per item).
6. ``invalid_identity_key``: the subject key is not a valid key of the entry's kind
   (GM 18 ¶2); the detail names the failed check (length, checksum, ...).
7. ``item_not_in_catalog``: an item is not a data item of the entry (S 20: no
   collection beyond scope).
8. ``not_the_source``: the agency writes an item it is not the authoritative source of
   (GM 22 `一数一源`) without marking the change as a non-authoritative report
   (``authoritative = False``, S 20 `多元校核`), which the bus compares with the
   source's value instead of adopting it.
9. ``item_type_mismatch``: a value does not read as the item's declared type (GM 21).

Values are text as carried on the wire; ``None`` means "no value". Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from base.errors import PolicyError
from exchange.catalog import (
    LEGAL_TZ,
    Catalog,
    CatalogEntry,
    ItemType,
    LifecycleState,
    in_force,
)
from exchange.identity import IdentityKey, IdentityKind, check


class RefusalReason(StrEnum):
    """Stable codes of a local refusal (the module docstring lists the checks)."""

    UNKNOWN_AGENCY = "unknown_agency"
    PROVIDER_MISMATCH = "provider_mismatch"
    UNKNOWN_ENTRY = "unknown_entry"
    ENTRY_NOT_PUBLISHED = "entry_not_published"
    ENTRY_WITHDRAWN = "entry_withdrawn"
    EMPTY_CHANGE = "empty_change"
    INVALID_IDENTITY_KEY = "invalid_identity_key"
    ITEM_NOT_IN_CATALOG = "item_not_in_catalog"
    NOT_THE_SOURCE = "not_the_source"
    ITEM_TYPE_MISMATCH = "item_type_mismatch"
    # Refused by the publisher outside this module:
    SCHEMA_INVALID = "schema_invalid"  # the event does not fit the Avro schema
    DUPLICATE_EVENT_ID = "duplicate_event_id"  # the same event id twice in one run
    BAD_ROW = "bad_row"  # an input row cannot be read as a change


#: The article each refusal rests on (None: a form problem no article governs).
ARTICLES: Mapping[RefusalReason, str | None] = {
    RefusalReason.UNKNOWN_AGENCY: "S 21",
    RefusalReason.PROVIDER_MISMATCH: "S 21",
    RefusalReason.UNKNOWN_ENTRY: "GM 10; GM 13",
    RefusalReason.ENTRY_NOT_PUBLISHED: "G 11; GM 14; S 18",
    RefusalReason.ENTRY_WITHDRAWN: "S 27 ¶2",
    RefusalReason.EMPTY_CHANGE: "GM 21",
    RefusalReason.INVALID_IDENTITY_KEY: "GM 18 ¶2",
    RefusalReason.ITEM_NOT_IN_CATALOG: "S 20",
    RefusalReason.NOT_THE_SOURCE: "GM 22; S 20",
    RefusalReason.ITEM_TYPE_MISMATCH: "GM 21",
    RefusalReason.SCHEMA_INVALID: "G 10; S 14",
    RefusalReason.DUPLICATE_EVENT_ID: "GM 22",
    RefusalReason.BAD_ROW: None,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a change is not sent: a stable ``reason`` code, a message, the article and,
    for schema and item problems, the offending field."""

    reason: RefusalReason
    message: str
    article: str | None
    field: str = ""

    @classmethod
    def of(cls, reason: RefusalReason, message: str, field: str = "") -> Refusal:
        """A refusal citing the article of ``reason`` (:data:`ARTICLES`)."""
        return cls(reason, message, ARTICLES[reason], field)

    def to_json(self) -> dict[str, str | None]:
        return {
            "reason": self.reason.value,
            "message": self.message,
            "article": self.article,
            "field": self.field or None,
        }


@dataclass(frozen=True, slots=True)
class ProposedChange:
    """A change as the agency proposes it: subject key as held, items -> new values (for a
    delete, the values withdrawn), whether it is sent as the source, and the provider the
    change names (None: the publishing agency)."""

    subject_key: str
    items: Mapping[str, str | None]
    authoritative: bool = True
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """A change that passed every check: its entry and the subject's identity key."""

    entry: CatalogEntry
    key: IdentityKey

    @property
    def canonical_subject(self) -> str:
        """``kind:number``: the message key, one per subject (15/18-digit IDs coincide)."""
        return self.key.canonical


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _is_decimal(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == len("YYYY-MM-DD")


def _is_aware_datetime(text: str) -> bool:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    return moment.tzinfo is not None and moment.utcoffset() is not None


#: How a value's text must read for each item type, and how to say it.
TYPE_CHECKS: Mapping[ItemType, tuple[Callable[[str], bool], str]] = {
    ItemType.STRING: (lambda _text: True, "text"),
    ItemType.INTEGER: (lambda text: _INTEGER.fullmatch(text) is not None, "an integer"),
    ItemType.DECIMAL: (_is_decimal, "a finite decimal number"),
    ItemType.BOOLEAN: (lambda text: text in ("true", "false"), "true or false"),
    ItemType.DATE: (_is_date, "an ISO date YYYY-MM-DD"),
    ItemType.DATETIME: (_is_aware_datetime, "an ISO date-time with a UTC offset"),
}


def _entry_refusal(catalog: Catalog, entry_id: str, at: datetime) -> Refusal | CatalogEntry:
    entry = catalog.entry(entry_id)
    if entry is None:
        return Refusal.of(RefusalReason.UNKNOWN_ENTRY, f"no catalog entry {entry_id!r}")
    if in_force(entry, at):
        return entry
    state = entry.lifecycle.state
    if state is LifecycleState.WITHDRAWN:
        withdrawal = entry.lifecycle.withdrawal
        since = f" since {withdrawal.effective_on}" if withdrawal is not None else ""
        return Refusal.of(
            RefusalReason.ENTRY_WITHDRAWN, f"catalog entry {entry_id!r} is withdrawn{since}"
        )
    return Refusal.of(
        RefusalReason.ENTRY_NOT_PUBLISHED,
        f"catalog entry {entry_id!r} is {state.value}, not published",
    )


def _item_refusal(entry: CatalogEntry, agency_id: str, change: ProposedChange) -> Refusal | None:
    sources: dict[str, str] = {}
    for name in change.items:
        spec = entry.item(name)
        if spec is None:
            return Refusal.of(
                RefusalReason.ITEM_NOT_IN_CATALOG,
                f"{name!r} is not a data item of entry {entry.id!r}",
                field=name,
            )
        sources[name] = spec.provider
    for name, source in sources.items():
        if source != agency_id and change.authoritative:
            return Refusal.of(
                RefusalReason.NOT_THE_SOURCE,
                f"{agency_id!r} is not the source of {name!r} (the source is {source!r}); "
                "send it as a non-authoritative report (authoritative: false) instead",
                field=name,
            )
    for name, value in change.items.items():
        spec = entry.item(name)
        if spec is None or value is None:
            continue
        fits, wanted = TYPE_CHECKS[spec.type]
        if not fits(value):
            return Refusal.of(
                RefusalReason.ITEM_TYPE_MISMATCH,
                f"{name!r} must be {wanted} ({spec.type.value}), got {value!r}",
                field=name,
            )
    return None


def admit(
    catalog: Catalog, agency_id: str, entry_id: str, change: ProposedChange, at: datetime
) -> Admitted | Refusal:
    """Run every check (module docstring) for ``agency_id`` publishing ``change`` to
    ``entry_id`` at the aware instant ``at``; the first failure is the answer."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise PolicyError("admission needs an aware time", code="naive_time", article="D1")
    if catalog.agency(agency_id) is None:
        return Refusal.of(
            RefusalReason.UNKNOWN_AGENCY, f"agency {agency_id!r} is not registered in the catalog"
        )
    if change.provider is not None and change.provider != agency_id:
        return Refusal.of(
            RefusalReason.PROVIDER_MISMATCH,
            f"the change names provider {change.provider!r}, but {agency_id!r} publishes it",
            field="provider",
        )
    found = _entry_refusal(catalog, entry_id, at)
    if isinstance(found, Refusal):
        return found
    entry = found
    if not change.items:
        return Refusal.of(RefusalReason.EMPTY_CHANGE, "the change names no data item")
    kind = IdentityKind(entry.key_kind.value)
    result = check(change.subject_key, kind, today=at.astimezone(LEGAL_TZ).date())
    if not result.valid:
        reason = result.reason.value if result.reason is not None else "invalid"
        return Refusal.of(
            RefusalReason.INVALID_IDENTITY_KEY,
            f"subject key {change.subject_key!r} is not a valid {kind.value}: {reason}",
            field="subject_key",
        )
    refused = _item_refusal(entry, agency_id, change)
    if refused is not None:
        return refused
    return Admitted(entry, IdentityKey(kind, result.normalized))
