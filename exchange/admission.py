"""Admission: the rules a change event must pass before the bus takes it, written once.

The agency publisher (:mod:`exchange.ingest_checks`, before sending) and the gate
(:mod:`exchange.gate`, steps 1 and 3, whatever the producer did) run these same rules and
answer with the same reason codes (:class:`exchange.outcomes.ReasonCode`):

1. The entry (:func:`check_entry`): known to the catalog (``unknown_entry``; GM 10,
   GM 13), in force at the time of the decision (``entry_not_published``: G 11, GM 14,
   S 18; ``entry_withdrawn``: S 27 ¶2, a withdrawal filed in advance is in force until
   its effective day).
2. The items (:func:`check_items`), GM 21 (data is structured per item, as the catalog
   describes it): at least one (``empty_change``); each named once (``duplicate_item``:
   which of two values is meant cannot be known); each a data item of the entry
   (``item_not_in_catalog``: S 20, no collection beyond scope); each value reads as the
   item's declared type (``item_type_mismatch``) and has at most its declared length in
   characters (``item_too_long``). A null value ("no value") has every type.
3. The identity key (:func:`check_subject`), GM 18 ¶2: of a kind the entry's key kind
   accepts (``subject_kind_mismatch``; a market entity without a credit code may be keyed
   by its business licence number), a valid number (``identity_<reason>``: length,
   checksum...), normalised to the canonical subject.

Every refusal names the article and, for an item, the item and the type it must have.
Values are text as carried on the wire. Pure: no I/O, no clock (``at`` is given).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from exchange.catalog import (
    LEGAL_TZ,
    Catalog,
    CatalogEntry,
    ItemType,
    ItemValue,
    KeyKind,
    LifecycleState,
    in_force,
)
from exchange.identity import IdentityKind, Subject, check
from exchange.outcomes import ReasonCode

#: The article each refusal rests on (None: a form problem no article governs).
ARTICLES: Mapping[ReasonCode, str | None] = {
    ReasonCode.UNKNOWN_AGENCY: "S 21",
    ReasonCode.PROVIDER_MISMATCH: "S 21",
    ReasonCode.UNKNOWN_ENTRY: "GM 10; GM 13",
    ReasonCode.ENTRY_NOT_PUBLISHED: "G 11; GM 14; S 18",
    ReasonCode.ENTRY_WITHDRAWN: "S 27 ¶2",
    ReasonCode.EMPTY_CHANGE: "GM 21",
    ReasonCode.DUPLICATE_ITEM: "GM 21",
    ReasonCode.ITEM_NOT_IN_CATALOG: "S 20",
    ReasonCode.ITEM_TYPE_MISMATCH: "GM 21",
    ReasonCode.ITEM_TOO_LONG: "GM 21",
    ReasonCode.SUBJECT_KIND_MISMATCH: "GM 18 ¶2",
    ReasonCode.NOT_THE_SOURCE: "GM 22; S 20",
    ReasonCode.SCHEMA_INVALID: "G 10; S 14",
    ReasonCode.DUPLICATE_EVENT_ID: "GM 22",
    ReasonCode.BAD_ROW: None,
}
IDENTITY_ARTICLE = "GM 18 ¶2"

#: Which subject kinds an entry keyed by ``KeyKind`` accepts (GM 18 ¶2 licence fallback).
ACCEPTED_KINDS: Mapping[KeyKind, frozenset[str]] = {
    KeyKind.RESIDENT_ID: frozenset({"resident_id"}),
    KeyKind.CREDIT_CODE: frozenset({"credit_code", "business_licence"}),
    KeyKind.BUSINESS_LICENCE: frozenset({"business_licence"}),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a change is not taken: a stable ``reason`` code, a message, the article and,
    for schema and item problems, the offending field."""

    reason: ReasonCode
    message: str
    article: str | None
    field: str = ""

    @classmethod
    def of(cls, reason: ReasonCode, message: str, field: str = "") -> Refusal:
        """A refusal citing the article of ``reason`` (:data:`ARTICLES`; identity codes
        cite GM 18 ¶2)."""
        return cls(reason, message, ARTICLES.get(reason, IDENTITY_ARTICLE), field)

    def to_json(self) -> dict[str, str | None]:
        return {
            "reason": self.reason.value,
            "message": self.message,
            "article": self.article,
            "field": self.field or None,
        }


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


def check_entry(catalog: Catalog, entry_id: str, at: datetime) -> CatalogEntry | Refusal:
    """Rule 1: the entry ``entry_id`` of ``catalog``, in force at the aware ``at``."""
    entry = catalog.entry(entry_id)
    if entry is None:
        return Refusal.of(ReasonCode.UNKNOWN_ENTRY, f"no catalog entry {entry_id!r}")
    if in_force(entry, at):
        return entry
    state = entry.lifecycle.state
    if state is LifecycleState.WITHDRAWN:
        withdrawal = entry.lifecycle.withdrawal
        since = f" since {withdrawal.effective_on}" if withdrawal is not None else ""
        return Refusal.of(
            ReasonCode.ENTRY_WITHDRAWN, f"catalog entry {entry_id!r} is withdrawn{since}"
        )
    return Refusal.of(
        ReasonCode.ENTRY_NOT_PUBLISHED,
        f"catalog entry {entry_id!r} is {state.value}, not published",
    )


def _value_refusal(entry: CatalogEntry, name: str, value: ItemValue) -> Refusal | None:
    spec = entry.item(name)
    if spec is None:
        return Refusal.of(
            ReasonCode.ITEM_NOT_IN_CATALOG,
            f"{name!r} is not a data item of entry {entry.id!r}",
            field=name,
        )
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    fits, wanted = TYPE_CHECKS[spec.type]
    if not fits(text):
        return Refusal.of(
            ReasonCode.ITEM_TYPE_MISMATCH,
            f"{name!r} must be {wanted} ({spec.type.value}), got {text[:80]!r}",
            field=name,
        )
    if spec.length is not None and len(text) > spec.length:
        return Refusal.of(
            ReasonCode.ITEM_TOO_LONG,
            f"{name!r} ({spec.type.value}) may have at most {spec.length} characters, "
            f"got {len(text)}",
            field=name,
        )
    return None


def check_items(entry: CatalogEntry, items: Sequence[tuple[str, ItemValue]]) -> Refusal | None:
    """Rule 2: the (name, value) pairs of a change, in the producer's order; the first
    failure is the answer."""
    if not items:
        return Refusal.of(ReasonCode.EMPTY_CHANGE, "the change names no data item")
    seen: set[str] = set()
    for name, _ in items:
        if name in seen:
            return Refusal.of(
                ReasonCode.DUPLICATE_ITEM,
                f"{name!r} is named more than once; send each data item once",
                field=name,
            )
        seen.add(name)
    for name, value in items:
        refused = _value_refusal(entry, name, value)
        if refused is not None:
            return refused
    return None


def check_subject(
    entry: CatalogEntry, subject_kind: str, key: str, at: datetime
) -> Subject | Refusal:
    """Rule 3: the canonical subject of ``key`` (of ``subject_kind``) for ``entry``; birth
    dates are bounded by the legal day of ``at``."""
    if subject_kind not in ACCEPTED_KINDS[entry.key_kind]:
        return Refusal(
            ReasonCode.SUBJECT_KIND_MISMATCH,
            f"entry is keyed by {entry.key_kind.value}, the event by {subject_kind}",
            IDENTITY_ARTICLE,
            "subject_kind",
        )
    kind = IdentityKind(subject_kind)
    result = check(key, kind, today=at.astimezone(LEGAL_TZ).date())
    if not result.valid:
        reason = result.reason
        code = ReasonCode.identity(reason) if reason else ReasonCode.IDENTITY_AMBIGUOUS
        detail = reason.value if reason is not None else "invalid"
        return Refusal(
            code,
            f"subject key {key!r} is not a valid {kind.value}: {detail}",
            IDENTITY_ARTICLE,
            "subject_key",
        )
    return Subject(kind, result.normalized)
