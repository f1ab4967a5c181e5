"""read_from_beginning's first step asks each partition's end offset; a topic made a moment
ago answers NOT_LEADER_FOR_PARTITION until its leader is elected, which is asked again
until the read's deadline instead of failing the read (seen in CI on a loaded machine)."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from base.errors import KafkaError
from kafkaclient.consumer import Consumer, _end_offset


class _Answers:
    """A stand-in for the consumer's watermarks(): the given answers, in order."""

    def __init__(self, *answers: tuple[int, int] | KafkaError) -> None:
        self.answers = list(answers)
        self.asked = 0

    def watermarks(self, _topic: str, _partition: int) -> tuple[int, int]:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, KafkaError):
            raise answer
        return answer


def _as_consumer(answers: _Answers) -> Consumer:
    return cast(Consumer, cast(Any, answers))


def test_a_partition_without_a_leader_yet_is_asked_again() -> None:
    leaderless = KafkaError("not leader", code="NOT_LEADER_FOR_PARTITION", retriable=True)
    answers = _Answers(leaderless, leaderless, (0, 7))
    assert _end_offset(_as_consumer(answers), ("t", 0), time.monotonic() + 10) == 7
    assert answers.asked == 3


def test_a_final_error_or_a_passed_deadline_is_raised() -> None:
    denied = KafkaError("denied", code="TOPIC_AUTHORIZATION_FAILED")
    with pytest.raises(KafkaError, match="denied"):
        _end_offset(_as_consumer(_Answers(denied)), ("t", 0), time.monotonic() + 10)
    late = KafkaError("not leader", code="NOT_LEADER_FOR_PARTITION", retriable=True)
    answers = _Answers(late, (0, 7))
    with pytest.raises(KafkaError, match="not leader"):
        _end_offset(_as_consumer(answers), ("t", 0), time.monotonic() - 1)
    assert answers.asked == 1
