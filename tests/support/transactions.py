"""Transactions written by hand in the Kafka wrapper's tests: a transactional producer and
one transaction of values, committed or aborted."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from kafkaclient import Producer


def transactional_producer(bootstrap: str, config: Mapping[str, str]) -> Producer:
    """A producer with a fresh transactional id, its transactions initialised."""
    producer = Producer(bootstrap, extra_config=config, transactional_id=f"txn-{uuid.uuid4().hex}")
    producer.init_transactions()
    return producer


def send_in_transaction(
    producer: Producer, topic: str, values: Iterable[bytes], *, commit: bool = True
) -> None:
    """One transaction writing ``values`` to ``topic`` in order, then committed (or, with
    ``commit=False``, aborted)."""
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, value)
    if commit:
        producer.commit_transaction()
    else:
        producer.abort_transaction()
