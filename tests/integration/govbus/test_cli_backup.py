"""``govbus backup`` and ``govbus restore --check`` as an operator runs them (issue 18 item 3;
GM 28, S 45): JSON for scripts, one line naming the cause and the fix when refused."""

from __future__ import annotations

from pathlib import Path

from govbus.cli.main import app
from tests.support.cli import invoke_json, runner
from tests.support.processor import Bus


def test_backup_then_check_and_refusals(bus: Bus, tmp_path: Path) -> None:
    bus.publish_names("张三")
    assert bus.receipts("city-psb", until=1)  # decided: the audit stream holds it
    env = {
        "GOVBUS_BOOTSTRAP": bus.bootstrap,
        "GOVBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'govbus.db'}",
    }
    assert invoke_json(["db", "upgrade"], env=env)[0] == 0
    folder = tmp_path / "backup"
    code, out = invoke_json(["backup", str(folder)], env=env)
    assert code == 0 and out["ok"] is True, out
    assert "govbus.audit" in out["topics"] and "agencies" in out["tables"]
    code, checked = invoke_json(["restore", str(folder), "--check"], env=env)
    assert (code, checked["ok"], checked["topics"]) == (0, True, out["topics"])
    # Refused, in one line with the fix: a backup never goes over an earlier one.
    again = runner.invoke(app, ["backup", str(folder)], env=env)
    assert again.exit_code != 0
    line = again.stderr.strip()
    assert "not empty" in line and "new folder" in line and "\n" not in line
    missing = runner.invoke(app, ["restore", str(tmp_path / "nothing"), "--check"], env=env)
    assert missing.exit_code != 0 and "manifest.json" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
