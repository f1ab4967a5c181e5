"""``govbus id check``, ``govbus deadline``, ``govbus profile show`` through the real app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govbus.cli.main import app

runner = CliRunner()


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def _deadline(profile: str, obligation: str, start: str, *more: str) -> tuple[int, dict[str, Any]]:
    """``govbus deadline --json`` for ``obligation`` of ``profile`` from ``start``."""
    return _run(
        "deadline", "--profile", profile, "--obligation", obligation, "--from", start, *more
    )


def test_id_check_valid_json_is_exactly_four_fields() -> None:
    code, data = _run("id", "check", " 11010519491231002x ")
    assert code == 0
    assert data == {
        "valid": True,
        "kind": "resident_id",
        "normalized": "11010519491231002X",
        "reason": None,
    }


def test_id_check_invalid_exits_1_with_reason() -> None:
    code, data = _run("id", "check", "110105194912310029", "--kind", "resident_id")
    assert code == 1
    assert data == {
        "valid": False,
        "kind": "resident_id",
        "normalized": "110105194912310029",
        "reason": "checksum",
    }


def test_id_check_credit_code_and_organisation_type() -> None:
    assert _run("id", "check", "91110000600037341L") == (
        0,
        {"valid": True, "kind": "credit_code", "normalized": "91110000600037341L", "reason": None},
    )
    code, data = _run("id", "check", "94110000600037341L", "--kind", "credit_code")
    assert (code, data["reason"]) == (1, "organisation_type")


def test_id_check_legacy_number_normalises_to_18_digits() -> None:
    code, data = _run("id", "check", "110105491231002", "--kind", "resident_id")
    assert (code, data["normalized"]) == (0, "11010519491231002X")
    code, data = _run("id", "check", "110105491231002")  # also a valid licence number
    assert (code, data["kind"], data["reason"]) == (1, None, "ambiguous")


def test_id_check_unknown_kind_is_a_usage_error() -> None:
    assert runner.invoke(app, ["id", "check", "1", "--kind", "passport"]).exit_code == 2


def test_id_check_text_output() -> None:
    result = runner.invoke(app, ["id", "check", "11010519491231002X"])
    assert result.exit_code == 0 and "resident_id" in result.stdout


DEADLINE_KEYS = {
    "profile",
    "obligation",
    "amount",
    "unit",
    "starts_from",
    "due_date",
    "due_by",
    "basis",
    "periods",
    "note",
    "sla_due_date",
}


def test_deadline_single_period_across_spring_festival() -> None:
    """G17 15: 10 wd from acceptance on 2025-01-24 ends 2025-02-13 (1.26, 2.8 working)."""
    code, data = _deadline("guiyang-2017", "share_reply", "2025-01-24T09:30:00+08:00")
    assert code == 0
    assert set(data) == DEADLINE_KEYS
    assert data["amount"] == 10 and data["unit"] == "working_days"
    assert data["starts_from"] == "acceptance"
    assert (data["due_date"], data["due_by"]) == ("2025-02-13", "2025-02-14T00:00:00+08:00")
    assert data["basis"] == "G17 15 ¶2"
    assert len(data["periods"]) == 1


def test_deadline_two_texts_earliest_binds_and_both_cited() -> None:
    """D2: G 13 (15 days) and GM 15 (10 wd); from 2025-01-24 G 13 binds on 2.8."""
    code, data = _deadline("guiyang-2021", "catalog_update_law_change", "2025-01-24T02:00:00Z")
    assert code == 0
    assert (data["amount"], data["unit"], data["due_date"]) == (15, "calendar_days", "2025-02-08")
    assert data["basis"] == "G 13 ¶2; GM 15 ¶2"
    assert [p["due_date"] for p in data["periods"]] == ["2025-02-08", "2025-02-13"]
    assert [p["basis"] for p in data["periods"]] == ["G 13 ¶2", "GM 15 ¶2"]
    assert "D2" in data["note"]


def test_deadline_utc_trigger_is_converted_to_shanghai() -> None:
    """23:30 UTC on 1.19 is 1.20 in Shanghai: G 15's 10 days end 1.30 -> 2.5."""
    code, data = _deadline("guiyang-2021", "share_reply", "2025-01-19T23:30:00+00:00")
    assert (code, data["due_date"]) == (0, "2025-02-05")


def test_deadline_promptly_has_null_date_and_a_note() -> None:
    code, data = _deadline("jinan-2024", "error_report_reply", "2025-03-03", "--sla", "2")
    assert code == 0
    assert (data["due_date"], data["due_by"], data["unit"]) == (None, None, "promptly")
    assert data["amount"] is None and data["basis"] == "J 12 ¶2"
    assert "promptly" in data["note"]
    assert data["sla_due_date"] == "2025-03-05"


def test_deadline_case_narrows_periods() -> None:
    code, data = _deadline("guiyang-2021", "complaint_reply", "2026-02-24", "--case", "gm_breach")
    assert (code, data["due_date"], data["basis"]) == (0, "2026-03-02", "GM 31 ¶2; G 29")


@pytest.mark.parametrize(
    "args",
    [
        ("--profile", "jinan-2024", "--obligation", "share_reply", "--from", "2025-03-03"),
        ("--profile", "shenyang-2019", "--obligation", "complaint_reply", "--from", "2025-03-03"),
        ("--profile", "wuhan-2030", "--obligation", "share_reply", "--from", "2025-03-03"),
        ("--profile", "jinan-2024", "--obligation", "open_reply", "--from", "2025-03-03T10:00"),
        ("--profile", "jinan-2024", "--obligation", "open_reply", "--from", "yesterday"),
        ("--profile", "guiyang-2021", "--obligation", "share_reply", "--from", "2025-03-03",
         "--case", "nonsense"),
    ],
)  # fmt: skip
def test_deadline_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    code, data = _run("deadline", *args)
    assert code == 2
    assert data["error"]


def test_deadline_missing_obligation_message_is_clear() -> None:
    result = runner.invoke(
        app, ["deadline", "--profile", "jinan-2024", "--obligation", "share_reply",
              "--from", "2025-03-03"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "jinan-2024" in result.output and "share_reply" in result.output


def test_deadline_unknown_year_fails_and_a_year_file_fixes_it(tmp_path: Path) -> None:
    args = ("deadline", "--profile", "shenyang-2019", "--obligation", "share_reply",
            "--from", "2026-12-30")  # fmt: skip
    code, data = _run(*args)
    assert code == 1 and "2027" in data["error"]
    (tmp_path / "2027.yaml").write_text(
        "year: 2027\nsource: invented test data\nholidays: [2027-01-01]\n", encoding="utf-8"
    )
    code, data = _run(*args, env={"GOVBUS_HOLIDAYS_DIR": str(tmp_path)})
    # 12.31, then 1.4 ... 1.7 (1.1 off, 1.2-1.3 weekend)
    assert (code, data["due_date"]) == (0, "2027-01-07")
    code, data = _run(*args, "--holidays-dir", str(tmp_path))
    assert (code, data["due_date"]) == (0, "2027-01-07")


def test_profile_show_json() -> None:
    code, data = _run("profile", "show", "shenyang-2019")
    assert code == 0
    assert data["id"] == "shenyang-2019"
    assert data["sharing"]["deemed_consent"] == {"share_types": ["conditional"], "basis": "S 25 ¶3"}
    assert data["obligations"]["complaint_reply"] is None


def test_profile_show_unknown_exits_2_and_text_output() -> None:
    code, data = _run("profile", "show", "wuhan-2030")
    assert code == 2 and "wuhan-2030" in data["error"]
    result = runner.invoke(app, ["profile", "show", "jinan-2024"])
    assert result.exit_code == 0 and "promptly" in result.stdout


def test_profile_list_and_profiles_dir(tmp_path: Path) -> None:
    code, data = _run("profile", "list")
    assert code == 0 and "guiyang-2021" in data["profiles"]
    code, data = _run("profile", "list", "--profiles-dir", str(tmp_path))
    assert (code, data["profiles"]) == (0, [])
