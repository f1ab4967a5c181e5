"""A cluster of three is configured so that the loss of one node loses nothing and stops
nothing (GM 28, S 45): three replicas of every topic, internal ones included, two in sync
for an acknowledged write, no unclean leader; one node stays configured as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from base.broker_files import BrokerFiles
from base.errors import BrokerStartError, ConfigError
from base.settings import Settings
from govbus.cli.main import app
from kafkaclient import TopicSpec
from kafkaclient.quorum import _read_uvarint, _uvarint, quorum_leader
from operations.broker.cluster import LocalCluster, local_broker
from operations.broker.config import BrokerLayout, Listener, server_properties
from operations.broker.deploy import Addresses, configure
from operations.broker.local import LocalBroker
from schemas.topics import Replication, TopicKind, bus_topics

PASSWORD = "x" * 20
QUORUM = ("127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103")


def _layout(node_id: int = 1, quorum: tuple[str, ...] = ()) -> BrokerLayout:
    return BrokerLayout(
        admin=Listener("ADMIN", "127.0.0.1:9092", "127.0.0.1:9092"),
        controller=Listener("CONTROLLER", "127.0.0.1:9093"),
        agency=(Listener("AGENCY", "127.0.0.1:9094", "127.0.0.1:9094"),),
        quorum_voter="127.0.0.1:9093",
        data_dir="/tmp/data",
        broker_pem="/tmp/broker.pem",
        admin_password=PASSWORD,
        controller_password=PASSWORD,
        node_id=node_id,
        quorum=quorum,
    )


def test_one_node_keeps_its_configuration() -> None:
    props = server_properties(_layout())
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["unclean.leader.election.enable"] == "false"


def test_a_node_of_three_replicates_everything_three_times() -> None:
    props = server_properties(_layout(2, QUORUM))
    assert props["node.id"] == "2"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    )
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    ):
        assert props[key] == "3", key
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


def test_a_node_outside_its_quorum_is_refused() -> None:
    with pytest.raises(ConfigError, match="node id 4"):
        server_properties(_layout(4, QUORUM))


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)]
)
def test_topics_are_replicated_by_cluster_size(brokers: int, factor: int, min_insync: int) -> None:
    assert Replication.for_brokers(brokers) == Replication(factor, min_insync)


def test_bus_topics_are_sized_to_the_cluster_they_are_made_on() -> None:
    defs = bus_topics(["e"], ["a"])
    assert all("min.insync.replicas" not in d.config for d in defs)
    ingest = next(d for d in defs if d.kind is TopicKind.INGEST)
    new = TopicSpec.of(ingest).sized(Replication.for_brokers(3))
    assert (new.replication_factor, new.num_partitions) == (3, ingest.partitions)
    config = new.config or {}
    assert config["min.insync.replicas"] == "2"
    assert config["max.message.bytes"] == ingest.config["max.message.bytes"]
    # One broker: one replica, one in sync, as before.
    single = TopicSpec.of(ingest).sized(Replication.for_brokers(1))
    assert (single.replication_factor, (single.config or {})["min.insync.replicas"]) == (1, "1")
    # An explicit factor wins, and its own in-sync minimum follows it (never above it).
    pinned = TopicSpec("t", 1, 1).sized(Replication.for_brokers(3))
    assert (pinned.replication_factor, (pinned.config or {})["min.insync.replicas"]) == (1, "1")


def test_the_quorum_is_asked_only_over_a_protocol_spoken_here() -> None:
    tls = {"bootstrap.servers": "127.0.0.1:1", "security.protocol": "SASL_SSL"}
    assert quorum_leader(tls) is None
    scram = {**tls, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512"}
    assert quorum_leader(scram) is None
    for n in (0, 1, 127, 128, 300, 2**21):
        assert _read_uvarint(_uvarint(n) + b"\xff", 0) == (n, len(_uvarint(n)))


def test_only_one_broker_or_a_cluster_of_three() -> None:
    done = CliRunner().invoke(app, ["broker", "start", "--nodes", "2"])
    assert done.exit_code != 0
    assert "--nodes 2" in done.output


def test_a_compose_node_is_configured_as_one_of_three(tmp_path: Path) -> None:
    quorum = ("kafka-1:9093", "kafka-2:9093", "kafka-3:9093")
    done = configure(
        tmp_path / "config",
        tmp_path / "ca",
        Addresses("kafka-2", "localhost", node_id=2, quorum=quorum),
        admin_password=PASSWORD,
        controller_password=PASSWORD,
    )
    props = dict(
        line.split("=", 1) for line in Path(done.properties).read_text().splitlines() if line
    )
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"


def test_the_next_start_starts_what_was_started_last(tmp_path: Path) -> None:
    settings = Settings.load(environ={"GOVBUS_HOME": str(tmp_path)})
    assert type(local_broker(settings)) is LocalBroker  # nothing recorded: one broker
    settings.broker_dir.mkdir(parents=True)
    nodes = [{"node_id": i, "broker_port": 9000 + i} for i in (1, 2, 3)]
    (settings.broker_dir / "state.json").write_text(json.dumps({"nodes": nodes}))
    found = local_broker(settings)
    assert isinstance(found, LocalCluster) and found.nodes == 3
    assert BrokerFiles(settings.broker_dir).node_dirs() == [
        settings.broker_dir / f"node-{i}" for i in (1, 2, 3)
    ]
    with pytest.raises(BrokerStartError, match="cluster of 3 nodes"):
        local_broker(settings, 1)
