"""`govbus broker start --nodes 3`: a local cluster of three KRaft nodes, driven and seen
through the same commands as the single broker (issue 18 item 1; GM 28, S 45)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from base.settings import Settings
from kafkaclient import Admin, Replicas, TopicSpec
from tests.support.broker import seed_kafka_runtime
from topology.connection import connected

GOVBUS = [sys.executable, "-m", "govbus"]
#: Three cold JVMs and a quorum election on a busy 2-core machine.
CLI_TIMEOUT_S = 600
#: A created topic reaches every broker's metadata within this.
METADATA_WAIT_S = 30.0


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOVBUS, *args], capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVBUS_")}
    env["GOVBUS_HOME"] = str(tmp_path / "home")
    # The cluster, not Maven: a cold home's resolution is test_broker_cli's.
    seed_kafka_runtime(tmp_path / "home")
    return env


def test_start_three_nodes_status_stop(cli_env: dict[str, str]) -> None:
    nodes: list[dict[str, Any]] = []
    started = run(["broker", "start", "--nodes", "3", "--json"], cli_env)
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        first = json.loads(started.stdout)
        assert first["running"] is True and first["already_running"] is False
        nodes = first["nodes"]
        assert [n["node_id"] for n in nodes] == [1, 2, 3]
        assert all(n["running"] for n in nodes)
        assert len({n["pid"] for n in nodes}) == 3
        # Each node its own ports; clients are given all three.
        admins = [n["bootstrap"] for n in nodes]
        assert first["bootstrap"] == ",".join(admins) and len(set(admins)) == 3
        assert first["agency_bootstrap"] == ",".join(n["agency_bootstrap"] for n in nodes)
        # Each node's secrets and data are private, as the single broker's.
        for n in nodes:
            props = Path(first["home"]) / f"node-{n['node_id']}" / "server.properties"
            assert stat.S_IMODE(props.stat().st_mode) == 0o600
            assert stat.S_IMODE(props.parent.stat().st_mode) == 0o700
            assert "unclean.leader.election.enable=false" in props.read_text()
        # Commands on this host reach the cluster as the administrator, by themselves.
        local = connected(Settings.load(environ={"GOVBUS_HOME": cli_env["GOVBUS_HOME"]}))
        assert local.bootstrap == first["bootstrap"]
        admin = Admin(local.bootstrap, extra_config=local.kafka)
        assert admin.brokers() == 3
        assert admin.partition_health().controller in {1, 2, 3}
        # Nobody unauthenticated is answered on any node.
        assert not Admin(admins[1]).ping(timeout_s=3)
        # A topic made here gets three replicas, two in sync.
        admin.ensure_topics([TopicSpec("test.cluster.cli", 3)])
        replicas = _described(admin, "test.cluster.cli")
        assert {len(p.replicas) for p in replicas.values()} == {3}
        assert admin.topic_config("test.cluster.cli")["min.insync.replicas"] == "2"
        # status and a second start, without --nodes, cover the three nodes.
        status = json.loads(run(["broker", "status", "--json"], cli_env).stdout)
        assert [(n["node_id"], n["pid"]) for n in status["nodes"]] == [
            (n["node_id"], n["pid"]) for n in nodes
        ]
        again = json.loads(run(["broker", "start", "--json"], cli_env).stdout)
        assert again["already_running"] is True
    finally:
        stopped = run(["broker", "stop", "--json"], cli_env)
    after = json.loads(stopped.stdout)
    assert after["running"] is False
    assert not any(n["running"] for n in after["nodes"])
    for n in nodes:
        assert not Path(f"/proc/{n['pid']}").exists() or _is_zombie(n["pid"])


def _described(admin: Admin, topic: str) -> dict[int, Replicas]:
    """The topic's partitions once every broker's metadata knows it (creation is async)."""
    deadline = time.monotonic() + METADATA_WAIT_S
    while time.monotonic() < deadline:
        found = admin.replicas(topic)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{topic} not in the metadata within {METADATA_WAIT_S}s")


def _is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
