"""Request and response bodies of the HTTP API (JSON field names are an interface)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from exchange.workflows.share_application import Outcome, State

MAX_TEXT = 4000
#: Instants far outside any statutory period are refused before they reach the calendar.
EARLIEST, LATEST = 2000, 2200


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


def _bounded(value: datetime) -> datetime:
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"the year must be between {EARLIEST} and {LATEST}")
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_clean)]
Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_clean)]
Moment = Annotated[AwareDatetime, AfterValidator(_bounded)]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean)]
    password: Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_clean)]


class Me(BaseModel):
    id: str
    role: str
    agency: str | None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_at: datetime
    user: Me


class ApplyRequest(Strict):
    entry: Annotated[str, Field(pattern=ID_PATTERN)]
    items: Annotated[list[Name], Field(min_length=1, max_length=200)]
    purpose: Text
    legal_basis: Text
    valid_until: Moment


class ApproveRequest(Strict):
    items: Annotated[list[Name], Field(min_length=1, max_length=200)] | None = None
    valid_until: Moment | None = None
    reason: Text = ""


class RefuseRequest(Strict):
    reasons: Text = ""
    legal_basis: Text = ""


class ReasonRequest(Strict):
    reason: Text = ""


class OutcomeRequest(Strict):
    outcome: Outcome
    reason: Text = ""
    items: Annotated[list[Name], Field(min_length=1, max_length=200)] | None = None
    valid_until: Moment | None = None


class AnswerOut(BaseModel):
    kind: str
    at: datetime
    by: str
    items: list[str]
    valid_until: datetime | None
    reasons: str | None
    legal_basis: str | None
    deemed: bool
    late: bool


class DisputeOut(BaseModel):
    raised_at: datetime
    by: str
    reason: str
    disputed: str


class Application(BaseModel):
    id: str
    kind: str
    profile: str
    applicant: str
    provider: str
    entry: str
    items: list[str]
    purpose: str
    legal_basis: str
    valid_until: datetime
    state: State
    submitted_at: datetime
    received_at: datetime
    accepted_at: datetime | None
    due_by: datetime | None
    due_basis: str | None
    overdue: bool
    answer: AnswerOut | None
    dispute: DisputeOut | None
    grant_id: str | None
    grants_issued: int
    grant_from: datetime | None
    version: int


class Applications(BaseModel):
    applications: list[Application]


class TransitionOut(BaseModel):
    id: int | None
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    actor_role: str
    actor_agency: str | None
    at: datetime
    reason: str
    article: str
    details: dict[str, Any]
    audit_seq: int | None


class Transitions(BaseModel):
    transitions: list[TransitionOut]


class Problem(BaseModel):
    """Every error: one line naming the cause, a stable code, the article where one applies."""

    detail: str
    code: str = ""
    article: str = ""
