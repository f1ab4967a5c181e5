"""Subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1): who takes which data directly.

An agency takes unconditionally shared data without approval, by subscribing to the
entries it needs for its duties, with a stated purpose (G 15 `...通过共享平台直接获取`;
S 25 `...向共享平台提出订阅申请` for its 履职需要). Its feed carries what it subscribed to,
nothing else of the unconditional entries.

Agencies registered before subscriptions existed (``legacy`` agencies: the SQL store's
``agencies.legacy_unconditional``, set by the migration that introduced subscriptions)
keep receiving every unconditional entry until their first subscription, so an existing
deployment delivers what it delivered until its agencies subscribe.

Pure: frozen values and functions, time injected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from base.errors import PolicyError
from exchange.catalog import Agency, CatalogEntry, ShareType, in_force

#: The articles a subscription rests on.
ARTICLE = "G 15 ¶1; S 25 ¶1"


class SubscriptionError(PolicyError):
    """A subscription cannot be made or cancelled (``code`` names why)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """``agency`` takes entry ``entry_id`` from ``subscribed_at`` until ``cancelled_at``,
    for ``purpose`` (its duties, G 17)."""

    id: str
    agency: str
    entry_id: str
    purpose: str
    subscribed_at: datetime
    cancelled_at: datetime | None = None


def is_active(subscription: Subscription, at: datetime) -> bool:
    """Whether the subscription is in effect at ``at`` (aware datetimes)."""
    if at < subscription.subscribed_at:
        return False
    return subscription.cancelled_at is None or at < subscription.cancelled_at


@dataclass(frozen=True, slots=True)
class SubscriptionIndex:
    """Who receives unconditional entries at one moment: the (agency, entry) pairs of the
    active subscriptions, and the legacy agencies that receive them all."""

    subscribed: frozenset[tuple[str, str]] = frozenset()
    legacy: frozenset[str] = frozenset()

    def receives_unconditional(self, agency_id: str, entry_id: str) -> bool:
        return agency_id in self.legacy or (agency_id, entry_id) in self.subscribed


def subscription_index(
    subscriptions: Iterable[Subscription], legacy: Iterable[str], at: datetime
) -> SubscriptionIndex:
    """The index at ``at``: active subscriptions only; ``legacy`` agencies as given."""
    return SubscriptionIndex(
        frozenset((s.agency, s.entry_id) for s in subscriptions if is_active(s, at)),
        frozenset(legacy),
    )


def check_subscription(entry: CatalogEntry, agency: Agency, purpose: str, at: datetime) -> None:
    """Raise :class:`SubscriptionError` unless ``agency`` may subscribe to ``entry`` at ``at``.

    Only an entry in force and shared unconditionally can be subscribed to (a conditional
    one needs an application and a grant, G 15 ¶2, S 25 ¶3; a not-shared one nothing,
    GM 9, S 22); the provider does not subscribe to its own entry; the purpose is stated
    (G 17, S 25: 履职需要)."""
    if not purpose.strip():
        raise SubscriptionError(
            "a subscription states its purpose (the duties it serves)",
            code="subscription_without_purpose",
            article="G 17; S 25",
        )
    if not in_force(entry, at):
        raise SubscriptionError(
            f"entry {entry.id} is not in force", code="entry_not_published", article="GM 14"
        )
    if entry.share_type is ShareType.CONDITIONAL:
        raise SubscriptionError(
            f"entry {entry.id} is shared conditionally: apply for it (a sharing application)",
            code="subscription_on_conditional",
            article="G 15 ¶2; S 25 ¶3",
        )
    if entry.share_type is ShareType.NOT_SHARED:
        raise SubscriptionError(
            f"entry {entry.id} is not shared", code="subscription_on_not_shared", article="GM 9"
        )
    if agency.id == entry.provider:
        raise SubscriptionError(
            f"{agency.id} provides entry {entry.id}: the provider does not subscribe to it",
            code="subscription_by_provider",
            article=ARTICLE,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """The subscriptions as reference data carries them: every subscription (the index
    keeps the active ones at its moment) and the legacy agencies."""

    subscriptions: tuple[Subscription, ...] = ()
    legacy: frozenset[str] = frozenset()

    def index(self, at: datetime) -> SubscriptionIndex:
        return subscription_index(self.subscriptions, self.legacy, at)
