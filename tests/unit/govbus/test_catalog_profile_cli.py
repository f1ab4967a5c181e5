"""``govbus catalog validate`` and ``govbus catalog import`` apply the jurisdiction profile
(``--profile``, else the running one, ``GOVBUS_PROFILE``): their messages name the entry,
the rule and its article (GM 24 涉密 on the Guiyang platform; G 18 negative list; J 2
opening only). No server is involved: an import the profile refuses stops before the
store or the broker is touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from govbus.cli.main import app
from tests.support.scenario import DEMO

runner = CliRunner()


def _validate(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["catalog", "validate", str(DEMO), *args, "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def test_validate_under_guiyang_names_gm_24_and_g_18() -> None:
    code, out = _validate("--profile", "guiyang-2021")
    assert code == 1 and out["valid"] is False and out["profile"] == "guiyang-2021"
    by = {(e["code"], e["entry"]): e for e in out["errors"]}
    assert set(by) == {
        ("sensitivity_not_admitted", "psb.person.watchlist"),
        ("open_type_not_allowed", "amr.individual.business"),
    }
    secret = by[("sensitivity_not_admitted", "psb.person.watchlist")]
    assert secret["article"] == "GM 24" and "GM 24" in secret["message"]
    assert "涉密数据" in secret["message"] and "guiyang-2021" in secret["message"]
    opening = by[("open_type_not_allowed", "amr.individual.business")]
    assert opening["article"] == "G 18; GM 9" and "G 18; GM 9" in opening["message"]


def test_validate_uses_the_running_profile_by_default() -> None:
    code, out = _validate(env={"GOVBUS_PROFILE": "jinan-2024", "GOVBUS_CONFIG": ""})
    assert code == 1 and out["profile"] == "jinan-2024"
    assert {e["article"] for e in out["errors"]} == {"J 2"}
    code, out = _validate(env={"GOVBUS_PROFILE": "shenyang-2019", "GOVBUS_CONFIG": ""})
    assert (code, out["valid"], out["profile"]) == (0, True, "shenyang-2019")


def test_text_output_gives_the_rule_and_article_per_line() -> None:
    result = runner.invoke(app, ["catalog", "validate", str(DEMO), "--profile", "guiyang-2017"])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if "sensitivity_not_admitted" in line]
    assert len(lines) == 1
    assert "(GM 24) [psb.person.watchlist]" in lines[0] and "guiyang-2017" in lines[0]


def test_an_unknown_profile_is_one_line_naming_the_fix_exit_2() -> None:
    result = runner.invoke(app, ["catalog", "validate", str(DEMO), "--profile", "lhasa-2030"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())  # rich wraps at the terminal's width
    assert message.count("error:") == 1 and "Traceback" not in result.output
    assert "lhasa-2030" in message and "GOVBUS_PROFILE" in message and "guiyang-2021" in message
    env = {"GOVBUS_PROFILE": "lhasa-2030", "GOVBUS_CONFIG": ""}
    code, out = _validate(env=env)
    assert code == 2 and "lhasa-2030" in out["error"] and out["kind"] == "ProfileError"


def test_import_refused_by_the_running_profile_writes_nothing(tmp_path: Path) -> None:
    """A Guiyang bus refuses the demo's 涉密 entry (GM 24): nothing stored, no broker
    contacted (the bootstrap below does not answer)."""
    env = {
        "GOVBUS_HOME": str(tmp_path / "home"),
        "GOVBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'govbus.db'}",
        "GOVBUS_BOOTSTRAP": "127.0.0.1:9",
        "GOVBUS_PROFILE": "guiyang-2021",
        "GOVBUS_CONFIG": "",
    }
    result = runner.invoke(app, ["catalog", "import", str(DEMO), "--json"], env=env)
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["profile"] == "guiyang-2021"
    assert "guiyang-2021" in out["error"] and "nothing imported" in out["error"]
    assert "GOVBUS_PROFILE" in out["error"]
    assert {(e["code"], e["article"]) for e in out["errors"]} == {
        ("sensitivity_not_admitted", "GM 24"),
        ("open_type_not_allowed", "G 18; GM 9"),
    }
    assert not (tmp_path / "govbus.db").exists()
    text = runner.invoke(app, ["catalog", "import", str(DEMO)], env=env)
    assert text.exit_code == 1
    assert "sensitivity_not_admitted (GM 24) [psb.person.watchlist]" in text.stderr
    last = " ".join(text.stderr.split("error:")[-1].split())
    assert last.startswith("catalog") and "nothing imported" in last
