"""The jurisdiction profile governs what a bus takes into its catalog (issue 15 item 6):
share and open types the profile does not allow are refused, and the Guiyang profiles
refuse 涉密 entries (GM 24: data on the cloud-hosted 贵阳分平台 must not involve state
secrets), each with its article in the message. These are data of the profile files
(exchange/profiles/*.yaml), not code per city: the tests change the data and see the
rule change.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from base.errors import ProfileError
from exchange.catalog import OpenType, Sensitivity, ShareType
from exchange.catalog_loader import (
    OPEN_TYPE_FORMS,
    AllowedTypes,
    admission,
    check_catalog_file,
    check_catalog_text,
)
from exchange.profiles import PACKAGED_PROFILES_DIR, load_profile, load_profiles
from tests.support.scenario import DEMO

PROFILES = load_profiles()


def _issues(profile_id: str, path: Path = DEMO) -> dict[tuple[str, str | None], Any]:
    result = check_catalog_file(path, admission(PROFILES.get(profile_id)))
    return {(i.code, i.entry): i for i in result.issues}


def _entry(entry_id: str, **attrs: Any) -> dict[str, Any]:
    return {
        "id": entry_id,
        "title": entry_id,
        "title_zh": "条目",
        "provider": "bureau",
        "source_business": "业务",
        "category": "类别",
        "key_kind": "credit_code",
        "update_cycle": "daily",
        "state": "published",
        "items": [{"name": "status", "label_zh": "状态", "type": "string", "tag": "free"}],
        **attrs,
    }


def _catalog(*entries: dict[str, Any]) -> str:
    agency = {
        "id": "bureau",
        "name": "Bureau",
        "name_zh": "市某局",
        "kind": "administrative_agency",
    }
    doc = {"version": 1, "name": "测试目录", "agencies": [agency], "entries": list(entries)}
    return yaml.safe_dump(doc, allow_unicode=True)


@pytest.mark.parametrize("profile_id", ["guiyang-2021", "guiyang-2017"])
def test_guiyang_refuses_secret_entries_citing_gm_24(profile_id: str) -> None:
    found = _issues(profile_id)
    issue = found[("sensitivity_not_admitted", "psb.person.watchlist")]
    assert issue.article == "GM 24"
    assert "GM 24" in issue.message and "涉密数据" in issue.message
    assert profile_id in issue.message
    # Every other demo entry's grade is admitted.
    assert [k for k in found if k[0] == "sensitivity_not_admitted"] == [
        ("sensitivity_not_admitted", "psb.person.watchlist")
    ]


@pytest.mark.parametrize(
    ("profile_id", "article"), [("guiyang-2021", "G 18; GM 9"), ("guiyang-2017", "G17 18; GM 9")]
)
def test_guiyang_has_no_conditional_opening_g_18(profile_id: str, article: str) -> None:
    """G 18 is a negative list: data opens (desensitised where internal, GM 9) or not."""
    issue = _issues(profile_id)[("open_type_not_allowed", "amr.individual.business")]
    assert issue.article == article and article in issue.message
    assert "conditional" in issue.message


def test_jinan_shares_nothing_and_refuses_sharing_entries_citing_j_2() -> None:
    found = _issues("jinan-2024")
    shared = {entry for code, entry in found if code == "share_type_not_allowed"}
    assert shared == {
        "psb.person.basic",
        "psb.person.contact",
        "amr.company.registration",
        "amr.individual.business",
        "amr.company.annual_report_2019",
    }
    assert all(i.article == "J 2" and "J 2" in i.message for i in found.values())
    assert ("open_type_not_allowed", "amr.individual.business") not in found  # J 8 有条件


def test_a_jinan_opening_catalog_is_valid_there_and_the_sharing_rules_do_not_apply() -> None:
    """Under J the bus only opens data: entries are not shared, open unconditionally, on
    conditions (J 8, J 13) or not at all; S 22 (not shared, so not opened) and S 23 (basis
    of restricted sharing) concern sharing and do not apply."""
    text = _catalog(
        _entry(
            "open.public", sensitivity="public", share_type="not_shared", open_type="unconditional"
        ),
        _entry(
            "open.on_conditions",
            sensitivity="internal",
            share_type="not_shared",
            open_type="conditional",
            open_basis="J 8 ¶3",
            open_conditions=["签订数据利用协议 (J 13)"],
        ),
    )
    jinan = admission(PROFILES.get("jinan-2024"))
    assert check_catalog_text(text, jinan).valid, check_catalog_text(text, jinan).issues
    everywhere = {i.code for i in check_catalog_text(text).issues}
    assert {"not_shared_but_opened", "missing_share_basis", "public_data_restricted"} <= everywhere


def test_shenyang_admits_the_demo_catalog_s_22_s_32() -> None:
    assert _issues("shenyang-2019") == {}


def test_every_open_type_has_its_forms_and_each_profile_opens_unconditionally() -> None:
    assert set(OPEN_TYPE_FORMS) == set(OpenType)
    for profile in PROFILES.profiles:
        allowed = admission(profile)
        assert allowed.open_types is not None and OpenType.UNCONDITIONAL in allowed.open_types
        assert allowed.profile == profile.id


def test_without_a_profile_nothing_is_refused_by_grade_or_type() -> None:
    assert check_catalog_file(DEMO, AllowedTypes()).valid


def _copy(tmp_path: Path, profile_id: str, change: dict[str, Any]) -> Path:
    directory = tmp_path / "profiles"
    directory.mkdir(exist_ok=True)
    target = directory / f"{profile_id}.yaml"
    shutil.copy(PACKAGED_PROFILES_DIR / f"{profile_id}.yaml", target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data.update(change)
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_the_rule_is_profile_data_not_code(tmp_path: Path) -> None:
    """Take GM 24 out of a Guiyang file and 涉密 entries pass; put a refusal into a
    Shenyang file and they are refused with that file's article."""
    lenient = load_profile(_copy(tmp_path, "guiyang-2021", {"catalog_admission": None}))
    assert ("sensitivity_not_admitted", "psb.person.watchlist") not in {
        (i.code, i.entry) for i in check_catalog_file(DEMO, admission(lenient)).issues
    }
    strict = load_profile(
        _copy(
            tmp_path,
            "shenyang-2019",
            {"catalog_admission": {"refused_sensitivities": ["secret"], "basis": "S 4"}},
        )
    )
    found = {(i.code, i.entry): i for i in check_catalog_file(DEMO, admission(strict)).issues}
    assert found[("sensitivity_not_admitted", "psb.person.watchlist")].article == "S 4"
    assert admission(strict).refused_sensitivities == frozenset({Sensitivity.SECRET})
    assert admission(strict).share_types == frozenset(ShareType)


@pytest.mark.parametrize(
    ("admission_block", "message"),
    [
        ({"refused_sensitivities": ["classified"], "basis": "GM 24"}, "is not one of"),
        ({"refused_sensitivities": ["secret"], "basis": "X 24"}, "cites a text not in 'texts'"),
        ({"refused_sensitivities": ["secret"]}, "missing key 'basis'"),
        ({"refused_sensitivities": ["secret"], "basis": "GM 24", "why": "x"}, "unknown key"),
        ({"refused_sensitivities": ["secret", "secret"], "basis": "GM 24"}, "duplicate value"),
    ],
)
def test_a_bad_admission_block_is_a_profile_error(
    tmp_path: Path, admission_block: dict[str, Any], message: str
) -> None:
    path = _copy(tmp_path, "guiyang-2021", {"catalog_admission": admission_block})
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert message in str(info.value) and "catalog_admission" in str(info.value)
