"""Domain objects as catalog-YAML dicts: the ``catalog_entries.document`` column and the
values of the state topics (see :mod:`producers.reference`).

Each function is the inverse of :func:`exchange.catalog_loader.check_catalog_data` for one
record: ``check_catalog_data({"version": 1, "name": ..., "agencies": [agency_document(a)],
"entries": [entry_document(e)], "grants": [grant_document(g)]})`` gives back equal
objects (:func:`subscriptions_document` has no catalog form: the state topic only). Only
JSON types are used: dates and times are ISO 8601 text (times always with
their offset), absent optional fields are left out, sets are sorted lists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exchange.catalog import Agency, CatalogEntry, DataItem
from exchange.grants import Grant
from exchange.subscriptions import Subscription
from schemas.topics import TopicDef, TopicKind, topic_def


def agency_document(agency: Agency) -> dict[str, Any]:
    """``{id, name, name_zh, kind}``."""
    return {
        "id": agency.id,
        "name": agency.name,
        "name_zh": agency.name_zh,
        "kind": agency.kind.value,
    }


def _item(item: DataItem) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": item.name,
        "label_zh": item.label_zh,
        "type": item.type.value,
        "tag": item.tag.value,
        "provider": item.provider,
    }
    if item.length is not None:
        doc["length"] = item.length
    return doc


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
    if entry.base_library is not None:
        doc["base_library"] = entry.base_library.value
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


def subscriptions_document(
    agency_id: str, legacy_unconditional: bool, subscriptions: Sequence[Subscription]
) -> dict[str, Any]:
    """One agency's subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1): ``{id,
    legacy_unconditional, subscriptions: [{id, entry, purpose, subscribed_at}]}`` (the
    active ones, sorted by id; ``legacy_unconditional``: it still receives every
    unconditional entry, :mod:`exchange.subscriptions`)."""
    return {
        "id": agency_id,
        "legacy_unconditional": legacy_unconditional,
        "subscriptions": [
            {
                "id": s.id,
                "entry": s.entry_id,
                "purpose": s.purpose,
                "subscribed_at": s.subscribed_at.isoformat(),
            }
            for s in sorted(subscriptions, key=lambda s: s.id)
        ],
    }


#: The names of the state topics (the part after ``govbus.state.[<namespace>.]``).
AGENCIES = "agencies"
CATALOG = "catalog"
GRANTS = "grants"
SUBSCRIPTIONS = "subscriptions"


@dataclass(frozen=True)
class StateTopics:
    """The state topics of one namespace, with their creation specs."""

    agencies: str
    catalog: str
    grants: str
    subscriptions: str
    defs: tuple[TopicDef, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.agencies, self.catalog, self.grants, self.subscriptions)


def state_topics(namespace: str | None = None) -> StateTopics:
    """The state topics, ``govbus.state.<name>`` or ``govbus.state.<namespace>.<name>``.

    Raises :class:`base.errors.SchemaError` for a namespace Kafka cannot name.
    """
    prefix = f"{namespace}." if namespace else ""
    names = (AGENCIES, CATALOG, GRANTS, SUBSCRIPTIONS)
    defs = [topic_def(TopicKind.STATE, prefix + name) for name in names]
    return StateTopics(defs[0].name, defs[1].name, defs[2].name, defs[3].name, tuple(defs))


def encode(document: Mapping[str, Any]) -> bytes:
    """A state value: compact UTF-8 JSON with sorted keys (equal documents, equal bytes)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
