"""The shipped alert rules and Prometheus configuration, checked by Prometheus's own promtool.

promtool comes with Debian's `prometheus` package (.ci/run installs it); a missing promtool
fails these tests: it never skips them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.tools import required_tool

ROOT = Path(__file__).resolve().parents[3]


RULES = ROOT / "monitoring" / "rules"


PROMTOOL_TIMEOUT_S = 60


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [required_tool("promtool", "prometheus"), *args],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
    )


def test_promtool_checks_the_rules() -> None:
    files = sorted(RULES.glob("*.yml"))
    assert files
    done = _run("check", "rules", *map(str, files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    tests = sorted((RULES / "tests").glob("*.yml"))
    assert tests
    done = _run("test", "rules", *map(str, tests))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    alerts = {
        r["alert"]
        for f in RULES.glob("*.yml")
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    fired = {
        case["alertname"]
        for f in (RULES / "tests").glob("*.yml")
        for t in yaml.safe_load(f.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == fired


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check can fail: a rule with a syntax error in its expression."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n"
        "        expr: govbus_entry_overdue ==\n"
    )
    assert _run("check", "rules", str(bad)).returncode != 0


def test_compose_prometheus_config_is_valid_and_loads_the_rules(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # Point the rule glob at the repository's rules and let promtool check everything.
    config["rule_files"] = [str(RULES / "*.yml")]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    done = _run("check", "config", str(local))
    assert done.returncode == 0, done.stdout + done.stderr
    count = sum(
        len(g["rules"])
        for f in RULES.glob("*.yml")
        for g in yaml.safe_load(f.read_text())["groups"]
    )
    assert f"{count} rules found" in done.stdout
