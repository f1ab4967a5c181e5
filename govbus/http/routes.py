"""The API's routes: each parses its body, takes the caller from the token and calls one
method of the application layer (:mod:`topology.workflows`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from exchange.profiles import profile_to_dict
from exchange.workflows import share_application as sa
from exchange.workflows.roles import Action, authorize
from govbus.http.deps import (
    CASE_ERRORS,
    ERRORS,
    CurrentActor,
    Flows,
    action,
    token_of,
)
from govbus.http.models import (
    Application,
    Applications,
    ApplyRequest,
    ApproveRequest,
    Me,
    OutcomeRequest,
    RefuseRequest,
    TokenRequest,
    TokenResponse,
)
from govbus.http.routing import CaseId, CaseRoutes, CaseView, Limit, Offset, page_of

router = APIRouter()
APPS = "/v1/applications"
cases = CaseRoutes(router, APPS, "applications")


def _out(flows: Flows, app: sa.ShareApplication) -> Application:
    doc = sa.to_document(app)
    doc["overdue"] = app.overdue or app.is_overdue(flows.clock.now())
    return Application.model_validate(doc)


#: How the routes show an application.
APPLICATION = CaseView(lambda flows: flows.applications, _out, Application)


# -- accounts -------------------------------------------------------------------------------
@router.post(
    "/v1/auth/token",
    tags=["auth"],
    summary="登录，取得访问令牌 (log in: a bearer token)",
    responses={401: ERRORS[401], 422: ERRORS[422]},
)
def login(body: TokenRequest, flows: Flows) -> TokenResponse:
    issued = flows.accounts.login(body.username, body.password)
    a = issued.actor
    return TokenResponse(
        access_token=issued.token,
        expires_at=issued.expires_at,
        user=Me(id=a.id, role=a.role.value, agency=a.agency),
    )


@router.delete(
    "/v1/auth/token",
    tags=["auth"],
    summary="注销令牌 (revoke this token)",
    status_code=204,
    responses=ERRORS,
    openapi_extra=action(Action.READ_SELF),
)
def logout(actor: CurrentActor, token: Annotated[str, Depends(token_of)], flows: Flows) -> None:
    authorize(actor, Action.READ_SELF)
    flows.accounts.logout(token)


@router.get(
    "/v1/me",
    tags=["auth"],
    summary="当前用户 (who am I)",
    responses=ERRORS,
    openapi_extra=action(Action.READ_SELF),
)
def me(actor: CurrentActor) -> Me:
    authorize(actor, Action.READ_SELF)
    return Me(id=actor.id, role=actor.role.value, agency=actor.agency)


@router.get(
    "/v1/profile",
    tags=["profile"],
    summary="本地适用的法规配置 (the jurisdiction profile in force)",
    responses=ERRORS,
    openapi_extra=action(Action.READ_PROFILE),
)
def profile(actor: CurrentActor, flows: Flows) -> dict[str, Any]:
    authorize(actor, Action.READ_PROFILE)
    return profile_to_dict(flows.applications.profile)


# -- sharing applications ------------------------------------------------------------------------
@cases.opening(
    Action.APPLY,
    "提出共享申请 (apply for conditional data, G 15 ¶2, S 25 ¶2)",
    {**ERRORS, 404: CASE_ERRORS[404]},
)
def apply(body: ApplyRequest, actor: CurrentActor, flows: Flows) -> Application:
    request = sa.Request(
        body.entry, tuple(body.items), body.purpose, body.legal_basis, body.valid_until
    )
    return _out(flows, flows.applications.apply(actor, request))


@cases.listing("共享申请列表 (applications the caller may see)")
def list_applications(
    actor: CurrentActor,
    flows: Flows,
    state: Annotated[list[sa.State] | None, Query()] = None,
    overdue: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Applications:
    found = page_of(flows.applications, actor, state, overdue, limit, offset)
    return Applications(applications=[_out(flows, a) for a in found])


cases.reads(
    APPLICATION,
    ("get_application", "查看共享申请 (one application)"),
    ("transitions", "办理记录 (who did what, when, why)"),
)


def _ruling(body: OutcomeRequest) -> sa.Ruling:
    return sa.Ruling(body.outcome, body.reason, body.items, body.valid_until)


@cases.step("accept", Action.ACCEPT, "受理 (the provider takes the application up)")
def accept(case_id: CaseId, actor: CurrentActor, flows: Flows) -> Application:
    return _out(flows, flows.applications.accept(actor, case_id))


@cases.step("approve", Action.APPROVE, "同意共享 (approve, possibly fewer items or shorter)")
def approve(
    case_id: CaseId, body: ApproveRequest, actor: CurrentActor, flows: Flows
) -> Application:
    app = flows.applications.approve(
        actor, case_id, items=body.items, valid_until=body.valid_until, reason=body.reason
    )
    return _out(flows, app)


@cases.step("refuse", Action.REFUSE, "不同意共享 (refuse: reasons, G 15 ¶2; legal basis, S 25 ¶3)")
def refuse(case_id: CaseId, body: RefuseRequest, actor: CurrentActor, flows: Flows) -> Application:
    app = flows.applications.refuse(
        actor, case_id, reasons=body.reasons, legal_basis=body.legal_basis
    )
    return _out(flows, app)


cases.reason_steps(
    APPLICATION,
    ("withdraw", Action.WITHDRAW, "撤回申请 (the applicant withdraws)"),
    ("dispute", Action.DISPUTE, "提请协调 (dispute: the bureau coordinates, G 15 ¶3, S 28)"),
    ("refer", Action.REFER, "报市政府决定 (the bureau refers the dispute, S 28)"),
    ("revoke", Action.REVOKE, "撤销共享权限 (the provider revokes the grant)"),
)


@cases.step("settle", Action.SETTLE, "协调处理结果 (the bureau settles the dispute)")
def settle(case_id: CaseId, body: OutcomeRequest, actor: CurrentActor, flows: Flows) -> Application:
    return _out(flows, flows.applications.settle(actor, case_id, _ruling(body)))


@cases.step("decide", Action.DECIDE, "市政府决定 (the city government decides, S 28)")
def decide(case_id: CaseId, body: OutcomeRequest, actor: CurrentActor, flows: Flows) -> Application:
    return _out(flows, flows.applications.decide(actor, case_id, _ruling(body)))
