"""A transactional producer that refuses a write because of its transaction's state
raises a TransactionError (abort, read again: processor step 7), never a plain KafkaError
that the processor would hold against the message and, the second time, quarantine
(a valid event dead-lettered after a broker restart; docs/reliability.md)."""

from __future__ import annotations

import pytest

from base.errors import KafkaError, TransactionError
from kafkaclient import Producer

NOWHERE = "127.0.0.1:1"  # nothing listens: the refusal is local, before any request


def test_a_write_outside_an_open_transaction_is_the_transactions_failure() -> None:
    producer = Producer(NOWHERE, transactional_id="govbus-processor-test-state")
    try:
        with pytest.raises(TransactionError) as raised:
            producer.produce("govbus.receipts.any", b"v")  # no init_transactions: _STATE
        assert raised.value.code == "_STATE"
        assert raised.value.abortable and not raised.value.fatal
    finally:
        producer.close(0.1)


def test_a_plain_producer_queues_without_a_transaction() -> None:
    producer = Producer(NOWHERE)
    producer.produce("govbus.receipts.any", b"v")  # queued; nothing to refuse it locally
    with pytest.raises(KafkaError):  # and never delivered: nothing listens
        producer.close(0.1)
