"""Convert librdkafka errors into govbus exceptions at the point where they enter."""

from __future__ import annotations

import confluent_kafka

from base import errors


def convert(
    exc: BaseException | confluent_kafka.KafkaError, context: str = ""
) -> errors.KafkaError:
    """Map a ``KafkaException`` or a raw ``KafkaError`` to the matching govbus exception."""
    err = exc.args[0] if isinstance(exc, confluent_kafka.KafkaException) and exc.args else exc
    prefix = f"{context}: " if context else ""
    if not isinstance(err, confluent_kafka.KafkaError):
        return errors.KafkaError(f"{prefix}{exc}")
    message = f"{prefix}{err.str()} ({err.name()})"
    code, retriable, fatal = str(err.name()), bool(err.retriable()), bool(err.fatal())
    if err.code() in (
        confluent_kafka.KafkaError._TIMED_OUT,
        confluent_kafka.KafkaError.REQUEST_TIMED_OUT,
    ):
        return errors.KafkaTimeoutError(message, code=code, retriable=retriable, fatal=fatal)
    if err.txn_requires_abort() or err.code() in _TXN_CODES:
        return errors.TransactionError(
            message,
            code=code,
            retriable=retriable,
            fatal=fatal,
            abortable=bool(err.txn_requires_abort()),
        )
    return errors.KafkaError(message, code=code, retriable=retriable, fatal=fatal)


_TXN_CODES = frozenset(
    {
        confluent_kafka.KafkaError._FENCED,
        confluent_kafka.KafkaError.INVALID_TXN_STATE,
        confluent_kafka.KafkaError.PRODUCER_FENCED,
        confluent_kafka.KafkaError.INVALID_PRODUCER_EPOCH,
        confluent_kafka.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
