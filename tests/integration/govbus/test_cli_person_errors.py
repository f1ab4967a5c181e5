"""Every error a person can cause is told in one line naming the cause and the fix, exit
code 2, no traceback (issue 14 item 8): no credentials, a wrong password, a processor group
outside the processors' prefix, an agency the catalog already registered. Run as a person
would: ``python -m govbus`` in a subprocess, against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.broker import BrokerSource
from tests.support.cli import invoke_json
from tests.support.scenario import Names

#: Credentials refused or missing are told within seconds, not after a 30 s budget; a cold
#: Python start and a loaded machine are allowed for.
CLI_TIMEOUT_S = 120


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVBUS_")}
    return {**env, "GOVBUS_HOME": str(tmp_path / "home"), **extra}


def _govbus(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govbus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command's error: exit 2, one line on stderr, no traceback anywhere."""
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def _admin(broker: BrokerSource) -> dict[str, str]:
    if "sasl.username" not in broker.client_config:
        pytest.fail("the test broker must ask for credentials (issue 7)", pytrace=False)
    return dict(broker.client_config)


def test_no_credentials_names_the_credentials_file(broker: BrokerSource, tmp_path: Path) -> None:
    _admin(broker)
    env = _clean_env(tmp_path, GOVBUS_BOOTSTRAP=broker.bootstrap)
    for args in (["demo"], ["feed", "tail", "--agency", "city-psb"]):
        line = _one_line(_govbus(args, env))
        assert "without credentials" in line and "GOVBUS_CREDENTIALS_FILE" in line, line


def test_a_wrong_password_is_named_and_not_printed(broker: BrokerSource, tmp_path: Path) -> None:
    admin = _admin(broker)
    wrong = f"wrong-{uuid.uuid4().hex}"
    env = _clean_env(
        tmp_path,
        GOVBUS_BOOTSTRAP=broker.bootstrap,
        GOVBUS_KAFKA__SECURITY_PROTOCOL=admin["security.protocol"],
        GOVBUS_KAFKA__SASL_MECHANISM=admin["sasl.mechanism"],
        GOVBUS_KAFKA__SASL_USERNAME=admin["sasl.username"],
        GOVBUS_KAFKA__SASL_PASSWORD=wrong,
    )
    done = _govbus(["demo"], env)
    line = _one_line(done)
    assert "refused the credentials" in line and admin["sasl.username"] in line, line
    assert "rotate-password" in line
    assert wrong not in done.stdout + done.stderr
    as_json = _govbus(["demo", "--json"], env)
    assert as_json.returncode == 2 and "Traceback" not in as_json.stderr
    assert json.loads(as_json.stdout)["kind"] == "AuthenticationError"


def test_a_group_outside_the_processors_prefix_is_refused_before_any_worker_starts(
    broker: BrokerSource, tmp_path: Path
) -> None:
    if not broker.processor_credentials:
        pytest.fail("the processors' credentials come with the local broker", pytrace=False)
    env = _clean_env(tmp_path, GOVBUS_CREDENTIALS_FILE=broker.processor_credentials)
    line = _one_line(_govbus(["run", "--group", "X"], env))
    assert "--group 'X'" in line and "--group govbus-X" in line, line


def test_a_worker_refused_its_transactional_id_says_the_fix_and_is_not_restarted(
    broker: BrokerSource, tmp_path: Path
) -> None:
    """The same refusal from the broker itself (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as
    a worker started directly meets it: one line, exit 2, the supervisor gives up at once."""
    if not broker.processor_credentials:
        pytest.fail("the processors' credentials come with the local broker", pytrace=False)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(Names().catalog_text(), encoding="utf-8")
    worker = ["--bootstrap", "unused", "--group", "X", "--catalog", str(catalog)]
    worker += ["--credentials-file", broker.processor_credentials]
    done = subprocess.run(
        [sys.executable, "-m", "topology.run", *worker],
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    line = _one_line(done)
    assert "TRANSACTIONAL_ID_AUTHORIZATION_FAILED" in line and "--group govbus-X" in line


def test_adding_an_agency_the_catalog_registered_points_to_rotate_password(
    broker: BrokerSource, tmp_path: Path
) -> None:
    _admin(broker)
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    # As the administrator (the session's credentials file), with its own database.
    ours = {
        "GOVBUS_HOME": str(tmp_path / "home"),
        "GOVBUS_PROFILE": "shenyang-2019",  # the profile the demo catalog is written for
    }
    # The import before and the fix after run in process (they are not about the error a
    # person sees); the refusal itself runs as a person would.
    code, imported = invoke_json(["catalog", "import", str(catalog)], env=ours)
    assert code == 0, imported
    agency = names.agency("city-psb")
    line = _one_line(_govbus(["agency", "add", agency], {**os.environ, **ours}))
    assert f"agency {agency} is already registered" in line
    assert f"govbus agency rotate-password {agency}" in line
    assert "UNIQUE" not in line
    # The fix works: the registered agency gets its first credentials.
    code, rotated = invoke_json(["agency", "rotate-password", agency], env=ours)
    assert code == 0, rotated
    assert rotated["client_config"]["sasl.username"] == agency
