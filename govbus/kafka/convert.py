"""Convert librdkafka errors into govbus exceptions at the point where they enter."""

from __future__ import annotations

import confluent_kafka

from govbus import errors


def convert(exc: BaseException | confluent_kafka.KafkaError, context: str = "") -> errors.KafkaError:
    """Map a ``KafkaException`` or a raw ``KafkaError`` to the matching govbus exception."""
    err = exc.args[0] if isinstance(exc, confluent_kafka.KafkaException) and exc.args else exc
    prefix = f"{context}: " if context else ""
    if not isinstance(err, confluent_kafka.KafkaError):
        return errors.KafkaError(f"{prefix}{exc}")
    message = f"{prefix}{err.str()} ({err.name()})"
    common = {"code": err.name(), "retriable": err.retriable(), "fatal": err.fatal()}
    if err.code() in (confluent_kafka.KafkaError._TIMED_OUT, confluent_kafka.KafkaError.REQUEST_TIMED_OUT):
        return errors.KafkaTimeoutError(message, **common)
    if err.txn_requires_abort() or err.code() in _TXN_CODES:
        return errors.TransactionError(message, abortable=err.txn_requires_abort(), **common)
    return errors.KafkaError(message, **common)


_TXN_CODES = frozenset(
    {
        confluent_kafka.KafkaError._FENCED,
        confluent_kafka.KafkaError.INVALID_TXN_STATE,
        confluent_kafka.KafkaError.PRODUCER_FENCED,
        confluent_kafka.KafkaError.INVALID_PRODUCER_EPOCH,
        confluent_kafka.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
