"""The catalog's routes: changes to entries through their reviews (G 11, GM 14, S 18, S 23,
S 27 ¶2, J 9 ¶4, J 11) and catalog update obligations (G 13, GM 15). Each parses its body,
takes the caller from the token and calls one method of the application layer
(:mod:`topology.workflows.catalog`, :mod:`topology.workflows.obligations`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query

from exchange.workflows import catalog_change as cc
from exchange.workflows import catalog_obligation as co
from exchange.workflows.roles import Action
from govbus.http.catalog_models import (
    Change,
    ChangeRequest,
    Changes,
    FulfilRequest,
    MaintenanceRequest,
    Obligation,
    ObligationRequest,
    Obligations,
    ReturnRequest,
    WithdrawalRequest,
)
from govbus.http.deps import CASE_ERRORS, ERRORS, CurrentActor, Flows, action
from govbus.http.models import ID_PATTERN, ReasonRequest, Transitions
from govbus.http.routes import transitions_out

router = APIRouter()
F = TypeVar("F", bound=Callable[..., Any])
CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="Case id.")]
CHANGES = "/v1/catalog/changes"
OBLIGATIONS = "/v1/catalog/obligations"


def _change(change: cc.CatalogChange) -> Change:
    return Change.model_validate(cc.to_document(change))


def _obligation(flows: Flows, ob: co.CatalogObligation) -> Obligation:
    doc = co.to_document(ob)
    doc["overdue"] = ob.overdue or ob.is_overdue(flows.clock.now())
    return Obligation.model_validate(doc)


# -- changes ------------------------------------------------------------------------------------
@router.post(
    CHANGES,
    tags=["catalog"],
    summary="报送目录或目录变更 (submit a new entry or a change, G 11, S 18, J 11)",
    status_code=201,
    responses={**ERRORS, 409: CASE_ERRORS[409]},
    openapi_extra=action(Action.SUBMIT_CHANGE),
)
def submit_change(body: ChangeRequest, actor: CurrentActor, flows: Flows) -> Change:
    return _change(flows.catalog.submit(actor, body.entry.document(), reason=body.reason))


@router.post(
    "/v1/catalog/withdrawals",
    tags=["catalog"],
    summary="停止提供已发布的数据资源 (withdraw: reason filed in advance, S 27 ¶2)",
    status_code=201,
    responses={**ERRORS, 404: CASE_ERRORS[404], 409: CASE_ERRORS[409]},
    openapi_extra=action(Action.SUBMIT_CHANGE),
)
def withdraw_entry(body: WithdrawalRequest, actor: CurrentActor, flows: Flows) -> Change:
    change = flows.catalog.withdraw(
        actor, body.entry_id, reason=body.reason, effective_on=body.effective_on
    )
    return _change(change)


@router.get(
    CHANGES,
    tags=["catalog"],
    summary="目录变更列表 (changes the caller may see)",
    responses=ERRORS,
    openapi_extra=action(Action.LIST),
)
def list_changes(
    actor: CurrentActor,
    flows: Flows,
    state: Annotated[list[cc.State] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Changes:
    found = flows.catalog.list(
        actor, states=[s.value for s in state or ()], limit=limit, offset=offset
    )
    return Changes(changes=[_change(c) for c in found])


@router.get(
    CHANGES + "/{case_id}",
    tags=["catalog"],
    summary="查看目录变更 (one change)",
    responses=CASE_ERRORS,
    openapi_extra=action(Action.READ),
)
def get_change(case_id: CaseId, actor: CurrentActor, flows: Flows) -> Change:
    return _change(flows.catalog.get(actor, case_id))


@router.get(
    CHANGES + "/{case_id}/transitions",
    tags=["catalog"],
    summary="目录变更办理记录 (who did what, when, why)",
    responses=CASE_ERRORS,
    openapi_extra=action(Action.READ),
)
def change_transitions(case_id: CaseId, actor: CurrentActor, flows: Flows) -> Transitions:
    return transitions_out(flows.catalog.history(actor, case_id))


def _step(path: str, name: Action, summary: str) -> Callable[[F], F]:
    return router.post(
        f"{CHANGES}/{{case_id}}/{path}",
        tags=["catalog"],
        summary=summary,
        responses=CASE_ERRORS,
        openapi_extra=action(name),
    )


@_step("review", Action.REVIEW, "审核通过 (the bureau passes the change; J 9 ¶4 consent)")
def review(case_id: CaseId, body: ReasonRequest, actor: CurrentActor, flows: Flows) -> Change:
    return _change(flows.catalog.review(actor, case_id, reason=body.reason))


@_step("ratify", Action.RATIFY, "审定 (the city government approves, G 11, GM 14)")
def ratify(case_id: CaseId, body: ReasonRequest, actor: CurrentActor, flows: Flows) -> Change:
    return _change(flows.catalog.ratify(actor, case_id, reason=body.reason))


@_step("return", Action.RETURN, "退回修改 (the pending reviewer returns it, with reasons)")
def return_change(
    case_id: CaseId, body: ReturnRequest, actor: CurrentActor, flows: Flows
) -> Change:
    return _change(flows.catalog.return_for_revision(actor, case_id, reasons=body.reasons))


@_step("resubmit", Action.RESUBMIT, "修改后重新报送 (the agency resubmits after a return)")
def resubmit(case_id: CaseId, body: ChangeRequest, actor: CurrentActor, flows: Flows) -> Change:
    change = flows.catalog.resubmit(actor, case_id, body.entry.document(), reason=body.reason)
    return _change(change)


@_step("cancel", Action.CANCEL, "撤回报送 (the agency drops its change)")
def cancel(case_id: CaseId, body: ReasonRequest, actor: CurrentActor, flows: Flows) -> Change:
    return _change(flows.catalog.cancel(actor, case_id, reason=body.reason))


# -- update obligations -------------------------------------------------------------------------
@router.post(
    OBLIGATIONS,
    tags=["catalog"],
    summary="登记目录更新义务 (the day a law or circumstance changed, G 13, GM 15)",
    status_code=201,
    responses={**ERRORS, 404: CASE_ERRORS[404]},
    openapi_extra=action(Action.RECORD_OBLIGATION),
)
def record_obligation(body: ObligationRequest, actor: CurrentActor, flows: Flows) -> Obligation:
    notice = co.Notice(
        body.obligation,
        body.agency,
        body.arose_on,
        body.description,
        entry_id=body.entry_id,
        matter=body.matter,
    )
    return _obligation(flows, flows.obligations.record(actor, notice))


@router.post(
    "/v1/catalog/maintenance",
    tags=["catalog"],
    summary="开启年度目录全面维护 (each agency's yearly full maintenance, GM 15 ¶1)",
    responses=ERRORS,
    openapi_extra=action(Action.OPEN_MAINTENANCE),
)
def open_maintenance(body: MaintenanceRequest, actor: CurrentActor, flows: Flows) -> Obligations:
    opened = flows.obligations.open_maintenance(actor, body.year)
    return Obligations(obligations=[_obligation(flows, o) for o in opened])


@router.get(
    OBLIGATIONS,
    tags=["catalog"],
    summary="目录更新义务列表 (obligations the caller may see)",
    responses=ERRORS,
    openapi_extra=action(Action.LIST),
)
def list_obligations(
    actor: CurrentActor,
    flows: Flows,
    state: Annotated[list[co.State] | None, Query()] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Obligations:
    found = flows.obligations.list(
        actor,
        states=[s.value for s in state or ()],
        overdue=overdue,
        limit=limit,
        offset=offset,
    )
    return Obligations(obligations=[_obligation(flows, o) for o in found])


@router.get(
    OBLIGATIONS + "/{case_id}",
    tags=["catalog"],
    summary="查看目录更新义务 (one obligation)",
    responses=CASE_ERRORS,
    openapi_extra=action(Action.READ),
)
def get_obligation(case_id: CaseId, actor: CurrentActor, flows: Flows) -> Obligation:
    return _obligation(flows, flows.obligations.get(actor, case_id))


@router.get(
    OBLIGATIONS + "/{case_id}/transitions",
    tags=["catalog"],
    summary="目录更新义务办理记录 (who did what, when, why)",
    responses=CASE_ERRORS,
    openapi_extra=action(Action.READ),
)
def obligation_transitions(case_id: CaseId, actor: CurrentActor, flows: Flows) -> Transitions:
    return transitions_out(flows.obligations.history(actor, case_id))


@router.post(
    OBLIGATIONS + "/{case_id}/fulfil",
    tags=["catalog"],
    summary="报告已更新 (the agency reports the update done)",
    responses=CASE_ERRORS,
    openapi_extra=action(Action.FULFIL),
)
def fulfil(case_id: CaseId, body: FulfilRequest, actor: CurrentActor, flows: Flows) -> Obligation:
    return _obligation(flows, flows.obligations.fulfil(actor, case_id, reason=body.reason))
