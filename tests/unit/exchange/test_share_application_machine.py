"""The conditional-sharing application as a pure state machine, by profile
(G 15 ¶2-3, G17 15 ¶2-3, S 25 ¶2-3, S 28, GM 9, S 22; day counting D1).

No server, no clock: every step gets its time. Expected dates are counted by hand from the
texts and the State Council's 2026 arrangement (National Day 10-01..10-07 off, 09-20 and
10-10 worked)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from base.errors import PermissionDenied, StateError, WorkflowError
from exchange.catalog import LEGAL_TZ, CatalogEntry, ShareType
from exchange.profiles import Profile, load_profiles
from exchange.workdays import load_work_calendar
from exchange.workflows import share_application as sa
from exchange.workflows.cases import Act
from exchange.workflows.roles import (
    PERMISSIONS,
    SYSTEM,
    USER_ROLES,
    Action,
    Actor,
    Role,
    Scope,
    authorize,
)
from exchange.workflows.timing import due_within_one_workday, reminder_at, workdays_between
from tests.support.catalog import demo_entry

PROFILES = load_profiles()
CALENDAR = load_work_calendar()


CONTACT = demo_entry("psb.person.contact")
APPLICANT = Actor("hc-clerk", Role.AGENCY, "city-hc")
PROVIDER = Actor("psb-clerk", Role.AGENCY, "city-psb")
BUREAU = Actor("bureau", Role.BUREAU)
GOV = Actor("gov", Role.GOVERNMENT)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LEGAL_TZ)


def midnight_after(day: str) -> datetime:
    """24:00 of ``day`` (D1), i.e. 00:00 legal time of the next day."""
    return at(day + "T00:00") + timedelta(days=1)


UNTIL = at("2027-12-31T00:00")


def submitted(
    profile: str = "guiyang-2021", when: str = "2026-06-01T10:00", entry: CatalogEntry = CONTACT
) -> sa.ShareApplication:
    request = sa.Request(
        entry.id, ("phone", "household_address"), "流行病学调查", "传染病防治法第十二条", UNTIL
    )
    app, transition = sa.submit(
        request,
        case_id="app-1",
        profile=PROFILES.get(profile),
        calendar=CALENDAR,
        entry=entry,
        act=Act(APPLICANT, at(when)),
    )
    assert transition.action is Action.APPLY and transition.to_state is sa.State.SUBMITTED
    assert transition.actor == APPLICANT and transition.reason == "流行病学调查"
    return app


# -- the reply deadline: the profile names the period and the event that starts it ----------
def test_guiyang_2021_ten_days_from_the_application_g15() -> None:
    app = submitted("guiyang-2021", "2026-09-28T09:00")
    assert app.due_by == midnight_after("2026-10-08") and app.due_basis == "G 15 ¶2"


def test_guiyang_2021_a_last_day_in_the_holiday_moves_to_the_next_working_day() -> None:
    app = submitted("guiyang-2021", "2026-09-23T09:00")  # +10 days = 10-03, a holiday
    assert app.due_by == midnight_after("2026-10-08")


def test_guiyang_2017_ten_working_days_from_acceptance_g17_15() -> None:
    app = submitted("guiyang-2017", "2026-06-01T10:00")
    assert app.due_by is None  # the clock has not started: nothing accepted yet
    accepted, t = sa.accept(
        app, PROFILES.get("guiyang-2017"), CALENDAR, Act(PROVIDER, at("2026-06-02T15:00"))
    )
    assert accepted.state is sa.State.ACCEPTED and accepted.accepted_at == at("2026-06-02T15:00")
    assert accepted.due_by == midnight_after("2026-06-16") and t.article == "G17 15 ¶2"


def test_shenyang_five_working_days_from_receipt_across_national_day_s25() -> None:
    app = submitted("shenyang-2019", "2026-09-30T16:00")
    # 10-08, 10-09, 10-10 (a Saturday worked), 10-12, 10-13
    assert app.due_by == midnight_after("2026-10-13") and app.due_basis == "S 25 ¶2"
    assert app.received_at == app.submitted_at  # delivered to the provider on submission


def test_reminder_and_due_soon_within_one_working_day() -> None:
    due = datetime.fromisoformat("2026-10-13").date()
    assert reminder_at(due, CALENDAR) == at("2026-10-12T00:00")
    assert due_within_one_workday(due, at("2026-10-12T09:00"), CALENDAR)
    assert not due_within_one_workday(due, at("2026-10-10T09:00"), CALENDAR)
    # Friday before a Monday deadline: no working day lies between.
    monday = datetime.fromisoformat("2026-06-08").date()
    assert due_within_one_workday(monday, at("2026-06-05T09:00"), CALENDAR)
    assert workdays_between(at("2026-09-30T16:00"), at("2026-10-10T09:00"), CALENDAR) == 3


# -- answers ------------------------------------------------------------------------------------
def test_approval_may_grant_fewer_items_and_a_shorter_validity_never_more() -> None:
    app = submitted()
    shorter = at("2027-01-01T00:00")
    new, t = sa.approve(
        app, Act(PROVIDER, at("2026-06-02T10:00")), items=["phone"], valid_until=shorter
    )
    assert new.state is sa.State.APPROVED and new.granted_items == ("phone",)
    assert new.granted_until == shorter and new.grant_id == "grant-app-1-1"
    assert new.grant_from == at("2026-06-02T10:00") and new.accepted_at == at("2026-06-02T10:00")
    assert t.from_state is sa.State.SUBMITTED and new.version == app.version + 1
    with pytest.raises(WorkflowError) as more:
        sa.approve(app, Act(PROVIDER, at("2026-06-02T10:00")), items=["phone", "email"])
    assert more.value.code == "items_not_requested"
    with pytest.raises(WorkflowError) as longer:
        sa.approve(app, Act(PROVIDER, at("2026-06-02T10:00")), valid_until=UNTIL + timedelta(1))
    assert longer.value.code == "validity_too_long"
    with pytest.raises(WorkflowError) as none:
        sa.approve(app, Act(PROVIDER, at("2026-06-02T10:00")), items=[])
    assert none.value.code == "no_items"


@pytest.mark.parametrize(
    ("profile", "missing", "article", "given"),
    [
        ("guiyang-2021", "reasons", "G 15 ¶2", {"legal_basis": "某法第一条"}),
        ("guiyang-2017", "reasons", "G17 15 ¶2", {"legal_basis": "某法第一条"}),
        ("shenyang-2019", "legal_basis", "S 25 ¶3", {"reasons": "与职责无关"}),
    ],
)
def test_a_refusal_states_what_the_profile_requires(
    profile: str, missing: str, article: str, given: dict[str, str]
) -> None:
    """Guiyang: 不同意的说明理由 (G 15 ¶2); Shenyang: 应提供法律、法规或规章依据 (S 25 ¶3)."""
    app = submitted(profile)
    rules = PROFILES.get(profile)
    with pytest.raises(WorkflowError) as refused:
        sa.refuse(app, rules, Act(PROVIDER, at("2026-06-02T10:00")), **given)
    assert refused.value.code == f"missing_{missing}" and refused.value.article == article
    new, t = sa.refuse(
        app, rules, Act(PROVIDER, at("2026-06-02T10:00")), **{**given, missing: "依据如下"}
    )
    assert new.state is sa.State.REFUSED and t.article == article and new.grant_id is None


def test_a_late_answer_is_recorded_as_late() -> None:
    app = submitted("guiyang-2021")
    new, _ = sa.approve(app, Act(PROVIDER, app.due_by or UNTIL))
    assert new.answer is not None and new.answer.late


# -- the deadline: deemed consent (S 25 ¶3) or overdue (G 30, S 47) ------------------------------
def test_shenyang_silence_is_consent_at_2400_of_the_last_day_s25() -> None:
    app = submitted("shenyang-2019", "2026-09-30T16:00")
    profile = PROFILES.get("shenyang-2019")
    assert sa.on_deadline(app, profile, CONTACT, Act(SYSTEM, at("2026-10-13T23:59"))) is None
    late = at("2026-10-20T08:00")  # the bus was down at the deadline: it acts when back
    new, t = sa.on_deadline(app, profile, CONTACT, Act(SYSTEM, late)) or (None, None)
    assert new is not None and t is not None
    assert new.state is sa.State.DEEMED_APPROVED and t.action is Action.DEEM
    assert new.answer is not None and new.answer.deemed and new.answer.items == app.request.items
    assert new.grant_from == midnight_after("2026-10-13")  # 24:00 of the last day, not when acted
    assert t.article == "S 25 ¶3" and t.actor == SYSTEM
    assert sa.on_deadline(new, profile, CONTACT, Act(SYSTEM, late)) is None  # once


@pytest.mark.parametrize("profile", ["guiyang-2021", "guiyang-2017"])
def test_guiyang_silence_is_overdue_not_consent(profile: str) -> None:
    app = submitted(profile)
    if app.due_by is None:
        app, _ = sa.accept(
            app, PROFILES.get(profile), CALENDAR, Act(PROVIDER, at("2026-06-01T11:00"))
        )
    assert app.due_by is not None
    new, t = sa.on_deadline(app, PROFILES.get(profile), CONTACT, Act(SYSTEM, app.due_by)) or (
        None,
        None,
    )
    assert new is not None and t is not None
    assert t.action is Action.MISS_DEADLINE and new.state is app.state and new.overdue
    assert new.grant_id is None and t.article == app.due_basis
    assert sa.on_deadline(new, PROFILES.get(profile), CONTACT, Act(SYSTEM, app.due_by)) is None


@pytest.mark.parametrize("entry", [replace(CONTACT, share_type=ShareType.NOT_SHARED), None])
def test_never_deemed_for_data_not_shared_or_gone_s25(entry: CatalogEntry | None) -> None:
    """S 25 ¶3 deems consent for conditional data only, never 不予共享 (S 22)."""
    app = submitted("shenyang-2019")
    assert app.due_by is not None
    new, t = sa.on_deadline(app, PROFILES.get("shenyang-2019"), entry, Act(SYSTEM, app.due_by)) or (
        None,
        None,
    )
    assert new is not None and t is not None
    assert t.action is Action.MISS_DEADLINE and new.overdue and new.grant_id is None


# -- disputes: the bureau coordinates (G 15 ¶3, S 28), then the government (S 28) --------------
def _refused(profile: str) -> sa.ShareApplication:
    app = submitted(profile)
    new, _ = sa.refuse(
        app,
        PROFILES.get(profile),
        Act(PROVIDER, at("2026-06-02T10:00")),
        reasons="非履职所需",
        legal_basis="某法第一条",
    )
    return new


def test_guiyang_the_bureau_coordinates_a_refusal_and_settles_it_g15() -> None:
    profile = PROFILES.get("guiyang-2021")
    app = _refused("guiyang-2021")
    with pytest.raises(WorkflowError) as no_reason:
        sa.dispute(app, profile, Act(APPLICANT, at("2026-06-03T10:00")), reason=" ")
    assert no_reason.value.code == "missing_reason"
    disputed, t = sa.dispute(
        app, profile, Act(APPLICANT, at("2026-06-03T10:00")), reason="确需使用"
    )
    assert disputed.state is sa.State.COORDINATION and t.article == "G 15 ¶3"
    with pytest.raises(WorkflowError) as no_gov:
        sa.refer(disputed, profile, Act(BUREAU, at("2026-06-04T10:00")), reason="协调不成")
    assert no_gov.value.code == "no_government_step"
    settled, t = sa.settle(
        disputed,
        profile,
        Act(BUREAU, at("2026-06-05T10:00")),
        sa.Ruling(sa.Outcome.GRANT, "履职确需", items=["phone"]),
    )
    assert settled.state is sa.State.APPROVED and settled.granted_items == ("phone",)
    assert settled.grant_id == "grant-app-1-1" and t.action is Action.SETTLE
    # An approval cannot be disputed under Guiyang (G 15 ¶3 speaks of a refusal only).
    with pytest.raises(StateError):
        sa.dispute(settled, profile, Act(APPLICANT, at("2026-06-06T10:00")), reason="更多")


def test_guiyang_an_upheld_refusal_stands_and_is_not_disputed_twice() -> None:
    profile = PROFILES.get("guiyang-2021")
    disputed, _ = sa.dispute(
        _refused("guiyang-2021"), profile, Act(APPLICANT, at("2026-06-03T10:00")), reason="确需"
    )
    upheld, _ = sa.settle(
        disputed,
        profile,
        Act(BUREAU, at("2026-06-04T10:00")),
        sa.Ruling(sa.Outcome.UPHOLD, "理由成立"),
    )
    assert upheld.state is sa.State.REFUSED and upheld.grant_id is None
    with pytest.raises(StateError) as again:
        sa.dispute(upheld, profile, Act(APPLICANT, at("2026-06-05T10:00")), reason="再议")
    assert again.value.code == "already_disputed"


def test_shenyang_any_dispute_goes_to_the_bureau_then_the_government_s28() -> None:
    profile = PROFILES.get("shenyang-2019")
    app = submitted("shenyang-2019")
    approved, _ = sa.approve(app, Act(PROVIDER, at("2026-06-02T10:00")), items=["phone"])
    disputed, _ = sa.dispute(
        approved, profile, Act(APPLICANT, at("2026-06-03T10:00")), reason="地址亦需"
    )
    assert disputed.state is sa.State.COORDINATION and disputed.dispute is not None
    referred, t = sa.refer(
        disputed, profile, Act(BUREAU, at("2026-06-04T10:00")), reason="协调不成"
    )
    assert referred.state is sa.State.GOVERNMENT and t.article == "S 28"
    decided, t = sa.decide(
        referred,
        profile,
        Act(GOV, at("2026-06-08T10:00")),
        sa.Ruling(sa.Outcome.GRANT, "市政府决定"),
    )
    assert decided.state is sa.State.APPROVED and decided.granted_items == app.request.items
    assert decided.grant_id == "grant-app-1-2" and t.details["replaces"] == "grant-app-1-1"


def test_revocation_and_expiry_end_a_grant() -> None:
    approved, _ = sa.approve(
        submitted(), Act(PROVIDER, at("2026-06-02T10:00")), valid_until=at("2026-07-01T00:00")
    )
    assert sa.expire(approved, Act(SYSTEM, at("2026-06-30T23:59"))) is None
    expired, _ = sa.expire(approved, Act(SYSTEM, at("2026-07-01T00:00"))) or (None, None)
    assert expired is not None and expired.state is sa.State.EXPIRED
    with pytest.raises(WorkflowError):
        sa.revoke(approved, Act(PROVIDER, at("2026-06-03T10:00")), reason="")
    revoked, t = sa.revoke(approved, Act(PROVIDER, at("2026-06-03T10:00")), reason="职责调整")
    assert revoked.state is sa.State.REVOKED and t.reason == "职责调整"


# -- every step in every state: allowed or refused --------------------------------------------
def _in_state(state: sa.State, profile: str) -> sa.ShareApplication:
    p = PROFILES.get(profile)
    app = submitted(profile)
    t = at("2026-06-02T10:00")
    if state is sa.State.SUBMITTED:
        return app
    if state is sa.State.ACCEPTED:
        return sa.accept(app, p, CALENDAR, Act(PROVIDER, t))[0]
    if state is sa.State.WITHDRAWN:
        return sa.withdraw(app, Act(APPLICANT, t))[0]
    if state is sa.State.DEEMED_APPROVED:
        return replace(sa.approve(app, Act(PROVIDER, t))[0], state=state)
    if state in (sa.State.APPROVED, sa.State.REVOKED, sa.State.EXPIRED):
        return replace(sa.approve(app, Act(PROVIDER, t))[0], state=state)
    refused = sa.refuse(app, p, Act(PROVIDER, t), reasons="r", legal_basis="b")[0]
    if state is sa.State.REFUSED:
        return refused
    coordination = sa.dispute(refused, p, Act(APPLICANT, t), reason="r")[0]
    return coordination if state is sa.State.COORDINATION else replace(coordination, state=state)


UPHOLD = sa.Ruling(sa.Outcome.UPHOLD, "r")
STEPS: dict[Action, Callable[[sa.ShareApplication, Profile, datetime], sa.Step]] = {
    Action.ACCEPT: lambda a, p, t: sa.accept(a, p, CALENDAR, Act(PROVIDER, t)),
    Action.APPROVE: lambda a, p, t: sa.approve(a, Act(PROVIDER, t)),
    Action.REFUSE: lambda a, p, t: sa.refuse(a, p, Act(PROVIDER, t), reasons="r", legal_basis="b"),
    Action.WITHDRAW: lambda a, p, t: sa.withdraw(a, Act(APPLICANT, t)),
    Action.DISPUTE: lambda a, p, t: sa.dispute(a, p, Act(APPLICANT, t), reason="r"),
    Action.SETTLE: lambda a, p, t: sa.settle(a, p, Act(BUREAU, t), UPHOLD),
    Action.REFER: lambda a, p, t: sa.refer(a, p, Act(BUREAU, t), reason="r"),
    Action.DECIDE: lambda a, p, t: sa.decide(a, p, Act(GOV, t), UPHOLD),
    Action.REVOKE: lambda a, p, t: sa.revoke(a, Act(PROVIDER, t), reason="r"),
}
ALLOWED = {
    Action.ACCEPT: {sa.State.SUBMITTED},
    Action.APPROVE: set(sa.AWAITING),
    Action.REFUSE: set(sa.AWAITING),
    Action.WITHDRAW: set(sa.AWAITING),
    Action.SETTLE: {sa.State.COORDINATION},
    Action.DECIDE: {sa.State.GOVERNMENT},
    Action.REVOKE: set(sa.GRANTED),
}
DISPUTABLE = {
    "guiyang-2021": {sa.State.REFUSED},
    "guiyang-2017": {sa.State.REFUSED},
    "shenyang-2019": {sa.State.REFUSED, *sa.GRANTED},
}
REFERABLE = {"guiyang-2021": set(), "guiyang-2017": set(), "shenyang-2019": {sa.State.COORDINATION}}


@pytest.mark.parametrize(
    ("profile", "state", "action"),
    list(itertools.product(DISPUTABLE, sa.State, STEPS)),
)
def test_every_step_in_every_state_is_allowed_or_refused(
    profile: str, state: sa.State, action: Action
) -> None:
    allowed = {**ALLOWED, Action.DISPUTE: DISPUTABLE[profile], Action.REFER: REFERABLE[profile]}[
        action
    ]
    app = _in_state(state, profile)
    assert app.state is state
    step = STEPS[action]
    if state in allowed:
        new, t = step(app, PROFILES.get(profile), at("2026-06-03T10:00"))
        assert t.action is action and t.from_state is state and new.version == app.version + 1
    else:
        with pytest.raises(WorkflowError):
            step(app, PROFILES.get(profile), at("2026-06-03T10:00"))


# -- what may be applied for ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry_id", "items", "code", "article"),
    [
        ("psb.person.basic", ["name"], "entry_unconditional", "G 15 ¶1; S 25 ¶1"),
        ("psb.person.watchlist", ["watch_category"], "entry_not_shared", "GM 9; S 22"),
        ("psb.person.contact", ["email"], "item_not_in_entry", "S 22"),
        ("psb.person.contact", [], "no_items", "G 15 ¶2; S 25 ¶2"),
    ],
)
def test_applications_the_rules_refuse(
    entry_id: str, items: list[str], code: str, article: str
) -> None:
    entry = demo_entry(entry_id)
    with pytest.raises(WorkflowError) as refused:
        sa.submit(
            sa.Request(entry_id, tuple(items), "p", "b", UNTIL),
            case_id="x",
            profile=PROFILES.get("shenyang-2019"),
            calendar=CALENDAR,
            entry=entry,
            act=Act(APPLICANT, at("2026-06-01T10:00")),
        )
    assert (refused.value.code, refused.value.article) == (code, article)


REQUEST = sa.Request(CONTACT.id, ("phone",), "p", "b", UNTIL)


@pytest.mark.parametrize(
    ("request_", "actor", "profile", "code"),
    [
        (REQUEST, PROVIDER, "guiyang-2021", "own_data"),
        (
            replace(REQUEST, valid_until=at("2026-06-01T09:00")),
            APPLICANT,
            "guiyang-2021",
            "validity_past",
        ),
        (replace(REQUEST, purpose="  "), APPLICANT, "guiyang-2021", "missing_purpose"),
        (replace(REQUEST, legal_basis=""), APPLICANT, "guiyang-2021", "missing_legal_basis"),
        (REQUEST, APPLICANT, "jinan-2024", "no_share_applications"),
        (REQUEST, BUREAU, "guiyang-2021", "no_applicant"),
        (
            replace(REQUEST, entry_id="psb.person.basic"),
            APPLICANT,
            "guiyang-2021",
            "entry_mismatch",
        ),
    ],
)
def test_an_application_needs_purpose_basis_validity_and_another_provider(
    request_: sa.Request, actor: Actor, profile: str, code: str
) -> None:
    """G 15 ¶2, S 25 ¶2: an agency applies, stating purpose and basis (G 17, S 29), for
    another agency's data; Jinan's opening-only text has no share applications."""
    with pytest.raises(WorkflowError) as refused:
        sa.submit(
            request_,
            case_id="x",
            profile=PROFILES.get(profile),
            calendar=CALENDAR,
            entry=CONTACT,
            act=Act(actor, at("2026-06-01T10:00")),
        )
    assert refused.value.code == code


def test_items_of_several_providers_are_applied_for_separately() -> None:
    mixed = replace(
        CONTACT, items=(CONTACT.items[0], replace(CONTACT.items[1], provider="city-mca"))
    )
    with pytest.raises(WorkflowError) as refused:
        sa.submit(
            sa.Request(mixed.id, ("phone", "household_address"), "p", "b", UNTIL),
            case_id="x",
            profile=PROFILES.get("guiyang-2021"),
            calendar=CALENDAR,
            entry=mixed,
            act=Act(APPLICANT, at("2026-06-01T10:00")),
        )
    assert refused.value.code == "several_providers"


@pytest.mark.parametrize("state", list(sa.State))
def test_the_stored_document_round_trips(state: sa.State) -> None:
    app = _in_state(state, "shenyang-2019")
    assert sa.from_document(sa.to_document(app)) == app


# -- the permission table -------------------------------------------------------------
@pytest.mark.parametrize(("role", "action"), list(itertools.product(Role, Action)))
def test_every_role_and_action_is_in_the_table_or_refused(role: Role, action: Action) -> None:
    actor = Actor("u", role, "city-hc" if role is Role.AGENCY else None)
    scope = PERMISSIONS[role].get(action)
    if scope is None:
        with pytest.raises(PermissionDenied) as denied:
            authorize(actor, action, applicant="city-hc", provider="city-psb")
        assert denied.value.code == "role_not_permitted"
        return
    party = {
        Scope.ANY: "",
        Scope.APPLICANT: "applicant",
        Scope.PROVIDER: "provider",
        Scope.PARTY: "applicant",
    }[scope]
    kwargs = {"applicant": "city-x", "provider": "city-y"}
    if party:
        kwargs[party] = "city-hc"
    authorize(actor, action, **kwargs)
    if scope is not Scope.ANY:
        with pytest.raises(PermissionDenied) as other:
            authorize(actor, action, applicant="city-x", provider="city-y")
        assert other.value.code == "not_a_party"


def test_only_the_bus_acts_on_deadlines_and_no_user_is_the_bus() -> None:
    assert Role.SYSTEM not in USER_ROLES
    for role in USER_ROLES:
        for action in (Action.DEEM, Action.MISS_DEADLINE, Action.EXPIRE, Action.REMIND):
            assert action not in PERMISSIONS[role]
    assert set(PERMISSIONS[Role.GOVERNMENT]) & {Action.APPROVE, Action.SETTLE} == set()
    assert Action.DECIDE in PERMISSIONS[Role.GOVERNMENT]
    assert set(PERMISSIONS[Role.PUBLIC]) == {Action.READ_PROFILE, Action.READ_SELF}
