"""The catalog's routes: changes to entries through their reviews (G 11, GM 14, S 18, S 23,
S 27 ¶2, J 9 ¶4, J 11) and catalog update obligations (G 13, GM 15). Each parses its body,
takes the caller from the token and calls one method of the application layer
(:mod:`topology.workflows.catalog`, :mod:`topology.workflows.obligations`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

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
from govbus.http.routing import CaseId, CaseRoutes, CaseView, Limit, Offset, page_of

router = APIRouter()
CHANGES = "/v1/catalog/changes"
OBLIGATIONS = "/v1/catalog/obligations"
changes = CaseRoutes(router, CHANGES, "catalog")
obligations = CaseRoutes(router, OBLIGATIONS, "catalog")


def _change(change: cc.CatalogChange) -> Change:
    return Change.model_validate(cc.to_document(change))


#: How the routes show a change.
CHANGE = CaseView(lambda flows: flows.catalog, lambda _flows, c: _change(c), Change)


def _obligation(flows: Flows, ob: co.CatalogObligation) -> Obligation:
    doc = co.to_document(ob)
    doc["overdue"] = ob.overdue or ob.is_overdue(flows.clock.now())
    return Obligation.model_validate(doc)


# -- changes ------------------------------------------------------------------------------------
@changes.opening(
    Action.SUBMIT_CHANGE,
    "报送目录或目录变更 (submit a new entry or a change, G 11, S 18, J 11)",
    {**ERRORS, 409: CASE_ERRORS[409]},
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


@changes.listing("目录变更列表 (changes the caller may see)")
def list_changes(
    actor: CurrentActor,
    flows: Flows,
    state: Annotated[list[cc.State] | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Changes:
    found = page_of(flows.catalog, actor, state, None, limit, offset)
    return Changes(changes=[_change(c) for c in found])


changes.reads(
    CHANGE,
    ("get_change", "查看目录变更 (one change)"),
    ("change_transitions", "目录变更办理记录 (who did what, when, why)"),
)


changes.reason_steps(
    CHANGE,
    ("review", Action.REVIEW, "审核通过 (the bureau passes the change; J 9 ¶4 consent)"),
    ("ratify", Action.RATIFY, "审定 (the city government approves, G 11, GM 14)"),
    ("cancel", Action.CANCEL, "撤回报送 (the agency drops its change)"),
)


@changes.step("return", Action.RETURN, "退回修改 (the pending reviewer returns it, with reasons)")
def return_change(
    case_id: CaseId, body: ReturnRequest, actor: CurrentActor, flows: Flows
) -> Change:
    return _change(flows.catalog.return_for_revision(actor, case_id, reasons=body.reasons))


@changes.step("resubmit", Action.RESUBMIT, "修改后重新报送 (the agency resubmits after a return)")
def resubmit(case_id: CaseId, body: ChangeRequest, actor: CurrentActor, flows: Flows) -> Change:
    change = flows.catalog.resubmit(actor, case_id, body.entry.document(), reason=body.reason)
    return _change(change)


# -- update obligations -------------------------------------------------------------------------
@obligations.opening(
    Action.RECORD_OBLIGATION,
    "登记目录更新义务 (the day a law or circumstance changed, G 13, GM 15)",
    {**ERRORS, 404: CASE_ERRORS[404]},
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


@obligations.listing("目录更新义务列表 (obligations the caller may see)")
def list_obligations(
    actor: CurrentActor,
    flows: Flows,
    state: Annotated[list[co.State] | None, Query()] = None,
    overdue: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obligations:
    found = page_of(flows.obligations, actor, state, overdue, limit, offset)
    return Obligations(obligations=[_obligation(flows, o) for o in found])


obligations.reads(
    CaseView(lambda flows: flows.obligations, _obligation, Obligation),
    ("get_obligation", "查看目录更新义务 (one obligation)"),
    ("obligation_transitions", "目录更新义务办理记录 (who did what, when, why)"),
)


@obligations.step("fulfil", Action.FULFIL, "报告已更新 (the agency reports the update done)")
def fulfil(case_id: CaseId, body: FulfilRequest, actor: CurrentActor, flows: Flows) -> Obligation:
    return _obligation(flows, flows.obligations.fulfil(actor, case_id, reason=body.reason))
