"""``govbus subscription add|cancel|list``: an agency's subscriptions to unconditional
entries (G 15 ¶1, S 25 ¶1), made by the platform's operator at the agency's request.

The same application layer as ``POST /v1/subscriptions`` (:class:`topology.workflows.
subscriptions.Subscriptions`): the subscription and its transition (who, when, why) are
written in one transaction, the agency's record is published to the state topics before
the command returns (the processors deliver from their next event), and ``govbus serve``'s
audit relay seals the transition into ``govbus.audit.workflows``.
"""

from __future__ import annotations

from typing import Any

import typer

from base.settings import Settings
from exchange.workflows.roles import OPERATOR
from govbus.cli.common import (
    BOOTSTRAP_OPT,
    JSON_OPT,
    NAMESPACE_OPT,
    database,
    reference_service,
    reported,
)
from govbus.cli.group import command_group
from govbus.cli.output import emit, emit_rows, iso
from storage.subscriptions import SubscriptionRow, SubscriptionStore
from storage.workflows import WorkflowStore
from topology.workflows.clock import SystemClock
from topology.workflows.subscriptions import Subscriptions, state_of


def _flows(bootstrap: str, namespace: str, as_json: bool) -> Subscriptions:
    reference = reference_service(bootstrap, namespace, as_json)
    engine = reference.store.engine
    return Subscriptions(SubscriptionStore(engine), WorkflowStore(engine), reference, SystemClock())


def subscription_json(row: SubscriptionRow) -> dict[str, Any]:
    """One subscription in ``--json`` output (the HTTP API's field names)."""
    return {
        "id": row.id,
        "agency": row.agency_id,
        "entry": row.entry_id,
        "purpose": row.purpose,
        "state": state_of(row),
        "subscribed_at": row.subscribed_at.isoformat(),
        "subscribed_by": row.subscribed_by,
        "cancelled_at": iso(row.cancelled_at),
        "cancelled_by": row.cancelled_by,
        "cancel_reason": row.cancel_reason,
    }


def _line(row: SubscriptionRow) -> str:
    return f"{row.id}  {row.agency_id} <- {row.entry_id}  {state_of(row)}  用途: {row.purpose}"


def register(app: typer.Typer) -> None:
    group = command_group(
        app,
        "subscription",
        "订阅无条件共享数据 (subscriptions to unconditional entries, G 15; S 25).",
    )

    @group.command("add")
    def add(
        agency_id: str = typer.Option(..., "--agency", help="Subscribing agency."),
        entry_id: str = typer.Option(..., "--entry", help="Unconditionally shared entry."),
        purpose: str = typer.Option(..., "--purpose", help="The duties it serves (G 17; S 25)."),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Subscribe an agency to an entry; its feed carries it from the next event."""
        with reported(as_json):
            row = _flows(bootstrap, namespace, as_json).subscribe(
                OPERATOR, entry_id, purpose, agency=agency_id
            )
        emit(as_json, {"subscription": subscription_json(row)}, f"已订阅 subscribed: {_line(row)}")

    @group.command("cancel")
    def cancel(
        subscription_id: str = typer.Argument(..., help="Subscription id."),
        reason: str = typer.Option(..., "--reason", help="Why it is cancelled (recorded)."),
        bootstrap: str = BOOTSTRAP_OPT,
        namespace: str = NAMESPACE_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Cancel a subscription; delivery stops from the processors' next event."""
        with reported(as_json):
            row = _flows(bootstrap, namespace, as_json).cancel(OPERATOR, subscription_id, reason)
        emit(as_json, {"subscription": subscription_json(row)}, f"已取消 cancelled: {_line(row)}")

    @group.command("list")
    def list_(
        agency_id: str = typer.Option("", "--agency", help="Only this agency's subscriptions."),
        include_cancelled: bool = typer.Option(False, "--all", help="Cancelled ones too."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """List subscriptions (active ones unless --all)."""
        with reported(as_json):
            rows = SubscriptionStore(database(Settings.load())).list_subscriptions(
                agency_id or None, include_cancelled=include_cancelled
            )
        emit_rows(as_json, "subscriptions", rows, subscription_json, _line)
