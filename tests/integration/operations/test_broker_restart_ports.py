"""The local broker keeps its ports across restarts (issue 14 item 6): GOVBUS_BOOTSTRAP and
every running client keep their address, though the last run's connections linger in
TIME-WAIT after a stop."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from base.errors import PortInUseError
from base.settings import Settings
from kafkaclient import Admin, Consumer
from operations.broker.local import LocalBroker

PORT_KEYS = ("broker_port", "controller_port", "agency_port")


def _bind_without_reuse(port: int) -> bool:
    """What the old check did: a plain bind, which TIME-WAIT sockets refuse."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(broker: LocalBroker) -> dict[str, int]:
    state = json.loads(broker.state_file.read_text())
    return {k: int(state[k]) for k in PORT_KEYS}


def test_a_restart_keeps_every_port_and_clients_reconnect(tmp_path: Path) -> None:
    settings = Settings.load()
    broker = LocalBroker(
        settings.home, settings.kafka_version, settings.broker_heap, state_dir=tmp_path / "b"
    )
    first = broker.start()
    try:
        before = _ports(broker)
        admin_config = broker.admin_config()
        bootstrap = admin_config.pop("bootstrap.servers")
        # A client connected while the broker stops: the broker closes the connection
        # first, so the socket on its listener port waits in TIME-WAIT.
        consumer = Consumer(bootstrap, "test-ports", extra_config=admin_config)
        assert consumer.topic("__no_such_topic").error is not None
        broker.stop()
        assert not _bind_without_reuse(before["broker_port"]), (
            "no TIME-WAIT on the admin port: the test does not exercise the restart case"
        )
        second = broker.start()
        assert _ports(broker) == before
        assert second.bootstrap == first.bootstrap
        assert second.agency_bootstrap == first.agency_bootstrap
        # The client made before the restart reaches the broker again at the same address.
        assert consumer.topic("__no_such_topic", timeout_s=30).error is not None
        consumer.close()
        assert Admin(bootstrap, extra_config=admin_config).ping(timeout_s=10)
    finally:
        broker.stop()


def test_a_recorded_port_taken_by_another_listener_is_refused_with_the_fix(
    tmp_path: Path,
) -> None:
    settings = Settings.load()
    broker = LocalBroker(settings.home, settings.kafka_version, state_dir=tmp_path / "b")
    broker.dir.mkdir(parents=True)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        broker.state_file.write_text(json.dumps({"broker_port": taken}))
        with pytest.raises(PortInUseError) as caught:
            broker._choose_ports(None)  # noqa: SLF001 - the port choice alone, without a JVM
    message = str(caught.value)
    assert str(taken) in message and "state.json" in message and "\n" not in message
