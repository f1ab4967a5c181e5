"""Shared fixtures: one real Kafka broker per test session, unique names, databases.

``make test`` runs two pytest-xdist workers: each is a session of its own, so each starts
its own broker (no topic, group or database is shared between them; every name a test
makes is unique anyway), and a file's tests stay on one worker (``--dist loadfile``).

Broker, in order: ``GOVBUS_BOOTSTRAP`` from the environment (with ``GOVBUS_CREDENTIALS_FILE``
when it asks for credentials); ``GOVBUS_TEST_CLUSTER=3``: the project's local cluster of
three KRaft nodes (:mod:`operations.broker.cluster`, every topic on three replicas, two in
sync); a testcontainers Kafka (KRaft) when a Docker engine answers; else the project's own
local broker process. When none can be had, every test that needs it
fails with the reason. It never skips.

The local broker admits no unauthenticated client: tests act as its administrator through
``kafka_config`` (librdkafka settings, SASL included, bootstrap excluded), and the session
exports ``GOVBUS_CREDENTIALS_FILE`` (the administrator's file, mode 0600) so that
``Settings.load()`` and ``govbus`` subprocesses connect the same way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from base.errors import GovbusError
from base.settings import Settings
from operations.broker.cluster import LocalCluster
from operations.broker.local import LocalBroker
from tests.support.broker import BrokerSource, RedactedConfig
from tests.support.databases import database_kinds, fresh_database
from tests.support.processor import Bus, running_processor
from tests.support.publisher import World, make_world
from tests.support.scenario import Names
from tests.support.workflow import OpenWorkflows, workflow_env

#: The session's single broker holds every test's topics (each test names its own catalog:
#: thousands of partitions by the end); 512m ran out of heap (OutOfMemoryError) in CI.
SESSION_BROKER_HEAP = "2g"

# Property tests assert behaviour, never speed: no per-example deadline, no "too slow"
# health check (a busy CI machine must not fail them; speed is measured in bench/).
hypothesis_settings.register_profile(
    "govbus", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("govbus")

#: A Docker engine that does not answer a ping in this time is treated as absent.
DOCKER_PING_TIMEOUT_S = 3


def _docker_answers() -> bool:
    import docker

    try:
        docker.from_env(timeout=DOCKER_PING_TIMEOUT_S).ping()
    except (docker.errors.DockerException, OSError):  # no engine, or it does not answer
        return False
    return True


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSource]:
    env = os.environ.get("GOVBUS_BOOTSTRAP")
    if env:
        yield BrokerSource(env, "environment", client_config=dict(Settings.load().kafka))
        return
    cluster = int(os.environ.get("GOVBUS_TEST_CLUSTER", "1") or "1")
    if cluster <= 1 and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft()
        container.start()
        try:
            yield BrokerSource(container.get_bootstrap_server(), "testcontainers")
        finally:
            container.stop()
        return
    settings = Settings.load()
    directory = tmp_path_factory.mktemp("broker")
    local = (
        LocalCluster(
            settings.home,
            settings.kafka_version,
            settings.broker_heap,
            nodes=cluster,
            state_dir=directory,
        )
        if cluster > 1
        else LocalBroker(
            settings.home, settings.kafka_version, SESSION_BROKER_HEAP, state_dir=directory
        )
    )
    try:
        status = local.start()
    except GovbusError as exc:
        pytest.fail(
            f"no Kafka broker could be had: GOVBUS_BOOTSTRAP unset, no Docker engine, "
            f"and the local broker failed: {exc}",
            pytrace=False,
        )
    # CLI tests (`govbus agency add`) hand out this broker's agency listener; everything
    # else connects as the administrator, the only user of the loopback ADMIN listener.
    admin = local.admin_config()
    admin.pop("bootstrap.servers", None)
    listener = {
        "GOVBUS_AGENCY_BOOTSTRAP": str(status.agency_bootstrap),
        "GOVBUS_CA_LOCATION": str(status.ca_location),
        "GOVBUS_CREDENTIALS_FILE": str(status.admin_credentials),
    }
    saved = {k: os.environ.get(k) for k in listener}
    os.environ.update(listener)
    try:
        yield BrokerSource(
            str(status.bootstrap),
            "local cluster" if cluster > 1 else "local",
            agency_bootstrap=str(status.agency_bootstrap),
            ca_location=str(status.ca_location),
            processor_credentials=str(status.processor_credentials),
            client_config=admin,
            cluster=local if isinstance(local, LocalCluster) else None,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        local.stop()


@pytest.fixture(scope="session")
def bootstrap(broker: BrokerSource) -> str:
    return broker.bootstrap


@pytest.fixture(scope="session")
def kafka_config(broker: BrokerSource) -> dict[str, str]:
    """The administrator's client settings for ``bootstrap`` (pass as ``extra_config``)."""
    return RedactedConfig(broker.client_config)


@pytest.fixture
def topic_name() -> str:
    return f"test.{uuid.uuid4().hex}"


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex}"


# -- databases -------------------------------------------------------------------------
@pytest.fixture(params=database_kinds())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def bus(bootstrap: str, kafka_config: dict[str, str]) -> Iterator[Bus]:
    """The processor on a fresh copy of the demo catalog, as the administrator."""
    names = Names()
    loaded = names.load()
    with running_processor(bootstrap, kafka_config, loaded) as processor:
        yield Bus(bootstrap, kafka_config, names, loaded, processor)


@pytest.fixture
def open_workflows(
    database_url: str, bootstrap: str, kafka_config: dict[str, str]
) -> Iterator[OpenWorkflows]:
    """Opens the workflow service (tests.support.workflow) under a jurisdiction profile,
    on this test's database and the session's broker; closed when the test ends."""
    with ExitStack() as opened:
        yield lambda profile: opened.enter_context(
            workflow_env(database_url, bootstrap, kafka_config, profile=profile)
        )


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings with no broker: GOVBUS_BOOTSTRAP, GOVBUS_CREDENTIALS_FILE and GOVBUS_CONFIG
    unset for this test, GOVBUS_HOME a fresh directory (returned), no local broker in it."""
    for name in ("GOVBUS_BOOTSTRAP", "GOVBUS_CREDENTIALS_FILE", "GOVBUS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVBUS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A publisher's world: the test catalog, its agencies and a journal directory."""
    return make_world(tmp_path)


#: Fixtures that need a server (a Kafka broker, a database server): never in tests/unit/.
SERVER_FIXTURES = frozenset({"broker", "bootstrap", "kafka_config", "bus", "database_url"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by where they live and what they need; refuse a server in a unit test.

    ``tests/unit/``: no broker, no database server (``make test-unit``, under 60 s);
    ``tests/integration/``: the real broker, PostgreSQL, browser and tools. A test that
    requests the broker is marked ``broker`` whatever its folder."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.path)).relative_to(root).parts
        needs = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if {"broker", "bootstrap", "kafka_config", "bus"} & needs:
            item.add_marker(pytest.mark.broker)
        if parts[0] == "integration":
            item.add_marker(pytest.mark.integration)
        elif parts[0] == "unit":
            item.add_marker(pytest.mark.unit)
            if needs:
                raise pytest.UsageError(
                    f"{item.nodeid} is a unit test but needs {sorted(needs)}: "
                    "move it to tests/integration/"
                )
