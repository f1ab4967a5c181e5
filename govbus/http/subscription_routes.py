"""Subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1): an agency takes the data its
duties need directly, without approval, by subscribing with a stated purpose. Each route
parses its body, takes the caller from the token and calls one method of
:class:`topology.workflows.subscriptions.Subscriptions`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from exchange.workflows.roles import Action
from govbus.http.deps import CASE_ERRORS, CurrentActor, Flows
from govbus.http.models import ID_PATTERN, Strict, Text
from govbus.http.routing import CaseRoutes, CaseView
from storage.subscriptions import SubscriptionRow
from topology.workflows.subscriptions import state_of

router = APIRouter()
#: ``case_id``: the walk of the permission table fills every id path parameter by that name.
SUBSCRIPTION_ID = Path(pattern=ID_PATTERN, description="Subscription id.")
CaseId = Annotated[str, SUBSCRIPTION_ID]
subscriptions = CaseRoutes(router, "/v1/subscriptions", "subscriptions", SUBSCRIPTION_ID)


class SubscribeRequest(Strict):
    entry: Annotated[str, Field(pattern=ID_PATTERN)]
    purpose: Annotated[Text, Field(min_length=1)]


class CancelRequest(Strict):
    reason: Annotated[Text, Field(min_length=1)]


class SubscriptionOut(BaseModel):
    id: str
    agency: str
    entry: str
    purpose: str
    state: str
    subscribed_at: datetime
    subscribed_by: str
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


def subscription_out(row: SubscriptionRow) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id,
        agency=row.agency_id,
        entry=row.entry_id,
        purpose=row.purpose,
        state=state_of(row),
        subscribed_at=row.subscribed_at,
        subscribed_by=row.subscribed_by,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
        cancel_reason=row.cancel_reason,
    )


@subscriptions.opening(
    Action.SUBSCRIBE,
    "订阅无条件共享数据 (subscribe to an unconditional entry, G 15 ¶1, S 25 ¶1)",
    CASE_ERRORS,
)
def subscribe(body: SubscribeRequest, actor: CurrentActor, flows: Flows) -> SubscriptionOut:
    return subscription_out(flows.subscriptions.subscribe(actor, body.entry, body.purpose))


@subscriptions.listing("订阅列表 (subscriptions the caller may see)")
def list_subscriptions(
    actor: CurrentActor, flows: Flows, include_cancelled: bool = False
) -> SubscriptionList:
    found = flows.subscriptions.list(actor, include_cancelled=include_cancelled)
    return SubscriptionList(subscriptions=[subscription_out(r) for r in found])


subscriptions.reads(
    CaseView(
        lambda flows: flows.subscriptions, lambda _flows, r: subscription_out(r), SubscriptionOut
    ),
    ("get_subscription", "查看订阅 (one subscription)"),
    ("subscription_transitions", "订阅记录 (who subscribed or cancelled, when, why)"),
)


@subscriptions.step(
    "cancel",
    Action.UNSUBSCRIBE,
    "取消订阅 (cancel a subscription: delivery stops from the next event)",
)
def cancel_subscription(
    case_id: CaseId, body: CancelRequest, actor: CurrentActor, flows: Flows
) -> SubscriptionOut:
    return subscription_out(flows.subscriptions.cancel(actor, case_id, body.reason))
