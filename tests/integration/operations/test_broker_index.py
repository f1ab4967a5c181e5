"""The broker govbus provisions gives every segment a small index (``INDEX_BYTES``, not
Kafka's 10 MiB): a mapped index page that is not cached yet is read with the device's
read-ahead around it, zero-filled, and with 10 MiB sparse indexes that memset took whole
seconds of the broker's CPU and stalled the transaction markers of every worker
(bench/README.md, "Why a rejoin stalled")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from base.settings import Settings
from kafkaclient import Admin, Producer, TopicSpec
from operations.broker.config import INDEX_BYTES
from operations.broker.local import LocalBroker
from tests.support.broker import BrokerSource


@pytest.fixture
def provisioned(
    broker: BrokerSource, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The session's broker when govbus provisioned it, else one of its own."""
    if broker.kind.startswith("local"):
        yield broker.bootstrap, dict(broker.client_config)
        return
    settings = Settings.load()
    local = LocalBroker(
        settings.home,
        settings.kafka_version,
        settings.broker_heap,
        state_dir=tmp_path_factory.mktemp("index-broker"),
    )
    local.start()
    try:
        config = local.admin_config()
        yield config.pop("bootstrap.servers"), config
    finally:
        local.stop()


def test_a_topic_gets_the_small_index(
    provisioned: tuple[str, dict[str, str]], topic_name: str
) -> None:
    bootstrap, config = provisioned
    admin = Admin(bootstrap, extra_config=config)
    admin.ensure_topics([TopicSpec(topic_name)])
    with Producer(bootstrap, extra_config=config) as producer:
        producer.produce(topic_name, b"v", b"k")
    # A full index still covers 128 MiB of log at one entry per 4 KiB: segments roll
    # sooner on a busy partition, never on every few records.
    assert INDEX_BYTES // 8 * 4096 >= 128 * 1024 * 1024
    assert admin.topic_config(topic_name)["segment.index.bytes"] == str(INDEX_BYTES)
