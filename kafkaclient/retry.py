"""Retrying what clears by itself, with bounded backoff, until a deadline.

A broker restart, a leader election or metadata not yet propagated fail a request for a
few seconds; whoever must have the answer retries it (:func:`retrying`). What a person
must fix (credentials, ACLs) and a closed client are never retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from base.errors import (
    AuthenticationError,
    AuthorizationError,
    BrokerUnreachableError,
    ClientClosedError,
    KafkaError,
    KafkaTimeoutError,
)
from kafkaclient.convert import TRANSIENT_CODES

log = logging.getLogger("kafkaclient.retry")
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: ``first_s``, doubled each time, at most ``max_s``, with up
    to ``jitter`` of each wait added at random (clients restarted together spread out)."""

    first_s: float = 0.1
    max_s: float = 2.0
    jitter: float = 0.2

    def delays(self) -> Iterator[float]:
        wait = self.first_s
        while True:
            yield wait * (1.0 + random.uniform(0.0, self.jitter))  # noqa: S311 - not crypto
            wait = min(self.max_s, wait * 2)


def transient(exc: BaseException) -> bool:
    """True for a Kafka error that clears by itself (retry it), False for the rest."""
    if not isinstance(exc, KafkaError) or exc.fatal:
        return False
    if isinstance(exc, AuthenticationError | AuthorizationError | ClientClosedError):
        return False
    return exc.retriable or exc.code in TRANSIENT_CODES or isinstance(exc, KafkaTimeoutError)


def retrying(
    call: Callable[[], T], what: str, deadline: float, backoff: Backoff | None = None
) -> T:
    """``call()``'s answer; transient errors are retried until ``deadline`` (monotonic),
    then a :class:`KafkaTimeoutError` naming ``what`` and the last error is raised."""
    delays = (backoff or Backoff()).delays()
    while True:
        try:
            return call()
        except KafkaError as exc:
            if not transient(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if isinstance(exc, BrokerUnreachableError):
                    raise  # it names the cause and the fix already
                raise KafkaTimeoutError(
                    f"{what}: still failing at the deadline: {exc}",
                    code=exc.code,
                    retriable=True,
                ) from exc
            wait = min(next(delays), remaining)
            log.debug("%s: %s; retrying in %.2fs", what, exc, wait)
            time.sleep(wait)
