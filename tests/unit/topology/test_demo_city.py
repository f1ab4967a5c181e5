"""The demo's people and companies are valid numbers of the profile's city (issue 15 item 7)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from exchange.catalog_loader import check_catalog_file
from exchange.identity import IdentityKind, check
from exchange.profiles import load_profiles
from topology.demo import DEMO_CATALOG, DEMO_PROFILE
from topology.demo_city import DemoCity, Names, outcome_zh

TODAY = date(2026, 12, 6)
PROFILES = load_profiles()


@pytest.mark.parametrize("profile_id", PROFILES.ids)
def test_every_packaged_profile_names_its_city(profile_id: str) -> None:
    city = PROFILES.get(profile_id).city
    assert city is not None and city.name_zh.endswith("市") and len(city.region_code) == 6


@pytest.mark.parametrize("seed", range(50))
def test_people_and_companies_are_valid_and_of_the_city(seed: int) -> None:
    """GB 11643 check digit, the 15-digit form of the same person (GM 18 ¶2), GB 32100
    with the GB 11714 organisation code check; the division code is the profile's."""
    city = PROFILES.get(DEMO_PROFILE).city
    assert city is not None
    demo = DemoCity(city, random.Random(seed))
    person = demo.person()
    full = check(person.resident_id, IdentityKind.RESIDENT_ID, today=TODAY)
    legacy = check(person.legacy_id, IdentityKind.RESIDENT_ID, today=TODAY)
    assert full.valid and legacy.valid, (person, full, legacy)
    assert legacy.normalized == person.resident_id  # one person, one canonical subject
    assert person.resident_id.startswith(city.region_code)
    company = demo.credit_code()
    checked = check(company, IdentityKind.CREDIT_CODE, today=TODAY)
    assert checked.valid, (company, checked)
    assert company[2:8] == city.region_code


def test_two_runs_make_different_subjects() -> None:
    city = PROFILES.get(DEMO_PROFILE).city
    assert city is not None
    one, two = DemoCity(city, random.Random(1)), DemoCity(city, random.Random(2))
    assert one.person() != two.person() and one.credit_code() != two.credit_code()


def test_people_read_chinese_names_and_labels() -> None:
    catalog = check_catalog_file(DEMO_CATALOG).catalog
    assert catalog is not None
    names = Names(catalog)
    assert names.agency("city-psb") == "市公安局"
    assert names.entry("psb.person.basic") == "居民基本信息"
    assert names.items("psb.person.basic", {"name": "张三", "gender": "男"}) == "姓名=张三，性别=男"
    assert names.agency("city-unknown") == "city-unknown"  # never a repr, never a crash
    assert outcome_zh("accepted") == "已接受" and outcome_zh("new_code") == "new_code"
