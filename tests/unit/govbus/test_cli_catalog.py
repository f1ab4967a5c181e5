"""``govbus catalog validate`` (G 11, GM 9, S 23)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from govbus.cli.main import app
from tests.support.scenario import DEMO

runner = CliRunner()


BAD = """\
version: 1
name: bad
agencies:
  - {id: psb, name: PSB, name_zh: 市公安局, kind: administrative_agency}
entries:
  - id: secret.person
    title: Secret
    title_zh: 涉密
    provider: psb
    source_business: 治安管理
    category: 公共安全
    key_kind: resident_id
    sensitivity: secret
    share_type: unconditional
    open_type: not_open
    open_basis: 国家秘密
    update_cycle: daily
    items:
      - {name: level, label_zh: 等级, type: string, tag: free, provider: tax}
  - id: cond.person
    title: Conditional
    title_zh: 有条件
    provider: psb
    source_business: 户籍管理
    category: 人口
    key_kind: resident_id
    sensitivity: internal
    share_type: conditional
    open_type: not_open
    open_basis: 个人隐私
    update_cycle: daily
    items:
      - {name: phone, label_zh: 电话, type: string, tag: phone}
"""


def test_demo_catalog_is_valid_json_exit_0() -> None:
    result = runner.invoke(
        app, ["catalog", "validate", str(DEMO), "--profile", "shenyang-2019", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload == {
        "valid": True,
        "file": str(DEMO),
        "profile": "shenyang-2019",
        "entries": 6,
        "errors": [],
    }


def test_invalid_catalog_lists_every_error_exit_1_gm_9_s_23(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    args = ["catalog", "validate", str(path), "--profile", "shenyang-2019", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert payload["entries"] == 2
    assert payload["file"] == str(path)
    errors = {(e["code"], e["entry"]): e for e in payload["errors"]}
    assert set(errors) == {
        ("secret_shared_unconditionally", "secret.person"),
        ("unknown_provider", "secret.person"),
        ("missing_share_basis", "cond.person"),
    }
    assert errors[("secret_shared_unconditionally", "secret.person")]["article"] == "GM 9"
    assert errors[("missing_share_basis", "cond.person")]["article"] == "S 23"
    assert all(set(e) == {"code", "article", "message", "entry"} for e in payload["errors"])
    assert all(e["message"] for e in payload["errors"])


def test_text_output_names_the_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    bad = runner.invoke(app, ["catalog", "validate", str(path), "--profile", "shenyang-2019"])
    assert bad.exit_code == 1
    assert "secret_shared_unconditionally" in bad.stdout and "GM 9" in bad.stdout
    good = runner.invoke(app, ["catalog", "validate", str(DEMO), "--profile", "shenyang-2019"])
    assert good.exit_code == 0 and "valid" in good.stdout


def test_yaml_syntax_error_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("entries: [unclosed\n", encoding="utf-8")
    result = runner.invoke(app, ["catalog", "validate", str(path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [e["code"] for e in payload["errors"]] == ["yaml_syntax"]
    assert payload["entries"] == 0


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(tmp_path / "none.yaml"), "--json"])
    assert result.exit_code == 2
    assert "error" in json.loads(result.stdout)
