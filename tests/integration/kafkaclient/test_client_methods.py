"""The wrapper's typed methods against the real broker: metadata, watermarks, pause and
resume, seek, stored and committed offsets, topic configuration, record timestamps; a closed
client refuses reuse; connection failures name their cause (issue 13 item 6, issue 14
item 8)."""

from __future__ import annotations

import time
import uuid

import pytest

from base.errors import AuthenticationError, ClientClosedError, GovbusError
from kafkaclient import (
    OFFSET_BEGINNING,
    Admin,
    ClientState,
    Consumer,
    Message,
    Producer,
    TopicPartition,
    TopicSpec,
    read_from_beginning,
)
from tests.support.transactions import send_in_transaction, transactional_producer

#: Reads on a loaded 2-core machine.
WAIT_S = 30.0
#: A person told "wrong password" or "no credentials" long before an operation's budget.
VERDICT_S = 15.0


def _fill(bootstrap: str, config: dict[str, str], topic: str, values: list[bytes]) -> None:
    Admin(bootstrap, extra_config=config).ensure_topics([TopicSpec(topic, partitions=2)])
    with Producer(bootstrap, extra_config=config) as producer:
        for value in values:
            producer.produce(topic, value, partition=0)


def _read_to_the_end(bootstrap: str, config: dict[str, str], topic: str) -> list[bytes | None]:
    """Every value of ``topic`` read by :func:`read_from_beginning` (a new group, no settle
    time: it ends at the end offsets taken at its start)."""
    return [
        m.value()
        for batch in read_from_beginning(
            bootstrap,
            [topic],
            group_id=f"read-{uuid.uuid4().hex}",
            config=config,
            settle_s=0.0,
            timeout_s=WAIT_S,
            poll_s=0.001,
        )
        for m in batch
    ]


def _read(consumer: Consumer, want: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < want and time.monotonic() < deadline:
        got += [m.value() or b"" for m in consumer.consume(want - len(got), timeout_s=0.5)]
    return got


def test_metadata_names_partitions_and_why_a_topic_cannot_be_used(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(topic_name, 3)])
    with Consumer(bootstrap, "g", extra_config=kafka_config) as consumer:
        meta = consumer.topic(topic_name)
        assert meta.partitions == (0, 1, 2) and meta.readable and meta.error is None
        missing = consumer.topic(f"{topic_name}.missing")
        assert not missing.readable and missing.error is not None
        assert missing.error.code == "UNKNOWN_TOPIC_OR_PART"


def test_watermarks_seek_and_pause_resume(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    values = [f"r{i}".encode() for i in range(5)]
    _fill(bootstrap, kafka_config, topic_name, values)
    with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
        assert consumer.watermarks(topic_name, 0) == (0, 5)
        assert consumer.watermarks(topic_name, 1) == (0, 0)
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        assert _read(consumer, 5) == values
        # Seek back: the partition is read again from offset 2.
        consumer.seek(TopicPartition(topic_name, 0, 2))
        assert _read(consumer, 3) == values[2:]
        # Paused: nothing is fetched, the position stays; resumed: the rest arrives.
        consumer.pause([TopicPartition(topic_name, 0)])
        consumer.seek(TopicPartition(topic_name, 0, 4))
        assert consumer.consume(10, timeout_s=1.5) == []
        consumer.resume([TopicPartition(topic_name, 0)])
        assert _read(consumer, 1) == [b"r4"]
        assert [p.offset for p in consumer.position([TopicPartition(topic_name, 0)])] == [5]


def test_stored_offsets_are_committed_and_read_back(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    _fill(bootstrap, kafka_config, topic_name, [b"a", b"b", b"c"])
    tp = TopicPartition(topic_name, 0)
    with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
        assert [c.offset for c in consumer.committed([tp])] == [-1001]  # none yet
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        got: list[Message] = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < 2 and time.monotonic() < deadline:
            got += consumer.consume(2 - len(got), timeout_s=0.5)
        consumer.store_offset(got[1])  # b"b" processed: the next read starts at c
        consumer.commit()
        assert [c.offset for c in consumer.committed([tp])] == [2]


def test_topic_config_and_record_timestamps(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    admin = Admin(bootstrap, extra_config=kafka_config)
    admin.ensure_topics([TopicSpec(topic_name, config={"cleanup.policy": "compact"})])
    assert admin.topic_config(topic_name)["cleanup.policy"] == "compact"
    stamp = int(time.time() * 1000) - 3 * 86_400_000
    with Producer(bootstrap, extra_config=kafka_config) as producer:
        producer.produce(topic_name, b"old", b"k", timestamp_ms=stamp)
    with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + WAIT_S
        msgs: list[Message] = []
        while not msgs and time.monotonic() < deadline:
            msgs = consumer.consume(1, timeout_s=0.5)
        assert msgs[0].timestamp()[1] == stamp


def test_a_used_and_closed_client_refuses_reuse(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str, group_id: str
) -> None:
    _fill(bootstrap, kafka_config, topic_name, [b"x"])
    consumer = Consumer(bootstrap, group_id, extra_config=kafka_config)
    with consumer:
        assert consumer.watermarks(topic_name, 0)[1] == 1
        opened: ClientState = consumer.state
        assert opened is ClientState.OPENED
    closed: ClientState = consumer.state
    assert closed is ClientState.CLOSED
    with pytest.raises(ClientClosedError):
        consumer.watermarks(topic_name, 0)
    producer = Producer(bootstrap, extra_config=kafka_config)
    with producer:
        producer.produce(topic_name, b"y")
    with pytest.raises(ClientClosedError):
        producer.produce(topic_name, b"z")  # never silently a new producer


def test_the_admin_check_passes_for_the_administrator(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    Admin(bootstrap, extra_config=kafka_config).check(VERDICT_S)
    assert Admin(bootstrap, extra_config=kafka_config).cluster_id()


def test_a_wrong_password_is_named_at_once(bootstrap: str, kafka_config: dict[str, str]) -> None:
    if "sasl.username" not in kafka_config:
        pytest.fail("the test broker must ask for credentials", pytrace=False)
    wrong = {**kafka_config, "sasl.password": f"wrong-{uuid.uuid4().hex}"}
    began = time.monotonic()
    with pytest.raises(AuthenticationError) as caught:
        Admin(bootstrap, extra_config=wrong).check()
    assert time.monotonic() - began < VERDICT_S  # not the whole 30 s budget
    assert caught.value.code == "_AUTHENTICATION"
    assert kafka_config["sasl.username"] in str(caught.value)
    assert wrong["sasl.password"] not in str(caught.value)
    # A consumer learns it through a probe: its own callbacks wait for consume().
    with (
        pytest.raises(AuthenticationError),
        Consumer(bootstrap, "g", extra_config=wrong) as consumer,
    ):
        consumer.topic("govbus.audit", timeout_s=5.0)


def test_missing_credentials_are_named(bootstrap: str) -> None:
    began = time.monotonic()
    with pytest.raises(GovbusError) as caught:
        Admin(bootstrap).ensure_topics([TopicSpec(f"test.{uuid.uuid4().hex}")])
    assert isinstance(caught.value, AuthenticationError), caught.value
    assert caught.value.code == "no_credentials"
    assert "GOVBUS_CREDENTIALS_FILE" in str(caught.value)
    assert time.monotonic() - began < VERDICT_S


def test_read_from_beginning_reads_to_the_end_offsets_taken_at_its_start(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    """A consumer whose first fetch comes later than ``settle_s`` (here 0: any delay) still
    reads every record written before the read began: it reads up to the end offsets,
    not until a quiet moment."""
    values = [f"r{i}".encode() for i in range(5)]
    _fill(bootstrap, kafka_config, topic_name, values)
    got = _read_to_the_end(bootstrap, kafka_config, topic_name)
    assert got == values


def test_read_from_beginning_read_committed_stops_at_the_last_stable_offset(
    bootstrap: str, kafka_config: dict[str, str], topic_name: str
) -> None:
    """read_committed: the committed records only, and the read ends by itself at the
    end offsets although the partition ends with an aborted transaction's records and
    a control marker (which the position skips), and another transaction is still open."""
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec(topic_name)])
    producer = transactional_producer(bootstrap, kafka_config)
    send_in_transaction(producer, topic_name, [f"committed-{i}".encode() for i in range(3)])
    send_in_transaction(producer, topic_name, [b"aborted"], commit=False)
    producer.begin_transaction()
    producer.produce(topic_name, b"open")
    producer.flush()
    began = time.monotonic()
    got = _read_to_the_end(bootstrap, kafka_config, topic_name)
    assert got == [f"committed-{i}".encode() for i in range(3)]
    assert time.monotonic() - began < WAIT_S  # ended at the end offsets, not by giving up
    producer.abort_transaction()
    producer.close()
