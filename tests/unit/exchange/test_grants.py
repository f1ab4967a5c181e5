"""Grants and entitlements (G 14, G 15, GM 9, S 22, S 25)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import GrantError
from exchange.catalog import LEGAL_TZ, DataItem, ShareType
from exchange.catalog_loader import load_catalog
from exchange.grants import Agency, Grant, check_grant, entitlement, is_active
from tests.support.catalog import demo_agency, demo_entry
from tests.support.scenario import DEMO

LOADED = load_catalog(DEMO)


CATALOG = LOADED.catalog


GRANTS = LOADED.grants


AT = datetime(2025, 1, 10, 9, 30, tzinfo=LEGAL_TZ)


def _grant(**changes: Any) -> Grant:
    base = Grant(
        id="t1",
        consumer="city-hc",
        entry_id="psb.person.contact",
        items=frozenset({"phone"}),
        granted_by="city-psb",
        purpose="test",
        basis="test",
        valid_from=datetime(2024, 1, 1, tzinfo=LEGAL_TZ),
        valid_until=datetime(2026, 1, 1, tzinfo=LEGAL_TZ),
    )
    return replace(base, **changes)


def test_unconditional_entry_goes_to_every_registered_agency_g_15_s_25() -> None:
    entry = demo_entry("amr.company.registration")
    for agency in CATALOG.agencies:
        assert entitlement(entry, agency, (), AT) == entry.item_names


def test_conditional_entry_only_via_grant_and_only_granted_items_g_14_s_22() -> None:
    entry = demo_entry("psb.person.contact")
    assert entitlement(entry, demo_agency("city-mca"), GRANTS, AT) == frozenset(
        {"household_address", "phone"}
    )
    assert entitlement(entry, demo_agency("city-hc"), GRANTS, AT) == frozenset({"phone"})
    assert entitlement(entry, demo_agency("city-amr"), GRANTS, AT) is None
    assert entitlement(entry, demo_agency("city-bdb"), GRANTS, AT) is None


def test_grants_of_other_agencies_do_not_count_g_14() -> None:
    entry = demo_entry("psb.person.contact")
    mca_only = [g for g in GRANTS if g.consumer == "city-mca"]
    assert entitlement(entry, demo_agency("city-hc"), mca_only, AT) is None


def test_not_shared_entry_is_never_given_even_with_a_grant_gm_9_s_22() -> None:
    entry = demo_entry("psb.person.watchlist")
    grant = _grant(entry_id=entry.id, items=frozenset({"watch_category"}))
    assert entitlement(entry, demo_agency("city-hc"), [grant], AT) is None


def test_grant_period_is_half_open_and_revocation_ends_it_g_15() -> None:
    entry = demo_entry("psb.person.contact")
    hc = demo_agency("city-hc")
    start = datetime(2024, 6, 1, tzinfo=LEGAL_TZ)
    end = datetime(2025, 6, 1, tzinfo=LEGAL_TZ)  # valid_until 2025-05-31, through 24:00
    assert entitlement(entry, hc, GRANTS, start - timedelta(seconds=1)) is None
    assert entitlement(entry, hc, GRANTS, start) == frozenset({"phone"})
    assert entitlement(entry, hc, GRANTS, end - timedelta(seconds=1)) == frozenset({"phone"})
    assert entitlement(entry, hc, GRANTS, end) is None
    revoked = [replace(g, revoked_at=AT) for g in GRANTS if g.consumer == "city-hc"]
    assert entitlement(entry, hc, revoked, AT - timedelta(seconds=1)) == frozenset({"phone"})
    assert entitlement(entry, hc, revoked, AT) is None


def test_grant_for_item_not_in_entry_is_a_named_error_s_22() -> None:
    entry = demo_entry("psb.person.contact")
    bad = _grant(items=frozenset({"phone", "salary"}))
    with pytest.raises(GrantError) as caught:
        entitlement(entry, demo_agency("city-hc"), [bad], AT)
    assert caught.value.code == "grant_item_not_in_entry"
    assert caught.value.article == "S 22"


def test_grant_cannot_open_another_providers_item_g_15_s_25() -> None:
    base = demo_entry("psb.person.basic")
    conditional = replace(base, share_type=ShareType.CONDITIONAL, share_basis="basis")
    bypass = _grant(
        entry_id=base.id,
        items=frozenset({"name", "marital_status"}),  # marital_status is city-mca's item
        granted_by="city-psb",
    )
    with pytest.raises(GrantError) as caught:
        entitlement(conditional, demo_agency("city-hc"), [bypass], AT)
    assert caught.value.code == "grant_not_by_provider"
    own = _grant(entry_id=base.id, items=frozenset({"marital_status"}), granted_by="city-mca")
    assert entitlement(conditional, demo_agency("city-hc"), [own], AT) == frozenset(
        {"marital_status"}
    )


def test_check_grant_rejects_empty_and_inverted_grants_s_22() -> None:
    entry = demo_entry("psb.person.contact")
    with pytest.raises(GrantError) as empty:
        check_grant(_grant(items=frozenset()), entry)
    assert empty.value.code == "grant_without_items"
    inverted = _grant(valid_until=datetime(2023, 1, 1, tzinfo=LEGAL_TZ))
    with pytest.raises(GrantError) as period:
        check_grant(inverted, entry)
    assert period.value.code == "grant_empty_period"


def test_entry_out_of_force_gives_nothing_gm_14_s_27() -> None:
    withdrawn = demo_entry("amr.company.annual_report_2019")
    assert withdrawn.lifecycle.withdrawal is not None
    before = datetime(2024, 3, 31, 23, 59, tzinfo=LEGAL_TZ)
    after = datetime(2024, 4, 1, tzinfo=LEGAL_TZ)
    agency = demo_agency("city-mca")
    assert entitlement(withdrawn, agency, (), before) == withdrawn.item_names
    assert entitlement(withdrawn, agency, (), after) is None


_ITEMS = ["a", "b", "c", "d", "e"]


_AGENCIES = ["p", "x", "y"]


_DAY = timedelta(days=1)


_T0 = datetime(2024, 1, 1, tzinfo=LEGAL_TZ)


@st.composite
def _grants(draw: st.DrawFn) -> Grant:
    start = _T0 + draw(st.integers(0, 20)) * _DAY
    length = draw(st.one_of(st.none(), st.integers(1, 20)))
    revoked = draw(st.one_of(st.none(), st.integers(0, 40)))
    return Grant(
        id=f"g{draw(st.integers(0, 10_000))}",
        consumer=draw(st.sampled_from(_AGENCIES)),
        entry_id="e",
        items=frozenset(draw(st.lists(st.sampled_from(_ITEMS), min_size=1, unique=True))),
        granted_by="p",
        purpose="p",
        basis="b",
        valid_from=start,
        valid_until=None if length is None else start + length * _DAY,
        revoked_at=None if revoked is None else _T0 + revoked * _DAY,
    )


@given(
    share=st.sampled_from(ShareType),
    grants=st.lists(_grants(), max_size=6),
    agency=st.sampled_from(_AGENCIES),
    day=st.integers(0, 45),
)
def test_entitlement_never_exceeds_entry_or_active_grants_g_14_s_22(
    share: ShareType, grants: list[Grant], agency: str, day: int
) -> None:
    probe = demo_entry("amr.company.registration")
    items = tuple(DataItem(n, n, probe.items[0].type, probe.items[0].tag, "p") for n in _ITEMS)
    entry = replace(probe, id="e", provider="p", items=items, share_type=share)
    at = _T0 + day * _DAY
    who = Agency(agency, agency, agency, CATALOG.agencies[0].kind)
    got = entitlement(entry, who, grants, at)
    active = set().union(*(g.items for g in grants if g.consumer == agency and is_active(g, at)))
    if share is ShareType.NOT_SHARED:
        assert got is None
    elif share is ShareType.UNCONDITIONAL:
        assert got == entry.item_names
    else:
        assert got == (frozenset(active) or None)
