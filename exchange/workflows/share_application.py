"""Conditional-sharing applications as a pure state machine (G 15, G17 15, S 25, S 28).

An agency applies, through the platform, for items of a conditional entry, stating the
purpose, the legal basis and the validity it needs (G 15 ¶2, S 25 ¶2); the provider
accepts (受理) and answers: approves, possibly fewer items or a shorter validity, or
refuses with what the profile requires (Guiyang: reasons, G 15 ¶2; Shenyang: the legal
basis, S 25 ¶3). Under a profile with deemed consent (shenyang-2019, S 25 ¶3) an answer
still missing at the deadline is consent, for conditional data only; elsewhere the case is
overdue (G 30, S 47). A disputed answer goes to the bureau (G 15 ¶3, S 28), which settles
it or, where the profile has the step, refers it to the city government (S 28)::

    submitted --accept--> accepted
    submitted|accepted --approve--> approved      --refuse--> refused
    submitted|accepted --deadline, deemed consent--> deemed_approved
    submitted|accepted --withdraw--> withdrawn
    refused|approved|deemed_approved --dispute--> coordination     (profile: dispute_from)
    coordination --settle grant--> approved       --settle uphold--> the disputed answer
    coordination --refer--> government            (profile: government_decision)
    government --decide grant--> approved         --decide uphold--> the disputed answer
    approved|deemed_approved --revoke--> revoked   --validity ends--> expired

Every step takes an :class:`~exchange.workflows.cases.Act` (who, when) and returns the new
case and a :class:`~exchange.workflows.cases.Transition` (who, when, what, why, which
article); a step the state or the article does not allow raises :class:`StateError` or
:class:`WorkflowError` and changes nothing. Time is passed in (``act.at``); nothing here
reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from base.errors import StateError, WorkflowError
from exchange.catalog import CatalogEntry, ShareType, in_force
from exchange.profiles import (
    AnswerKind,
    DisputeStep,
    Profile,
    RefusalRequirement,
    ShareApplicationRules,
    StartEvent,
)
from exchange.workdays import WorkCalendar
from exchange.workflows.cases import Act, Transition, advance, iso, moment, require_state, text
from exchange.workflows.roles import Action
from exchange.workflows.timing import reply_deadline

KIND = "share_application"
OBLIGATION = "share_reply"
UNCONDITIONAL_ARTICLE = "G 15 ¶1; S 25 ¶1"
NOT_SHARED_ARTICLE = "GM 9; S 22"
APPLY_ARTICLE = "G 15 ¶2; S 25 ¶2"
PURPOSE_ARTICLE = "G 17; S 29"


class State(StrEnum):
    SUBMITTED = "submitted"  # 已申请 (received by the provider through the platform)
    ACCEPTED = "accepted"  # 已受理
    APPROVED = "approved"  # 同意共享
    DEEMED_APPROVED = "deemed_approved"  # 逾期未答复，视为同意共享 (S 25 ¶3)
    REFUSED = "refused"  # 不同意共享
    COORDINATION = "coordination"  # 大数据主管部门协调处理 (G 15 ¶3, S 28)
    GOVERNMENT = "government"  # 报市政府决定 (S 28)
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    EXPIRED = "expired"


#: Awaiting the provider's answer: the reply obligation runs.
AWAITING = frozenset({State.SUBMITTED, State.ACCEPTED})
#: A grant is (or should be) in force.
GRANTED = frozenset({State.APPROVED, State.DEEMED_APPROVED})
#: Nothing more can happen.
FINAL = frozenset({State.WITHDRAWN, State.REVOKED, State.EXPIRED})
#: Open cases: someone still has to act.
OPEN = frozenset({*AWAITING, State.COORDINATION, State.GOVERNMENT})


class Outcome(StrEnum):
    """How the bureau (settle) or the government (decide) closes a dispute."""

    GRANT = "grant"  # the data is provided: a grant of the items and validity given
    UPHOLD = "uphold"  # the disputed answer stands


@dataclass(frozen=True)
class Ruling:
    """How a dispute is closed, and why; a grant gives ``items`` and ``valid_until`` (None:
    what was applied for), never more than was applied for."""

    outcome: Outcome
    reason: str
    items: Sequence[str] | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Request:
    """What an agency applies for: items of an entry, why, on what basis, until when."""

    entry_id: str
    items: tuple[str, ...]
    purpose: str
    legal_basis: str
    valid_until: datetime


@dataclass(frozen=True)
class Answer:
    """The provider's answer (or the bus's, on silence: ``deemed``)."""

    kind: AnswerKind
    at: datetime
    by: str
    items: tuple[str, ...] = ()
    valid_until: datetime | None = None
    reasons: str = ""
    legal_basis: str = ""
    deemed: bool = False
    late: bool = False


@dataclass(frozen=True)
class Dispute:
    raised_at: datetime
    by: str
    reason: str
    disputed: State  # the answer's state, restored when it is upheld


@dataclass(frozen=True)
class ShareApplication:
    id: str
    profile: str
    applicant: str
    provider: str
    request: Request
    state: State
    submitted_at: datetime
    received_at: datetime
    accepted_at: datetime | None = None
    due_by: datetime | None = None
    due_basis: str = ""
    overdue: bool = False
    answer: Answer | None = None
    dispute: Dispute | None = None
    grant_id: str | None = None
    grants_issued: int = 0
    grant_from: datetime | None = None
    version: int = 1

    @property
    def events(self) -> Mapping[StartEvent, datetime | None]:
        """The recorded start events of the reply obligation (D1)."""
        return {
            StartEvent.APPLICATION: self.submitted_at,
            StartEvent.RECEIPT: self.received_at,
            StartEvent.ACCEPTANCE: self.accepted_at,
        }

    @property
    def granted_items(self) -> tuple[str, ...]:
        return () if self.answer is None else self.answer.items

    @property
    def granted_until(self) -> datetime | None:
        return None if self.answer is None else self.answer.valid_until

    def is_overdue(self, at: datetime) -> bool:
        """Unanswered past its deadline (G 30, S 47)."""
        return self.state in AWAITING and self.due_by is not None and at >= self.due_by


Step = tuple[ShareApplication, Transition[State]]


# -- helpers ------------------------------------------------------------------------------
def _require_state(app: ShareApplication, action: Action, allowed: frozenset[State]) -> None:
    require_state(app, "application", action, allowed)


def _rules(profile: Profile) -> ShareApplicationRules:
    sharing = profile.sharing
    if sharing is None or sharing.application is None:
        raise WorkflowError(
            f"profile {profile.id} has no conditional sharing by application",
            code="no_share_applications",
        )
    return sharing.application


def _narrowed(
    app: ShareApplication,
    items: Sequence[str] | None,
    valid_until: datetime | None,
    article: str,
) -> tuple[tuple[str, ...], datetime]:
    """Items and validity of a grant: the request's, or fewer and shorter, never more."""
    asked = app.request
    chosen = tuple(sorted(set(items))) if items is not None else asked.items
    if not chosen:
        raise WorkflowError(
            "an approval grants at least one item", code="no_items", article=article
        )
    extra = sorted(set(chosen) - set(asked.items))
    if extra:
        raise WorkflowError(
            f"items not applied for: {', '.join(extra)}",
            code="items_not_requested",
            article=article,
        )
    until = valid_until if valid_until is not None else asked.valid_until
    if until > asked.valid_until:
        raise WorkflowError(
            "the validity granted cannot exceed the validity applied for",
            code="validity_too_long",
            article=article,
        )
    return chosen, until


def _grant(app: ShareApplication, frm: datetime) -> ShareApplication:
    n = app.grants_issued + 1
    return replace(app, grant_id=f"grant-{app.id}-{n}", grants_issued=n, grant_from=frm)


def _deadline_fields(
    app: ShareApplication, profile: Profile, calendar: WorkCalendar
) -> ShareApplication:
    obligation = profile.obligation(OBLIGATION)
    if obligation is None:
        return app
    deadline = reply_deadline(obligation, app.events, calendar)
    if deadline is None:
        return app
    return replace(app, due_by=deadline.due_by, due_basis=deadline.basis)


def _applicable(entry: CatalogEntry, at: datetime) -> None:
    """Only a published conditional entry is applied for (G 15 ¶1-2, S 25 ¶1-2, S 22)."""
    if not in_force(entry, at):
        raise WorkflowError(
            f"entry {entry.id} is not published", code="entry_not_in_force", article="G 11; S 18"
        )
    if entry.share_type is ShareType.UNCONDITIONAL:
        raise WorkflowError(
            f"entry {entry.id} is shared unconditionally: take it directly from the platform, "
            "no application is needed",
            code="entry_unconditional",
            article=UNCONDITIONAL_ARTICLE,
        )
    if entry.share_type is ShareType.NOT_SHARED:
        raise WorkflowError(
            f"entry {entry.id} is not shared (不予共享): no application can open it",
            code="entry_not_shared",
            article=NOT_SHARED_ARTICLE,
        )


def _provider_of(entry: CatalogEntry, items: tuple[str, ...], applicant: str) -> str:
    """The one provider of ``items``, another agency than the applicant."""
    if not items:
        raise WorkflowError("apply for at least one item", code="no_items", article=APPLY_ARTICLE)
    unknown = sorted(set(items) - entry.item_names)
    if unknown:
        raise WorkflowError(
            f"entry {entry.id} has no item {', '.join(unknown)}",
            code="item_not_in_entry",
            article="S 22",
        )
    providers = {i.provider for i in entry.items if i.name in items}
    if len(providers) != 1:
        raise WorkflowError(
            f"the items are provided by {', '.join(sorted(providers))}: apply to each "
            "provider separately",
            code="several_providers",
            article=APPLY_ARTICLE,
        )
    provider = providers.pop()
    if provider == applicant:
        raise WorkflowError(
            f"{applicant} provides these items itself", code="own_data", article=APPLY_ARTICLE
        )
    return provider


# -- steps --------------------------------------------------------------------------------
def submit(
    request: Request,
    *,
    case_id: str,
    profile: Profile,
    calendar: WorkCalendar,
    entry: CatalogEntry,
    act: Act,
) -> Step:
    """An agency (the one ``act.actor`` acts for) applies through the platform (G 15 ¶2,
    S 25 ¶2) for ``request``'s items of ``entry``; the platform delivers the application
    to the provider at once, so it is received when it is submitted."""
    _rules(profile)
    applicant = act.actor.agency
    if not applicant:
        raise WorkflowError(
            f"{act.actor.id} acts for no agency: only an agency applies",
            code="no_applicant",
            article=APPLY_ARTICLE,
        )
    if request.entry_id != entry.id:
        raise WorkflowError(
            f"the request names entry {request.entry_id}, not {entry.id}", code="entry_mismatch"
        )
    _applicable(entry, act.at)
    chosen = tuple(sorted(set(request.items)))
    provider = _provider_of(entry, chosen, applicant)
    if request.valid_until <= act.at:
        raise WorkflowError(
            "the validity applied for has already ended", code="validity_past", article="G 15"
        )
    request = Request(
        entry.id,
        chosen,
        text(request.purpose, "purpose", PURPOSE_ARTICLE),
        text(request.legal_basis, "legal_basis", APPLY_ARTICLE),
        request.valid_until,
    )
    app = ShareApplication(
        id=case_id,
        profile=profile.id,
        applicant=applicant,
        provider=provider,
        request=request,
        state=State.SUBMITTED,
        submitted_at=act.at,
        received_at=act.at,
    )
    app = _deadline_fields(app, profile, calendar)
    obligation = profile.obligation(OBLIGATION)
    article = obligation.periods[0].basis if obligation is not None else APPLY_ARTICLE
    transition = Transition(
        Action.APPLY, None, State.SUBMITTED, act.actor, act.at, request.purpose, article
    )
    return app, transition


def accept(app: ShareApplication, profile: Profile, calendar: WorkCalendar, act: Act) -> Step:
    """受理: the provider takes the application up; where the profile counts from
    acceptance (G17 15 ¶2), the deadline is set now."""
    _require_state(app, Action.ACCEPT, frozenset({State.SUBMITTED}))
    accepted = replace(app, state=State.ACCEPTED, accepted_at=act.at)
    new = _deadline_fields(accepted, profile, calendar)
    return advance(app, new, Action.ACCEPT, act, article=new.due_basis)


def _answered(app: ShareApplication, at: datetime) -> ShareApplication:
    """An answer straight from ``submitted`` implies acceptance at the same moment."""
    return replace(app, accepted_at=app.accepted_at or at)


def approve(
    app: ShareApplication,
    act: Act,
    *,
    items: Sequence[str] | None = None,
    valid_until: datetime | None = None,
    reason: str = "",
) -> Step:
    """同意的及时提供 (G 15 ¶2); S 25 ¶3 grants access by updating the catalog's rights."""
    _require_state(app, Action.APPROVE, AWAITING)
    chosen, until = _narrowed(app, items, valid_until, APPLY_ARTICLE)
    if until <= act.at:
        raise WorkflowError(
            "the validity granted has already ended", code="validity_past", article="G 15"
        )
    answer = Answer(
        AnswerKind.APPROVED,
        act.at,
        act.actor.id,
        chosen,
        until,
        text(reason, "reason", "", required=False),
        late=app.is_overdue(act.at),
    )
    approved = replace(_answered(app, act.at), state=State.APPROVED, answer=answer)
    new = _grant(approved, act.at)
    return advance(app, new, Action.APPROVE, act, answer.reasons, app.due_basis or "G 15 ¶2")


def refuse(
    app: ShareApplication,
    profile: Profile,
    act: Act,
    *,
    reasons: str = "",
    legal_basis: str = "",
) -> Step:
    """不同意的说明理由 (G 15 ¶2) / 应提供法律、法规或规章依据 (S 25 ¶3): what a refusal
    must state is the profile's ``refusal_requires``; without it the refusal is refused."""
    rules = _rules(profile)
    _require_state(app, Action.REFUSE, AWAITING)
    article = rules.refusal_basis
    required = set(rules.refusal_requires)
    answer = Answer(
        AnswerKind.REFUSED,
        act.at,
        act.actor.id,
        reasons=text(reasons, "reasons", article, required=RefusalRequirement.REASONS in required),
        legal_basis=text(
            legal_basis,
            "legal_basis",
            article,
            required=RefusalRequirement.LEGAL_BASIS in required,
        ),
        late=app.is_overdue(act.at),
    )
    new = replace(_answered(app, act.at), state=State.REFUSED, answer=answer)
    why = answer.reasons or answer.legal_basis
    return advance(app, new, Action.REFUSE, act, why, article, legal_basis=answer.legal_basis)


def withdraw(app: ShareApplication, act: Act, *, reason: str = "") -> Step:
    """The applicant withdraws before the answer."""
    _require_state(app, Action.WITHDRAW, AWAITING)
    new = replace(app, state=State.WITHDRAWN)
    return advance(app, new, Action.WITHDRAW, act, text(reason, "reason", "", required=False))


def dispute(app: ShareApplication, profile: Profile, act: Act, *, reason: str) -> Step:
    """The applicant disputes the answer: the bureau coordinates (G 15 ¶3, S 28). Which
    answers can be disputed is the profile's ``dispute_from``; a case is disputed once."""
    rules = _rules(profile)
    disputable = {State.REFUSED} if AnswerKind.REFUSED in rules.dispute_from else set()
    if AnswerKind.APPROVED in rules.dispute_from:
        disputable |= GRANTED
    _require_state(app, Action.DISPUTE, frozenset(disputable))
    if app.dispute is not None:
        raise StateError(
            f"application {app.id} was disputed and settled already",
            code="already_disputed",
            article=rules.dispute_basis,
        )
    why = text(reason, "reason", rules.dispute_basis)
    raised = Dispute(act.at, act.actor.id, why, disputed=app.state)
    new = replace(app, state=State.COORDINATION, dispute=raised)
    return advance(app, new, Action.DISPUTE, act, why, rules.dispute_basis)


def _close_dispute(
    app: ShareApplication, action: Action, act: Act, ruling: Ruling, article: str
) -> Step:
    why = text(ruling.reason, "reason", article)
    if app.dispute is None:  # pragma: no cover - coordination is only entered by a dispute
        raise StateError(f"application {app.id} has no dispute", code="illegal_transition")
    outcome = ruling.outcome.value
    if ruling.outcome is Outcome.UPHOLD:
        new = replace(app, state=app.dispute.disputed)
        return advance(app, new, action, act, why, article, outcome=outcome)
    chosen, until = _narrowed(app, ruling.items, ruling.valid_until, article)
    if until <= act.at:
        raise WorkflowError(
            "the validity granted has already ended", code="validity_past", article=article
        )
    answer = Answer(AnswerKind.APPROVED, act.at, act.actor.id, chosen, until, why)
    new = _grant(replace(app, state=State.APPROVED, answer=answer), act.at)
    replaced = app.grant_id if app.state in GRANTED or app.dispute.disputed in GRANTED else None
    return advance(app, new, action, act, why, article, outcome=outcome, replaces=replaced)


def settle(app: ShareApplication, profile: Profile, act: Act, ruling: Ruling) -> Step:
    """The bureau's coordination ends: the data is provided, or the answer stands."""
    rules = _rules(profile)
    _require_state(app, Action.SETTLE, frozenset({State.COORDINATION}))
    return _close_dispute(app, Action.SETTLE, act, ruling, rules.dispute_basis)


def refer(app: ShareApplication, profile: Profile, act: Act, *, reason: str) -> Step:
    """协调处理不成的，报市政府决定 (S 28): only where the profile has the step."""
    rules = _rules(profile)
    _require_state(app, Action.REFER, frozenset({State.COORDINATION}))
    if DisputeStep.GOVERNMENT_DECISION not in rules.dispute_steps:
        raise WorkflowError(
            f"under {profile.id} the bureau settles disputes itself ({rules.dispute_basis})",
            code="no_government_step",
            article=rules.dispute_basis,
        )
    why = text(reason, "reason", rules.dispute_basis)
    new = replace(app, state=State.GOVERNMENT)
    return advance(app, new, Action.REFER, act, why, rules.dispute_basis)


def decide(app: ShareApplication, profile: Profile, act: Act, ruling: Ruling) -> Step:
    """The city government decides a dispute the bureau referred (S 28)."""
    rules = _rules(profile)
    _require_state(app, Action.DECIDE, frozenset({State.GOVERNMENT}))
    return _close_dispute(app, Action.DECIDE, act, ruling, rules.dispute_basis)


def revoke(app: ShareApplication, act: Act, *, reason: str) -> Step:
    """The provider revokes what it granted; delivery stops from the next event."""
    _require_state(app, Action.REVOKE, GRANTED)
    why = text(reason, "reason", "G 15")
    return advance(app, replace(app, state=State.REVOKED), Action.REVOKE, act, why, "G 15")


def expire(app: ShareApplication, act: Act) -> Step | None:
    """The granted validity has ended; None when there is nothing to expire (yet)."""
    until = app.granted_until
    if app.state not in GRANTED or until is None or act.at < until:
        return None
    new = replace(app, state=State.EXPIRED)
    return advance(app, new, Action.EXPIRE, act, "validity ended", "G 15")


def on_deadline(
    app: ShareApplication, profile: Profile, entry: CatalogEntry | None, act: Act
) -> Step | None:
    """The reply deadline has passed with no answer (None: answered, or not yet due).

    With deemed consent in the profile and the entry's share type among its
    ``share_types`` (S 25 ¶3: conditional data, never 不予共享), the bus grants what was
    applied for, valid from the deadline (24:00 of the last day), recorded as deemed.
    Otherwise (and when the entry is gone or no longer in force) the case stays awaiting
    an answer, marked overdue (G 30, S 47).
    """
    at = act.at
    if app.state not in AWAITING or app.due_by is None or at < app.due_by or app.overdue:
        return None
    sharing = profile.sharing
    deemed = None if sharing is None else sharing.deemed_consent
    share_type = entry.share_type.value if entry is not None and in_force(entry, at) else None
    deemable = set() if deemed is None else {t.value for t in deemed.share_types}
    start = app.due_by
    if deemed is not None and share_type in deemable and app.request.valid_until > at:
        answer = Answer(
            AnswerKind.APPROVED,
            start,
            act.actor.id,
            app.request.items,
            app.request.valid_until,
            reasons="逾期未答复，视为同意共享",
            deemed=True,
        )
        new = _grant(replace(app, state=State.DEEMED_APPROVED, answer=answer), start)
        return advance(app, new, Action.DEEM, act, answer.reasons, deemed.basis)
    why = "逾期未答复" if deemed is None else f"逾期未答复；{share_type or '已停止'}数据不视为同意"
    new = replace(app, overdue=True)
    return advance(app, new, Action.MISS_DEADLINE, act, why, app.due_basis)


def remind(app: ShareApplication, act: Act) -> Step | None:
    """At most one working day is left: remind the provider (no state change); nothing
    once the deadline itself has passed."""
    if app.state not in AWAITING or (app.due_by is not None and act.at >= app.due_by):
        return None
    return advance(app, app, Action.REMIND, act, "答复期限将至", app.due_basis)


# -- documents (the stored form) --------------------------------------------------------
def _required_time(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def to_document(app: ShareApplication) -> dict[str, Any]:
    """The JSON form stored with the case (and shown by the API)."""
    answer = app.answer
    dispute_ = app.dispute
    return {
        "id": app.id,
        "kind": KIND,
        "profile": app.profile,
        "applicant": app.applicant,
        "provider": app.provider,
        "entry": app.request.entry_id,
        "items": list(app.request.items),
        "purpose": app.request.purpose,
        "legal_basis": app.request.legal_basis,
        "valid_until": app.request.valid_until.isoformat(),
        "state": app.state.value,
        "submitted_at": app.submitted_at.isoformat(),
        "received_at": app.received_at.isoformat(),
        "accepted_at": iso(app.accepted_at),
        "due_by": iso(app.due_by),
        "due_basis": app.due_basis or None,
        "overdue": app.overdue,
        "answer": None
        if answer is None
        else {
            "kind": answer.kind.value,
            "at": answer.at.isoformat(),
            "by": answer.by,
            "items": list(answer.items),
            "valid_until": iso(answer.valid_until),
            "reasons": answer.reasons or None,
            "legal_basis": answer.legal_basis or None,
            "deemed": answer.deemed,
            "late": answer.late,
        },
        "dispute": None
        if dispute_ is None
        else {
            "raised_at": dispute_.raised_at.isoformat(),
            "by": dispute_.by,
            "reason": dispute_.reason,
            "disputed": dispute_.disputed.value,
        },
        "grant_id": app.grant_id,
        "grants_issued": app.grants_issued,
        "grant_from": iso(app.grant_from),
        "version": app.version,
    }


def from_document(doc: Mapping[str, Any]) -> ShareApplication:
    """The case from its stored document (:func:`to_document`)."""
    a = doc.get("answer")
    d = doc.get("dispute")
    return ShareApplication(
        id=str(doc["id"]),
        profile=str(doc["profile"]),
        applicant=str(doc["applicant"]),
        provider=str(doc["provider"]),
        request=Request(
            str(doc["entry"]),
            tuple(str(i) for i in doc["items"]),
            str(doc["purpose"]),
            str(doc["legal_basis"]),
            _required_time(doc["valid_until"]),
        ),
        state=State(doc["state"]),
        submitted_at=_required_time(doc["submitted_at"]),
        received_at=_required_time(doc["received_at"]),
        accepted_at=moment(doc.get("accepted_at")),
        due_by=moment(doc.get("due_by")),
        due_basis=str(doc.get("due_basis") or ""),
        overdue=bool(doc.get("overdue")),
        answer=None
        if not a
        else Answer(
            AnswerKind(a["kind"]),
            _required_time(a["at"]),
            str(a["by"]),
            tuple(str(i) for i in a.get("items") or ()),
            moment(a.get("valid_until")),
            str(a.get("reasons") or ""),
            str(a.get("legal_basis") or ""),
            bool(a.get("deemed")),
            bool(a.get("late")),
        ),
        dispute=None
        if not d
        else Dispute(
            _required_time(d["raised_at"]), str(d["by"]), str(d["reason"]), State(d["disputed"])
        ),
        grant_id=doc.get("grant_id"),
        grants_issued=int(doc.get("grants_issued") or 0),
        grant_from=moment(doc.get("grant_from")),
        version=int(doc.get("version") or 1),
    )


__all__ = [
    "AWAITING",
    "FINAL",
    "GRANTED",
    "KIND",
    "OBLIGATION",
    "OPEN",
    "Answer",
    "Dispute",
    "Outcome",
    "Request",
    "Ruling",
    "ShareApplication",
    "State",
    "Step",
    "accept",
    "approve",
    "decide",
    "dispute",
    "expire",
    "from_document",
    "on_deadline",
    "refer",
    "refuse",
    "remind",
    "revoke",
    "settle",
    "submit",
    "to_document",
    "withdraw",
]
