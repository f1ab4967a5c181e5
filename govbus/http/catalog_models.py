"""Request and response bodies of the catalog endpoints (JSON field names are an interface).

An entry is given as it stands in a catalog file (``govbus catalog validate`` describes the
fields); its ``state`` is the process's, never the caller's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from exchange.catalog import (
    BaseLibrary,
    ItemTag,
    ItemType,
    KeyKind,
    OpenType,
    Sensitivity,
    ShareType,
)
from exchange.workflows.catalog_change import ChangeKind, State
from exchange.workflows.catalog_obligation import State as ObligationState
from govbus.http.models import EARLIEST, ID_PATTERN, LATEST, Name, Strict, Text

Ident = Annotated[str, Field(pattern=ID_PATTERN)]


def _bounded_day(value: date) -> date:
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"the year must be between {EARLIEST} and {LATEST}")
    return value


Day = Annotated[date, AfterValidator(_bounded_day)]


class ItemIn(Strict):
    name: Name
    label_zh: Name
    type: ItemType
    tag: ItemTag
    provider: Ident | None = None
    #: The declared length (数据长度, GM 11): the most characters a value may have.
    length: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class EntryIn(Strict):
    """One catalog entry (GM 11: metadata, 来源业务, 类别, attributes, 级别, 更新周期)."""

    id: Ident
    title: Name
    title_zh: Name
    provider: Ident
    source_business: Name
    category: Name
    key_kind: KeyKind
    sensitivity: Sensitivity
    share_type: ShareType
    open_type: OpenType
    update_cycle: Annotated[str, Field(min_length=1, max_length=32)]
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=200)]
    share_basis: Text | None = None
    open_basis: Text | None = None
    open_conditions: Annotated[list[Text], Field(max_length=50, default_factory=list)]
    open_desensitised: bool = False
    base_library: BaseLibrary | None = None

    def document(self) -> dict[str, Any]:
        """The entry as a catalog file has it."""
        return self.model_dump(mode="json", exclude_none=True)


class ChangeRequest(Strict):
    entry: EntryIn
    reason: Text = ""


class WithdrawalRequest(Strict):
    entry_id: Ident
    reason: Text
    effective_on: Day


class ReturnRequest(Strict):
    reasons: Text = ""


class FilingOut(BaseModel):
    legal_basis: str
    filed_at: datetime
    article: str


class ReturnedOut(BaseModel):
    by: str
    at: datetime
    step: str
    reasons: str


class Change(BaseModel):
    id: str
    kind: str
    profile: str
    agency: str
    entry_id: str
    change: ChangeKind
    entry: dict[str, Any]
    reason: str
    state: State
    submitted_at: datetime
    reviews: list[str]
    passed: int
    pending: str | None
    attribute_change: bool
    consent_basis: str | None
    filing: FilingOut | None
    returned: ReturnedOut | None
    published_at: datetime | None
    version: int


class Changes(BaseModel):
    changes: list[Change]


class ObligationRequest(Strict):
    obligation: Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,47}$")]
    agency: Ident
    arose_on: Day
    description: Text
    entry_id: Ident | None = None
    matter: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None


class MaintenanceRequest(Strict):
    year: Annotated[int, Field(ge=EARLIEST, le=LATEST)]


class FulfilRequest(Strict):
    reason: Text = ""


class Obligation(BaseModel):
    id: str
    kind: str
    profile: str
    obligation: str
    agency: str
    entry_id: str | None
    matter: str | None
    arose_on: date
    description: str
    state: ObligationState
    recorded_at: datetime
    recorded_by: str
    due_by: datetime | None
    due_basis: str | None
    overdue: bool
    fulfilled_at: datetime | None
    fulfilment: str | None
    late: bool
    version: int


class Obligations(BaseModel):
    obligations: list[Obligation]
