"""Jurisdiction profiles (D3): the regulations.md profile table as data, loaded strictly."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from base.errors import ProfileError
from exchange.profiles import (
    OBLIGATION_NAMES,
    PACKAGED_PROFILES_DIR,
    ConditionalScope,
    LifecycleStep,
    OpenType,
    ShareType,
    load_profile,
    load_profiles,
    profile_to_dict,
    profiles_dir_from_env,
)

PROFILES = load_profiles()


# (profile, obligation) -> [(amount, unit, starts_from, basis)], from the profile table.
TABLE: dict[tuple[str, str], list[tuple[int | None, str, str, str]]] = {
    ("guiyang-2021", "share_reply"): [(10, "calendar_days", "application", "G 15 ¶2")],
    ("guiyang-2021", "open_reply"): [(10, "calendar_days", "application", "G 21 ¶1")],
    ("guiyang-2021", "open_review"): [(10, "calendar_days", "acceptance", "G 21 ¶2")],
    ("guiyang-2021", "error_report_reply"): [(5, "working_days", "receipt", "GM 16")],
    ("guiyang-2021", "catalog_update_law_change"): [
        (15, "calendar_days", "occurrence", "G 13 ¶2"),
        (10, "working_days", "occurrence", "GM 15 ¶2"),
    ],
    ("guiyang-2021", "catalog_update_circumstances"): [
        (2, "working_days", "occurrence", "GM 15 ¶3"),
        (None, "promptly", "occurrence", "G 13 ¶2"),
    ],
    ("guiyang-2021", "complaint_reply"): [
        (5, "working_days", "acceptance", "GM 31 ¶2"),
        (None, "promptly", "receipt", "G 29"),
    ],
    ("guiyang-2017", "share_reply"): [(10, "working_days", "acceptance", "G17 15 ¶2")],
    ("guiyang-2017", "open_reply"): [(10, "working_days", "acceptance", "G17 21 ¶1")],
    ("guiyang-2017", "open_review"): [(10, "working_days", "acceptance", "G17 21 ¶2")],
    ("guiyang-2017", "error_report_reply"): [(5, "working_days", "receipt", "GM 16")],
    ("guiyang-2017", "catalog_update_law_change"): [
        (15, "working_days", "occurrence", "G17 13 ¶2"),
        (10, "working_days", "occurrence", "GM 15 ¶2"),
    ],
    ("guiyang-2017", "catalog_update_circumstances"): [
        (2, "working_days", "occurrence", "GM 15 ¶3"),
        (None, "promptly", "occurrence", "G17 13 ¶2"),
    ],
    ("guiyang-2017", "complaint_reply"): [
        (5, "working_days", "acceptance", "GM 31 ¶2"),
        (None, "promptly", "receipt", "G17 29"),
    ],
    ("shenyang-2019", "share_reply"): [(5, "working_days", "receipt", "S 25 ¶2")],
    ("shenyang-2019", "open_reply"): [(10, "calendar_days", "receipt", "S 34 ¶3")],
    ("jinan-2024", "open_reply"): [(None, "promptly", "receipt", "J 10 ¶3")],
    ("jinan-2024", "error_report_reply"): [(None, "promptly", "receipt", "J 12 ¶2")],
    ("jinan-2024", "catalog_update_law_change"): [(None, "promptly", "occurrence", "J 11")],
    ("jinan-2024", "catalog_update_circumstances"): [(None, "promptly", "occurrence", "J 11")],
}


def test_the_four_profiles_of_d3_are_packaged() -> None:
    assert set(PROFILES.ids) == {"guiyang-2021", "guiyang-2017", "shenyang-2019", "jinan-2024"}


@pytest.mark.parametrize(
    "profile_id", ["guiyang-2021", "guiyang-2017", "shenyang-2019", "jinan-2024"]
)
@pytest.mark.parametrize("name", OBLIGATION_NAMES)
def test_obligations_match_the_profile_table(profile_id: str, name: str) -> None:
    """Each cell of the table; "none" cells (e.g. Jinan share_reply) have no obligation."""
    found = PROFILES.get(profile_id).obligation(name)
    expected = TABLE.get((profile_id, name))
    if expected is None:
        assert found is None
        return
    assert found is not None
    got = [(p.amount, p.unit.value, p.starts_from.value, p.basis) for p in found.periods]
    assert got == expected


def test_case_scoped_periods() -> None:
    """G 13's 15 days cover catalogs only; GM 31's 5 wd only complaints of GM breaches."""
    g = PROFILES.get("guiyang-2021")
    law = g.obligation("catalog_update_law_change")
    complaint = g.obligation("complaint_reply")
    assert law is not None and complaint is not None
    assert law.periods[0].applies_to == ("catalog",) and law.periods[1].applies_to == ()
    assert complaint.periods[0].applies_to == ("gm_breach",)


def test_sharing_rules() -> None:
    """G 14 / G17 14, S 22, S 25 deemed consent, G17 17 / S 29 pass-on ban (deleted 2021)."""
    g21, g17 = PROFILES.get("guiyang-2021"), PROFILES.get("guiyang-2017")
    sy, jn = PROFILES.get("shenyang-2019"), PROFILES.get("jinan-2024")
    assert g21.sharing and g17.sharing and sy.sharing
    assert jn.sharing is None  # J: opening only
    for profile in (g21, g17, sy):
        assert profile.sharing is not None
        assert profile.sharing.types == (
            ShareType.UNCONDITIONAL,
            ShareType.CONDITIONAL,
            ShareType.NOT_SHARED,
        )
    assert sy.sharing.conditional_scopes == (ConditionalScope.AGENCIES, ConditionalScope.FIELDS)
    assert g21.sharing.conditional_scopes == (ConditionalScope.AGENCIES,)
    assert g21.sharing.deemed_consent is None and g17.sharing.deemed_consent is None
    assert sy.sharing.deemed_consent is not None
    assert sy.sharing.deemed_consent.share_types == (ShareType.CONDITIONAL,)
    assert sy.sharing.deemed_consent.basis == "S 25 ¶3"
    assert not g21.sharing.third_party_pass_on.forbidden
    assert g17.sharing.third_party_pass_on.forbidden
    assert g17.sharing.third_party_pass_on.basis == "G17 17"
    assert sy.sharing.third_party_pass_on.forbidden


def test_opening_subject_authorisation_and_lifecycle() -> None:
    g21, sy, jn = (PROFILES.get(p) for p in ("guiyang-2021", "shenyang-2019", "jinan-2024"))
    assert OpenType.ON_APPLICATION in sy.opening.types and sy.opening.default is None
    assert jn.opening.types == (OpenType.UNCONDITIONAL, OpenType.CONDITIONAL, OpenType.NOT_OPEN)
    assert jn.opening.default is OpenType.UNCONDITIONAL  # J 8 ¶4
    assert OpenType.DESENSITISED in g21.opening.types  # GM 9
    assert jn.subject_authorisation is not None
    assert {v.value for v in jn.subject_authorisation.delegated_use_limits} == {
        "matter",
        "access_count",
        "term",
    }
    assert g21.subject_authorisation is None and sy.subject_authorisation is None
    assert LifecycleStep.GOVERNMENT_APPROVAL in g21.catalog_lifecycle.steps  # G 11
    assert LifecycleStep.GOVERNMENT_APPROVAL not in sy.catalog_lifecycle.steps  # S 18
    assert jn.catalog_lifecycle.attribute_change_needs_bureau_consent  # J 9 ¶4
    assert jn.catalog_lifecycle.attribute_change_basis == "J 9 ¶4"
    assert not g21.catalog_lifecycle.attribute_change_needs_bureau_consent
    filing = sy.catalog_lifecycle.filing  # S 23: 有条件共享和不予共享的 ... 备案
    assert filing is not None and filing.basis == "S 23"
    assert set(filing.share_types) == {ShareType.CONDITIONAL, ShareType.NOT_SHARED}
    assert g21.catalog_lifecycle.filing is None and jn.catalog_lifecycle.filing is None
    assert sy.catalog_lifecycle.withdrawal_notice_basis == "S 27 ¶2"
    assert g21.catalog_lifecycle.withdrawal_notice_basis == ""
    assert g21.catalog_lifecycle.full_maintenance_basis == "GM 15 ¶1"  # 每年至少 ... 全面维护
    assert sy.catalog_lifecycle.full_maintenance_basis == ""


def test_profile_to_dict_lists_every_obligation() -> None:
    data = profile_to_dict(PROFILES.get("jinan-2024"))
    assert list(data["obligations"]) == list(OBLIGATION_NAMES)
    assert data["obligations"]["share_reply"] is None
    assert data["obligations"]["open_reply"]["periods"][0]["unit"] == "promptly"
    assert data["sharing"] is None
    assert data["subject_authorisation"]["basis"] == "J 14"


def test_unknown_profile() -> None:
    with pytest.raises(ProfileError) as info:
        PROFILES.get("wuhan-2030")
    assert info.value.code == "unknown_profile"


def _raw(profile_id: str = "shenyang-2019") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (PACKAGED_PROFILES_DIR / f"{profile_id}.yaml").read_text("utf-8")
    )
    return data


def _write(directory: Path, data: dict[str, Any], name: str | None = None) -> Path:
    path = directory / f"{name or data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_new_city_is_a_new_file(tmp_path: Path) -> None:
    for path in PACKAGED_PROFILES_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    data = _raw()
    data["id"] = "dalian-2025"
    data["obligations"]["share_reply"]["periods"][0]["amount"] = 7
    _write(tmp_path, data)
    profiles = load_profiles(tmp_path)
    assert "dalian-2025" in profiles.ids and len(profiles.ids) == 5
    found = profiles.get("dalian-2025").obligation("share_reply")
    assert found is not None and found.periods[0].amount == 7
    assert profiles_dir_from_env({"GOVBUS_PROFILES_DIR": str(tmp_path)}) == tmp_path
    assert profiles_dir_from_env({}) == PACKAGED_PROFILES_DIR


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], None], str]]:
    def top_key(d: dict[str, Any]) -> None:
        d["deadlines"] = {}

    def period_key(d: dict[str, Any]) -> None:
        d["obligations"]["share_reply"]["periods"][0]["within"] = 5

    def obligation_name(d: dict[str, Any]) -> None:
        d["obligations"]["share_replies"] = d["obligations"]["share_reply"]

    def section_key(d: dict[str, Any]) -> None:
        d["sharing"]["deemed_consent"]["after"] = "5 wd"

    return [
        ("deadlines", top_key, "unknown_key"),
        ("within", period_key, "unknown_key"),
        ("share_replies", obligation_name, "unknown_key"),
        ("after", section_key, "unknown_key"),
    ]


@pytest.mark.parametrize(("key", "mutate", "code"), _mutations())
def test_unknown_keys_are_errors_naming_key_and_file(
    tmp_path: Path, key: str, mutate: Callable[[dict[str, Any]], None], code: str
) -> None:
    data = _raw()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.code == code
    assert key in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.pop("opening"), "missing key 'opening'"),
        (lambda d: d.update(id="elsewhere"), "differs from the file name"),
        (lambda d: d["obligations"]["share_reply"]["periods"][0].update(unit="weeks"), "weeks"),
        (lambda d: d["obligations"]["share_reply"]["periods"][0].update(amount=0), "1..366"),
        (lambda d: d["obligations"]["share_reply"]["periods"][0].update(amount="5"), "whole"),
        (
            lambda d: d["obligations"]["share_reply"]["periods"][0].update(unit="promptly"),
            "no amount",
        ),
        (lambda d: d["obligations"]["share_reply"].update(periods=[]), "at least one"),
        (
            lambda d: d["obligations"]["share_reply"]["periods"][0].update(basis="G 15"),
            "not in 'texts'",
        ),
        (
            lambda d: d["obligations"]["share_reply"]["periods"][0].update(basis="Art. 25"),
            "not a citation",
        ),
        (
            lambda d: d["obligations"]["share_reply"]["periods"][0].update(applies_to=["x"]),
            "not one of the 'cases'",
        ),
        (
            lambda d: d["obligations"]["share_reply"]["periods"].append(
                {"amount": 3, "unit": "working_days", "starts_from": "acceptance", "basis": "S 25"}
            ),
            "share one starts_from",
        ),
        (lambda d: d["opening"].update(default="conditional"), "not in 'types'"),
        (lambda d: d["sharing"].update(types=["unconditional", "unconditional"]), "duplicate"),
        (lambda d: d["sharing"]["third_party_pass_on"].update(forbidden="yes"), "true or false"),
        (
            lambda d: d["catalog_lifecycle"].update(attribute_change_needs_bureau_consent=True),
            "cite the article of the consent",
        ),
        (
            lambda d: d["catalog_lifecycle"].update(steps=["publish", "bureau_review"]),
            "the last step is publish",
        ),
        (
            lambda d: d["catalog_lifecycle"].update(
                steps=["government_approval", "bureau_review", "publish"]
            ),
            "the bureau reviews before",
        ),
        (
            lambda d: d["catalog_lifecycle"]["filing"].update(basis="G 11"),
            "not in 'texts'",
        ),
    ],
)
def test_invalid_values_are_errors(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], fragment: str
) -> None:
    data = _raw()
    change(data)
    path = _write(tmp_path, data, name="shenyang-2019")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert fragment in str(info.value)


def test_unreadable_and_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profiles(tmp_path)
    assert info.value.code == "unreadable"
    with pytest.raises(ProfileError):
        load_profiles(tmp_path / "absent")
