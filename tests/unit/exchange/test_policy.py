"""Sharing / opening policy and desensitisation (G 14-18, GM 9, S 20, S 22, J 14)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import exchange.policy as policy_module
from base.errors import PolicyError
from exchange.catalog import (
    LEGAL_TZ,
    AgencyKind,
    ItemTag,
    ItemValue,
    KeyKind,
    OpenType,
    Sensitivity,
    ShareType,
)
from exchange.catalog_loader import load_catalog
from exchange.grants import Agency, Grant, entitlement, is_active
from exchange.masking import (
    RULES_RESOURCE,
    ConsumerKind,
    MaskRule,
    apply_rule,
    default_masking_rules,
    parse_masking_rules,
)
from exchange.policy import OPEN_FEED, AcceptedChange, OpenFeed, Recipient, plan_fanout
from tests.support.catalog import PERSON, PERSON_VALUES, demo_entry
from tests.support.scenario import DEMO

ROOT = Path(__file__).resolve().parents[3]


LOADED = load_catalog(DEMO)


CATALOG = LOADED.catalog


GRANTS = LOADED.grants


RULES = default_masking_rules()


AT = datetime(2025, 1, 10, 9, 30, tzinfo=LEGAL_TZ)


def _rule(tag: ItemTag) -> MaskRule:
    return RULES.item_rule("desensitised", tag)


def _revealed(original: str, masked: str, fill: str = "*") -> int:
    return sum(1 for o, m in zip(original, masked, strict=False) if o == m and m != fill)


@pytest.mark.parametrize(
    ("tag", "value", "expected"),
    [
        (ItemTag.ID_NUMBER, "52010219900101123X", "520102********123X"),
        (ItemTag.PERSON_NAME, "张三", "张**"),
        (ItemTag.PERSON_NAME, "欧阳修文", "欧阳**"),
        (ItemTag.PHONE, "13812345678", "*******5678"),
        (ItemTag.ADDRESS, "贵州省贵阳市观山湖区金阳南路6号", "贵州省贵阳市观山湖区"),
        (ItemTag.ADDRESS, "贵阳市云岩区新区路2号", "贵阳市云岩区"),
        (ItemTag.ADDRESS, "贵州省清镇市红枫湖镇", "贵州省清镇市"),
        (ItemTag.ADDRESS, "阳光小区3栋2单元", "**"),
        (ItemTag.DATE, date(1990, 5, 17), "1990"),
        (ItemTag.DATE, "1990-05-17", "1990"),
        (ItemTag.CREDIT_CODE, "91520100MA6DK0XX2F", "91520100MA6DK0XX2F"),
    ],
)
def test_desensitisation_examples_gm_9(tag: ItemTag, value: ItemValue, expected: str) -> None:
    assert apply_rule(_rule(tag), value) == expected


def test_withheld_items_are_dropped_when_desensitised_gm_9() -> None:
    assert _rule(ItemTag.WITHHELD).drops
    assert not RULES.item_rule("clear", ItemTag.WITHHELD).changes


_ID_CHARS = st.text(alphabet="0123456789X", min_size=0, max_size=20)


@given(_ID_CHARS)
def test_masked_id_shows_at_most_region_and_last_four_g_18(value: str) -> None:
    rule = _rule(ItemTag.ID_NUMBER)
    masked = apply_rule(rule, value)
    assert isinstance(masked, str) and len(masked) == len(value)
    assert _revealed(value, masked) <= 10
    assert apply_rule(rule, masked) == masked
    if len(value) == 18:
        assert masked[:6] == value[:6] and masked[-4:] == value[-4:]
        assert set(masked[6:-4]) == {"*"}


@given(st.text(alphabet="0123456789+- ", min_size=0, max_size=16))
def test_masked_phone_shows_at_most_last_four_g_18(value: str) -> None:
    rule = _rule(ItemTag.PHONE)
    masked = apply_rule(rule, value)
    assert isinstance(masked, str)
    assert _revealed(value, masked) <= 4
    assert apply_rule(rule, masked) == masked


@given(st.text(alphabet="张王李欧阳司马三四修文琳", min_size=1, max_size=5))
def test_masked_name_keeps_only_the_surname_g_18(value: str) -> None:
    rule = _rule(ItemTag.PERSON_NAME)
    masked = apply_rule(rule, value)
    assert isinstance(masked, str) and masked.endswith("**")
    kept = masked[:-2]
    assert value.startswith(kept) and 1 <= len(kept) <= 2
    assert apply_rule(rule, masked) == masked


_STOPS = ("路", "街", "号", "小区", "村", "栋", "单元", "室", "花园")


@given(st.text(alphabet="贵阳市南明区云岩观山湖县清镇新华路街号小区村栋花园省12", max_size=24))
def test_masked_address_keeps_at_most_the_district_g_18(value: str) -> None:
    rule = _rule(ItemTag.ADDRESS)
    masked = apply_rule(rule, value)
    assert isinstance(masked, str)
    assert apply_rule(rule, masked) == masked
    if masked != rule.fill:
        assert value.startswith(masked)
        assert masked[-1] in "区县旗市"
        assert not any(stop in masked for stop in _STOPS)


@given(st.one_of(st.dates(), st.dates().map(date.isoformat), st.text(max_size=12)))
def test_masked_date_keeps_only_the_year_g_18(value: date | str) -> None:
    rule = _rule(ItemTag.DATE)
    masked = apply_rule(rule, value)
    assert isinstance(masked, str)
    assert masked == rule.fill or (len(masked) == 4 and masked.isdigit())
    assert apply_rule(rule, masked) == masked


def test_rule_file_cannot_open_secret_data_gm_9_g_18() -> None:
    raw: dict[str, Any] = yaml.safe_load(
        (ROOT / "exchange" / RULES_RESOURCE).read_text(encoding="utf-8")
    )
    raw["selection"]["open"]["secret"] = "clear"
    with pytest.raises(PolicyError) as caught:
        parse_masking_rules(yaml.safe_dump(raw, allow_unicode=True))
    assert caught.value.code == "invalid_masking_rules"
    tampered = replace(
        RULES,
        selection={
            **RULES.selection,
            ConsumerKind.OPEN: {**RULES.selection[ConsumerKind.OPEN], Sensitivity.SECRET: "clear"},
        },
    )
    assert tampered.profile_for(ConsumerKind.OPEN, Sensitivity.SECRET) is None


def test_rule_file_must_map_every_tag() -> None:
    raw: dict[str, Any] = yaml.safe_load(
        (ROOT / "exchange" / RULES_RESOURCE).read_text(encoding="utf-8")
    )
    del raw["profiles"]["desensitised"]["phone"]
    with pytest.raises(PolicyError):
        parse_masking_rules(yaml.safe_dump(raw, allow_unicode=True))


def _recipients(n: int) -> list[Recipient]:
    extra = [
        Agency(f"a{i}", f"A{i}", f"机关{i}", AgencyKind.ADMINISTRATIVE_AGENCY) for i in range(n)
    ]
    return [*CATALOG.agencies, *extra, OPEN_FEED]


def test_internal_data_opens_only_desensitised_gm_9() -> None:
    change = AcceptedChange(demo_entry("psb.person.basic"), PERSON, PERSON_VALUES, "ev1", AT)
    deliveries = plan_fanout(change, _recipients(0), GRANTS)
    assert len(deliveries) == 2
    shared = next(d for d in deliveries if OPEN_FEED not in d.recipients)
    opened = next(d for d in deliveries if OPEN_FEED in d.recipients)
    assert opened.recipients == (OPEN_FEED,)
    assert dict(shared.values) == PERSON_VALUES and shared.subject == PERSON
    assert not shared.rules_applied
    assert opened.subject == "520102********123X" and opened.subject_rule == "id_region_last4"
    assert dict(opened.values) == {
        "id_number": "520102********123X",
        "name": "欧阳**",
        "gender": "男",
        "birth_date": "1990",
    }
    assert dict(opened.rules_applied) == {
        "birth_date": "year_only",
        "id_number": "id_region_last4",
        "marital_status": "drop",
        "name": "surname_only",
    }
    assert "marital_status" not in opened.items


def test_public_company_data_opens_in_clear_gm_9() -> None:
    entry = demo_entry("amr.company.registration")
    values: dict[str, ItemValue] = {
        "credit_code": "91520100MA6DK0XX2F",
        "legal_representative": "张三",
    }
    change = AcceptedChange(entry, "91520100MA6DK0XX2F", values, "ev2", AT)
    deliveries = plan_fanout(change, _recipients(0))
    assert len(deliveries) == 1
    assert deliveries[0].recipients[-1] == OPEN_FEED
    assert dict(deliveries[0].values) == values and deliveries[0].subject_rule is None


@pytest.mark.parametrize(
    "entry_id", ["psb.person.watchlist", "psb.person.contact", "amr.individual.business"]
)
def test_secret_not_open_and_conditional_entries_skip_the_open_feed_g_18_s_34(
    entry_id: str,
) -> None:
    entry = demo_entry(entry_id)
    values: dict[str, ItemValue] = {i.name: "x" for i in entry.items}
    deliveries = plan_fanout(
        AcceptedChange(entry, PERSON, values, "ev", AT), _recipients(0), GRANTS
    )
    assert all(OPEN_FEED not in d.recipients for d in deliveries)


def test_partial_grants_get_only_their_items_g_14_s_22() -> None:
    entry = demo_entry("psb.person.contact")
    values: dict[str, ItemValue] = {
        "phone": "13800001111",
        "household_address": "贵阳市南明区新华路1号",
    }
    deliveries = plan_fanout(
        AcceptedChange(entry, PERSON, values, "ev", AT), _recipients(3), GRANTS
    )
    by_agency = {r.id: set(d.items) for d in deliveries for r in d.recipients}
    assert by_agency == {"city-mca": {"phone", "household_address"}, "city-hc": {"phone"}}


def test_masking_runs_once_per_grant_class_not_per_agency(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = apply_rule

    def counting(rule: MaskRule, value: ItemValue) -> ItemValue:
        calls["n"] += 1
        return real(rule, value)

    monkeypatch.setattr(policy_module, "apply_rule", counting)
    change = AcceptedChange(demo_entry("psb.person.basic"), PERSON, PERSON_VALUES, "ev1", AT)
    counts = []
    for n in (0, 200):
        calls["n"] = 0
        deliveries = plan_fanout(change, _recipients(n), GRANTS)
        assert len(deliveries) == 2
        counts.append(calls["n"])
    assert counts[0] == counts[1] > 0
    assert len(plan_fanout(change, _recipients(200))[0].recipients) == len(CATALOG.agencies) + 200


def test_change_with_item_outside_the_entry_is_refused_s_20() -> None:
    change = AcceptedChange(demo_entry("psb.person.basic"), PERSON, {"salary": 1}, "ev", AT)
    with pytest.raises(PolicyError) as caught:
        plan_fanout(change, _recipients(0))
    assert caught.value.code == "item_not_in_entry"


_BASE = demo_entry("psb.person.basic")


_NAMES = sorted(_BASE.item_names)


_CONSUMERS = ["city-mca", "city-hc", "city-amr"]


@st.composite
def _grant_lists(draw: st.DrawFn) -> list[Grant]:
    grants = []
    for n in range(draw(st.integers(0, 4))):
        items = frozenset(draw(st.lists(st.sampled_from(_NAMES), min_size=1, unique=True)))
        providers = {i.provider for i in _BASE.items if i.name in items}
        if len(providers) != 1:
            continue  # one provider per grant (G 15, S 25)
        start = datetime(2024, draw(st.integers(1, 12)), 1, tzinfo=LEGAL_TZ)
        grants.append(
            Grant(
                id=f"g{n}",
                consumer=draw(st.sampled_from(_CONSUMERS)),
                entry_id=_BASE.id,
                items=items,
                granted_by=providers.pop(),
                purpose="p",
                basis="b",
                valid_from=start,
                valid_until=draw(st.sampled_from([None, datetime(2025, 1, 1, tzinfo=LEGAL_TZ)])),
            )
        )
    return grants


@settings(max_examples=150)
@given(
    sensitivity=st.sampled_from(Sensitivity),
    share=st.sampled_from(ShareType),
    opening=st.sampled_from(OpenType),
    desensitised=st.booleans(),
    grants=_grant_lists(),
    changed=st.lists(st.sampled_from(_NAMES), min_size=1, unique=True),
)
def test_output_never_exceeds_the_grant_and_secret_never_opens_gm_9_g_14(
    sensitivity: Sensitivity,
    share: ShareType,
    opening: OpenType,
    desensitised: bool,
    grants: list[Grant],
    changed: list[str],
) -> None:
    entry = replace(
        _BASE,
        sensitivity=sensitivity,
        share_type=share,
        open_type=opening,
        open_desensitised=desensitised,
    )
    values = {name: PERSON_VALUES[name] for name in changed}
    change = AcceptedChange(entry, PERSON, values, "ev", AT)
    for delivery in plan_fanout(change, _recipients(0), grants):
        assert set(delivery.items) <= set(changed)
        assert set(delivery.values) == set(delivery.items)
        for recipient in delivery.recipients:
            if isinstance(recipient, OpenFeed):
                assert sensitivity is not Sensitivity.SECRET
                assert opening is OpenType.UNCONDITIONAL
                if sensitivity is Sensitivity.INTERNAL:
                    assert delivery.key.profile == "desensitised"
                    assert delivery.subject != PERSON
                continue
            allowed = entitlement(entry, recipient, grants, AT)
            assert allowed is not None and set(delivery.items) <= allowed
            if share is ShareType.CONDITIONAL:
                granted = set().union(
                    *(g.items for g in grants if g.consumer == recipient.id and is_active(g, AT))
                )
                assert set(delivery.items) <= granted
            assert share is not ShareType.NOT_SHARED


def test_canonical_subject_keeps_its_kind_and_masks_the_number_gm_9() -> None:
    canonical = f"resident_id:{PERSON}"
    change = AcceptedChange(demo_entry("psb.person.basic"), canonical, PERSON_VALUES, "ev1", AT)
    opened = next(d for d in plan_fanout(change, [OPEN_FEED], GRANTS))
    assert opened.subject == "resident_id:520102********123X"


def test_subject_keys_of_legal_persons_stay_public() -> None:
    assert not RULES.subject_rule("desensitised", KeyKind.CREDIT_CODE).changes
    assert not RULES.subject_rule("desensitised", KeyKind.BUSINESS_LICENCE).changes
    assert RULES.subject_rule("desensitised", KeyKind.RESIDENT_ID).changes
