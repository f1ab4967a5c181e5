"""Catalog YAML -> frozen model, with every inconsistency reported (G 11, GM 9-22, S 22-27).

:func:`check_catalog_text` collects *all* problems as :class:`CatalogIssue` (code,
article, message, entry); :func:`load_catalog` raises the first as a
:class:`base.errors.CatalogError`; :func:`check_catalog_data` checks an already parsed
document (e.g. JSON state records). Rules that hold in every city are checked
always; which share / open types and sensitivity grades a bus takes depends on its
jurisdiction profile: the caller passes :func:`admission` of the profile (the default
checks none of them). A profile that shares nothing (Jinan: opening only) takes only
entries that are not shared, and the sharing rules (S 22, S 23) do not apply there.

File layout (unknown keys are errors)::

    version: 1
    name: <catalog name>
    agencies: [{id, name, name_zh, kind}]
    entries:
      - {id, title, title_zh, provider?, source_business, category, key_kind, sensitivity,
         share_type, open_type, update_cycle,
         items: [{name, label_zh, type, tag, provider?, length?}],
         state?, withdrawal?: {reason, filed_on, effective_on}, share_basis?, open_basis?,
         open_conditions?, open_desensitised?, base_library?}
    grants:
      - {id, consumer, entry, items, granted_by, purpose, basis, valid_from, valid_until?,
         revoked_at?}

An item without ``provider`` takes the entry's; ``length`` is the item's declared length
(数据长度, GM 11), the most characters a value may have (checked by the publisher and the
gate, GM 21). Grant dates are days in legal time:
``valid_from`` from 00:00, ``valid_until`` through 24:00 of that day (D1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from base.errors import CatalogError, GrantError
from exchange import profiles
from exchange.catalog import (
    LEGAL_TZ,
    Agency,
    AgencyKind,
    BaseLibrary,
    Catalog,
    CatalogEntry,
    DataItem,
    ItemTag,
    ItemType,
    KeyKind,
    Lifecycle,
    LifecycleState,
    OpenType,
    Sensitivity,
    ShareType,
    UpdateCycle,
    Withdrawal,
    start_of_day,
)
from exchange.grants import Grant, check_grant

CATALOG_VERSION = 1
#: Article cited for problems with the form of the file (GM 11: what an entry states).
FORM_ARTICLE = "GM 11"
#: Base information libraries are shared unconditionally (GM 12 names them, S 26 ¶1).
BASE_LIBRARY_ARTICLE = "GM 12; S 26"

_E = TypeVar("_E", bound=StrEnum)

_TOP = {"version": True, "name": True, "agencies": True, "entries": True, "grants": False}
_AGENCY = {"id": True, "name": True, "name_zh": True, "kind": True}
_ITEM = {
    "name": True,
    "label_zh": True,
    "type": True,
    "tag": True,
    "provider": False,
    "length": False,
}
_WITHDRAWAL = {"reason": True, "filed_on": True, "effective_on": True}
_ENTRY = {
    "id": True,
    "title": True,
    "title_zh": True,
    "provider": True,
    "source_business": True,
    "category": True,
    "key_kind": True,
    "sensitivity": True,
    "share_type": True,
    "open_type": True,
    "update_cycle": True,
    "items": True,
    "state": False,
    "withdrawal": False,
    "share_basis": False,
    "open_basis": False,
    "open_conditions": False,
    "open_desensitised": False,
    "base_library": False,
}
_GRANT = {
    "id": True,
    "consumer": True,
    "entry": True,
    "items": True,
    "granted_by": True,
    "purpose": True,
    "basis": True,
    "valid_from": True,
    "valid_until": False,
    "revoked_at": False,
}


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    """One problem found in a catalog; ``entry`` is the entry id concerned, if any."""

    code: str
    article: str
    message: str
    entry: str | None = None

    def to_error(self) -> CatalogError:
        """This issue as a raisable :class:`CatalogError`."""
        where = f"entry {self.entry}: " if self.entry else ""
        return CatalogError(where + self.message, code=self.code, article=self.article)


@dataclass(frozen=True, slots=True)
class AllowedTypes:
    """What a jurisdiction profile admits (None / empty: not checked); see :func:`admission`.

    ``article`` cites the share types, ``open_article`` the open types (default:
    ``article``), ``sensitivity_article`` the refused grades. ``sharing`` False: the bus
    shares nothing, so the rules about sharing (S 22, S 23) do not apply.
    """

    share_types: frozenset[ShareType] | None = None
    open_types: frozenset[OpenType] | None = None
    article: str = ""
    open_article: str = ""
    refused_sensitivities: frozenset[Sensitivity] = frozenset()
    sensitivity_article: str = ""
    sensitivity_note: str = ""
    profile: str = ""
    sharing: bool = True


#: The profile's opening types that realise each opening attribute of an entry:
#: unconditional opening includes the desensitised opening of internal data (GM 9),
#: conditional opening is 依申请 (S 34) or 有条件 under an agreement (J 13).
OPEN_TYPE_FORMS: Mapping[OpenType, frozenset[profiles.OpenType]] = {
    OpenType.UNCONDITIONAL: frozenset(
        {profiles.OpenType.UNCONDITIONAL, profiles.OpenType.DESENSITISED}
    ),
    OpenType.CONDITIONAL: frozenset(
        {profiles.OpenType.CONDITIONAL, profiles.OpenType.ON_APPLICATION}
    ),
    OpenType.NOT_OPEN: frozenset({profiles.OpenType.NOT_OPEN}),
}
#: How the grades are named in the texts (GM 9).
SENSITIVITY_LABELS: Mapping[Sensitivity, str] = {
    Sensitivity.PUBLIC: "公开数据",
    Sensitivity.INTERNAL: "内部数据",
    Sensitivity.SECRET: "涉密数据",
}


def admission(profile: profiles.Profile) -> AllowedTypes:
    """What a bus under ``profile`` admits into its catalog (data of the profile file)."""
    refused = profile.catalog_admission
    scope_article = refused.basis if refused is not None else profile.opening.basis
    if profile.sharing is None:
        share_types, share_article = frozenset({ShareType.NOT_SHARED}), scope_article
    else:
        share_types = frozenset(ShareType(t.value) for t in profile.sharing.types)
        share_article = profile.sharing.basis
    offered = frozenset(profile.opening.types)
    return AllowedTypes(
        share_types=share_types,
        open_types=frozenset(t for t, forms in OPEN_TYPE_FORMS.items() if forms & offered),
        article=share_article,
        open_article=profile.opening.basis,
        refused_sensitivities=frozenset(refused.refused_sensitivities if refused else ()),
        sensitivity_article=refused.basis if refused else "",
        sensitivity_note=refused.note if refused else "",
        profile=profile.id,
        sharing=profile.sharing is not None,
    )


def admission_issues(entry: CatalogEntry, allowed: AllowedTypes) -> list[CatalogIssue]:
    """What the profile refuses of ``entry``: its grade, share type or open type."""
    found: list[CatalogIssue] = []
    under = f" under profile {allowed.profile}" if allowed.profile else ""
    grade = entry.sensitivity
    if grade in allowed.refused_sensitivities:
        note = f": {allowed.sensitivity_note}" if allowed.sensitivity_note else ""
        found.append(
            CatalogIssue(
                "sensitivity_not_admitted",
                allowed.sensitivity_article,
                f"{SENSITIVITY_LABELS[grade]} ({grade.value}) is refused{under}"
                f" ({allowed.sensitivity_article}){note}",
                entry.id,
            )
        )
    share, opening = entry.share_type, entry.open_type
    if allowed.share_types is not None and share not in allowed.share_types:
        admitted = ", ".join(sorted(t.value for t in allowed.share_types))
        found.append(
            CatalogIssue(
                "share_type_not_allowed",
                allowed.article,
                f"share type {share.value} is not allowed{under} ({allowed.article});"
                f" allowed: {admitted}",
                entry.id,
            )
        )
    article = allowed.open_article or allowed.article
    if allowed.open_types is not None and opening not in allowed.open_types:
        admitted = ", ".join(sorted(t.value for t in allowed.open_types))
        found.append(
            CatalogIssue(
                "open_type_not_allowed",
                article,
                f"open type {opening.value} is not allowed{under} ({article}); allowed: {admitted}",
                entry.id,
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of checking a catalog: the model when valid, and every issue."""

    catalog: Catalog | None
    grants: tuple[Grant, ...]
    issues: tuple[CatalogIssue, ...]
    entry_count: int

    @property
    def valid(self) -> bool:
        """No issue at all."""
        return not self.issues


@dataclass(frozen=True, slots=True)
class LoadedCatalog:
    """A valid catalog and the grants recorded with it (S 25 grants via the catalog)."""

    catalog: Catalog
    grants: tuple[Grant, ...] = field(default=())


class _Reader:
    """Collects issues while turning raw YAML values into typed ones."""

    def __init__(self) -> None:
        self.issues: list[CatalogIssue] = []

    def add(self, code: str, article: str, message: str, entry: str | None = None) -> None:
        self.issues.append(CatalogIssue(code, article, message, entry))

    def mapping(
        self, raw: object, keys: Mapping[str, bool], where: str, entry: str | None
    ) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.add("invalid_value", FORM_ARTICLE, f"{where} must be a mapping", entry)
            return None
        for key in sorted(str(k) for k in raw if k not in keys):
            self.add("unknown_key", FORM_ARTICLE, f"{where}: unknown key {key!r}", entry)
        for key, required in keys.items():
            if required and raw.get(key) is None:
                self.add("missing_field", FORM_ARTICLE, f"{where}: missing {key!r}", entry)
        return {str(k): v for k, v in raw.items()}

    def text(self, raw: dict[str, Any], key: str, where: str, entry: str | None) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            self.add("invalid_value", FORM_ARTICLE, f"{where}: {key!r} must be text", entry)
            return None
        return str(value).strip()

    def enum(
        self, raw: dict[str, Any], key: str, kind: type[_E], where: str, entry: str | None
    ) -> _E | None:
        value = raw.get(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(k.value for k in kind)
            self.add(
                "invalid_value",
                FORM_ARTICLE,
                f"{where}: {key!r} is {value!r}, expected one of {allowed}",
                entry,
            )
            return None

    def sequence(self, raw: dict[str, Any], key: str, where: str, entry: str | None) -> list[Any]:
        value = raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add("invalid_value", FORM_ARTICLE, f"{where}: {key!r} must be a list", entry)
            return []
        return value

    def day(self, raw: dict[str, Any], key: str, where: str, entry: str | None) -> date | None:
        value = raw.get(key)
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.add("invalid_value", FORM_ARTICLE, f"{where}: {key!r} must be a date", entry)
            return None

    def moment(
        self, raw: dict[str, Any], key: str, where: str, entry: str | None, *, end_of_day: bool
    ) -> datetime | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            except ValueError:
                self.add(
                    "invalid_value", FORM_ARTICLE, f"{where}: {key!r} must be a date or time", entry
                )
                return None
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=LEGAL_TZ)
        if isinstance(value, date):
            return start_of_day(value + timedelta(days=1) if end_of_day else value)
        self.add("invalid_value", FORM_ARTICLE, f"{where}: {key!r} must be a date or time", entry)
        return None


def _agency(reader: _Reader, raw: object, index: int) -> Agency | None:
    body = reader.mapping(raw, _AGENCY, f"agency #{index + 1}", None)
    if body is None:
        return None
    where = f"agency {body.get('id', index + 1)}"
    ident = reader.text(body, "id", where, None)
    name = reader.text(body, "name", where, None)
    name_zh = reader.text(body, "name_zh", where, None)
    kind = reader.enum(body, "kind", AgencyKind, where, None)
    if ident is None or name is None or name_zh is None or kind is None:
        return None
    return Agency(ident, name, name_zh, kind)


def _item(
    reader: _Reader, raw: object, entry_id: str, default_provider: str | None
) -> DataItem | None:
    body = reader.mapping(raw, _ITEM, "item", entry_id)
    if body is None:
        return None
    where = f"item {body.get('name', '?')}"
    name = reader.text(body, "name", where, entry_id)
    label = reader.text(body, "label_zh", where, entry_id)
    kind = reader.enum(body, "type", ItemType, where, entry_id)
    tag = reader.enum(body, "tag", ItemTag, where, entry_id)
    provider = reader.text(body, "provider", where, entry_id) or default_provider
    if provider is None and name is not None:
        reader.add(
            "missing_provider",
            "GM 22",
            f"data item {name} names no provider (one number, one source)",
            entry_id,
        )
    length = body.get("length")
    if length is not None and (
        not isinstance(length, int) or isinstance(length, bool) or length < 1
    ):
        reader.add(
            "invalid_value",
            FORM_ARTICLE,
            f"{where}: 'length' must be a positive whole number of characters",
            entry_id,
        )
        return None
    if name is None or label is None or kind is None or tag is None or provider is None:
        return None
    return DataItem(name, label, kind, tag, provider, length)


def _lifecycle(reader: _Reader, body: dict[str, Any], entry_id: str) -> Lifecycle | None:
    state = reader.enum(body, "state", LifecycleState, "state", entry_id)
    if body.get("state") is None:
        state = LifecycleState.DRAFT
    if state is None:
        return None
    raw = body.get("withdrawal")
    if state is not LifecycleState.WITHDRAWN:
        if raw is not None:
            reader.add(
                "unexpected_withdrawal",
                FORM_ARTICLE,
                f"withdrawal given but the entry is {state.value}",
                entry_id,
            )
        return Lifecycle(state)
    detail = reader.mapping(raw, _WITHDRAWAL, "withdrawal", entry_id) if raw is not None else None
    reason = reader.text(detail, "reason", "withdrawal", entry_id) if detail else None
    if detail is None or reason is None:
        reader.add(
            "withdrawn_without_reason",
            "S 27 ¶2",
            "a withdrawn entry must give the reason filed with the bureau",
            entry_id,
        )
        return None
    filed = reader.day(detail, "filed_on", "withdrawal", entry_id)
    effective = reader.day(detail, "effective_on", "withdrawal", entry_id)
    if filed is None or effective is None:
        return None
    if filed > effective:
        reader.add(
            "withdrawal_not_filed_in_advance",
            "S 27 ¶2",
            f"withdrawal filed on {filed}, after it took effect on {effective}",
            entry_id,
        )
        return None
    return Lifecycle(state, Withdrawal(reason, filed, effective))


def _entry(reader: _Reader, raw: object, index: int) -> CatalogEntry | None:
    entry_hint = raw.get("id") if isinstance(raw, dict) else None
    entry_id = str(entry_hint) if entry_hint is not None else f"#{index + 1}"
    body = reader.mapping(raw, _ENTRY, "entry", entry_id)
    if body is None:
        return None
    texts = {
        key: reader.text(body, key, key, entry_id)
        for key in ("id", "title", "title_zh", "provider", "source_business", "category")
    }
    key_kind = reader.enum(body, "key_kind", KeyKind, "key_kind", entry_id)
    sensitivity = reader.enum(body, "sensitivity", Sensitivity, "sensitivity", entry_id)
    share_type = reader.enum(body, "share_type", ShareType, "share_type", entry_id)
    open_type = reader.enum(body, "open_type", OpenType, "open_type", entry_id)
    library = reader.enum(body, "base_library", BaseLibrary, "base_library", entry_id)
    cycle = None
    if body.get("update_cycle") is not None:
        try:
            cycle = UpdateCycle.parse(str(body["update_cycle"]))
        except ValueError as exc:
            reader.add("invalid_value", FORM_ARTICLE, f"update_cycle: {exc}", entry_id)
    raw_items = reader.sequence(body, "items", "items", entry_id)
    if "items" in body and not raw_items:
        reader.add("no_items", FORM_ARTICLE, "an entry needs at least one data item", entry_id)
    parsed = [_item(reader, item, entry_id, texts["provider"]) for item in raw_items]
    items = tuple(i for i in parsed if i is not None)
    lifecycle = _lifecycle(reader, body, entry_id)
    share_basis = reader.text(body, "share_basis", "share_basis", entry_id)
    open_basis = reader.text(body, "open_basis", "open_basis", entry_id)
    conditions = tuple(
        str(c) for c in reader.sequence(body, "open_conditions", "open_conditions", entry_id)
    )
    desensitised = body.get("open_desensitised", False)
    if not isinstance(desensitised, bool):
        reader.add("invalid_value", FORM_ARTICLE, "open_desensitised must be true/false", entry_id)
        desensitised = False
    if (
        any(v is None for v in texts.values())
        or key_kind is None
        or sensitivity is None
        or share_type is None
        or open_type is None
        or cycle is None
        or lifecycle is None
        or len(items) != len(parsed)
    ):
        return None
    return CatalogEntry(
        id=str(texts["id"]),
        title=str(texts["title"]),
        title_zh=str(texts["title_zh"]),
        provider=str(texts["provider"]),
        source_business=str(texts["source_business"]),
        category=str(texts["category"]),
        key_kind=key_kind,
        sensitivity=sensitivity,
        share_type=share_type,
        open_type=open_type,
        update_cycle=cycle,
        items=items,
        lifecycle=lifecycle,
        share_basis=share_basis,
        open_basis=open_basis,
        open_conditions=conditions,
        open_desensitised=desensitised,
        base_library=library,
    )


def entry_issues(
    entry: CatalogEntry, agency_ids: frozenset[str], allowed: AllowedTypes = AllowedTypes()
) -> list[CatalogIssue]:
    """Every rule one entry breaks on its own (GM 9, G 18, S 22, S 23, J 8, S 34, GM 22)."""
    found = [
        CatalogIssue(code, article, message, entry.id)
        for code, article, message in (
            *_item_issues(entry, agency_ids),
            *_classification_issues(entry, allowed),
            *_basis_issues(entry, allowed),
        )
    ]
    found.extend(admission_issues(entry, allowed))
    return found


#: (code, article, message) of one broken rule, before it names its entry.
_Issue = tuple[str, str, str]


def _item_issues(entry: CatalogEntry, agency_ids: frozenset[str]) -> Iterator[_Issue]:
    """The entry's data items and providers (GM 22)."""
    if not entry.items:
        yield ("no_items", FORM_ARTICLE, "an entry needs at least one data item")
    for name, count in sorted(Counter(i.name for i in entry.items).items()):
        if count > 1:
            yield ("duplicate_item", "GM 22", f"data item {name} is listed {count} times")
    for item in entry.items:
        if not item.provider:
            yield ("missing_provider", "GM 22", f"data item {item.name} names no provider")
    for provider in sorted({i.provider for i in entry.items} | {entry.provider}):
        if provider and provider not in agency_ids:
            yield ("unknown_provider", "GM 22", f"provider {provider} is not a registered agency")


def _classification_issues(entry: CatalogEntry, allowed: AllowedTypes) -> Iterator[_Issue]:
    """Sensitivity against sharing and opening (GM 9, G 18)."""
    sens, share, opening = entry.sensitivity, entry.share_type, entry.open_type
    if sens is Sensitivity.SECRET and share is ShareType.UNCONDITIONAL:
        yield (
            "secret_shared_unconditionally",
            "GM 9",
            "涉密数据 may only be shared conditionally or not at all",
        )
    if sens is Sensitivity.SECRET and opening is not OpenType.NOT_OPEN:
        yield ("secret_opened", "G 18 (一)", "涉密数据 must not be opened")
    if sens is Sensitivity.PUBLIC and (
        (allowed.sharing and share is not ShareType.UNCONDITIONAL)
        or opening is not OpenType.UNCONDITIONAL
    ):
        yield (
            "public_data_restricted",
            "GM 9",
            "公开数据 is shared unconditionally and fully opened",
        )
    if (
        sens is Sensitivity.INTERNAL
        and opening is OpenType.UNCONDITIONAL
        and not entry.open_desensitised
    ):
        yield (
            "internal_opened_without_desensitisation",
            "GM 9",
            "内部数据 opens unconditionally only desensitised (set open_desensitised)",
        )


def _basis_issues(entry: CatalogEntry, allowed: AllowedTypes) -> Iterator[_Issue]:
    """Base libraries, withheld data, and the legal basis of restrictions (S 22, S 23, J 8)."""
    share, opening = entry.share_type, entry.open_type
    if allowed.sharing and entry.base_library is not None and share is not ShareType.UNCONDITIONAL:
        yield (
            "base_library_restricted",
            BASE_LIBRARY_ARTICLE,
            f"base library ({entry.base_library.value}) items are a common need of every "
            "agency and shared unconditionally",
        )
    if allowed.sharing and share is ShareType.NOT_SHARED and opening is not OpenType.NOT_OPEN:
        yield ("not_shared_but_opened", "S 22", "data withheld from agencies cannot be opened")
    if allowed.sharing and share is not ShareType.UNCONDITIONAL and not entry.share_basis:
        yield (
            "missing_share_basis",
            "S 23",
            f"{share.value} sharing needs its legal basis (share_basis)",
        )
    if opening is not OpenType.UNCONDITIONAL and not entry.open_basis:
        yield (
            "missing_open_basis",
            "J 8 ¶5; S 34 ¶1",
            f"{opening.value} opening needs its basis (open_basis)",
        )


def catalog_issues(
    entries: Iterable[CatalogEntry],
    agencies: Iterable[Agency],
    allowed: AllowedTypes = AllowedTypes(),
) -> list[CatalogIssue]:
    """Every rule the entries break, alone or together (duplicates, one source)."""
    entries, agencies = list(entries), list(agencies)
    found: list[CatalogIssue] = []
    for ident, count in sorted(Counter(a.id for a in agencies).items()):
        if count > 1:
            found.append(
                CatalogIssue(
                    "duplicate_agency", "GM 13", f"agency {ident} registered {count} times"
                )
            )
    for ident, count in sorted(Counter(e.id for e in entries).items()):
        if count > 1:
            found.append(
                CatalogIssue("duplicate_entry", "GM 13", f"entry id used {count} times", ident)
            )
    agency_ids = frozenset(a.id for a in agencies)
    sources: dict[tuple[KeyKind, str], tuple[str, str]] = {}
    for entry in entries:
        found.extend(entry_issues(entry, agency_ids, allowed))
        for item in entry.items:
            key = (entry.key_kind, item.name)
            first = sources.setdefault(key, (item.provider, entry.id))
            if first[0] != item.provider:
                found.append(
                    CatalogIssue(
                        "source_conflict",
                        "GM 22",
                        f"data item {item.name} ({entry.key_kind.value}) is provided by"
                        f" {item.provider} here and by {first[0]} in entry {first[1]}",
                        entry.id,
                    )
                )
    return found


def _grant(reader: _Reader, raw: object, index: int) -> Grant | None:
    body = reader.mapping(raw, _GRANT, f"grant #{index + 1}", None)
    if body is None:
        return None
    entry_id = reader.text(body, "entry", "grant", None)
    where = f"grant {body.get('id', index + 1)}"
    values = {
        k: reader.text(body, k, where, entry_id)
        for k in ("id", "consumer", "granted_by", "purpose", "basis")
    }
    items = reader.sequence(body, "items", where, entry_id)
    start = reader.moment(body, "valid_from", where, entry_id, end_of_day=False)
    until = reader.moment(body, "valid_until", where, entry_id, end_of_day=True)
    revoked = reader.moment(body, "revoked_at", where, entry_id, end_of_day=False)
    if entry_id is None or start is None or any(v is None for v in values.values()):
        return None
    return Grant(
        id=str(values["id"]),
        consumer=str(values["consumer"]),
        entry_id=entry_id,
        items=frozenset(str(i) for i in items),
        granted_by=str(values["granted_by"]),
        purpose=str(values["purpose"]),
        basis=str(values["basis"]),
        valid_from=start,
        valid_until=until,
        revoked_at=revoked,
    )


def grant_issues(grants: Iterable[Grant], catalog: Catalog) -> list[CatalogIssue]:
    """Problems of grants against their catalog (G 14, G 15, GM 9, S 22, S 25)."""
    grants = list(grants)
    found: list[CatalogIssue] = []
    for ident, count in sorted(Counter(g.id for g in grants).items()):
        if count > 1:
            found.append(
                CatalogIssue("duplicate_grant", "GM 13", f"grant {ident} given {count} times")
            )
    for grant in grants:
        entry = catalog.entry(grant.entry_id)
        if entry is None:
            found.append(
                CatalogIssue(
                    "grant_unknown_entry",
                    "G 15",
                    f"grant {grant.id}: no such entry",
                    grant.entry_id,
                )
            )
            continue
        if catalog.agency(grant.consumer) is None:
            found.append(
                CatalogIssue(
                    "grant_unknown_agency",
                    "G 14",
                    f"grant {grant.id}: consumer {grant.consumer} is not a registered agency",
                    entry.id,
                )
            )
        if entry.share_type is ShareType.NOT_SHARED:
            found.append(
                CatalogIssue(
                    "grant_on_not_shared",
                    "GM 9; S 22",
                    f"grant {grant.id}: entry is not shared; no grant can open it",
                    entry.id,
                )
            )
        try:
            check_grant(grant, entry)
        except GrantError as exc:
            found.append(CatalogIssue(exc.code, exc.article, str(exc), entry.id))
    return found


def _each(
    reader: _Reader, raws: list[Any], parse: Callable[[_Reader, object, int], Any]
) -> list[Any]:
    return [parse(reader, raw, index) for index, raw in enumerate(raws)]


def check_catalog_text(text: str, allowed: AllowedTypes = AllowedTypes()) -> CheckResult:
    """Parse and check a catalog document, collecting every issue."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        issue = CatalogIssue("yaml_syntax", FORM_ARTICLE, f"not valid YAML: {exc}")
        return CheckResult(None, (), (issue,), 0)
    return check_catalog_data(raw, allowed)


def check_catalog_data(raw: object, allowed: AllowedTypes = AllowedTypes()) -> CheckResult:
    """Check an already parsed catalog document (e.g. from JSON): the file layout above,
    dates and times as ISO 8601 text or ``date``/``datetime`` values."""
    reader = _Reader()
    top = reader.mapping(raw, _TOP, "catalog", None)
    if top is None:
        return CheckResult(None, (), tuple(reader.issues), 0)
    if top.get("version") is not None and top.get("version") != CATALOG_VERSION:
        reader.add("unsupported_version", FORM_ARTICLE, f"version must be {CATALOG_VERSION}")
    name = reader.text(top, "name", "catalog", None)
    raw_entries = reader.sequence(top, "entries", "catalog", None)
    agencies = [
        a for a in _each(reader, reader.sequence(top, "agencies", "catalog", None), _agency) if a
    ]
    entries = [e for e in _each(reader, raw_entries, _entry) if e]
    grants = [
        g for g in _each(reader, reader.sequence(top, "grants", "catalog", None), _grant) if g
    ]
    reader.issues.extend(catalog_issues(entries, agencies, allowed))
    catalog = Catalog(name or "", tuple(agencies), tuple(entries))
    reader.issues.extend(grant_issues(grants, catalog))
    valid = not reader.issues
    return CheckResult(
        catalog if valid else None, tuple(grants), tuple(reader.issues), len(raw_entries)
    )


def check_catalog_file(path: Path, allowed: AllowedTypes = AllowedTypes()) -> CheckResult:
    """:func:`check_catalog_text` on a UTF-8 file; an unreadable file is an issue."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issue = CatalogIssue("file_unreadable", FORM_ARTICLE, f"cannot read {path}: {exc}")
        return CheckResult(None, (), (issue,), 0)
    return check_catalog_text(text, allowed)


def load_catalog(path: Path, allowed: AllowedTypes = AllowedTypes()) -> LoadedCatalog:
    """Load a valid catalog; raise the first issue as :class:`CatalogError` otherwise."""
    result = check_catalog_file(path, allowed)
    if result.catalog is None:
        first = result.issues[0]
        error = first.to_error()
        if len(result.issues) > 1:
            error.add_note(f"{len(result.issues) - 1} more issue(s); run `govbus catalog validate`")
        raise error
    return LoadedCatalog(result.catalog, result.grants)
