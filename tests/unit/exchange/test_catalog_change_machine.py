"""Catalog changes as a pure state machine, by profile: the bureau reviews (G 11, S 18,
J 11), the government approves where the profile has the step (G 11, GM 14) and not where
it does not (S 18); an attribute change of a published Jinan entry needs the bureau's
consent (J 9 ¶4); conditional and not-shared entries are filed with their legal basis in
Shenyang (S 23); a withdrawal there is filed in advance with its reason (S 27 ¶2); a base
library entry cannot be made conditional (GM 12, S 26).

No server, no clock: every step gets its time."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from base.errors import StateError, WorkflowError
from exchange.catalog import (
    LEGAL_TZ,
    CatalogEntry,
    Lifecycle,
    LifecycleState,
    OpenType,
    ShareType,
    Withdrawal,
)
from exchange.catalog_loader import admission, check_catalog_text
from exchange.profiles import LifecycleStep, Profile, load_profiles
from exchange.workflows import catalog_change as cc
from exchange.workflows.cases import Act
from exchange.workflows.roles import SYSTEM, Action, Actor, Role
from schemas.state import entry_document
from tests.support.catalog import demo_entry
from tests.support.scenario import DEMO

PROFILES = load_profiles()
PSB = Actor("psb-clerk", Role.AGENCY, "city-psb")
BUREAU = Actor("bureau", Role.BUREAU)
GOV = Actor("gov", Role.GOVERNMENT)
AT = datetime(2026, 6, 1, 10, 0, tzinfo=LEGAL_TZ)
TODAY = AT.date()


BASIC = demo_entry("psb.person.basic")  # unconditional, a base library (population)
CONTACT = demo_entry("psb.person.contact")  # conditional, not open
PUBLISHED = Lifecycle(LifecycleState.PUBLISHED)
#: A new entry of 市公安局: conditional, with its legal basis.
PHOTO = replace(
    CONTACT,
    id="psb.person.photo",
    title="Resident photo",
    title_zh="居民证件照片",
    items=(replace(CONTACT.items[1], name="photo", label_zh="证件照片"),),
)


def proposal(entry: CatalogEntry, reason: str = "") -> cc.Proposal:
    return cc.Proposal(entry, entry_document(entry), reason)


def withdrawn(entry: CatalogEntry, filed_on: date, effective_on: date) -> CatalogEntry:
    stop = Withdrawal("业务系统停用", filed_on, effective_on)
    return replace(entry, lifecycle=Lifecycle(LifecycleState.WITHDRAWN, stop))


def submit(
    profile: str,
    entry: CatalogEntry,
    current: CatalogEntry | None = None,
    *,
    reason: str = "",
    at: datetime = AT,
) -> cc.Step:
    return cc.submit(
        proposal(entry, reason),
        case_id="chg-1",
        profile=PROFILES.get(profile),
        current=current,
        act=Act(PSB, at),
    )


def later(hours: int) -> datetime:
    return AT + timedelta(hours=hours)


# -- the reviews by profile ----------------------------------------------------------------
def test_guiyang_the_bureau_reviews_the_government_approves_then_the_bus_publishes_g11() -> None:
    profile = PROFILES.get("guiyang-2021")
    change, t = submit("guiyang-2021", PHOTO)
    assert change.change is cc.ChangeKind.NEW_ENTRY and change.agency == "city-psb"
    assert change.reviews == (LifecycleStep.BUREAU_REVIEW, LifecycleStep.GOVERNMENT_APPROVAL)
    assert change.state is cc.State.SUBMITTED and change.pending is LifecycleStep.BUREAU_REVIEW
    assert (t.action, t.from_state, t.article) == (Action.SUBMIT_CHANGE, None, "G 11; GM 14")
    with pytest.raises(StateError):  # the government does not approve before the review
        cc.ratify(change, profile, Act(GOV, later(1)))
    reviewed, t = cc.review(change, profile, Act(BUREAU, later(2)), reason="符合编制指南")
    assert reviewed.state is cc.State.REVIEWED and t.article == "G 11; GM 14"
    assert reviewed.pending is LifecycleStep.GOVERNMENT_APPROVAL
    approved, t = cc.ratify(reviewed, profile, Act(GOV, later(3)))
    assert approved.state is cc.State.APPROVED and t.action is Action.RATIFY
    published, t = cc.publish(approved, profile, Act(SYSTEM, later(3)))
    assert published.state is cc.State.PUBLISHED and published.published_at == later(3)
    assert t.actor == SYSTEM and published.version == change.version + 3


def test_shenyang_publishes_after_the_bureau_review_without_the_government_s18() -> None:
    profile = PROFILES.get("shenyang-2019")
    change, t = submit("shenyang-2019", replace(PHOTO, share_type=ShareType.UNCONDITIONAL))
    assert change.reviews == (LifecycleStep.BUREAU_REVIEW,) and t.article == "S 18"
    approved, t = cc.review(change, profile, Act(BUREAU, later(1)))
    assert approved.state is cc.State.APPROVED and t.article == "S 18"
    with pytest.raises(StateError):
        cc.ratify(approved, profile, Act(GOV, later(2)))


def test_jinan_an_attribute_change_of_a_published_entry_needs_the_bureaus_consent_j9() -> None:
    """J 9 ¶4 `经本级大数据主管部门同意后 ... 调整开放属性`: the review is that consent."""
    profile = PROFILES.get("jinan-2024")
    opened = replace(BASIC, open_type=OpenType.CONDITIONAL, open_basis="经数据主体同意开放")
    change, t = submit("jinan-2024", opened, BASIC, reason="定期评估后调整开放属性")
    assert change.change is cc.ChangeKind.AMENDMENT and change.attribute_change
    assert change.consent_basis == "J 9 ¶4" and t.article == "J 11; J 9 ¶4"
    consented, t = cc.review(change, profile, Act(BUREAU, later(1)), reason="同意调整")
    assert consented.state is cc.State.APPROVED
    assert t.article == "J 9 ¶4" and t.details == {"consent": True}
    # A change that leaves the attributes alone is reviewed as any change (J 11).
    retitled, t = submit(
        "jinan-2024", replace(BASIC, title_zh="居民基本信息（户籍）"), BASIC, reason="更名"
    )
    assert not retitled.attribute_change and retitled.consent_basis == ""
    assert cc.review(retitled, profile, Act(BUREAU, later(1)))[1].article == "J 11"


def test_shenyang_an_attribute_change_is_reviewed_without_a_consent_article() -> None:
    changed = replace(CONTACT, open_type=OpenType.CONDITIONAL)
    change, t = submit("shenyang-2019", changed, CONTACT, reason="依申请开放")
    assert change.attribute_change and change.consent_basis == ""
    assert t.article == "S 18; S 23"  # a conditional entry, filed again (S 23)


def test_an_amendment_states_why_and_changes_something() -> None:
    with pytest.raises(WorkflowError) as same:
        submit("shenyang-2019", CONTACT, CONTACT, reason="无变化")
    assert same.value.code == "no_change"
    with pytest.raises(WorkflowError) as why:
        submit("shenyang-2019", replace(CONTACT, title_zh="联系方式"), CONTACT)
    assert why.value.code == "missing_reason"


# -- filing (S 23) ------------------------------------------------------------------------------
def test_shenyang_files_a_conditional_entry_with_its_legal_basis_s23() -> None:
    change, t = submit("shenyang-2019", PHOTO)
    assert change.filing is not None and change.filing.article == "S 23"
    assert change.filing.legal_basis == PHOTO.share_basis and change.filing.filed_at == AT
    assert t.article == "S 18; S 23"
    with pytest.raises(WorkflowError) as bare:
        submit("shenyang-2019", replace(PHOTO, share_basis=None))
    assert (bare.value.code, bare.value.article) == ("missing_legal_basis", "S 23")
    # Guiyang files nothing (no S 23); an unconditional entry is not filed in Shenyang.
    assert submit("guiyang-2021", PHOTO)[0].filing is None
    assert (
        submit("shenyang-2019", replace(PHOTO, share_type=ShareType.UNCONDITIONAL))[0].filing
        is None
    )


# -- withdrawal (S 27 ¶2) -----------------------------------------------------------------------
def test_shenyang_a_withdrawal_is_filed_in_advance_with_its_reason_and_not_approved_s27() -> None:
    profile = PROFILES.get("shenyang-2019")
    tomorrow = TODAY + timedelta(days=1)
    change, t = submit("shenyang-2019", withdrawn(BASIC, TODAY, tomorrow), BASIC)
    assert change.change is cc.ChangeKind.WITHDRAWAL and change.reviews == ()
    assert change.state is cc.State.APPROVED and t.article == "S 27 ¶2"
    assert change.reason == "业务系统停用"
    assert cc.publish(change, profile, Act(SYSTEM, AT))[1].article == "S 27 ¶2"
    with pytest.raises(WorkflowError) as same_day:
        submit("shenyang-2019", withdrawn(BASIC, TODAY, TODAY), BASIC)
    assert (same_day.value.code, same_day.value.article) == (
        "withdrawal_not_in_advance",
        "S 27 ¶2",
    )
    with pytest.raises(WorkflowError) as backdated:
        submit("shenyang-2019", withdrawn(BASIC, TODAY - timedelta(days=3), tomorrow), BASIC)
    assert backdated.value.code == "filed_on_not_today"
    with pytest.raises(WorkflowError) as more:
        submit("shenyang-2019", replace(withdrawn(BASIC, TODAY, tomorrow), title_zh="x"), BASIC)
    assert more.value.code == "withdrawal_changes_entry"
    with pytest.raises(WorkflowError) as unpublished:
        submit("shenyang-2019", withdrawn(PHOTO, TODAY, tomorrow), None)
    assert unpublished.value.code == "entry_not_published"


def test_guiyang_a_withdrawal_is_reviewed_and_approved_like_any_change_g11() -> None:
    change, t = submit("guiyang-2021", withdrawn(BASIC, TODAY, TODAY), BASIC)
    assert change.change is cc.ChangeKind.WITHDRAWAL and change.state is cc.State.SUBMITTED
    assert change.reviews == (LifecycleStep.BUREAU_REVIEW, LifecycleStep.GOVERNMENT_APPROVAL)
    assert t.article == "G 11; GM 14"


def test_an_entry_being_withdrawn_takes_no_other_change_s27() -> None:
    stopping = withdrawn(BASIC, TODAY, TODAY + timedelta(days=30))
    with pytest.raises(WorkflowError) as refused:
        submit("shenyang-2019", replace(BASIC, title_zh="x"), stopping, reason="改名")
    assert refused.value.code == "entry_being_withdrawn"
    # Once stopped, submitting the entry again is a new entry.
    stopped = withdrawn(BASIC, TODAY - timedelta(days=40), TODAY - timedelta(days=10))
    assert submit("shenyang-2019", BASIC, stopped)[0].change is cc.ChangeKind.NEW_ENTRY


# -- base libraries (GM 12, S 26) ----------------------------------------------------------------
@pytest.mark.parametrize("profile", ["guiyang-2021", "shenyang-2019"])
def test_a_base_library_entry_cannot_be_made_conditional_gm12_s26(profile: str) -> None:
    text = DEMO.read_text(encoding="utf-8").replace(
        "    base_library: population\n    key_kind: resident_id\n    sensitivity: internal\n"
        "    share_type: unconditional",
        "    base_library: population\n    key_kind: resident_id\n    sensitivity: internal\n"
        "    share_type: conditional\n    share_basis: 某法",
    )
    assert "share_basis: 某法" in text
    issues = check_catalog_text(text, admission(PROFILES.get(profile))).issues
    codes = {(i.code, i.article, i.entry) for i in issues}
    assert ("base_library_restricted", "GM 12; S 26", "psb.person.basic") in codes


# -- return, resubmit, cancel --------------------------------------------------------------------
def test_the_pending_reviewer_returns_with_reasons_and_the_agency_resubmits() -> None:
    profile = PROFILES.get("guiyang-2021")
    change, _ = submit("guiyang-2021", PHOTO)
    with pytest.raises(StateError):  # the government's step is not pending
        cc.return_for_revision(change, profile, Act(GOV, later(1)), reasons="不符合")
    with pytest.raises(WorkflowError) as bare:
        cc.return_for_revision(change, profile, Act(BUREAU, later(1)), reasons=" ")
    assert bare.value.code == "missing_reasons"
    reviewed, _ = cc.review(change, profile, Act(BUREAU, later(1)))
    returned, t = cc.return_for_revision(reviewed, profile, Act(GOV, later(2)), reasons="依据不足")
    assert returned.state is cc.State.RETURNED and returned.passed == 0
    assert returned.returned is not None
    assert returned.returned.step is LifecycleStep.GOVERNMENT_APPROVAL
    assert t.details == {"step": "government_approval"}
    revised = replace(PHOTO, share_basis="《中华人民共和国居民身份证法》第十三条")
    again, t = cc.resubmit(
        returned, proposal(revised), profile=profile, current=None, act=Act(PSB, later(3))
    )
    assert (
        again.state is cc.State.SUBMITTED and again.document["share_basis"] == revised.share_basis
    )
    assert t.action is Action.RESUBMIT and again.version == returned.version + 1
    with pytest.raises(WorkflowError) as other:
        cc.resubmit(returned, proposal(BASIC), profile=profile, current=BASIC, act=Act(PSB, AT))
    assert other.value.code == "entry_mismatch"
    cancelled, _ = cc.cancel(again, Act(PSB, later(4)), reason="另行报送")
    assert cancelled.state is cc.State.CANCELLED


# -- every step in every state -----------------------------------------------------------------
def _in_state(state: cc.State, profile: str) -> cc.CatalogChange:
    p = PROFILES.get(profile)
    change, _ = submit(profile, PHOTO)
    if state is cc.State.SUBMITTED:
        return change
    if state is cc.State.RETURNED:
        return cc.return_for_revision(change, p, Act(BUREAU, AT), reasons="r")[0]
    if state is cc.State.CANCELLED:
        return cc.cancel(change, Act(PSB, AT))[0]
    reviewed = cc.review(change, p, Act(BUREAU, AT))[0]
    if state is cc.State.REVIEWED:
        return reviewed
    approved = (
        reviewed if reviewed.state is cc.State.APPROVED else cc.ratify(reviewed, p, Act(GOV, AT))[0]
    )
    return approved if state is cc.State.APPROVED else cc.publish(approved, p, Act(SYSTEM, AT))[0]


STEPS: dict[Action, Callable[[cc.CatalogChange, Profile, datetime], cc.Step]] = {
    Action.REVIEW: lambda c, p, t: cc.review(c, p, Act(BUREAU, t)),
    Action.RATIFY: lambda c, p, t: cc.ratify(c, p, Act(GOV, t)),
    Action.RETURN: lambda c, p, t: cc.return_for_revision(
        c, p, Act(BUREAU if c.pending is LifecycleStep.BUREAU_REVIEW else GOV, t), reasons="r"
    ),
    Action.RESUBMIT: lambda c, p, t: cc.resubmit(
        c, proposal(PHOTO), profile=p, current=None, act=Act(PSB, t)
    ),
    Action.CANCEL: lambda c, p, t: cc.cancel(c, Act(PSB, t)),
    Action.PUBLISH: lambda c, p, t: cc.publish(c, p, Act(SYSTEM, t)),
}
ALLOWED = {
    Action.REVIEW: {cc.State.SUBMITTED},
    Action.RETURN: {cc.State.SUBMITTED, cc.State.REVIEWED},
    Action.RESUBMIT: {cc.State.RETURNED},
    Action.CANCEL: {cc.State.SUBMITTED, cc.State.REVIEWED, cc.State.RETURNED},
    Action.PUBLISH: {cc.State.APPROVED},
}
RATIFIABLE = {"guiyang-2021": {cc.State.REVIEWED}, "shenyang-2019": set(), "jinan-2024": set()}


@pytest.mark.parametrize(
    ("profile", "state", "action"),
    [
        (p, s, a)
        for p, s, a in itertools.product(RATIFIABLE, cc.State, STEPS)
        if s is not cc.State.REVIEWED or RATIFIABLE[p]  # without 审定 nothing is "reviewed"
    ],
)
def test_every_step_in_every_state_is_allowed_or_refused(
    profile: str, state: cc.State, action: Action
) -> None:
    allowed = {**ALLOWED, Action.RATIFY: RATIFIABLE[profile]}[action]
    change = _in_state(state, profile)
    assert change.state is state
    if state in allowed:
        new, t = STEPS[action](change, PROFILES.get(profile), later(1))
        assert t.action is action and t.from_state is state and new.version == change.version + 1
    else:
        with pytest.raises(WorkflowError):
            STEPS[action](change, PROFILES.get(profile), later(1))


@pytest.mark.parametrize("state", list(cc.State))
def test_the_stored_document_round_trips(state: cc.State) -> None:
    change = _in_state(state, "guiyang-2021")
    assert cc.from_document(cc.to_document(change)) == change
