"""Catalog model, lifecycle and loader (G 11, GM 9-22, S 18-27, J 8)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from base.errors import CatalogError, LifecycleError
from exchange.catalog import (
    LEGAL_TZ,
    TRANSITIONS,
    CatalogKind,
    KeyKind,
    Lifecycle,
    LifecycleState,
    OpenType,
    ShareType,
    UpdateCycle,
    approve,
    catalogs_of,
    in_force,
    publish,
    return_for_revision,
    submit,
    withdraw,
)
from exchange.catalog_loader import (
    AllowedTypes,
    check_catalog_file,
    check_catalog_text,
    load_catalog,
)
from tests.support.scenario import DEMO

BASE: dict[str, Any] = {
    "version": 1,
    "name": "test catalog",
    "agencies": [
        {"id": "psb", "name": "PSB", "name_zh": "市公安局", "kind": "administrative_agency"},
        {"id": "mca", "name": "MCA", "name_zh": "市民政局", "kind": "administrative_agency"},
    ],
    "entries": [
        {
            "id": "person",
            "title": "Persons",
            "title_zh": "人口",
            "provider": "psb",
            "source_business": "户籍管理",
            "category": "人口基础信息",
            "key_kind": "resident_id",
            "sensitivity": "internal",
            "share_type": "conditional",
            "share_basis": "法规依据",
            "open_type": "not_open",
            "open_basis": "个人隐私",
            "update_cycle": "daily",
            "state": "published",
            "items": [
                {"name": "name", "label_zh": "姓名", "type": "string", "tag": "person_name"},
                {"name": "phone", "label_zh": "电话", "type": "string", "tag": "phone"},
            ],
        }
    ],
    "grants": [
        {
            "id": "g1",
            "consumer": "mca",
            "entry": "person",
            "items": ["phone"],
            "granted_by": "psb",
            "purpose": "低保核对",
            "basis": "职责",
            "valid_from": "2024-01-01",
            "valid_until": "2025-12-31",
        }
    ],
}


Mutation = Callable[[dict[str, Any]], None]


def _entry(doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = doc["entries"][0]
    return entry


def _set(**changes: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        _entry(doc).update(changes)

    return mutate


def _drop(key: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del _entry(doc)[key]

    return mutate


def _grant(**changes: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["grants"][0].update(changes)

    return mutate


def _second_entry(**changes: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        other = copy.deepcopy(_entry(doc))
        other.update(changes)
        doc["entries"].append(other)

    return mutate


def _item_provider(provider: str | None) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        _entry(doc)["items"][0]["provider"] = provider

    return mutate


def _check(doc: dict[str, Any], allowed: AllowedTypes = AllowedTypes()) -> dict[str, str]:
    result = check_catalog_text(yaml.safe_dump(doc, allow_unicode=True), allowed)
    return {issue.code: issue.article for issue in result.issues}


def test_base_document_is_valid_gm_11() -> None:
    result = check_catalog_text(yaml.safe_dump(BASE, allow_unicode=True))
    assert result.valid, result.issues
    assert result.catalog is not None
    assert result.entry_count == 1
    assert [g.id for g in result.grants] == ["g1"]


CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown entry key", _set(colour="red"), "unknown_key", "GM 11"),
    ("missing key kind", _drop("key_kind"), "missing_field", "GM 11"),
    ("bad sensitivity", _set(sensitivity="top"), "invalid_value", "GM 11"),
    ("bad update cycle", _set(update_cycle="sometimes"), "invalid_value", "GM 11"),
    ("empty items", _set(items=[]), "no_items", "GM 11"),
    (
        "duplicate item",
        _set(
            items=[
                {"name": "name", "label_zh": "姓名", "type": "string", "tag": "person_name"},
                {"name": "name", "label_zh": "姓名", "type": "string", "tag": "person_name"},
            ]
        ),
        "duplicate_item",
        "GM 22",
    ),
    ("item without provider", lambda d: _entry(d).pop("provider"), "missing_provider", "GM 22"),
    ("unregistered provider", _item_provider("tax"), "unknown_provider", "GM 22"),
    (
        "secret shared unconditionally",
        _set(sensitivity="secret", share_type="unconditional"),
        "secret_shared_unconditionally",
        "GM 9",
    ),
    (
        "secret opened",
        _set(sensitivity="secret", open_type="conditional"),
        "secret_opened",
        "G 18 (一)",
    ),
    (
        "public data restricted",
        _set(sensitivity="public"),
        "public_data_restricted",
        "GM 9",
    ),
    (
        "internal opened without desensitisation",
        _set(open_type="unconditional"),
        "internal_opened_without_desensitisation",
        "GM 9",
    ),
    (
        "not shared but opened",
        _set(share_type="not_shared", open_type="conditional"),
        "not_shared_but_opened",
        "S 22",
    ),
    ("conditional sharing without basis", _drop("share_basis"), "missing_share_basis", "S 23"),
    ("refused opening without basis", _drop("open_basis"), "missing_open_basis", "J 8 ¶5; S 34 ¶1"),
    ("withdrawn without reason", _set(state="withdrawn"), "withdrawn_without_reason", "S 27 ¶2"),
    (
        "withdrawal filed late",
        _set(
            state="withdrawn",
            withdrawal={"reason": "r", "filed_on": "2024-05-02", "effective_on": "2024-05-01"},
        ),
        "withdrawal_not_filed_in_advance",
        "S 27 ¶2",
    ),
    (
        "withdrawal on a published entry",
        _set(withdrawal={"reason": "r", "filed_on": "2024-05-01", "effective_on": "2024-05-02"}),
        "unexpected_withdrawal",
        "GM 11",
    ),
    ("duplicate entry id", _second_entry(), "duplicate_entry", "GM 13"),
    (
        "one item, two sources",
        _second_entry(id="person2", provider="mca"),
        "source_conflict",
        "GM 22",
    ),
    (
        "duplicate agency",
        lambda d: d["agencies"].append(dict(d["agencies"][0])),
        "duplicate_agency",
        "GM 13",
    ),
    ("grant for unknown entry", _grant(entry="nope"), "grant_unknown_entry", "G 15"),
    ("grant to unknown agency", _grant(consumer="tax"), "grant_unknown_agency", "G 14"),
    (
        "grant for item not in entry",
        _grant(items=["phone", "salary"]),
        "grant_item_not_in_entry",
        "S 22",
    ),
    ("grant by non-provider", _grant(granted_by="mca"), "grant_not_by_provider", "G 15; S 25"),
    (
        "grant ends before it starts",
        _grant(valid_from="2025-01-01", valid_until="2024-01-01"),
        "grant_empty_period",
        "G 15",
    ),
    (
        "grant on not-shared entry",
        _set(share_type="not_shared"),
        "grant_on_not_shared",
        "GM 9; S 22",
    ),
    (
        "duplicate grant",
        lambda d: d["grants"].append(dict(d["grants"][0])),
        "duplicate_grant",
        "GM 13",
    ),
    ("unsupported version", lambda d: d.update(version=2), "unsupported_version", "GM 11"),
    ("unknown top-level key", lambda d: d.update(extra=1), "unknown_key", "GM 11"),
]


@pytest.mark.parametrize(
    ("mutation", "code", "article"),
    [pytest.param(m, c, a, id=name) for name, m, c, a in CASES],
)
def test_each_named_catalog_error(mutation: Mutation, code: str, article: str) -> None:
    assert code not in _check(BASE)
    doc = copy.deepcopy(BASE)
    mutation(doc)
    found = _check(doc)
    assert code in found, found
    assert found[code] == article


def test_all_errors_are_collected_not_just_the_first() -> None:
    doc = copy.deepcopy(BASE)
    _set(sensitivity="secret", share_type="unconditional", open_type="unconditional")(doc)
    _grant(items=["salary"])(doc)
    found = _check(doc)
    assert {"secret_shared_unconditionally", "secret_opened", "grant_item_not_in_entry"} <= set(
        found
    )


def test_yaml_syntax_error_is_reported() -> None:
    result = check_catalog_text("entries: [unclosed")
    assert not result.valid
    assert [i.code for i in result.issues] == ["yaml_syntax"]


def test_share_and_open_types_are_checked_against_the_profile_sets() -> None:
    allowed = AllowedTypes(
        share_types=frozenset({ShareType.UNCONDITIONAL, ShareType.NOT_SHARED}),
        open_types=frozenset({OpenType.UNCONDITIONAL, OpenType.CONDITIONAL}),
        article="X 1",
    )
    found = _check(BASE, allowed)
    assert found["share_type_not_allowed"] == "X 1"
    assert found["open_type_not_allowed"] == "X 1"
    everything = AllowedTypes(frozenset(ShareType), frozenset(OpenType), "X 1")
    assert not _check(BASE, everything)


def test_demo_catalog_validates() -> None:
    result = check_catalog_file(DEMO)
    assert result.valid, result.issues
    catalog = result.catalog
    assert catalog is not None
    assert {e.share_type for e in catalog.entries} == set(ShareType)
    assert {e.open_type for e in catalog.entries} == set(OpenType)
    assert {e.key_kind for e in catalog.entries} == set(KeyKind)
    assert {a.name_zh for a in catalog.agencies} >= {
        "市公安局",
        "市市场监管局",
        "市民政局",
        "市卫健委",
    }


def test_demo_source_register_has_one_provider_per_item_gm_22() -> None:
    catalog = load_catalog(DEMO).catalog
    register = catalog.source_register()
    assert register[(KeyKind.RESIDENT_ID, "id_number")] == "city-psb"
    assert register[(KeyKind.RESIDENT_ID, "marital_status")] == "city-mca"
    assert register[(KeyKind.CREDIT_CODE, "company_name")] == "city-amr"


def test_load_catalog_raises_the_first_issue(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    _set(sensitivity="secret", share_type="unconditional")(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.code == "secret_shared_unconditionally"
    assert caught.value.article == "GM 9"


def test_grant_dates_are_whole_days_in_legal_time_d1() -> None:
    result = check_catalog_text(yaml.safe_dump(BASE, allow_unicode=True))
    grant = result.grants[0]
    assert grant.valid_from == datetime(2024, 1, 1, tzinfo=LEGAL_TZ)
    assert grant.valid_until == datetime(2026, 1, 1, tzinfo=LEGAL_TZ)


def test_catalogs_of_follows_attributes_gm_10() -> None:
    catalog = load_catalog(DEMO).catalog
    secret = catalog.entry("psb.person.watchlist")
    company = catalog.entry("amr.company.registration")
    assert secret is not None and company is not None
    assert catalogs_of(secret) == {CatalogKind.RESOURCE}
    assert catalogs_of(company) == set(CatalogKind)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("realtime", timedelta(0)),
        ("daily", timedelta(days=1)),
        ("monthly", timedelta(days=31)),
        ("P14D", timedelta(days=14)),
        ("PT6H", timedelta(hours=6)),
        ("P1DT2H", timedelta(days=1, hours=2)),
    ],
)
def test_update_cycle_parses_names_and_durations_gm_11(text: str, period: timedelta) -> None:
    assert UpdateCycle.parse(text).period == period


@pytest.mark.parametrize("text", ["P", "PT", "P0D", "fortnightly", "14D", "P1DT"])
def test_update_cycle_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        UpdateCycle.parse(text)


def test_lifecycle_happy_path_g_11_gm_14_s_27() -> None:
    lifecycle = publish(approve(submit(Lifecycle())))
    assert lifecycle.state is LifecycleState.PUBLISHED
    stopped = withdraw(lifecycle, " merged ", date(2024, 3, 1), date(2024, 4, 1))
    assert stopped.state is LifecycleState.WITHDRAWN
    assert stopped.withdrawal is not None and stopped.withdrawal.reason == "merged"


def test_review_can_return_an_entry_to_draft_g_11() -> None:
    assert return_for_revision(submit(Lifecycle())).state is LifecycleState.DRAFT


ACTIONS: dict[str, Callable[[Lifecycle], Lifecycle]] = {
    "submit": submit,
    "return": return_for_revision,
    "approve": approve,
    "publish": publish,
    "withdraw": lambda lc: withdraw(lc, "reason", date(2024, 1, 1), date(2024, 1, 2)),
}


@given(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=12))
def test_lifecycle_refuses_exactly_the_illegal_transitions(actions: list[str]) -> None:
    lifecycle = Lifecycle()
    for action in actions:
        source, target, article = TRANSITIONS[action]
        if lifecycle.state is source:
            lifecycle = ACTIONS[action](lifecycle)
            assert lifecycle.state is target
        else:
            with pytest.raises(LifecycleError) as caught:
                ACTIONS[action](lifecycle)
            assert caught.value.code == "illegal_transition"
            assert caught.value.article == article


def test_withdraw_needs_a_reason_s_27() -> None:
    published = publish(approve(submit(Lifecycle())))
    with pytest.raises(LifecycleError) as caught:
        withdraw(published, "  ", date(2024, 1, 1), date(2024, 1, 2))
    assert caught.value.code == "withdrawn_without_reason"
    assert caught.value.article == "S 27 ¶2"


def test_withdrawal_is_filed_in_advance_s_27() -> None:
    published = publish(approve(submit(Lifecycle())))
    with pytest.raises(LifecycleError) as caught:
        withdraw(published, "r", date(2024, 1, 3), date(2024, 1, 2))
    assert caught.value.code == "withdrawal_not_filed_in_advance"


def test_withdrawn_entry_is_served_until_the_stop_takes_effect_s_27() -> None:
    catalog = load_catalog(DEMO).catalog
    entry = catalog.entry("amr.company.annual_report_2019")
    assert entry is not None and entry.lifecycle.withdrawal is not None
    effective = entry.lifecycle.withdrawal.effective_on
    last_minute = datetime(effective.year, effective.month, effective.day, tzinfo=LEGAL_TZ)
    assert in_force(entry, last_minute - timedelta(minutes=1))
    assert not in_force(entry, last_minute)


def test_unpublished_entries_are_not_in_force_gm_14() -> None:
    catalog = load_catalog(DEMO).catalog
    entry = catalog.entry("psb.person.basic")
    assert entry is not None
    now = datetime(2025, 1, 1, tzinfo=LEGAL_TZ)
    assert in_force(entry, now)
    for state in (LifecycleState.DRAFT, LifecycleState.UNDER_REVIEW, LifecycleState.APPROVED):
        assert not in_force(replace(entry, lifecycle=Lifecycle(state)), now)
