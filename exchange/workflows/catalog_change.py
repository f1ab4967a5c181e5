"""Changes to the catalog as a pure state machine, by profile (G 11, GM 14, S 18, S 23,
S 27 ¶2, J 9 ¶4, J 11).

An agency submits a change to an entry it provides: a new entry, an amendment of a
published entry, or its withdrawal. The change passes the reviews of the profile's
``catalog_lifecycle.steps``: the bureau reviews (审核: G 11, S 18, J 11), then, where the
profile has the step, the city government approves (审定: G 11, GM 14); Shenyang publishes
after the bureau's review (S 18). The reviewer whose step is pending may return the change
for revision, with reasons; the agency resubmits or cancels it. Once every review has
passed the bus publishes it (the entry's topics, ACLs and state record:
:mod:`topology.workflows.catalog`)::

    submitted --review--> reviewed --ratify--> approved --publish (the bus)--> published
    submitted --review--> approved                 (no government step: S 18, J 11)
    submitted|reviewed --return--> returned --resubmit--> submitted
    submitted|reviewed|returned --cancel--> cancelled

What differs by city is data (:class:`exchange.profiles.CatalogLifecycle`):

* ``attribute_change_needs_bureau_consent`` (J 9 ¶4): an amendment that changes a
  published entry's share or open attributes needs the bureau's consent; its review is
  that consent and cites the article (a profile without a bureau step would get one);
* ``filing`` (S 23): an entry of a listed share type (conditional, not shared) is filed
  (备案) with the bureau with its legal basis; the case records the filing;
* ``withdrawal_notice_basis`` (S 27 ¶2): withdrawing a published entry is filed in
  advance with its reason and needs no approval: it is published at once and the entry is
  served until the day it takes effect, which must come after the day of filing.
  Elsewhere a withdrawal is reviewed like any change.

Whether the entry itself is valid (GM 9, S 22, S 23, GM 12 and S 26 base libraries, GM 22
one source, the profile's admission) is for :mod:`exchange.catalog_loader` to say: the
caller passes an entry it checked, with its document, which the case keeps and the bus
publishes as it is. Every step takes an :class:`~exchange.workflows.cases.Act`; nothing
here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from base.errors import StateError, WorkflowError
from exchange.catalog import CatalogEntry, LifecycleState, in_force
from exchange.deadlines import legal_date
from exchange.profiles import CatalogLifecycle, LifecycleStep, Profile
from exchange.workflows.cases import Act, Transition, advance, iso, moment, require_state, text
from exchange.workflows.roles import Action, Role

KIND = "catalog_change"


class ChangeKind(StrEnum):
    NEW_ENTRY = "new_entry"  # 新增目录
    AMENDMENT = "amendment"  # 变更已发布的目录
    WITHDRAWAL = "withdrawal"  # 停止提供已发布的数据资源 (S 27 ¶2)


class State(StrEnum):
    SUBMITTED = "submitted"  # 待大数据主管部门审核
    REVIEWED = "reviewed"  # 已审核，待市政府审定 (G 11)
    APPROVED = "approved"  # 审核（审定）通过，待发布
    RETURNED = "returned"  # 退回修改
    CANCELLED = "cancelled"  # 提交部门撤回
    PUBLISHED = "published"  # 已发布


#: A reviewer acts.
PENDING = frozenset({State.SUBMITTED, State.REVIEWED})
#: Someone (a reviewer, the agency, the bus) still has to act.
OPEN = frozenset({*PENDING, State.APPROVED, State.RETURNED})
FINAL = frozenset({State.CANCELLED, State.PUBLISHED})
#: The state waiting for each review, and who takes it.
WAITING = {
    LifecycleStep.BUREAU_REVIEW: State.SUBMITTED,
    LifecycleStep.GOVERNMENT_APPROVAL: State.REVIEWED,
}
REVIEWERS = {
    LifecycleStep.BUREAU_REVIEW: Role.BUREAU,
    LifecycleStep.GOVERNMENT_APPROVAL: Role.GOVERNMENT,
}


@dataclass(frozen=True)
class Proposal:
    """What an agency submits: the entry as it is to stand in the catalog (state published,
    or withdrawn with its withdrawal), its document, and why."""

    entry: CatalogEntry
    document: Mapping[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class Filing:
    """备案 with the bureau (S 23): the legal basis filed, when, under which article."""

    legal_basis: str
    filed_at: datetime
    article: str


@dataclass(frozen=True)
class Returned:
    """The last return for revision: by whom, when, at which review, why."""

    by: str
    at: datetime
    step: LifecycleStep
    reasons: str


@dataclass(frozen=True)
class CatalogChange:
    id: str
    profile: str
    agency: str  # the provider that submits (and owns the entry)
    entry_id: str
    change: ChangeKind
    document: Mapping[str, Any]
    reason: str
    state: State
    submitted_at: datetime
    reviews: tuple[LifecycleStep, ...]  # the reviews this change needs, in order
    passed: int = 0  # how many of them have passed
    attribute_change: bool = False
    consent_basis: str = ""  # the article of the bureau's consent (J 9 ¶4)
    filing: Filing | None = None
    returned: Returned | None = None
    published_at: datetime | None = None
    version: int = 1

    @property
    def pending(self) -> LifecycleStep | None:
        """The review the change waits for; None when no reviewer acts."""
        return self.reviews[self.passed] if self.state in PENDING else None


Step = tuple[CatalogChange, Transition[State]]


@dataclass(frozen=True)
class _Plan:
    """What a submission entails under the profile (:func:`_plan`)."""

    kind: ChangeKind
    reviews: tuple[LifecycleStep, ...]
    attribute_change: bool
    consent_basis: str
    filing: Filing | None
    reason: str
    article: str


# -- helpers ------------------------------------------------------------------------------
def _lifecycle(profile: Profile) -> CatalogLifecycle:
    return profile.catalog_lifecycle


def _attributes(entry: CatalogEntry) -> tuple[object, ...]:
    """The share and open attributes (共享开放属性, GM 11; 开放属性, J 9 ¶4)."""
    return (entry.share_type, entry.open_type, entry.open_conditions, entry.open_desensitised)


def _same_but_lifecycle(a: CatalogEntry, b: CatalogEntry) -> bool:
    return replace(a, lifecycle=b.lifecycle) == b


def _kind(proposal: Proposal, current: CatalogEntry | None, at: datetime) -> ChangeKind:
    entry = proposal.entry
    state = entry.lifecycle.state
    if state not in (LifecycleState.PUBLISHED, LifecycleState.WITHDRAWN):
        raise WorkflowError(
            f"a change proposes entry {entry.id} as it will stand in the catalog: "
            f"published or withdrawn, not {state.value}",
            code="proposal_not_publishable",
            article="G 11; S 18",
        )
    served = current is not None and in_force(current, at)
    if current is not None and served and current.lifecycle.state is LifecycleState.WITHDRAWN:
        raise WorkflowError(
            f"entry {entry.id} is being withdrawn: no further change until it is stopped",
            code="entry_being_withdrawn",
            article="S 27 ¶2",
        )
    if state is LifecycleState.WITHDRAWN:
        if not served:
            raise WorkflowError(
                f"entry {entry.id} is not published: there is nothing to withdraw",
                code="entry_not_published",
                article="S 27 ¶2",
            )
        return ChangeKind.WITHDRAWAL
    return ChangeKind.AMENDMENT if served else ChangeKind.NEW_ENTRY


def _withdrawal_article(
    proposal: Proposal, current: CatalogEntry, rules: CatalogLifecycle, at: datetime
) -> str:
    """A withdrawal states its reason, is filed today, changes nothing else, and where the
    profile says so takes effect after the day it is filed (S 27 ¶2 `提前 ... 备案`)."""
    withdrawal = proposal.entry.lifecycle.withdrawal
    article = rules.withdrawal_notice_basis or rules.basis
    if withdrawal is None or not withdrawal.reason.strip():
        raise WorkflowError(
            "a withdrawal states its reason", code="missing_reason", article="S 27 ¶2"
        )
    today = legal_date(at)
    if withdrawal.filed_on != today:
        raise WorkflowError(
            f"a withdrawal is filed on the day it is submitted ({today}), not "
            f"{withdrawal.filed_on}",
            code="filed_on_not_today",
            article=article,
        )
    notice = bool(rules.withdrawal_notice_basis)
    if withdrawal.effective_on < today or (notice and withdrawal.effective_on <= today):
        raise WorkflowError(
            f"the withdrawal takes effect on {withdrawal.effective_on}: it must be filed in "
            "advance, before the day it takes effect",
            code="withdrawal_not_in_advance",
            article=article,
        )
    if not _same_but_lifecycle(proposal.entry, current):
        raise WorkflowError(
            f"a withdrawal of {current.id} changes nothing else of the entry",
            code="withdrawal_changes_entry",
            article=article,
        )
    return article


def _filing(entry: CatalogEntry, rules: CatalogLifecycle, at: datetime) -> Filing | None:
    """备案 of a conditional or not-shared entry with its legal basis, where the profile
    files them (S 23)."""
    filing = rules.filing
    if filing is None or entry.share_type.value not in {t.value for t in filing.share_types}:
        return None
    basis = (entry.share_basis or "").strip()
    if not basis:
        raise WorkflowError(
            f"{entry.share_type.value} entry {entry.id} is filed with its legal basis "
            "(share_basis)",
            code="missing_legal_basis",
            article=filing.basis,
        )
    return Filing(basis, at, filing.basis)


def _plan(
    proposal: Proposal, profile: Profile, current: CatalogEntry | None, at: datetime
) -> _Plan:
    rules = _lifecycle(profile)
    kind = _kind(proposal, current, at)
    reviews = tuple(s for s in rules.steps if s is not LifecycleStep.PUBLISH)
    article = rules.basis
    if kind is ChangeKind.WITHDRAWAL and current is not None:
        article = _withdrawal_article(proposal, current, rules, at)
        withdrawal = proposal.entry.lifecycle.withdrawal
        reason = "" if withdrawal is None else withdrawal.reason.strip()
        if rules.withdrawal_notice_basis:
            reviews = ()  # filed, not approved (S 27 ¶2)
        return _Plan(kind, reviews, False, "", None, reason, article)
    changed, consent = False, ""
    if kind is ChangeKind.AMENDMENT and current is not None:
        if _same_but_lifecycle(proposal.entry, current):
            raise WorkflowError(
                f"the proposal does not change entry {current.id}",
                code="no_change",
                article=article,
            )
        changed = _attributes(proposal.entry) != _attributes(current)
        if changed and rules.attribute_change_needs_bureau_consent:
            consent = rules.attribute_change_basis
            if LifecycleStep.BUREAU_REVIEW not in reviews:
                reviews = (LifecycleStep.BUREAU_REVIEW, *reviews)
    filing = _filing(proposal.entry, rules, at)
    reason = text(proposal.reason, "reason", article, required=kind is ChangeKind.AMENDMENT)
    cited = "; ".join(a for a in (article, consent, filing and filing.article) if a)
    return _Plan(kind, reviews, changed, consent, filing, reason, cited)


def _first_state(reviews: tuple[LifecycleStep, ...]) -> State:
    return WAITING[reviews[0]] if reviews else State.APPROVED


def _require_state(change: CatalogChange, action: Action, allowed: frozenset[State]) -> None:
    require_state(change, "change", action, allowed)


def _require_pending(change: CatalogChange, step: LifecycleStep, action: Action) -> None:
    _require_state(change, action, PENDING)
    if change.pending is not step:
        pending = change.pending.value if change.pending else "nothing"
        raise StateError(
            f"change {change.id} awaits {pending}, not {step.value}",
            code="illegal_transition",
        )


# -- steps --------------------------------------------------------------------------------
def submit(
    proposal: Proposal,
    *,
    case_id: str,
    profile: Profile,
    current: CatalogEntry | None,
    act: Act,
) -> Step:
    """The provider submits a change of ``current`` (None: a new entry) for review; a
    withdrawal under a notice profile is filed and approved at once (S 27 ¶2)."""
    plan = _plan(proposal, profile, current, act.at)
    agency = proposal.entry.provider if current is None else current.provider
    change = CatalogChange(
        id=case_id,
        profile=profile.id,
        agency=agency,
        entry_id=proposal.entry.id,
        change=plan.kind,
        document=dict(proposal.document),
        reason=plan.reason,
        state=_first_state(plan.reviews),
        submitted_at=act.at,
        reviews=plan.reviews,
        attribute_change=plan.attribute_change,
        consent_basis=plan.consent_basis,
        filing=plan.filing,
    )
    details = {"change": plan.kind.value, "reviews": [s.value for s in plan.reviews]}
    transition = Transition(
        Action.SUBMIT_CHANGE,
        None,
        change.state,
        act.actor,
        act.at,
        plan.reason,
        plan.article,
        details,
    )
    return change, transition


def resubmit(
    change: CatalogChange,
    proposal: Proposal,
    *,
    profile: Profile,
    current: CatalogEntry | None,
    act: Act,
) -> Step:
    """After a return, the agency submits the revised change; every review starts again."""
    _require_state(change, Action.RESUBMIT, frozenset({State.RETURNED}))
    if proposal.entry.id != change.entry_id:
        raise WorkflowError(
            f"change {change.id} is about entry {change.entry_id}, not {proposal.entry.id}",
            code="entry_mismatch",
        )
    plan = _plan(proposal, profile, current, act.at)
    new = replace(
        change,
        change=plan.kind,
        document=dict(proposal.document),
        reason=plan.reason,
        state=_first_state(plan.reviews),
        reviews=plan.reviews,
        passed=0,
        attribute_change=plan.attribute_change,
        consent_basis=plan.consent_basis,
        filing=plan.filing,
    )
    return advance(change, new, Action.RESUBMIT, act, plan.reason, plan.article)


def _passed(change: CatalogChange) -> CatalogChange:
    passed = change.passed + 1
    state = WAITING[change.reviews[passed]] if passed < len(change.reviews) else State.APPROVED
    return replace(change, passed=passed, state=state)


def review(change: CatalogChange, profile: Profile, act: Act, *, reason: str = "") -> Step:
    """审核: the bureau passes the change (G 11, S 18, J 11); for an attribute change under
    a consent profile this is the bureau's consent (J 9 ¶4)."""
    _require_pending(change, LifecycleStep.BUREAU_REVIEW, Action.REVIEW)
    article = change.consent_basis or _lifecycle(profile).basis
    why = text(reason, "reason", article, required=False)
    consent = {"consent": True} if change.consent_basis else {}
    return advance(change, _passed(change), Action.REVIEW, act, why, article, **consent)


def ratify(change: CatalogChange, profile: Profile, act: Act, *, reason: str = "") -> Step:
    """审定: the city government approves the reviewed change (G 11, GM 14)."""
    _require_pending(change, LifecycleStep.GOVERNMENT_APPROVAL, Action.RATIFY)
    article = _lifecycle(profile).basis
    why = text(reason, "reason", article, required=False)
    return advance(change, _passed(change), Action.RATIFY, act, why, article)


def return_for_revision(change: CatalogChange, profile: Profile, act: Act, *, reasons: str) -> Step:
    """The reviewer whose step is pending sends the change back, stating why."""
    _require_state(change, Action.RETURN, PENDING)
    pending = change.pending
    assert pending is not None  # PENDING states wait for a review
    if act.actor.role is not REVIEWERS[pending]:
        raise StateError(
            f"change {change.id} awaits {pending.value}: only the {REVIEWERS[pending].value} "
            "returns it now",
            code="illegal_transition",
        )
    article = change.consent_basis or _lifecycle(profile).basis
    why = text(reasons, "reasons", article)
    new = replace(
        change,
        state=State.RETURNED,
        passed=0,
        returned=Returned(act.actor.id, act.at, pending, why),
    )
    return advance(change, new, Action.RETURN, act, why, article, step=pending.value)


def cancel(change: CatalogChange, act: Act, *, reason: str = "") -> Step:
    """The agency drops its change before it is approved."""
    _require_state(change, Action.CANCEL, frozenset({*PENDING, State.RETURNED}))
    why = text(reason, "reason", "", required=False)
    return advance(change, replace(change, state=State.CANCELLED), Action.CANCEL, act, why)


def publish(change: CatalogChange, profile: Profile, act: Act) -> Step:
    """The bus has published the approved change: the entry's topics, ACLs and state."""
    _require_state(change, Action.PUBLISH, frozenset({State.APPROVED}))
    rules = _lifecycle(profile)
    article = (
        rules.withdrawal_notice_basis
        if change.change is ChangeKind.WITHDRAWAL and rules.withdrawal_notice_basis
        else rules.basis
    )
    new = replace(change, state=State.PUBLISHED, published_at=act.at)
    return advance(change, new, Action.PUBLISH, act, "发布", article)


# -- documents (the stored form) --------------------------------------------------------
def to_document(change: CatalogChange) -> dict[str, Any]:
    """The JSON form stored with the case (and shown by the API)."""
    filing, returned = change.filing, change.returned
    return {
        "id": change.id,
        "kind": KIND,
        "profile": change.profile,
        "agency": change.agency,
        "entry_id": change.entry_id,
        "change": change.change.value,
        "entry": dict(change.document),
        "reason": change.reason,
        "state": change.state.value,
        "submitted_at": change.submitted_at.isoformat(),
        "reviews": [s.value for s in change.reviews],
        "passed": change.passed,
        "pending": None if change.pending is None else change.pending.value,
        "attribute_change": change.attribute_change,
        "consent_basis": change.consent_basis or None,
        "filing": None
        if filing is None
        else {
            "legal_basis": filing.legal_basis,
            "filed_at": filing.filed_at.isoformat(),
            "article": filing.article,
        },
        "returned": None
        if returned is None
        else {
            "by": returned.by,
            "at": returned.at.isoformat(),
            "step": returned.step.value,
            "reasons": returned.reasons,
        },
        "published_at": iso(change.published_at),
        "version": change.version,
    }


def from_document(doc: Mapping[str, Any]) -> CatalogChange:
    """The case from its stored document (:func:`to_document`)."""
    f, r = doc.get("filing"), doc.get("returned")
    return CatalogChange(
        id=str(doc["id"]),
        profile=str(doc["profile"]),
        agency=str(doc["agency"]),
        entry_id=str(doc["entry_id"]),
        change=ChangeKind(doc["change"]),
        document=dict(doc["entry"]),
        reason=str(doc.get("reason") or ""),
        state=State(doc["state"]),
        submitted_at=datetime.fromisoformat(str(doc["submitted_at"])),
        reviews=tuple(LifecycleStep(s) for s in doc["reviews"]),
        passed=int(doc.get("passed") or 0),
        attribute_change=bool(doc.get("attribute_change")),
        consent_basis=str(doc.get("consent_basis") or ""),
        filing=None
        if not f
        else Filing(
            str(f["legal_basis"]), datetime.fromisoformat(str(f["filed_at"])), str(f["article"])
        ),
        returned=None
        if not r
        else Returned(
            str(r["by"]),
            datetime.fromisoformat(str(r["at"])),
            LifecycleStep(r["step"]),
            str(r["reasons"]),
        ),
        published_at=moment(doc.get("published_at")),
        version=int(doc.get("version") or 1),
    )


__all__ = [
    "FINAL",
    "KIND",
    "OPEN",
    "PENDING",
    "REVIEWERS",
    "CatalogChange",
    "ChangeKind",
    "Filing",
    "Proposal",
    "Returned",
    "State",
    "Step",
    "cancel",
    "from_document",
    "publish",
    "ratify",
    "resubmit",
    "return_for_revision",
    "review",
    "submit",
    "to_document",
]
