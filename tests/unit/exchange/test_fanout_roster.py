"""Fan-out rosters (exchange.policy.fanout_roster, deliveries_for): who may receive an
entry's changes is decided once and holds while no grant starts, ends or is revoked and
the entry's withdrawal does not take effect; under a roster that covers a change's time
the deliveries are exactly those decided for the change alone (G 14, G 15, G 17, GM 9,
S 22, S 25, S 27 ¶2, S 29)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import GrantError, PolicyError
from exchange.catalog import (
    LEGAL_TZ,
    Agency,
    AgencyKind,
    Lifecycle,
    LifecycleState,
    OpenType,
    Sensitivity,
    ShareType,
    Withdrawal,
    start_of_day,
)
from exchange.catalog_loader import load_catalog
from exchange.grants import Grant
from exchange.policy import (
    OPEN_FEED,
    AcceptedChange,
    Recipient,
    deliveries_for,
    fanout_roster,
    plan_fanout,
)
from exchange.subscriptions import SubscriptionIndex
from tests.support.catalog import PERSON, PERSON_VALUES, demo_entry
from tests.support.scenario import DEMO

CATALOG = load_catalog(DEMO).catalog
BASE = demo_entry("psb.person.basic")
NAMES = sorted(BASE.item_names)
CONSUMERS = ["city-mca", "city-hc", "city-amr", "a0", "a1"]
T0 = datetime(2025, 1, 10, 9, 30, tzinfo=LEGAL_TZ)
RECIPIENTS: list[Recipient] = [
    *CATALOG.agencies,
    *(Agency(f"a{i}", f"A{i}", f"机关{i}", AgencyKind.ADMINISTRATIVE_AGENCY) for i in range(2)),
    OPEN_FEED,
]


def _grant(n: int, consumer: str, items: frozenset[str], **times: datetime | None) -> Grant:
    providers = {i.provider for i in BASE.items if i.name in items}
    return Grant(
        id=f"g{n}",
        consumer=consumer,
        entry_id=BASE.id,
        items=items,
        granted_by=providers.pop(),
        purpose=f"purpose {n}",
        basis="b",
        valid_from=times.get("valid_from") or T0 - timedelta(days=30),
        valid_until=times.get("valid_until"),
        revoked_at=times.get("revoked_at"),
    )


_MOMENTS = st.sampled_from([T0 + timedelta(hours=h) for h in (-48, -1, 0, 1, 2, 5, 48)])


@st.composite
def _grants(draw: st.DrawFn) -> list[Grant]:
    grants = []
    for n in range(draw(st.integers(0, 6))):
        items = frozenset(draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True)))
        if len({i.provider for i in BASE.items if i.name in items}) != 1:
            continue  # one provider per grant (G 15, S 25)
        start = draw(_MOMENTS)
        grants.append(
            _grant(
                n,
                draw(st.sampled_from(CONSUMERS)),
                items,
                valid_from=start,
                valid_until=draw(st.sampled_from([None, start + timedelta(hours=3)])),
                revoked_at=draw(st.sampled_from([None, T0 + timedelta(hours=1)])),
            )
        )
    return grants


@settings(max_examples=200, deadline=None)
@given(
    share=st.sampled_from(ShareType),
    sensitivity=st.sampled_from(Sensitivity),
    opening=st.sampled_from(OpenType),
    withdrawn=st.booleans(),
    grants=_grants(),
    subscribed=st.none() | st.frozensets(st.sampled_from(CONSUMERS)),
    built=_MOMENTS,
    changes=st.lists(
        st.tuples(_MOMENTS, st.lists(st.sampled_from(NAMES), min_size=1, unique=True)),
        min_size=1,
        max_size=4,
    ),
)
def test_a_roster_gives_the_deliveries_decided_for_each_change_while_it_covers(
    share: ShareType,
    sensitivity: Sensitivity,
    opening: OpenType,
    withdrawn: bool,
    grants: list[Grant],
    subscribed: frozenset[str] | None,
    built: datetime,
    changes: list[tuple[datetime, list[str]]],
) -> None:
    lifecycle = Lifecycle(LifecycleState.PUBLISHED)
    if withdrawn:  # the stop takes effect the day after T0 (S 27 ¶2)
        stop = Withdrawal("r", date(2025, 1, 1), date(2025, 1, 11))
        lifecycle = Lifecycle(LifecycleState.WITHDRAWN, stop)
    entry = replace(
        BASE, share_type=share, sensitivity=sensitivity, open_type=opening, lifecycle=lifecycle
    )
    index = (
        None
        if subscribed is None
        else SubscriptionIndex(frozenset((a, entry.id) for a in subscribed))
    )
    roster = fanout_roster(entry, RECIPIENTS, grants, subscriptions=index, at=built)
    assert roster.covers(built)
    for at, items in changes:
        change = AcceptedChange(entry, PERSON, {n: PERSON_VALUES[n] for n in items}, "ev", at)
        alone = plan_fanout(change, RECIPIENTS, grants, subscriptions=index)
        if roster.covers(at):
            assert deliveries_for(change, roster) == alone
        else:
            with pytest.raises(PolicyError) as refused:
                deliveries_for(change, roster)
            assert refused.value.code == "roster_mismatch"
            fresh = fanout_roster(entry, RECIPIENTS, grants, subscriptions=index, at=at)
            assert deliveries_for(change, fresh) == alone


def _receivers(entry_at: datetime, roster_at: datetime, grants: list[Grant]) -> set[str]:
    entry = replace(BASE, share_type=ShareType.CONDITIONAL)
    roster = fanout_roster(entry, RECIPIENTS, grants, at=roster_at)
    change = AcceptedChange(entry, PERSON, PERSON_VALUES, "ev", entry_at)
    return {r.id for d in deliveries_for(change, roster) for r in d.recipients if r != OPEN_FEED}


def test_a_grant_ending_ends_the_roster_at_that_instant_g_15() -> None:
    until = T0 + timedelta(hours=2)
    grants = [_grant(1, "city-mca", frozenset({"name"}), valid_until=until)]
    entry = replace(BASE, share_type=ShareType.CONDITIONAL)
    roster = fanout_roster(entry, RECIPIENTS, grants, at=T0)
    assert roster.valid_until == until
    assert roster.covers(until - timedelta(microseconds=1)) and not roster.covers(until)
    assert _receivers(T0, T0, grants) == {"city-mca"}
    assert _receivers(until, until, grants) == set()


def test_a_revoked_or_future_grant_bounds_the_roster_s_25() -> None:
    revoked = T0 + timedelta(hours=1)
    starts = T0 + timedelta(hours=5)
    grants = [
        _grant(1, "city-mca", frozenset({"name"}), revoked_at=revoked),
        _grant(2, "city-hc", frozenset({"name"}), valid_from=starts),
    ]
    entry = replace(BASE, share_type=ShareType.CONDITIONAL)
    roster = fanout_roster(entry, RECIPIENTS, grants, at=T0)
    assert (roster.valid_from, roster.valid_until) == (T0 - timedelta(days=30), revoked)
    later = fanout_roster(entry, RECIPIENTS, grants, at=revoked)
    assert (later.valid_from, later.valid_until) == (revoked, starts)
    assert _receivers(starts, starts, grants) == {"city-hc"}


def test_a_withdrawal_taking_effect_ends_the_roster_s_27() -> None:
    stop = Withdrawal("r", date(2025, 1, 1), date(2025, 1, 11))
    entry = replace(BASE, lifecycle=Lifecycle(LifecycleState.WITHDRAWN, stop))
    roster = fanout_roster(entry, RECIPIENTS, at=T0)
    assert roster.valid_until == start_of_day(date(2025, 1, 11))
    assert roster.members
    assert not fanout_roster(entry, RECIPIENTS, at=start_of_day(date(2025, 1, 11))).members


def test_grants_are_attributed_per_agency_under_a_roster_g_17_s_29() -> None:
    grants = [
        _grant(2, "city-mca", frozenset({"name", "gender"})),
        _grant(1, "city-mca", frozenset({"name"})),
        _grant(3, "city-hc", frozenset({"gender"})),
    ]
    entry = replace(BASE, share_type=ShareType.CONDITIONAL)
    roster = fanout_roster(entry, RECIPIENTS, grants, at=T0)
    change = AcceptedChange(entry, PERSON, {"name": "欧阳修文"}, "ev", T0)
    (delivery,) = [d for d in deliveries_for(change, roster) if OPEN_FEED not in d.recipients]
    assert [r.id for r in delivery.recipients] == ["city-mca"]
    assert [u.grant_id for u in delivery.grants["city-mca"]] == ["g1", "g2"]
    assert deliveries_for(change, roster) == plan_fanout(change, RECIPIENTS, grants)


def test_a_roster_refuses_a_change_of_another_entry_and_items_outside_the_entry_s_20() -> None:
    roster = fanout_roster(BASE, RECIPIENTS, at=T0)
    other = AcceptedChange(demo_entry("psb.person.contact"), PERSON, {"phone": "1"}, "ev", T0)
    with pytest.raises(PolicyError) as refused:
        deliveries_for(other, roster)
    assert refused.value.code == "roster_mismatch"
    with pytest.raises(PolicyError) as unknown:
        deliveries_for(AcceptedChange(BASE, PERSON, {"salary": 1}, "ev", T0), roster)
    assert unknown.value.code == "item_not_in_entry"


def test_an_invalid_grant_is_refused_when_the_roster_is_decided() -> None:
    bad = replace(_grant(1, "city-mca", frozenset({"name"})), items=frozenset({"salary"}))
    with pytest.raises(GrantError):
        fanout_roster(BASE, RECIPIENTS, [bad], at=T0)
