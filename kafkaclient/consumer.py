"""Consumer wrapper: no auto-commit, read_committed, batch ``consume``; assignment, pause and
resume, seek, positions, committed offsets and watermarks, all typed and converted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import confluent_kafka

from base.errors import KafkaError
from kafkaclient.base import (
    CONNECTION_DEFAULTS,
    METADATA_TIMEOUT_S,
    ClientBase,
    merge_config,
    with_credentials,
)
from kafkaclient.convert import FATAL, convert, converted

#: Default wait for one batch; short enough for a responsive shutdown.
CONSUME_TIMEOUT_S = 1.0
#: Default batch size for the hot path (one transaction per batch).
BATCH_SIZE = 500
#: How long :meth:`Consumer.leave` serves the revocation before it gives up.
LEAVE_TIMEOUT_S = 5.0


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

#: Answers from a metadata cache that does not know the partition (yet, or any more).
_UNKNOWN = frozenset(
    {
        confluent_kafka.KafkaError._UNKNOWN_PARTITION,
        confluent_kafka.KafkaError._UNKNOWN_TOPIC,
        confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)

Partitions = Sequence[confluent_kafka.TopicPartition]


class Consumer(ClientBase[confluent_kafka.Consumer]):
    """A lazily created ``confluent_kafka.Consumer``; processors commit explicitly."""

    DEFAULTS: Mapping[str, Any] = {
        **CONNECTION_DEFAULTS,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
        # The prefetch queue's bound (librdkafka's default: 64 MiB), which librdkafka 2.x
        # applies to each assigned partition's queue, not to the consumer (#4137, #5140):
        # a consumer fetches ahead up to it, so a backlog becomes resident memory (the
        # soak: docs/reliability.md). 2 MiB a partition (plus one fetch overshooting it) is
        # thousands of records ahead of the batch; fetch.max.bytes follows it down.
        "queued.max.messages.kbytes": 2048,
    }
    KIND = "consumer"
    SERVES_CALLBACKS = False

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

    def _open(self, config: dict[str, Any]) -> confluent_kafka.Consumer:
        return confluent_kafka.Consumer(config)

    def _shut(self, native: confluent_kafka.Consumer) -> None:
        native.close()

    # -- membership and assignment ---------------------------------------------------------
    def subscribe(self, topics: Sequence[str], **callbacks: Any) -> None:
        with converted("subscribe"):
            self.client.subscribe(list(topics), **callbacks)

    def leave(self, timeout_s: float = LEAVE_TIMEOUT_S) -> int:
        """Leave the group now, so that its other members take this one's partitions at
        once; returns the messages read meanwhile and dropped (never committed here, so
        the next owner reads them).

        A static member (``group.instance.id``, KIP-345) that only closes does not leave:
        librdkafka sends no LeaveGroup when a static member terminates, and its partitions
        wait for its session to time out. Unsubscribing first is a leave it does send, once
        the revocation is served (the ``on_revoke`` callback runs in this call): measured
        2026-12-07, the other member had the partitions 0.6 s after the call instead of
        9.2 s after a close (bench/README.md, "Workers joining and leaving").

        A consumer in librdkafka's fatal state (a static member fenced by its successor
        with the same ``group.instance.id``) is no longer a member: there is nothing to
        leave, so this returns 0 at once, and the error that fenced it stays the one its
        caller reports (a worker of a cluster fault run under load ended as a crash, on
        "unsubscribe: ... Fatal error", instead of being restarted as a fenced one)."""
        try:
            with converted("unsubscribe"):
                self.client.unsubscribe()
        except KafkaError as exc:
            if exc.code == FATAL:
                return 0
            raise
        dropped = 0
        deadline = time.monotonic() + timeout_s
        while self.client.assignment() and time.monotonic() < deadline:
            with converted("leave"):
                dropped += len(self.client.consume(num_messages=BATCH_SIZE, timeout=0.05))
        return dropped

    def assign(self, partitions: Partitions) -> None:
        with converted("assign"):
            self.client.assign(list(partitions))

    def assignment(self) -> list[confluent_kafka.TopicPartition]:
        return list(self.client.assignment())

    def group_metadata(self) -> object:
        return self.client.consumer_group_metadata()

    # -- flow ------------------------------------------------------------------------------
    def pause(self, partitions: Partitions) -> None:
        """Stop fetching ``partitions`` (positions are kept) until :meth:`resume`."""
        with converted("pause"):
            self.client.pause(list(partitions))

    def resume(self, partitions: Partitions) -> None:
        with converted("resume"):
            self.client.resume(list(partitions))

    def seek(self, partition: confluent_kafka.TopicPartition) -> None:
        """Fetch ``partition`` from its ``offset`` next (an assigned partition only)."""
        with converted(f"seek {partition.topic}[{partition.partition}]"):
            self.client.seek(partition)

    def consume(
        self, num_messages: int = BATCH_SIZE, timeout_s: float = CONSUME_TIMEOUT_S
    ) -> list[confluent_kafka.Message]:
        """One batch of messages. Partition EOF events are dropped; other errors raise."""
        with converted("consume"):
            batch = self.client.consume(num_messages=num_messages, timeout=timeout_s)
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

    # -- offsets ---------------------------------------------------------------------------
    def commit(self, offsets: Partitions | None = None) -> None:
        """Synchronous commit of ``offsets`` (or of the current positions)."""
        with converted("commit"):
            if offsets is None:
                self.client.commit(asynchronous=False)
            else:
                self.client.commit(offsets=list(offsets), asynchronous=False)

    def store_offset(self, message: confluent_kafka.Message) -> None:
        """Mark ``message`` processed: the next :meth:`commit` covers it."""
        with converted("storing an offset"):
            self.client.store_offsets(message=message)

    def position(self, partitions: Partitions) -> list[confluent_kafka.TopicPartition]:
        with converted("position"):
            return list(self.client.position(list(partitions)))

    def committed(
        self, partitions: Partitions, timeout_s: float = METADATA_TIMEOUT_S
    ) -> list[confluent_kafka.TopicPartition]:
        """The group's committed offsets of ``partitions`` (offset < 0: none committed)."""
        began = time.monotonic()
        try:
            return list(self.client.committed(list(partitions), timeout=timeout_s))
        except confluent_kafka.KafkaException as exc:
            raise self._failed(exc, "committed offsets", began) from exc

    def watermarks(
        self, topic: str, partition: int, timeout_s: float = METADATA_TIMEOUT_S
    ) -> tuple[int, int]:
        """(low, high) offsets of the partition, asked of its leader now (not cached); the
        high watermark as ``isolation.level`` sees it.

        librdkafka answers ``_UNKNOWN_PARTITION`` from its own metadata cache, which a
        broker restart can empty for minutes (until the next periodic refresh): on that
        answer the topic's metadata is asked for again, and the query repeated once."""
        began = time.monotonic()
        tp = confluent_kafka.TopicPartition(topic, partition)
        try:
            try:
                found = self.client.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
            except confluent_kafka.KafkaException as exc:
                if exc.args[0].code() not in _UNKNOWN:
                    raise
                self.client.list_topics(topic, timeout=timeout_s)
                found = self.client.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
        except confluent_kafka.KafkaException as exc:
            raise self._failed(exc, f"watermarks of {topic}[{partition}]", began) from exc
        if found is None:
            raise KafkaError(f"watermarks of {topic}[{partition}]: no answer", retriable=True)
        low, high = found
        return int(low), int(high)


def coordinates(msg: confluent_kafka.Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message; librdkafka types them optional."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaError(f"message without coordinates: {topic}/{partition}/{offset}")
    return topic, partition, offset


def read_from_beginning(  # noqa: PLR0913 - the read's knobs, all keyword-only
    bootstrap: str,
    topics: Sequence[str],
    *,
    group_id: str,
    config: Mapping[str, Any] | None = None,
    enough: Callable[[], bool] = lambda: True,
    settle_s: float,
    timeout_s: float,
    batch: int = BATCH_SIZE,
    poll_s: float = 0.2,
) -> Iterator[list[confluent_kafka.Message]]:
    """Every partition of ``topics`` read from its beginning, batch by batch, at least up
    to the end offsets the partitions had when the read began.

    Read protocol:

    1. Each partition's end offset, asked of its leader now, as the consumer's
       ``isolation.level`` sees it: ``read_committed`` (the default) gets the last stable
       offset, so a transaction still open is not waited for. A retriable answer (a topic
       just made, whose leader is not elected yet) is asked again until ``timeout_s``.
    2. Assign every partition from its beginning (assign(), not subscribe(): no group join,
       reading starts at once) and consume; a partition is read to its end once the
       consumer's position reaches that offset (aborted records and control markers are
       skipped but advance the position).
    3. The read ends once every partition is read to its end, ``enough()`` holds (the
       caller's test of what it has taken from the batches so far) and nothing new came
       for ``settle_s`` (to catch extras written since step 1); or at ``timeout_s``. A
       consumer slow to fetch (a loaded machine, a leader just elected) is waited for:
       a quiet second no longer reads a topic as empty.
    """
    with Consumer(bootstrap, group_id, extra_config=config) as consumer:
        partitions = [
            (topic, p) for topic in topics for p in sorted(consumer.topic(topic).partitions)
        ]
        # Step 1
        deadline = time.monotonic() + timeout_s
        ends = {tp: _end_offset(consumer, tp, deadline) for tp in partitions}
        pending = {tp for tp, end in ends.items() if end > 0}
        # Step 2
        consumer.assign(
            [
                confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                for topic, p in partitions
            ]
        )
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            got = consumer.consume(batch, timeout_s=poll_s)
            if got:
                quiet_since = time.monotonic()
                yield got
            if pending:
                at = consumer.position(
                    [confluent_kafka.TopicPartition(t, p) for t, p in sorted(pending)]
                )
                pending -= {
                    (tp.topic, tp.partition)
                    for tp in at
                    if tp.offset >= ends[(tp.topic, tp.partition)]
                }
            # Step 3
            elif not got and enough() and time.monotonic() - quiet_since >= settle_s:
                return


#: Pause between two asks of an end offset that got a retriable answer.
END_OFFSET_BACKOFF_S = 0.2


def _end_offset(consumer: Consumer, tp: tuple[str, int], deadline: float) -> int:
    """``tp``'s end offset (:meth:`Consumer.watermarks`), asked again while the answer is
    retriable and ``deadline`` (monotonic seconds) is ahead."""
    while True:
        try:
            return consumer.watermarks(*tp)[1]
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() >= deadline:
                raise
        time.sleep(END_OFFSET_BACKOFF_S)
