"""The bus on a local cluster of three KRaft nodes (issue 18 item 1; GM 28, GM 29, S 45):
every bus topic and the internal ones on three replicas with two in sync; the processor
keeps deciding when the node leading its ingest partition is SIGKILLed, and every event
acknowledged to the publisher reaches the feed exactly once.

The cluster is this module's own (a node is killed), whatever broker the session uses.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from base.settings import Settings
from kafkaclient import Admin, Producer
from operations.broker.cluster import LocalCluster
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.processor import running_processor
from tests.support.scenario import Names, event, read_topic, resident_id

#: Events published before and after the kill.
BATCH = 40
#: Every bounded wait below (a busy machine, three JVMs on two cores).
WAIT_S = 180.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    settings = Settings.load()
    local = LocalCluster(
        settings.home,
        settings.kafka_version,
        "512m",
        state_dir=tmp_path_factory.mktemp("cluster"),
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()


def _admin_config(cluster: LocalCluster) -> tuple[str, dict[str, str]]:
    config = cluster.admin_config()
    return config.pop("bootstrap.servers"), config


def _until(what: str, probe: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {WAIT_S:.0f}s")


def _events(names: Names, start: int) -> list[tuple[str, dict[str, Any]]]:
    basic, psb = names.entry("psb.person.basic"), names.agency("city-psb")
    out = []
    for n in range(start, start + BATCH):
        person = resident_id(n)
        e = event(basic, psb, person, {"name": f"张{n}"}, operation="create")
        out.append((f"resident_id:{person}", e))
    return out


def _publish_acknowledged(
    bootstrap: str, config: dict[str, str], events: list[tuple[str, dict[str, Any]]]
) -> list[str]:
    """Publish with the project's producer (acks=all, idempotent); the ids of the events
    the cluster acknowledged, from the delivery reports."""
    acked: list[str] = []

    def on_delivery(event_id: str) -> Callable[[Exception | None, object], None]:
        def report(error: Exception | None, _message: object) -> None:
            if error is None:
                acked.append(event_id)

        return report

    with Producer(bootstrap, extra_config=config) as producer:
        for subject, e in events:
            producer.produce(
                topic_name(TopicKind.INGEST, e["entry"]),
                encode("ChangeEvent", e),
                key=subject.encode(),
                on_delivery=on_delivery(str(e["event_id"])),
            )
    return acked


def _feed_ids(bootstrap: str, config: dict[str, str], names: Names, until: int) -> list[str]:
    topic = topic_name(TopicKind.FEED, names.agency("city-mca"))
    records = read_topic(bootstrap, topic, config=config, record="FeedRecord", until=until)
    return [str(r["event_id"]) for r in records]


def test_the_bus_survives_the_loss_of_its_ingest_leader(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    bootstrap, config = _admin_config(cluster)
    admin = Admin(bootstrap, extra_config=config)
    assert admin.brokers() == 3
    assert admin.partition_health().controller in {1, 2, 3}
    names = Names()
    loaded = names.load()
    ingest = topic_name(TopicKind.INGEST, names.entry("psb.person.basic"))
    with running_processor(bootstrap, config, loaded):
        # The processor made the bus topics: three replicas, two in sync (GM 28).
        _until("the bus topics", lambda: ingest in admin.topics())
        for topic in (ingest, topic_name(TopicKind.FEED, names.agency("city-mca"))):
            assert {len(p.replicas) for p in admin.replicas(topic).values()} == {3}, topic
            assert admin.topic_config(topic)["min.insync.replicas"] == "2", topic
        first = _events(names, 0)
        acked = _publish_acknowledged(bootstrap, config, first)
        assert len(_feed_ids(bootstrap, config, names, len(acked))) == len(acked) == BATCH
        # Internal topics, made by now (offsets committed, transactions begun).
        for internal in ("__consumer_offsets", "__transaction_state"):
            assert {len(p.replicas) for p in admin.replicas(internal).values()} == {3}, internal
        # SIGKILL the node that leads the ingest topic's first partition.
        leader = admin.replicas(ingest)[0].leader
        pid = cluster.node_pids()[leader]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        health = _until(
            "the loss seen",
            lambda: (h := admin.partition_health()).brokers == 2 and h.under_replicated and h,
        )
        assert health.offline == 0  # every partition has a leader on the two left
        alive = {1, 2, 3} - {leader}
        # The quorum (two voters of three) has, or elects, a controller among the two left.
        _until("a controller", lambda: admin.partition_health().controller in alive)
        # One node lost: writes go on (min ISR 2 of 3), and the processor resumes by itself.
        second = _events(names, BATCH)
        acked += _publish_acknowledged(bootstrap, config, second)
        feed = _feed_ids(bootstrap, config, names, len(acked))
        resumed_s = time.monotonic() - killed_at
        print(f"node {leader} killed; all {len(acked)} events in the feed {resumed_s:.1f}s later")
    sent = {str(e["event_id"]) for _, e in first + second}
    counts = Counter(feed)
    assert set(acked) <= set(counts) <= sent  # nothing acknowledged lost, nothing made up
    assert set(counts.values()) == {1}  # nothing twice
    # With one node of three lost, writes continued: every send was acknowledged.
    assert len(acked) == 2 * BATCH
    # The node comes back and catches up: no partition stays under-replicated.
    cluster.start()
    _until("the replicas in sync", lambda: admin.partition_health().under_replicated == 0)
