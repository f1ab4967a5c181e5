"""Producer wrapper: acks=all and idempotence by default, optional transactions."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import confluent_kafka

from base.errors import DeliveryError, KafkaError, KafkaTimeoutError, TransactionError
from kafkaclient.base import (
    CONNECTION_DEFAULTS,
    ClientBase,
    ClientState,
    merge_config,
    with_credentials,
)
from kafkaclient.convert import convert

#: Enough for the broker to acknowledge everything in flight on a loaded 2-core machine.
FLUSH_TIMEOUT_S = 30.0
#: init/commit/abort of a transaction wait on the coordinator; a minute covers a leader move.
TXN_TIMEOUT_S = 60.0
#: When the local queue is full we serve delivery reports for this long, then retry.
QUEUE_FULL_POLL_S = 0.1
#: A transactional producer's defaults, over :attr:`Producer.DEFAULTS`. When transactions
#: go back to back (the processor commits as soon as its input is drained), the next
#: transaction's AddOffsetsToTxn (``send_offsets_to_transaction``) often reaches the
#: coordinator while it is still writing the previous commit's markers, and is refused with
#: CONCURRENT_TRANSACTIONS. librdkafka retries that request after ``retry.backoff.ms``
#: (100 ms by default, doubling with each retry up to ``retry.backoff.max.ms``, 1 s), so a
#: commit waited 100 ms or more where the markers take a few ms (AddPartitionsToTxn has its own
#: fixed 20 ms retry for this error; the Java client's is 20 ms too). 10 ms: the retry
#: comes soon after the markers are written. ``retry.backoff.max.ms`` 50 (librdkafka: 1 s):
#: when the markers take longer (a busy broker), the doubling retries (10, 20, 40, 80,
#: 160 ms ...) overshot the markers' end by up to as long again; capped, a retry comes at
#: most 50 ms after it (bench/README.md, 2026-12-07: a lone transaction's p99 540-824 ->
#: 115-200 ms). Every other retry of a transactional producer backs off from 10 to 50 ms.
TRANSACTIONAL_DEFAULTS: Mapping[str, Any] = {"retry.backoff.ms": 10, "retry.backoff.max.ms": 50}

DeliveryCallback = Callable[[Exception | None, confluent_kafka.Message], None]
Headers = Sequence[tuple[str, bytes]]


class Producer(ClientBase[confluent_kafka.Producer]):
    """A lazily created ``confluent_kafka.Producer`` with safe defaults."""

    DEFAULTS: Mapping[str, Any] = {
        **CONNECTION_DEFAULTS,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    KIND = "producer"

    def __init__(
        self,
        bootstrap: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
        credentials_file: Path | str | None = None,
        transactional_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        defaults = self.DEFAULTS
        if transactional_id is not None:
            defaults = {**defaults, **TRANSACTIONAL_DEFAULTS}
        super().__init__(
            merge_config(
                defaults,
                with_credentials(extra_config, credentials_file),
                {
                    "bootstrap.servers": bootstrap or None,
                    "transactional.id": transactional_id,
                    "client.id": client_id,
                },
            )
        )
        self._close_timeout_s = FLUSH_TIMEOUT_S

    def _open(self, config: dict[str, Any]) -> confluent_kafka.Producer:
        return confluent_kafka.Producer(config)

    def _shut(self, native: confluent_kafka.Producer) -> None:
        self.flush(self._close_timeout_s)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one message; ``on_delivery(error, message)`` gets a govbus error or None.

        ``partition`` pins the partition (state changelogs follow their input partition);
        by default the key's hash chooses it. ``timestamp_ms``: the record's create time
        (default: now).
        """
        callback = None if on_delivery is None else _wrap_callback(on_delivery)
        kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": callback}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        while True:
            try:
                self.client.produce(topic, **kwargs)
                return
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then retry.
                self.client.poll(QUEUE_FULL_POLL_S)
            except confluent_kafka.KafkaException as exc:
                raise self._produce_failed(exc, topic) from exc

    def _produce_failed(self, exc: confluent_kafka.KafkaException, topic: str) -> KafkaError:
        """A transactional producer refuses ``produce`` with ``_STATE`` while its transaction
        is not open for writes (an abortable error was raised by an earlier request, say):
        the transaction's failure, to be aborted and read again, never the message's."""
        error = convert(exc, f"producing to {topic}")
        if self._config.get("transactional.id") and error.code == "_STATE":
            return TransactionError(
                str(error), code=error.code, retriable=True, fatal=False, abortable=True
            )
        return error

    def poll(self, timeout_s: float = 0.0) -> int:
        return int(self.client.poll(timeout_s))

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until every queued message is delivered (or failed); nothing to wait for
        before the first use."""
        if self.state is ClientState.UNOPENED:
            return
        remaining = self.client.flush(timeout_s)
        if remaining:
            raise KafkaTimeoutError(f"{remaining} message(s) not delivered within {timeout_s}s")

    # -- transactions ------------------------------------------------------------
    def init_transactions(self, timeout_s: float = TXN_TIMEOUT_S) -> None:
        self._txn("init_transactions", timeout_s)

    def begin_transaction(self) -> None:
        self._txn("begin_transaction")

    def send_offsets_to_transaction(
        self,
        offsets: list[confluent_kafka.TopicPartition],
        group_metadata: object,
        timeout_s: float = TXN_TIMEOUT_S,
    ) -> None:
        self._txn("send_offsets_to_transaction", offsets, group_metadata, timeout_s)

    def commit_transaction(self, timeout_s: float = TXN_TIMEOUT_S) -> None:
        self._txn("commit_transaction", timeout_s)

    def abort_transaction(self, timeout_s: float = TXN_TIMEOUT_S) -> None:
        self._txn("abort_transaction", timeout_s)

    def _txn(self, name: str, *args: Any) -> None:
        began = time.monotonic()
        try:
            getattr(self.client, name)(*args)
        except confluent_kafka.KafkaException as exc:
            raise self._failed(exc, name, began) from exc

    # -- lifecycle -----------------------------------------------------------------
    def close(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Deliver what is queued (up to ``timeout_s``), then release the producer; it is
        closed even when the flush fails."""
        self._close_timeout_s = timeout_s
        super().close()


def _wrap_callback(on_delivery: DeliveryCallback) -> Callable[[Any, Any], None]:
    def callback(err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
        if err is None:
            on_delivery(None, msg)
        else:
            converted = convert(err, f"delivery to {msg.topic()}")
            on_delivery(
                DeliveryError(
                    str(converted),
                    code=converted.code,
                    retriable=converted.retriable,
                    fatal=converted.fatal,
                ),
                msg,
            )

    return callback
