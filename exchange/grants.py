"""Sharing grants and entitlements (G 14, G 15, G 17, GM 9, S 22, S 25, S 29).

* Unconditional entries: every registered agency takes every item directly from the
  platform (G 15 ¶1, S 25 ¶1); no grant is needed.
* Conditional entries: only an agency holding an active grant, and only the granted
  items (G 14 ¶2 `仅提供给相关行政机关或者部分行政机关`; S 22 partial sharing per field).
  A grant is the providing agency's decision (G 15 ¶2, S 25 ¶3 `授予相应共享权限`):
  each granted item must be provided by the grant's ``granted_by`` agency, so no
  agency can open another provider's item.
* Not-shared entries (涉密, GM 9; S 22): never, whatever grants exist.
* Only entries in force (published, or withdrawn but not yet effective) are served.

A grant naming an item outside its entry, or an item another agency provides, is a
:class:`base.errors.GrantError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from base.errors import GrantError
from exchange.catalog import Agency, CatalogEntry, ShareType, in_force

__all__ = [
    "Agency",
    "Grant",
    "GrantUse",
    "active_grants",
    "attribution",
    "check_grant",
    "entitlement",
    "grant_uses",
    "is_active",
]


@dataclass(frozen=True, slots=True)
class Grant:
    """A provider's authorisation for one consumer to receive items of one entry.

    Valid on ``[valid_from, valid_until)`` and before ``revoked_at``; ``purpose`` binds
    the use (G 17, S 29).
    """

    id: str
    consumer: str
    entry_id: str
    items: frozenset[str]
    granted_by: str
    purpose: str
    basis: str
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None


def is_active(grant: Grant, at: datetime) -> bool:
    """Whether the grant is in effect at ``at`` (aware datetimes)."""
    if at < grant.valid_from:
        return False
    if grant.valid_until is not None and at >= grant.valid_until:
        return False
    return grant.revoked_at is None or at < grant.revoked_at


def check_grant(grant: Grant, entry: CatalogEntry) -> None:
    """Raise :class:`GrantError` unless ``grant`` fits ``entry``."""
    if grant.entry_id != entry.id:
        raise GrantError(
            f"grant {grant.id} is for entry {grant.entry_id}, not {entry.id}",
            code="grant_wrong_entry",
            article="G 14",
        )
    if not grant.items:
        raise GrantError(
            f"grant {grant.id} grants no item", code="grant_without_items", article="S 22"
        )
    unknown = sorted(grant.items - entry.item_names)
    if unknown:
        raise GrantError(
            f"grant {grant.id} names items not in entry {entry.id}: {', '.join(unknown)}",
            code="grant_item_not_in_entry",
            article="S 22",
        )
    foreign = sorted(
        i.name for i in entry.items if i.name in grant.items and i.provider != grant.granted_by
    )
    if foreign:
        raise GrantError(
            f"grant {grant.id} by {grant.granted_by} covers items it does not provide:"
            f" {', '.join(foreign)}",
            code="grant_not_by_provider",
            article="G 15; S 25",
        )
    if grant.valid_until is not None and grant.valid_until <= grant.valid_from:
        raise GrantError(
            f"grant {grant.id} ends before it starts",
            code="grant_empty_period",
            article="G 15",
        )


def entitlement(
    entry: CatalogEntry, agency: Agency, grants: Iterable[Grant], at: datetime
) -> frozenset[str] | None:
    """The items of ``entry`` that ``agency`` may receive at ``at``; None for none.

    ``agency`` is a registered agency. Grants for other agencies or entries are
    ignored; grants of this agency for this entry are checked (:func:`check_grant`)
    even when they are not needed, so an invalid grant never goes unnoticed.
    """
    relevant = [g for g in grants if g.consumer == agency.id and g.entry_id == entry.id]
    for grant in relevant:
        check_grant(grant, entry)
    if not in_force(entry, at):
        return None
    if entry.share_type is ShareType.UNCONDITIONAL:
        return entry.item_names
    if entry.share_type is ShareType.NOT_SHARED:
        return None
    granted: set[str] = set()
    for grant in relevant:
        if is_active(grant, at):
            granted |= grant.items
    return frozenset(granted) if granted else None


def active_grants(
    entry: CatalogEntry, agency: Agency, grants: Iterable[Grant], at: datetime
) -> tuple[Grant, ...]:
    """The active grants of ``agency`` for ``entry`` at ``at`` (for the audit trail)."""
    return tuple(
        g for g in grants if g.consumer == agency.id and g.entry_id == entry.id and is_active(g, at)
    )


@dataclass(frozen=True, slots=True)
class GrantUse:
    """One grant a delivery rests on: its id, its purpose, and exactly the delivered
    items it entitles (G 17 purpose limitation, S 29)."""

    grant_id: str
    purpose: str
    items: tuple[str, ...]


def attribution(
    entry: CatalogEntry,
    agency: Agency,
    grants: Iterable[Grant],
    items: Iterable[str],
    at: datetime,
) -> tuple[GrantUse, ...]:
    """The grants under which ``agency`` receives ``items`` of ``entry`` at ``at``.

    Each active grant of the agency for the entry that covers any of ``items``, with the
    items it covers, sorted by grant id; an item two grants cover is named under both.
    Empty for an entry that is not conditional (unconditional data needs no grant).
    """
    if entry.share_type is not ShareType.CONDITIONAL:
        return ()
    return grant_uses(active_grants(entry, agency, grants, at), frozenset(items))


def grant_uses(active: Iterable[Grant], carried: frozenset[str]) -> tuple[GrantUse, ...]:
    """Of the ``active`` grants (one agency's, for one conditional entry, active at the
    delivery's time), those covering any of the ``carried`` items, each with the items it
    covers, sorted by grant id (:func:`attribution`)."""
    uses = (GrantUse(g.id, g.purpose, tuple(sorted(g.items & carried))) for g in active)
    return tuple(sorted((u for u in uses if u.items), key=lambda u: u.grant_id))
