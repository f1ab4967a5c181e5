"""Subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1): the application layer shared
by the HTTP routes and the CLI.

An agency takes unconditionally shared data directly, without approval, by subscribing to
the entries its duties need, with a stated purpose; it cancels a subscription when it no
longer needs it. Each step:

1. checks the caller's permission (:func:`exchange.workflows.roles.authorize`: an agency
   user for its own agency; the operator at the command line for any);
2. checks the subscription against the catalog (:func:`exchange.subscriptions.
   check_subscription`: an entry in force and shared unconditionally, not one's own, a
   purpose stated);
3. writes the subscription (or its cancellation) and its transition (who, when, why,
   article) in one transaction; the first subscription of a legacy agency ends its
   legacy status there (it then receives only what it subscribed to);
4. publishes the agency's record on ``govbus.state.subscriptions``, acknowledged before
   the call returns: the processors apply it from their next batch, without restart;
5. wakes the audit relay, which seals the transition into ``govbus.audit.workflows``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from base.errors import NotFound, StateError
from exchange.subscriptions import ARTICLE, check_subscription
from exchange.workflows.roles import Action, Actor, authorize, authorize_list
from storage.subscriptions import SubscriptionRow, SubscriptionStore
from storage.workflows import TransitionRow, WorkflowStore
from topology.reference_service import ReferenceService
from topology.workflows.clock import Clock

#: ``transitions.subject_kind`` of a subscription.
KIND = "subscription"
ACTIVE, CANCELLED = "active", "cancelled"


def state_of(row: SubscriptionRow) -> str:
    return ACTIVE if row.cancelled_at is None else CANCELLED


class Subscriptions:
    """Subscribe, cancel, read: for any caller (HTTP, CLI)."""

    def __init__(
        self,
        store: SubscriptionStore,
        workflows: WorkflowStore,
        reference: ReferenceService,
        clock: Clock,
        *,
        after_change: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.reference = reference
        self.clock = clock
        self.after_change = after_change

    # -- reading ------------------------------------------------------------------------
    def load(self, subscription_id: str) -> SubscriptionRow:
        row = self.store.get(subscription_id)
        if row is None:
            raise NotFound(f"no subscription {subscription_id}", code="unknown_subscription")
        return row

    def get(self, actor: Actor, subscription_id: str) -> SubscriptionRow:
        row = self.load(subscription_id)
        authorize(actor, Action.READ, applicant=row.agency_id, provider=row.agency_id)
        return row

    def history(self, actor: Actor, subscription_id: str) -> list[TransitionRow]:
        self.get(actor, subscription_id)
        return self.workflows.transitions_of(KIND, subscription_id)

    def list(self, actor: Actor, *, include_cancelled: bool = False) -> list[SubscriptionRow]:
        """Every subscription (bureau, government, auditor), or the agency's own."""
        agency = authorize_list(actor)
        return self.store.list_subscriptions(agency, include_cancelled=include_cancelled)

    # -- steps ----------------------------------------------------------------------------
    def subscribe(
        self, actor: Actor, entry_id: str, purpose: str, *, agency: str | None = None
    ) -> SubscriptionRow:
        """``agency`` (default: the actor's) subscribes to ``entry_id`` for ``purpose``."""
        subscriber = agency or actor.agency or ""
        # Step 1.
        authorize(actor, Action.SUBSCRIBE, applicant=subscriber)
        # Step 2.
        now = self.clock.now()
        agency_row = self.reference.store.registered_agency(subscriber)
        if agency_row is None:
            raise NotFound(f"no agency {subscriber} is registered", code="unknown_agency")
        entry = self.reference.find_entry(entry_id)
        if entry is None:
            raise NotFound(f"no catalog entry {entry_id}", code="unknown_entry")
        check_subscription(entry, agency_row.agency(), purpose, now)
        active = [r for r in self.store.list_subscriptions(subscriber) if r.entry_id == entry_id]
        if active:
            raise StateError(
                f"{subscriber} is subscribed to {entry_id} already ({active[0].id})",
                code="already_subscribed",
                article=ARTICLE,
            )
        # Step 3.
        legacy = self.store.of_agency(subscriber).legacy_unconditional
        row = SubscriptionRow(
            id=f"sub-{uuid.uuid4().hex[:16]}",
            agency_id=subscriber,
            entry_id=entry_id,
            purpose=purpose,
            subscribed_at=now,
            subscribed_by=actor.id,
        )
        details = {"agency": subscriber, "entry": entry_id, "purpose": purpose}
        if legacy:
            details["legacy_unconditional"] = "ended: only subscribed entries from now on"
        self.store.subscribe(row, self._transition(actor, row, "subscribe", purpose, details))
        # Steps 4 and 5.
        self._published(row)
        return row

    def cancel(self, actor: Actor, subscription_id: str, reason: str) -> SubscriptionRow:
        """Cancel a subscription (its agency's user, or the operator): delivery stops from
        the processors' next batch. The reason is recorded."""
        row = self.load(subscription_id)
        authorize(actor, Action.UNSUBSCRIBE, applicant=row.agency_id)
        if not reason.strip():
            raise StateError(
                "a cancellation states its reason", code="reason_required", article=ARTICLE
            )
        now = self.clock.now()
        details = {"agency": row.agency_id, "entry": row.entry_id}
        transition = self._transition(actor, row, "cancel", reason, details, cancelled=True)
        if not self.store.cancel(subscription_id, now, transition):
            raise StateError(
                f"subscription {subscription_id} is cancelled already", code="not_active"
            )
        self._published(row)
        return self.load(subscription_id)

    def _transition(
        self,
        actor: Actor,
        row: SubscriptionRow,
        action: str,
        reason: str,
        details: dict[str, str],
        *,
        cancelled: bool = False,
    ) -> TransitionRow:
        return TransitionRow(
            subject_kind=KIND,
            subject_id=row.id,
            action=action,
            from_state=ACTIVE if cancelled else None,
            to_state=CANCELLED if cancelled else ACTIVE,
            actor=actor.id,
            actor_role=actor.role.value,
            actor_agency=actor.agency,
            at=self.clock.now(),
            reason=reason,
            article=ARTICLE,
            details=details,
        )

    def _published(self, row: SubscriptionRow) -> None:
        self.reference.publish_subscriptions(row.agency_id)
        if self.after_change is not None:
            self.after_change(row.id)
