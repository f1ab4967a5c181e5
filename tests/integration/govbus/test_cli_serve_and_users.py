"""`govbus user add|list|disable` (argon2-hashed passwords from stdin or the environment,
never from the command line) and `govbus serve` as a real process on the real broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from typer.testing import CliRunner

from govbus.cli.main import app

PASSWORD = "a long enough passphrase"
START_TIMEOUT_S = 60.0


def _env(tmp_path: Path) -> dict[str, str]:
    return {"GOVBUS_HOME": str(tmp_path / "home"), "GOVBUS_USER_PASSWORD": ""}


def test_user_add_reads_the_password_from_stdin_or_the_environment(tmp_path: Path) -> None:
    cli, env = CliRunner(), _env(tmp_path)
    made = cli.invoke(
        app, ["user", "add", "li.si", "--role", "bureau", "--json"], input=f"{PASSWORD}\n", env=env
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["user"]["role"] == "bureau" and PASSWORD not in made.output
    via_env = cli.invoke(
        app,
        ["user", "add", "auditor-1", "--role", "auditor", "--json"],
        env={**env, "GOVBUS_USER_PASSWORD": PASSWORD},
    )
    assert via_env.exit_code == 0, via_env.output
    listed = cli.invoke(app, ["user", "list", "--json"], env=env)
    users = json.loads(listed.output)["users"]
    assert [u["id"] for u in users] == ["auditor-1", "li.si"]
    assert "argon2" not in listed.output and PASSWORD not in listed.output
    assert cli.invoke(app, ["user", "disable", "li.si", "--reason", "调岗"], env=env).exit_code == 0
    again = cli.invoke(app, ["user", "disable", "li.si"], env=env)
    assert again.exit_code == 1 and "no active user li.si" in again.output


def test_user_add_refusals_name_the_cause_and_create_nothing(tmp_path: Path) -> None:
    cli, env = CliRunner(), _env(tmp_path)
    short = cli.invoke(app, ["user", "add", "a1", "--role", "public"], input="short\n", env=env)
    assert short.exit_code == 1 and "12 to 1024 characters" in short.output
    assert "nothing was created" in short.output and "Traceback" not in short.output
    role = cli.invoke(app, ["user", "add", "a1", "--role", "admin"], input=f"{PASSWORD}\n", env=env)
    assert role.exit_code == 2 and "expected one of agency, bureau" in role.output
    agency = cli.invoke(
        app, ["user", "add", "a1", "--role", "agency"], input=f"{PASSWORD}\n", env=env
    )
    assert agency.exit_code == 1 and "--agency" in agency.output
    unknown = cli.invoke(
        app,
        ["user", "add", "a1", "--role", "agency", "--agency", "nobody"],
        input=f"{PASSWORD}\n",
        env=env,
    )
    assert unknown.exit_code == 1 and "agency nobody is not registered" in unknown.output
    empty = cli.invoke(app, ["user", "add", "a1", "--role", "public"], input="", env=env)
    assert empty.exit_code == 2 and "GOVBUS_USER_PASSWORD" in empty.output
    assert json.loads(cli.invoke(app, ["user", "list", "--json"], env=env).output)["users"] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_govbus_serve_answers_health_openapi_docs_and_a_logged_in_user(
    tmp_path: Path, bootstrap: str
) -> None:
    env = {**os.environ, **_env(tmp_path), "GOVBUS_BOOTSTRAP": bootstrap}
    env["GOVBUS_STATE_NAMESPACE"] = f"serve-{uuid.uuid4().hex[:8]}"
    made = CliRunner().invoke(
        app, ["user", "add", "wang.wu", "--role", "auditor"], input=f"{PASSWORD}\n", env=env
    )
    assert made.exit_code == 0, made.output
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "govbus", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base}/healthz").json() == {"status": "ok"}:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "govbus serve did not answer"
            time.sleep(0.2)
        spec = httpx.get(f"{base}/openapi.json").json()
        assert "/v1/applications/{case_id}/approve" in spec["paths"]
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/v1/me").status_code == 401
        token = httpx.post(
            f"{base}/v1/auth/token", json={"username": "wang.wu", "password": PASSWORD}
        ).json()["access_token"]
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"id": "wang.wu", "role": "auditor", "agency": None}
    finally:
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM (exit status -15).
        assert proc.wait(timeout=60) in (0, -15)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in text
    assert PASSWORD not in text and token not in text
