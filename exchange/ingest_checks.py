"""What an agency may publish to an entry, checked at the agency's side before sending.

The agency publisher runs these checks so that most bad input is refused with a clear
reason and never reaches the bus. The catalog rules are :mod:`exchange.admission`, the
same the gate runs again on every event; the publisher adds what only it can know. In
order, the first failing check names the refusal (codes of
:class:`exchange.outcomes.ReasonCode`):

1. ``unknown_agency``: the publishing agency is not registered in the catalog (S 21:
   the provider answers for its data, so it must be known).
2. ``provider_mismatch``: the change names a provider other than the publishing agency
   (S 21; an agency publishes only in its own name).
3. The entry (:func:`exchange.admission.check_entry`): ``unknown_entry``,
   ``entry_not_published``, ``entry_withdrawn``.
4. ``empty_change`` (GM 21).
5. The identity key (:func:`exchange.admission.check_subject`, of the entry's key kind):
   ``identity_<reason>`` naming the failed check (length, checksum, ...), GM 18 ¶2.
6. The items (:func:`exchange.admission.check_items`): ``item_not_in_catalog``,
   ``item_type_mismatch``, ``item_too_long`` (GM 21; S 20).
7. ``not_the_source``: the agency writes an item it is not the authoritative source of
   (GM 22 `一数一源`) without marking the change as a non-authoritative report
   (``authoritative = False``, S 20 `多元校核`), which the bus compares with the
   source's value instead of adopting it.

Values are text as carried on the wire; ``None`` means "no value". Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from base.errors import PolicyError
from exchange.admission import Refusal, check_entry, check_items, check_subject
from exchange.catalog import Catalog, CatalogEntry
from exchange.identity import IdentityKey
from exchange.outcomes import ReasonCode

__all__ = ["Admitted", "ProposedChange", "Refusal", "admit"]


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


def admit(
    catalog: Catalog, agency_id: str, entry_id: str, change: ProposedChange, at: datetime
) -> Admitted | Refusal:
    """Run every check (module docstring) for ``agency_id`` publishing ``change`` to
    ``entry_id`` at the aware instant ``at``; the first failure is the answer."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise PolicyError("admission needs an aware time", code="naive_time", article="D1")
    if catalog.agency(agency_id) is None:
        return Refusal.of(
            ReasonCode.UNKNOWN_AGENCY, f"agency {agency_id!r} is not registered in the catalog"
        )
    if change.provider is not None and change.provider != agency_id:
        return Refusal.of(
            ReasonCode.PROVIDER_MISMATCH,
            f"the change names provider {change.provider!r}, but {agency_id!r} publishes it",
            field="provider",
        )
    entry = check_entry(catalog, entry_id, at)
    if isinstance(entry, Refusal):
        return entry
    if not change.items:
        return Refusal.of(ReasonCode.EMPTY_CHANGE, "the change names no data item")
    subject = check_subject(entry, entry.key_kind.value, change.subject_key, at)
    if isinstance(subject, Refusal):
        return subject
    refused = check_items(entry, tuple(change.items.items())) or _source_refusal(
        entry, agency_id, change
    )
    if refused is not None:
        return refused
    return Admitted(entry, IdentityKey(subject.kind, subject.number))


def _source_refusal(entry: CatalogEntry, agency_id: str, change: ProposedChange) -> Refusal | None:
    if not change.authoritative:
        return None
    for name in change.items:
        spec = entry.item(name)
        if spec is not None and spec.provider != agency_id:
            return Refusal.of(
                ReasonCode.NOT_THE_SOURCE,
                f"{agency_id!r} is not the source of {name!r} (the source is {spec.provider!r}); "
                "send it as a non-authoritative report (authoritative: false) instead",
                field=name,
            )
    return None
