"""Convert librdkafka errors into govbus exceptions at the point where they enter."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import contextmanager

import confluent_kafka

from base import errors

#: Errors that clear by themselves: metadata not yet propagated, a leader or coordinator
#: moving, a broker restarting. Whoever waits retries them with bounded backoff
#: (:mod:`kafkaclient.retry`).
TRANSIENT_CODES = frozenset(
    {
        "UNKNOWN_TOPIC_OR_PART",
        "_UNKNOWN_TOPIC",
        "_UNKNOWN_PARTITION",
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_FOR_PARTITION",
        "FENCED_LEADER_EPOCH",
        "UNKNOWN_LEADER_EPOCH",
        "NOT_COORDINATOR",
        "COORDINATOR_NOT_AVAILABLE",
        "COORDINATOR_LOAD_IN_PROGRESS",
        "_WAIT_COORD",
        "_TRANSPORT",
        "_ALL_BROKERS_DOWN",
        "_TIMED_OUT",
        "REQUEST_TIMED_OUT",
        "NETWORK_EXCEPTION",
        "_DESTROY_BROKER",
    }
)
#: Another instance took this client's place: a static member's ``group.instance.id`` or
#: a transactional id. This instance must stop; a new one may start at once.
FENCED_CODES = frozenset({"FENCED_INSTANCE_ID", "_FENCED", "PRODUCER_FENCED"})
#: librdkafka's error for every call on a client in its fatal state.
FATAL = "_FATAL"


def convert(
    exc: BaseException | confluent_kafka.KafkaError, context: str = ""
) -> errors.KafkaError:
    """Map a ``KafkaException``, a raw ``KafkaError`` or a future's ``TimeoutError`` to the
    matching govbus exception."""
    err = exc.args[0] if isinstance(exc, confluent_kafka.KafkaException) and exc.args else exc
    prefix = f"{context}: " if context else ""
    if isinstance(err, concurrent.futures.TimeoutError | TimeoutError):
        return errors.KafkaTimeoutError(
            f"{prefix}no answer in time", code="_TIMED_OUT", retriable=True
        )
    if not isinstance(err, confluent_kafka.KafkaError):
        return errors.KafkaError(f"{prefix}{exc}")
    message = f"{prefix}{err.str()} ({err.name()})"
    code, retriable, fatal = str(err.name()), bool(err.retriable()), bool(err.fatal())
    retriable = retriable or code in TRANSIENT_CODES
    if code.endswith("_AUTHORIZATION_FAILED"):
        return errors.AuthorizationError(message, code=code, fatal=fatal)
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
    }
)


@contextmanager
def converted(context: str) -> Iterator[None]:
    """librdkafka's ``KafkaException`` raised in the block, as :func:`convert` maps it."""
    try:
        yield
    except confluent_kafka.KafkaException as exc:
        raise convert(exc, context) from exc


def fenced(exc: errors.KafkaError) -> bool:
    """True when ``exc`` says another instance took this client's place. A consumer's
    fencing arrives as librdkafka's generic ``_FATAL`` error, named in its text only."""
    if exc.code in FENCED_CODES:
        return True
    return exc.code == FATAL and "fenced" in str(exc).lower()
