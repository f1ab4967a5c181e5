"""The workflows' HTTP API on SQLite and PostgreSQL, with the real broker: authentication,
the permission table walked endpoint by endpoint and role by role, the articles' refusals
(G 15 ¶2, S 25 ¶3, S 28), transitions stamped who/when/why and sealed into the workflow
audit chain (S 42)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from exchange.workflows.roles import PERMISSIONS, Action, Role, Scope
from producers.workflow_audit import workflow_audit_topic
from schemas.audit import verify
from tests.support.scenario import read_topic
from tests.support.workflow import (
    PASSWORD,
    USERS,
    OpenWorkflows,
    WorkflowEnv,
    valid_until,
)
from topology.workflows.accounts import DEFAULT_TOKEN_TTL


@pytest.fixture
def env(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("guiyang-2021")


@pytest.fixture
def shenyang(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("shenyang-2019")


def _routes(env: WorkflowEnv) -> list[tuple[str, str, str | None]]:
    """(method, path, action) of every operation in the OpenAPI description."""
    spec = env.http.get("/openapi.json").json()
    return [
        (method.upper(), path, op.get("x-govbus-action"))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_health_openapi_and_docs_need_no_token_everything_else_does(env: WorkflowEnv) -> None:
    assert env.http.get("/healthz").json() == {"status": "ok"}
    spec = env.http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "共享申请" in env.http.get("/docs").text or env.http.get("/docs").status_code == 200
    for method, path, action in _routes(env):
        if action is None:
            continue  # /healthz, the token endpoint
        url = path.replace("{case_id}", "app-none")
        got = env.http.request(method, url, json={})
        assert got.status_code == 401, (method, path, got.text)
        assert got.headers["www-authenticate"] == "Bearer"
        bad = env.http.request(method, url, json={}, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, (method, path)


BODIES: dict[Action, dict[str, Any]] = {
    Action.APPROVE: {},
    Action.REFUSE: {"reasons": "非履职所需", "legal_basis": "某法第一条"},
    Action.WITHDRAW: {"reason": "不再需要"},
    Action.DISPUTE: {"reason": "确需使用"},
    Action.SETTLE: {"outcome": "uphold", "reason": "维持"},
    Action.REFER: {"reason": "协调不成"},
    Action.DECIDE: {"outcome": "uphold", "reason": "维持"},
    Action.REVOKE: {"reason": "职责调整"},
    Action.REVIEW: {"reason": "符合编制要求"},
    Action.RATIFY: {"reason": "审定通过"},
    Action.RETURN: {"reasons": "依据不足"},
    Action.CANCEL: {"reason": "另行报送"},
    Action.FULFIL: {"reason": "已更新目录"},
    Action.OPEN_MAINTENANCE: {"year": 2026},
    Action.UNSUBSCRIBE: {"reason": "职责调整"},
}


@dataclass(frozen=True)
class Walked:
    """One case of each kind, and the parties of each (None: no party, any role)."""

    cases: dict[str, str]  # path prefix -> case id
    parties: dict[str, tuple[str, str]]  # path prefix -> (applicant, provider)


def _cases(env: WorkflowEnv) -> Walked:
    created = env.apply()
    assert created.status_code == 201, created.text
    change = env.submit_entry(env.new_entry())
    assert change.status_code == 201, change.text
    recorded = env.call(
        "POST",
        "/v1/catalog/obligations",
        "bureau",
        json={
            "obligation": "catalog_update_circumstances",
            "agency": env.agency("city-psb"),
            "arose_on": "2026-06-01",
            "description": "户籍管理职能调整",
            "matter": "catalog",
        },
    )
    assert recorded.status_code == 201, recorded.text
    subscribed = env.subscribe("hc-clerk", "amr.company.registration")
    assert subscribed.status_code == 201, subscribed.text
    hc, psb = env.agency("city-hc"), env.agency("city-psb")
    return Walked(
        cases={
            "/v1/applications": created.json()["id"],
            "/v1/catalog/changes": change.json()["id"],
            "/v1/catalog/obligations": recorded.json()["id"],
            "/v1/subscriptions": subscribed.json()["id"],
        },
        parties={
            "/v1/applications": (hc, psb),
            "/v1/subscriptions": (hc, hc),
            "/v1/catalog/changes": (psb, psb),
            "/v1/catalog/obligations": (psb, psb),
            # a new case of each kind, as the bodies below make it
            "/v1/catalog/withdrawals": (psb, psb),
        },
    )


def _body(env: WorkflowEnv, action: Action, path: str) -> dict[str, Any] | None:
    """A valid body for the route, so the walk meets the permission check, not validation."""
    if action is Action.APPLY:
        return {
            "entry": env.entry("psb.person.contact"),
            "items": ["phone"],
            "purpose": "p",
            "legal_basis": "b",
            "valid_until": valid_until(),
        }
    if action is Action.SUBSCRIBE:
        return {"entry": env.entry("psb.person.basic"), "purpose": "履职所需"}
    if action is Action.SUBMIT_CHANGE and path.endswith("withdrawals"):
        entry = env.entry("psb.person.contact")
        return {"entry_id": entry, "reason": "停用", "effective_on": "2026-07-01"}
    if action in (Action.SUBMIT_CHANGE, Action.RESUBMIT):
        return {"entry": env.new_entry("psb.person.sign"), "reason": "新增"}
    if action is Action.RECORD_OBLIGATION:
        return {
            "obligation": "catalog_update_law_change",
            "agency": env.agency("city-psb"),
            "arose_on": "2026-06-01",
            "description": "某条例修订",
            "matter": "catalog",
        }
    return BODIES.get(action)


def _forbidden(scope: Scope | None, own: str | None, parties: tuple[str, str] | None) -> bool:
    """What the permission table says of a role's call on a case with ``parties`` (None:
    a list, where an agency sees its own)."""
    if scope is None:
        return True
    if scope is Scope.ANY or parties is None:
        return False
    applicant, provider = parties
    allowed = {
        Scope.APPLICANT: {applicant},
        Scope.PROVIDER: {provider},
        Scope.PARTY: {applicant, provider},
    }[scope]
    return own not in allowed


def test_every_endpoint_for_every_role_is_allowed_or_403(env: WorkflowEnv) -> None:
    """The permission table (exchange.workflows.roles.PERMISSIONS), walked completely: a
    role the table does not list for the action gets 403; an agency user gets 403 on a
    case its agency is not the named party of (sharing applications: applicant and
    provider; catalog changes and obligations: the agency whose catalog it is); everyone
    else is let through."""
    walked = _cases(env)
    calls = 0
    for method, path, name in _routes(env):
        if name is None:
            continue
        action = Action(name)
        prefix = next((p for p in walked.parties if path.startswith(p)), None)
        case = next((c for p, c in walked.cases.items() if path.startswith(p)), None)
        for user, (role_name, agency) in USERS.items():
            role = Role(role_name)
            token = env.tokens[user]
            if action is Action.READ_SELF and method == "DELETE":
                token = env.http.post(
                    "/v1/auth/token", json={"username": user, "password": PASSWORD}
                ).json()["access_token"]
            got = env.http.request(
                method,
                path.replace("{case_id}", case or "none"),
                json=_body(env, action, path),
                headers={"Authorization": f"Bearer {token}"},
            )
            own = None if agency is None else env.agency(agency)
            creates = method == "POST" and "{case_id}" not in path
            parties = None if prefix is None else walked.parties[prefix]
            if creates and action in (Action.APPLY, Action.SUBSCRIBE):
                parties = (own or "", env.agency("city-psb"))  # one applies for oneself
            elif not creates and "{case_id}" not in path:
                parties = None  # lists: one's own cases
            scope = PERMISSIONS[role].get(action)
            where = (method, path, user)
            if _forbidden(scope, own, parties):
                assert got.status_code == 403, (*where, got.status_code, got.text)
                assert got.json()["code"] in {"role_not_permitted", "not_a_party"}
            else:
                assert got.status_code not in (401, 403), (*where, got.status_code, got.text)
                assert got.status_code < 500, (*where, got.text)
            calls += 1
    assert calls == len([r for r in _routes(env) if r[2]]) * len(USERS)


def test_guiyang_application_accepted_and_approved_with_fewer_items(env: WorkflowEnv) -> None:
    created = env.apply(items=("phone", "household_address"))
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["state"] == "submitted" and app["due_basis"] == "G 15 ¶2"
    assert app["due_by"].startswith("2026-06-12T00:00:00")  # 10 days from 06-01, 24:00 (D1)
    case = app["id"]
    env.clock.advance(timedelta(hours=2))
    accepted = env.call("POST", f"/v1/applications/{case}/accept", "psb-clerk")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    again = env.call("POST", f"/v1/applications/{case}/accept", "psb-clerk")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    more = env.call(
        "POST", f"/v1/applications/{case}/approve", "psb-clerk", json={"items": ["email"]}
    )
    assert more.status_code == 422 and more.json()["code"] == "items_not_requested"
    env.clock.advance(timedelta(hours=1))
    approved = env.call(
        "POST",
        f"/v1/applications/{case}/approve",
        "psb-clerk",
        json={"items": ["phone"], "reason": "同意提供联系电话"},
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "approved" and body["answer"]["items"] == ["phone"]
    # The grant is in the store, named after the case, by the provider (G 15 ¶2).
    grant = env.flows.applications.reference.store.get_grant(body["grant_id"])
    assert grant is not None and grant.items == ("phone",)
    assert grant.agency_id == env.agency("city-hc") and grant.granted_by == env.agency("city-psb")
    assert grant.valid_from == env.clock.now()
    # Who, when, what, why (transitions), readable by the parties and the auditor only.
    history = env.call("GET", f"/v1/applications/{case}/transitions", "auditor").json()
    steps = [
        (t["action"], t["actor"], t["from_state"], t["to_state"]) for t in history["transitions"]
    ]
    assert steps == [
        ("apply", "hc-clerk", None, "submitted"),
        ("accept", "psb-clerk", "submitted", "accepted"),
        ("approve", "psb-clerk", "accepted", "approved"),
    ]
    last = history["transitions"][-1]
    assert last["reason"] == "同意提供联系电话" and last["details"]["grant_id"] == body["grant_id"]
    assert last["actor_agency"] == env.agency("city-psb")
    assert env.call("GET", f"/v1/applications/{case}", "mca-clerk").status_code == 403
    mine = env.call("GET", "/v1/applications", "hc-clerk").json()["applications"]
    assert [a["id"] for a in mine] == [case]
    assert env.call("GET", "/v1/applications", "mca-clerk").json()["applications"] == []


def test_guiyang_refusal_without_reasons_is_422_and_a_dispute_goes_to_the_bureau(
    env: WorkflowEnv,
) -> None:
    case = env.apply().json()["id"]
    bare = env.call(
        "POST", f"/v1/applications/{case}/refuse", "psb-clerk", json={"legal_basis": "某法"}
    )
    assert bare.status_code == 422
    assert (bare.json()["code"], bare.json()["article"]) == ("missing_reasons", "G 15 ¶2")
    refused = env.call(
        "POST", f"/v1/applications/{case}/refuse", "psb-clerk", json={"reasons": "非履职所需"}
    )
    assert refused.status_code == 200 and refused.json()["state"] == "refused"
    disputed = env.call(
        "POST", f"/v1/applications/{case}/dispute", "hc-clerk", json={"reason": "确需使用"}
    )
    assert disputed.json()["state"] == "coordination"
    refer = env.call(
        "POST", f"/v1/applications/{case}/refer", "bureau", json={"reason": "协调不成"}
    )
    assert refer.status_code == 422 and refer.json()["code"] == "no_government_step"
    settled = env.call(
        "POST",
        f"/v1/applications/{case}/settle",
        "bureau",
        json={"outcome": "grant", "reason": "经协调同意提供", "items": ["phone"]},
    )
    assert settled.status_code == 200 and settled.json()["state"] == "approved"
    assert env.flows.applications.reference.store.get_grant(settled.json()["grant_id"])


def test_shenyang_refusal_needs_its_legal_basis_and_disputes_reach_the_government(
    shenyang: WorkflowEnv,
) -> None:
    env = shenyang
    case = env.apply().json()["id"]
    bare = env.call(
        "POST", f"/v1/applications/{case}/refuse", "psb-clerk", json={"reasons": "不宜共享"}
    )
    assert bare.status_code == 422
    assert (bare.json()["code"], bare.json()["article"]) == ("missing_legal_basis", "S 25 ¶3")
    env.call(
        "POST",
        f"/v1/applications/{case}/refuse",
        "psb-clerk",
        json={"legal_basis": "《某条例》第十条"},
    )
    env.call("POST", f"/v1/applications/{case}/dispute", "hc-clerk", json={"reason": "确需"})
    referred = env.call(
        "POST", f"/v1/applications/{case}/refer", "bureau", json={"reason": "协调不成"}
    )
    assert referred.status_code == 200 and referred.json()["state"] == "government"
    assert (
        env.call(
            "POST", f"/v1/applications/{case}/decide", "bureau", json={"outcome": "uphold"}
        ).status_code
        == 403
    )
    decided = env.call(
        "POST",
        f"/v1/applications/{case}/decide",
        "gov",
        json={"outcome": "grant", "reason": "市政府决定共享"},
    )
    assert decided.status_code == 200 and decided.json()["state"] == "approved"
    history = env.call("GET", f"/v1/applications/{case}/transitions", "gov").json()["transitions"]
    assert [t["article"] for t in history][-3:] == ["S 28", "S 28", "S 28"]


def test_tokens_expire_can_be_revoked_and_die_with_their_account(env: WorkflowEnv) -> None:
    wrong = env.http.post("/v1/auth/token", json={"username": "bureau", "password": "x" * 12})
    nobody = env.http.post("/v1/auth/token", json={"username": "nobody", "password": "x" * 12})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["detail"] == nobody.json()["detail"]  # which one was wrong is not said
    assert env.call("GET", "/v1/me", "auditor").json() == {
        "id": "auditor",
        "role": "auditor",
        "agency": None,
    }
    assert env.call("DELETE", "/v1/auth/token", "auditor").status_code == 204
    assert env.call("GET", "/v1/me", "auditor").status_code == 401
    assert env.flows.accounts.disable_user("citizen", reason="离职")
    assert env.call("GET", "/v1/me", "citizen").status_code == 401
    env.clock.advance(DEFAULT_TOKEN_TTL)
    assert env.call("GET", "/v1/me", "bureau").status_code == 401
    # Only digests are stored: no token or password appears in the database.
    from sqlalchemy import text

    with env.flows.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM tokens")).fetchall())
        dump += str(conn.execute(text("SELECT * FROM users")).fetchall())
    assert env.tokens["bureau"] not in dump and PASSWORD not in dump
    assert "$argon2id$" in dump


def test_every_transition_is_sealed_into_the_workflow_audit_chain(env: WorkflowEnv) -> None:
    case = env.apply().json()["id"]
    env.call("POST", f"/v1/applications/{case}/accept", "psb-clerk")
    env.call("POST", f"/v1/applications/{case}/refuse", "psb-clerk", json={"reasons": "无"})
    assert env.flows.relay is not None
    env.flows.relay.run_once()
    history = env.call("GET", f"/v1/applications/{case}/transitions", "bureau").json()
    seqs = [t["audit_seq"] for t in history["transitions"]]
    assert None not in seqs and seqs == sorted(seqs)
    messages = read_topic(
        env.bootstrap, workflow_audit_topic(env.namespace), config=env.config, settle_s=1.0
    )
    report = verify(
        ((str(i), value) for i, (_key, value) in enumerate(messages)), record_name="WorkflowEvent"
    )
    assert report.ok, report.findings
    assert report.heads["workflows"].seq >= max(seqs)
    # Tampering is seen: a changed byte no longer matches its hash.
    forged = list(messages)
    key, value = forged[-1]
    forged[-1] = (key, value[:20] + bytes([value[20] ^ 1]) + value[21:])
    tampered = verify(
        ((str(i), v) for i, (_k, v) in enumerate(forged)), record_name="WorkflowEvent"
    )
    assert not tampered.ok
