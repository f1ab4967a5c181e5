"""Subscriptions to unconditional entries (G 15 ¶1 `...通过共享平台直接获取`; S 25 ¶1: an
agency subscribes to what its duties need): the policy delivers unconditional data only to
agencies that subscribed, or to legacy agencies (registered before subscriptions existed)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from base.errors import PolicyError
from exchange.catalog import LEGAL_TZ
from exchange.catalog_loader import load_catalog
from exchange.policy import OPEN_FEED, AcceptedChange, Recipient, plan_fanout
from exchange.subscriptions import (
    Subscription,
    SubscriptionError,
    SubscriptionIndex,
    SubscriptionState,
    check_subscription,
    is_active,
    subscription_index,
)
from tests.support.catalog import demo_agency, demo_entry
from tests.support.scenario import DEMO

LOADED = load_catalog(DEMO)
AT = datetime(2026, 6, 1, 9, 0, tzinfo=LEGAL_TZ)
BASIC, CONTACT, COMPANY = "psb.person.basic", "psb.person.contact", "amr.company.registration"
CONSUMERS = ("city-mca", "city-hc", "city-amr", "city-bdb")


def _sub(agency: str, entry: str, cancelled_at: datetime | None = None) -> Subscription:
    return Subscription(f"sub-{agency}-{entry}", agency, entry, "履职所需", AT, cancelled_at)


def _receivers(entry: str, index: SubscriptionIndex | None) -> set[str]:
    values = {"name": "张三"} if entry == BASIC else {"household_address": "某地", "phone": "1"}
    change = AcceptedChange(demo_entry(entry), "resident_id:11010519491231002X", values, "e", AT)
    recipients: list[Recipient] = [*(demo_agency(a) for a in CONSUMERS), OPEN_FEED]
    found = plan_fanout(change, recipients, LOADED.grants, subscriptions=index)
    return {r.id for d in found for r in d.recipients}


def test_unconditional_data_goes_only_to_subscribed_agencies_G15_S25() -> None:
    index = subscription_index([_sub("city-hc", BASIC), _sub("city-mca", COMPANY)], (), AT)
    # The open feed is not an agency: opening follows the open type (G 18), not subscriptions.
    assert _receivers(BASIC, index) == {"city-hc", "open-feed"}


def test_a_legacy_agency_receives_every_unconditional_entry_until_it_subscribes() -> None:
    legacy = subscription_index([], {"city-bdb"}, AT)
    assert _receivers(BASIC, legacy) == {"city-bdb", "open-feed"}
    # The store ends legacy status with the first subscription: only that entry then.
    after = subscription_index([_sub("city-bdb", COMPANY)], (), AT)
    assert _receivers(BASIC, after) == {"open-feed"}


def test_without_an_index_every_agency_receives_unconditional_data_as_before() -> None:
    assert _receivers(BASIC, None) == {*CONSUMERS, "open-feed"}


def test_subscriptions_do_not_open_conditional_data_only_grants_do_G15_S22() -> None:
    """Subscribing never replaces a grant: conditional items follow the grants alone."""
    index = subscription_index([_sub("city-hc", CONTACT)], {"city-amr"}, AT)
    # 市民政局 holds the demo grant; 市卫健委's expired in 2025; legacy changes nothing.
    assert _receivers(CONTACT, index) == {"city-mca"}


def test_a_cancelled_subscription_stops_at_its_cancellation() -> None:
    cancelled = _sub("city-hc", BASIC, cancelled_at=AT + timedelta(hours=1))
    assert is_active(cancelled, AT) and not is_active(cancelled, AT + timedelta(hours=1))
    later = SubscriptionState((cancelled,)).index(AT + timedelta(hours=2))
    assert _receivers(BASIC, later) == {"open-feed"}
    assert not is_active(_sub("city-hc", BASIC), AT - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("agency", "entry", "purpose", "code"),
    [
        ("city-hc", CONTACT, "核查", "subscription_on_conditional"),  # apply (G 15 ¶2)
        ("city-hc", "psb.person.watchlist", "核查", "subscription_on_not_shared"),  # GM 9
        ("city-psb", BASIC, "核查", "subscription_by_provider"),
        ("city-hc", BASIC, "  ", "subscription_without_purpose"),  # G 17; S 25 履职需要
    ],
)
def test_what_cannot_be_subscribed_to_is_refused_with_its_article(
    agency: str, entry: str, purpose: str, code: str
) -> None:
    with pytest.raises(SubscriptionError) as caught:
        check_subscription(demo_entry(entry), demo_agency(agency), purpose, AT)
    assert caught.value.code == code and caught.value.article
    assert isinstance(caught.value, PolicyError)


def test_an_unconditional_entry_in_force_can_be_subscribed_to() -> None:
    check_subscription(demo_entry(BASIC), demo_agency("city-hc"), "传染病防控核查", AT)
