"""Catalog model: resource, sharing and opening catalog entries (G 11, GM 9-14, S 18-23, J 8-11).

One :class:`CatalogEntry` describes a data resource once; which of the three catalogs
(resource, sharing, opening; GM 10) lists it follows from its attributes
(:func:`catalogs_of`). Each data item names its authoritative provider (GM 22
`一数一源`), each entry the kind of identity key of its subjects (GM 18 ¶2).

The lifecycle (draft -> under_review -> approved -> published -> withdrawn) is changed
only by the pure transition functions below, which refuse illegal steps with
:class:`base.errors.LifecycleError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias
from zoneinfo import ZoneInfo

from base.errors import LifecycleError

#: Legal time of every municipal text (D1).
LEGAL_TZ = ZoneInfo("Asia/Shanghai")

#: A data item's value as carried on the bus (None: absent / deleted).
ItemValue: TypeAlias = str | int | float | bool | Decimal | date | datetime | None


class KeyKind(StrEnum):
    """Identity key of an entry's subjects (GM 18 ¶2)."""

    RESIDENT_ID = "resident_id"  # 居民身份证号码
    CREDIT_CODE = "credit_code"  # 统一社会信用代码
    BUSINESS_LICENCE = "business_licence"  # 营业执照 (market entities without a credit code)


class Sensitivity(StrEnum):
    """Sensitivity grade (GM 9): 公开数据 / 内部数据 / 涉密数据."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SECRET = "secret"  # noqa: S105 (a sensitivity grade, not a password)


class ShareType(StrEnum):
    """Sharing attribute (G 14, S 22, GM 9)."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not_shared"


class OpenType(StrEnum):
    """Opening attribute (G 18, S 32, J 8); conditional = 依申请 (S 34) or 有条件 (J 13)."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_OPEN = "not_open"


class BaseLibrary(StrEnum):
    """The base information libraries (基础信息资源库: GM 12 (一), S 26 ¶1): their items are
    the common need of every agency and shared unconditionally (S 26 ¶1)."""

    POPULATION = "population"  # 人口信息
    LEGAL_ENTITIES = "legal_entities"  # 法人单位信息
    GEOGRAPHY = "geography"  # 自然资源和空间地理信息
    E_LICENCES = "e_licences"  # 电子证照信息


class CatalogKind(StrEnum):
    """The three catalogs (G 11, GM 10)."""

    RESOURCE = "resource"
    SHARING = "sharing"
    OPENING = "opening"


class ItemType(StrEnum):
    """Value type of a data item."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


class ItemTag(StrEnum):
    """What a data item holds, as far as desensitisation cares (masking rules key on this).

    ``free`` holds nothing that identifies a person; ``withheld`` is dropped whenever the
    consumer receives desensitised data.
    """

    PERSON_NAME = "person_name"
    ID_NUMBER = "id_number"
    PHONE = "phone"
    ADDRESS = "address"
    DATE = "date"
    CREDIT_CODE = "credit_code"
    FREE = "free"
    WITHHELD = "withheld"


class AgencyKind(StrEnum):
    """Who may provide or consume (G 32, S 3, J 3(一))."""

    ADMINISTRATIVE_AGENCY = "administrative_agency"  # 行政机关 / 政务部门
    AUTHORISED_INSTITUTION = "authorised_institution"  # 法律法规授权的组织
    PEOPLE_ORGANISATION = "people_organisation"  # 人民团体
    PUBLIC_SERVICE_ENTERPRISE = "public_service_enterprise"  # 公共服务企业
    BIG_DATA_BUREAU = "big_data_bureau"  # 大数据主管部门


@dataclass(frozen=True, slots=True)
class Agency:
    """A registered agency (provider and/or consumer)."""

    id: str
    name: str
    name_zh: str
    kind: AgencyKind


_NAMED_CYCLES: dict[str, timedelta] = {
    # Upper bounds of each period, so "not updated against the declared cycle"
    # (G 30, S 47) never fires early.
    "realtime": timedelta(0),
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "quarterly": timedelta(days=92),
    "half_yearly": timedelta(days=184),
    "yearly": timedelta(days=366),
}
_ISO_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?$")


@dataclass(frozen=True, slots=True)
class UpdateCycle:
    """Declared update cycle (GM 11 更新周期, S 27 ¶1, J 11 更新频率) as a period."""

    label: str
    period: timedelta

    @classmethod
    def parse(cls, text: str) -> UpdateCycle:
        """``realtime``/``daily``/... or an ISO 8601 duration such as ``P14D``/``PT6H``.

        Raises ``ValueError`` for anything else.
        """
        if text in _NAMED_CYCLES:
            return cls(text, _NAMED_CYCLES[text])
        match = _ISO_DURATION.match(text)
        if match is None or text in ("P", "PT") or text.endswith("T"):
            raise ValueError(f"unknown update cycle {text!r}")
        days, hours, minutes = (int(match.group(g) or 0) for g in ("d", "h", "m"))
        period = timedelta(days=days, hours=hours, minutes=minutes)
        if period <= timedelta(0):
            raise ValueError(f"update cycle {text!r} is not positive")
        return cls(text, period)


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data item (field) of an entry with its authoritative provider (GM 22).

    ``length``: the declared length (数据长度, GM 11: the catalog describes each item's
    format), the most characters a value's text may have; None: none declared.
    """

    name: str
    label_zh: str
    type: ItemType
    tag: ItemTag
    provider: str
    length: int | None = None


class LifecycleState(StrEnum):
    """Catalog entry lifecycle (G 11, GM 14, S 18, S 27 ¶2)."""

    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Stopping a published resource: reason, filed in advance with the bureau (S 27 ¶2)."""

    reason: str
    filed_on: date
    effective_on: date


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Where an entry stands; ``withdrawal`` is set exactly when ``state`` is withdrawn."""

    state: LifecycleState = LifecycleState.DRAFT
    withdrawal: Withdrawal | None = None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One catalog entry (GM 11: metadata, 来源业务, 类别, attributes, 级别, 更新周期).

    ``share_basis`` / ``open_basis`` are the legal basis required for conditional or
    refused sharing (S 23) and opening (J 8 ¶5, S 34 ¶1); ``open_conditions`` lists the
    conditions of a conditional opening (J 8 ¶5). ``open_desensitised`` declares that an
    internal entry opens only desensitised (GM 9). ``base_library`` names the base
    information library the entry belongs to (GM 12, S 26), if any.
    """

    id: str
    title: str
    title_zh: str
    provider: str
    source_business: str
    category: str
    key_kind: KeyKind
    sensitivity: Sensitivity
    share_type: ShareType
    open_type: OpenType
    update_cycle: UpdateCycle
    items: tuple[DataItem, ...]
    lifecycle: Lifecycle = Lifecycle()
    share_basis: str | None = None
    open_basis: str | None = None
    open_conditions: tuple[str, ...] = ()
    open_desensitised: bool = False
    base_library: BaseLibrary | None = None

    def item(self, name: str) -> DataItem | None:
        """The data item called ``name``, or None."""
        for candidate in self.items:
            if candidate.name == name:
                return candidate
        return None

    @property
    def item_names(self) -> frozenset[str]:
        """Names of every data item of the entry."""
        return frozenset(i.name for i in self.items)


@dataclass(frozen=True, slots=True)
class Catalog:
    """A validated catalog: registered agencies and entries (GM 13: stored centrally)."""

    name: str
    agencies: tuple[Agency, ...]
    entries: tuple[CatalogEntry, ...]

    def agency(self, agency_id: str) -> Agency | None:
        """The registered agency with this id, or None."""
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        return None

    def entry(self, entry_id: str) -> CatalogEntry | None:
        """The entry with this id, or None."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        return None

    def source_register(self) -> dict[tuple[KeyKind, str], str]:
        """The register of authoritative sources: (key kind, item) -> provider (GM 22).

        No text keeps such a register; the bus defines it from the items' providers.
        A valid catalog has one provider per key.
        """
        return {(e.key_kind, i.name): i.provider for e in self.entries for i in e.items}


def catalogs_of(entry: CatalogEntry) -> frozenset[CatalogKind]:
    """The catalogs listing ``entry``: always the resource catalog (GM 10), the sharing
    catalog unless not shared, the opening catalog unless not open."""
    kinds = {CatalogKind.RESOURCE}
    if entry.share_type is not ShareType.NOT_SHARED:
        kinds.add(CatalogKind.SHARING)
    if entry.open_type is not OpenType.NOT_OPEN:
        kinds.add(CatalogKind.OPENING)
    return frozenset(kinds)


def start_of_day(day: date) -> datetime:
    """00:00 legal time of ``day`` (D1)."""
    return datetime.combine(day, time(0), tzinfo=LEGAL_TZ)


def in_force(entry: CatalogEntry, at: datetime) -> bool:
    """Whether the entry is served at ``at``: published, or withdrawn with the stop not
    yet effective (S 27 ¶2 files the withdrawal in advance). ``at`` must be aware."""
    lifecycle = entry.lifecycle
    if lifecycle.state is LifecycleState.PUBLISHED:
        return True
    if lifecycle.state is LifecycleState.WITHDRAWN and lifecycle.withdrawal is not None:
        return at < start_of_day(lifecycle.withdrawal.effective_on)
    return False


# --- lifecycle transitions ---------------------------------------------------------

#: action -> (state it starts from, state it reaches, article)
TRANSITIONS: dict[str, tuple[LifecycleState, LifecycleState, str]] = {
    "submit": (LifecycleState.DRAFT, LifecycleState.UNDER_REVIEW, "G 11"),
    "return": (LifecycleState.UNDER_REVIEW, LifecycleState.DRAFT, "G 11"),
    "approve": (LifecycleState.UNDER_REVIEW, LifecycleState.APPROVED, "G 11; S 18"),
    "publish": (LifecycleState.APPROVED, LifecycleState.PUBLISHED, "GM 14; S 18"),
    "withdraw": (LifecycleState.PUBLISHED, LifecycleState.WITHDRAWN, "S 27 ¶2"),
}


def _step(lifecycle: Lifecycle, action: str) -> Lifecycle:
    source, target, article = TRANSITIONS[action]
    if lifecycle.state is not source:
        raise LifecycleError(
            f"cannot {action} an entry in state {lifecycle.state.value} (only from {source.value})",
            code="illegal_transition",
            article=article,
        )
    return replace(lifecycle, state=target)


def submit(lifecycle: Lifecycle) -> Lifecycle:
    """Report a draft upward for review (G 11 `逐级上报`)."""
    return _step(lifecycle, "submit")


def return_for_revision(lifecycle: Lifecycle) -> Lifecycle:
    """The reviewer sends the entry back to draft (G 11)."""
    return _step(lifecycle, "return")


def approve(lifecycle: Lifecycle) -> Lifecycle:
    """Every review the profile requires has passed (G 11, GM 14; S 18 bureau only)."""
    return _step(lifecycle, "approve")


def publish(lifecycle: Lifecycle) -> Lifecycle:
    """Publish on the sharing / opening platform (GM 14, S 18)."""
    return _step(lifecycle, "publish")


def withdraw(lifecycle: Lifecycle, reason: str, filed_on: date, effective_on: date) -> Lifecycle:
    """Stop a published resource: needs a reason filed no later than the stop (S 27 ¶2)."""
    if not reason.strip():
        raise LifecycleError(
            "withdrawing a published entry needs a reason",
            code="withdrawn_without_reason",
            article="S 27 ¶2",
        )
    if filed_on > effective_on:
        raise LifecycleError(
            f"withdrawal filed on {filed_on} after it took effect on {effective_on}",
            code="withdrawal_not_filed_in_advance",
            article="S 27 ¶2",
        )
    stepped = _step(lifecycle, "withdraw")
    return replace(stepped, withdrawal=Withdrawal(reason.strip(), filed_on, effective_on))
