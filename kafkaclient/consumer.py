"""Consumer wrapper: no auto-commit, read_committed, batch ``consume``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import confluent_kafka

from base.errors import KafkaError
from kafkaclient.base import ClientBase, merge_config, with_credentials
from kafkaclient.convert import convert

#: Default wait for one batch; short enough for a responsive shutdown.
CONSUME_TIMEOUT_S = 1.0
#: Default batch size for the hot path (one transaction per batch).
BATCH_SIZE = 500


#: Per-message errors that clear by themselves (metadata not yet propagated, leader moves).
_TRANSIENT = frozenset(
    {
        confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
        confluent_kafka.KafkaError._UNKNOWN_TOPIC,
        confluent_kafka.KafkaError._UNKNOWN_PARTITION,
        confluent_kafka.KafkaError.LEADER_NOT_AVAILABLE,
        confluent_kafka.KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)


class Consumer(ClientBase):
    """A lazily created ``confluent_kafka.Consumer``; processors commit explicitly."""

    DEFAULTS: Mapping[str, Any] = {
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
    }

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
        credentials_file: Path | str | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(
            merge_config(
                self.DEFAULTS,
                with_credentials(extra_config, credentials_file),
                {
                    "bootstrap.servers": bootstrap or None,
                    "group.id": group_id,
                    "client.id": client_id,
                },
            )
        )
        self._inner: confluent_kafka.Consumer | None = None

    @property
    def client(self) -> confluent_kafka.Consumer:
        if self._inner is None:
            try:
                self._inner = confluent_kafka.Consumer(self._client_config())
            except confluent_kafka.KafkaException as exc:
                raise convert(exc, "creating consumer") from exc
        return self._inner

    def subscribe(self, topics: Sequence[str], **callbacks: Any) -> None:
        try:
            self.client.subscribe(list(topics), **callbacks)
        except confluent_kafka.KafkaException as exc:
            raise convert(exc, "subscribe") from exc

    def assign(self, partitions: Sequence[confluent_kafka.TopicPartition]) -> None:
        self.client.assign(list(partitions))

    def consume(
        self, num_messages: int = BATCH_SIZE, timeout_s: float = CONSUME_TIMEOUT_S
    ) -> list[confluent_kafka.Message]:
        """One batch of messages. Partition EOF events are dropped; other errors raise."""
        try:
            batch = self.client.consume(num_messages=num_messages, timeout=timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise convert(exc, "consume") from exc
        out = []
        for msg in batch:
            err = msg.error()
            if err is None:
                out.append(msg)
            elif err.code() in _TRANSIENT and not err.fatal():
                # A topic created moments ago, or a leader moving: librdkafka retries.
                self._on_error(err)
            elif err.code() != confluent_kafka.KafkaError._PARTITION_EOF:
                raise convert(err, f"consume from {msg.topic()}")
        return out

    def commit(self, offsets: Sequence[confluent_kafka.TopicPartition] | None = None) -> None:
        """Synchronous commit of ``offsets`` (or of the current positions)."""
        try:
            if offsets is None:
                self.client.commit(asynchronous=False)
            else:
                self.client.commit(offsets=list(offsets), asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            raise convert(exc, "commit") from exc

    def position(
        self, partitions: Sequence[confluent_kafka.TopicPartition]
    ) -> list[confluent_kafka.TopicPartition]:
        return list(self.client.position(list(partitions)))

    def watermarks(self, topic: str, partition: int, timeout_s: float) -> tuple[int, int]:
        """(low, high) offsets of one partition, asked of the broker (not cached)."""
        try:
            low, high = self.client.get_watermark_offsets(
                confluent_kafka.TopicPartition(topic, partition), timeout=timeout_s, cached=False
            )
        except confluent_kafka.KafkaException as exc:
            raise convert(exc, f"watermarks of {topic}[{partition}]") from exc
        return int(low), int(high)

    def assignment(self) -> list[confluent_kafka.TopicPartition]:
        return list(self.client.assignment())

    def group_metadata(self) -> object:
        return self.client.consumer_group_metadata()

    def close(self) -> None:
        if self._inner is not None:
            try:
                self._inner.close()
            finally:
                self._inner = None

    def __enter__(self) -> Consumer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def coordinates(msg: confluent_kafka.Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message; librdkafka types them optional."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaError(f"message without coordinates: {topic}/{partition}/{offset}")
    return topic, partition, offset
