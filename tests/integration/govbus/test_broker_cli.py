"""`govbus broker start|stop|status`: the project provisions a real Kafka broker itself."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from base.settings import Settings
from kafkaclient import Admin
from tests.support.broker import seed_kafka_runtime
from tests.support.cli import json_object
from tests.support.scenario import DEMO
from topology.connection import connected

GOVBUS = [sys.executable, "-m", "govbus"]


#: A cold start resolves the jars (Maven's cache is warm after the first run) and boots the JVM.
CLI_TIMEOUT_S = 600


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOVBUS, *args], capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S
    )


def _failure(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON answer of a command that failed as expected (exit code 1)."""
    assert done.returncode == 1, done.stdout + done.stderr
    return json_object(done.stdout)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVBUS_")}
    env["GOVBUS_HOME"] = str(tmp_path / "home")
    return env


def test_start_status_second_start_stop(cli_env: dict[str, str]) -> None:
    started = run(["broker", "start", "--json"], cli_env)
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        first = json.loads(started.stdout)
        assert first["running"] is True and first["already_running"] is False
        assert first["kafka_version"] == "4.1.1"
        assert first["started_in_s"] > 0
        assert first["bootstrap"].startswith("127.0.0.1:")
        # The address answers a real metadata request, to the administrator only: without
        # credentials nothing answers (issue 7: nothing unauthenticated reaches agency data).
        admin_file = Path(first["admin_credentials"])
        assert stat.S_IMODE(admin_file.stat().st_mode) == 0o600
        assert Admin(first["bootstrap"], credentials_file=admin_file).ping(timeout_s=10)
        assert not Admin(first["bootstrap"]).ping(timeout_s=3)
        # The static secrets live in server.properties: private too, and no anonymous super user.
        props = Path(first["home"]) / "server.properties"
        assert stat.S_IMODE(props.parent.stat().st_mode) == 0o700  # data at rest too
        assert stat.S_IMODE(props.stat().st_mode) == 0o600
        supers = next(x for x in props.read_text().splitlines() if x.startswith("super.users="))
        assert "ANONYMOUS" not in supers and "User:govbus-admin" in supers
        # The administrator's password goes to this broker only, never to another address.
        local = Settings.load(environ={"GOVBUS_HOME": cli_env["GOVBUS_HOME"]})
        assert connected(local).bootstrap == first["bootstrap"]
        assert connected(local).kafka["sasl.username"] == "govbus-admin"
        assert connected(local, first["bootstrap"]).kafka == connected(local).kafka
        elsewhere = connected(local, "kafka.example:9092")
        assert (
            elsewhere.bootstrap == "kafka.example:9092" and "sasl.password" not in elsewhere.kafka
        )
        # Commands on this host find the local broker and its administrator by themselves.
        ensured = run(["topics", "ensure", "--catalog", str(DEMO), "--json"], cli_env)
        assert ensured.returncode == 0, ensured.stderr + ensured.stdout
        made = json.loads(ensured.stdout)
        assert made["created"] > 0 and made["existing"] == 0
        audit = next(t for t in made["topics"] if t["name"] == "govbus.audit")
        assert audit["kind"] == "audit" and audit["created"] is True

        status = json.loads(run(["broker", "status", "--json"], cli_env).stdout)
        assert status["running"] is True
        assert status["pid"] == first["pid"]
        assert status["bootstrap"] == first["bootstrap"]

        again = json.loads(run(["broker", "start", "--json"], cli_env).stdout)
        assert again["already_running"] is True
        assert again["pid"] == first["pid"]
    finally:
        stopped = run(["broker", "stop", "--json"], cli_env)
    assert json.loads(stopped.stdout)["running"] is False
    # Graceful stop leaves no process behind.
    assert not Path(f"/proc/{first['pid']}").exists() or _is_zombie(first["pid"])
    assert json.loads(run(["broker", "status", "--json"], cli_env).stdout)["running"] is False


def _is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_port_in_use_is_named(cli_env: dict[str, str]) -> None:
    seed_kafka_runtime(Path(cli_env["GOVBUS_HOME"]))  # about the port, not about Maven
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        failed = run(["broker", "start", "--port", str(port), "--json"], cli_env)
    out = _failure(failed)
    assert out["kind"] == "PortInUseError"
    assert f"port {port}" in out["error"] and "in use" in out["error"]


def test_missing_java_is_named(cli_env: dict[str, str], tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("mvn",):
        found = shutil.which(tool)
        assert found
        (bare / tool).symlink_to(found)
    cli_env["PATH"] = str(bare)
    failed = run(["broker", "start", "--json"], cli_env)
    out = _failure(failed)
    assert out["kind"] == "ToolMissingError"
    assert "'java'" in out["error"]


def test_unreachable_repository_is_named(cli_env: dict[str, str], tmp_path: Path) -> None:
    settings = tmp_path / "settings.xml"
    settings.write_text(
        f"""<settings><localRepository>{tmp_path / "m2"}</localRepository>
        <mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>
        <url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"""
    )
    cli_env["GOVBUS_MAVEN_SETTINGS"] = str(settings)
    failed = run(["broker", "start", "--json"], cli_env)
    out = _failure(failed)
    assert out["kind"] == "RepositoryError"
    assert "could not resolve org.apache.kafka:kafka_2.13:4.1.1" in out["error"]


def test_cluster_ids_are_kafka_uuids_never_starting_with_dash() -> None:
    from operations.broker.local import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(c) == 22 and not c.startswith("-") for c in ids)
    assert len(set(ids)) == len(ids)
