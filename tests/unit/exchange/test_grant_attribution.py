"""Every delivery names the grants that entitle exactly the items it carries, with their
purposes (G 17 purpose limitation; S 29 使用部门按照申请的用途使用), not one grant for
the union of items."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from exchange.catalog import LEGAL_TZ
from exchange.grants import Grant, GrantUse, attribution
from exchange.policy import OPEN_FEED, AcceptedChange, Recipient, plan_fanout
from tests.support.catalog import demo_agency, demo_entry

AT = datetime(2026, 6, 1, 9, 0, tzinfo=LEGAL_TZ)
CONTACT, BASIC = "psb.person.contact", "psb.person.basic"
ADDRESS_ONLY = Grant(
    id="grant-a",
    consumer="city-mca",
    entry_id=CONTACT,
    items=frozenset({"household_address"}),
    granted_by="city-psb",
    purpose="最低生活保障家庭经济状况核对",
    basis="社会救助审核确认职责",
    valid_from=datetime(2026, 1, 1, tzinfo=LEGAL_TZ),
)
ADDRESS_AND_PHONE = replace(
    ADDRESS_ONLY,
    id="grant-b",
    items=frozenset({"household_address", "phone"}),
    purpose="临时救助对象走访核实",
)


def _change(entry: str, values: dict[str, str]) -> AcceptedChange:
    return AcceptedChange(demo_entry(entry), "resident_id:11010519491231002X", values, "e-1", AT)


def _recipients(*ids: str) -> list[Recipient]:
    return [*(demo_agency(i) for i in ids), OPEN_FEED]


def test_two_overlapping_grants_are_both_named_with_the_items_each_entitles_G17_S29() -> None:
    change = _change(CONTACT, {"household_address": "北京市东城区东华门街道1号", "phone": "1"})
    grants = [ADDRESS_AND_PHONE, ADDRESS_ONLY]
    [delivery] = plan_fanout(change, _recipients("city-mca"), grants)
    assert delivery.items == ("household_address", "phone")
    assert delivery.grants_of(demo_agency("city-mca")) == (
        GrantUse("grant-a", "最低生活保障家庭经济状况核对", ("household_address",)),
        GrantUse("grant-b", "临时救助对象走访核实", ("household_address", "phone")),
    )


def test_a_grant_none_of_whose_items_is_carried_is_not_named_G17() -> None:
    change = _change(CONTACT, {"phone": "13800138000"})
    [delivery] = plan_fanout(change, _recipients("city-mca"), [ADDRESS_ONLY, ADDRESS_AND_PHONE])
    assert delivery.items == ("phone",)
    assert delivery.grants_of(demo_agency("city-mca")) == (
        GrantUse("grant-b", "临时救助对象走访核实", ("phone",)),
    )


def test_an_expired_or_revoked_grant_is_not_named_even_when_it_covers_the_items() -> None:
    expired = replace(ADDRESS_ONLY, valid_until=datetime(2026, 3, 1, tzinfo=LEGAL_TZ))
    revoked = replace(ADDRESS_ONLY, id="grant-c", revoked_at=datetime(2026, 5, 1, tzinfo=LEGAL_TZ))
    uses = attribution(
        demo_entry(CONTACT),
        demo_agency("city-mca"),
        [expired, revoked, ADDRESS_AND_PHONE],
        ["household_address"],
        AT,
    )
    assert [u.grant_id for u in uses] == ["grant-b"]


def test_recipients_of_one_class_share_bytes_but_each_names_its_own_grants_G17() -> None:
    for_hc = replace(ADDRESS_ONLY, id="grant-h", consumer="city-hc", purpose="流行病学调查")
    change = _change(CONTACT, {"household_address": "北京市东城区东华门街道1号"})
    [delivery] = plan_fanout(
        change, _recipients("city-mca", "city-hc", "city-amr"), [ADDRESS_AND_PHONE, for_hc]
    )
    assert [r.id for r in delivery.recipients] == ["city-mca", "city-hc"]
    assert [u.grant_id for u in delivery.grants_of(demo_agency("city-mca"))] == ["grant-b"]
    assert delivery.grants_of(demo_agency("city-hc")) == (
        GrantUse("grant-h", "流行病学调查", ("household_address",)),
    )


def test_unconditional_data_and_the_open_feed_rest_on_no_grant_G15() -> None:
    change = _change(BASIC, {"name": "张三"})
    deliveries = plan_fanout(change, _recipients("city-mca"), [ADDRESS_AND_PHONE])
    assert deliveries
    for delivery in deliveries:
        for recipient in delivery.recipients:
            assert delivery.grants_of(recipient) == ()
