"""Domain objects as catalog-YAML dicts: the ``catalog_entries.document`` column and the
values of the state topics (see :mod:`producers.reference`).

Each function is the inverse of :func:`exchange.catalog_loader.check_catalog_data` for one
record: ``check_catalog_data({"version": 1, "name": ..., "agencies": [agency_document(a)],
"entries": [entry_document(e)], "grants": [grant_document(g)]})`` gives back equal
objects. Only JSON types are used: dates and times are ISO 8601 text (times always with
their offset), absent optional fields are left out, sets are sorted lists.
"""

from __future__ import annotations

from typing import Any

from exchange.catalog import Agency, CatalogEntry, DataItem
from exchange.grants import Grant


def agency_document(agency: Agency) -> dict[str, Any]:
    """``{id, name, name_zh, kind}``."""
    return {
        "id": agency.id,
        "name": agency.name,
        "name_zh": agency.name_zh,
        "kind": agency.kind.value,
    }


def _item(item: DataItem) -> dict[str, Any]:
    return {
        "name": item.name,
        "label_zh": item.label_zh,
        "type": item.type.value,
        "tag": item.tag.value,
        "provider": item.provider,
    }


def entry_document(entry: CatalogEntry) -> dict[str, Any]:
    """The entry as it would stand in a catalog file (every item names its provider)."""
    doc: dict[str, Any] = {
        "id": entry.id,
        "title": entry.title,
        "title_zh": entry.title_zh,
        "provider": entry.provider,
        "source_business": entry.source_business,
        "category": entry.category,
        "key_kind": entry.key_kind.value,
        "sensitivity": entry.sensitivity.value,
        "share_type": entry.share_type.value,
        "open_type": entry.open_type.value,
        "update_cycle": entry.update_cycle.label,
        "items": [_item(i) for i in entry.items],
        "state": entry.lifecycle.state.value,
    }
    withdrawal = entry.lifecycle.withdrawal
    if withdrawal is not None:
        doc["withdrawal"] = {
            "reason": withdrawal.reason,
            "filed_on": withdrawal.filed_on.isoformat(),
            "effective_on": withdrawal.effective_on.isoformat(),
        }
    if entry.share_basis is not None:
        doc["share_basis"] = entry.share_basis
    if entry.open_basis is not None:
        doc["open_basis"] = entry.open_basis
    if entry.open_conditions:
        doc["open_conditions"] = list(entry.open_conditions)
    if entry.open_desensitised:
        doc["open_desensitised"] = True
    return doc


def grant_document(grant: Grant) -> dict[str, Any]:
    """``{id, consumer, entry, items, granted_by, purpose, basis, valid_from, valid_until,
    revoked_at}``; the last two are null when unset."""
    return {
        "id": grant.id,
        "consumer": grant.consumer,
        "entry": grant.entry_id,
        "items": sorted(grant.items),
        "granted_by": grant.granted_by,
        "purpose": grant.purpose,
        "basis": grant.basis,
        "valid_from": grant.valid_from.isoformat(),
        "valid_until": None if grant.valid_until is None else grant.valid_until.isoformat(),
        "revoked_at": None if grant.revoked_at is None else grant.revoked_at.isoformat(),
    }
