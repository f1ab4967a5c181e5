"""A dead letter always fits (every input answered, nothing lost): values above the bound
are stored cut with their size and SHA-256; the bounds, the topics' max.message.bytes and
the processor's producer limit agree (schemas.topics, topology.records)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import ConfigError
from base.settings import DEFAULT_DEAD_LETTER_VALUE_BYTES
from schemas import decode, encode
from schemas.topics import (
    INGEST_MAX_MESSAGE_BYTES,
    MAX_EVENT_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_OUTPUT_BYTES,
    MAX_TOPIC_LENGTH,
    POLICIES,
    TopicKind,
)
from topology import records
from topology.processor import ProcessorConfig

AT = datetime(2026, 6, 1, tzinfo=UTC)
#: What Kafka adds to one record in a batch of one (v2 batch header and record framing).
BATCH_FRAMING = 200


def _dead(
    value: bytes, key: bytes | None, bound: int, text: str = "bad", topic: str = "t"
) -> bytes:
    record = records.dead_letter(
        event_id=str(uuid.uuid4()),
        topic=topic,
        partition=2**31 - 1,
        offset=2**63 - 1,
        key=key,
        value=value,
        reason_code="processing_failed",
        reason_text=text,
        stage="gate",
        at=AT,
        value_bound=bound,
    )
    return encode("DeadLetter", record)


@given(value=st.binary(max_size=300), key=st.none() | st.binary(max_size=40))
def test_a_value_within_the_bound_is_kept_whole(value: bytes, key: bytes | None) -> None:
    dead = decode("DeadLetter", _dead(value, key, bound=300))
    assert (dead["original_value"], dead["original_key"]) == (value, key)
    assert dead["original_value_size"] is None and dead["original_value_sha256"] is None
    assert dead["original_key_size"] is None and dead["original_key_sha256"] is None


@given(value=st.binary(min_size=101, max_size=400))
def test_a_value_above_the_bound_is_cut_with_its_size_and_digest(value: bytes) -> None:
    dead = decode("DeadLetter", _dead(value, b"k", bound=100))
    assert dead["original_value"] == value[:100]
    assert dead["original_value_size"] == len(value)
    assert dead["original_value_sha256"] == hashlib.sha256(value).digest()


def test_a_long_key_is_cut_too() -> None:
    key = bytes(range(256)) * 40
    dead = decode("DeadLetter", _dead(b"v", key, bound=100))
    assert dead["original_key"] == key[: records.DEAD_LETTER_KEY_BYTES]
    assert (dead["original_key_size"], dead["original_key_sha256"]) == (
        len(key),
        hashlib.sha256(key).digest(),
    )


def test_a_long_reason_is_cut_and_marked() -> None:
    dead = decode("DeadLetter", _dead(b"v", None, bound=10, text="因" * 10_000))
    assert len(dead["reason_text"]) == records.REASON_TEXT_CHARS
    assert dead["reason_text"].endswith("…")


@settings(max_examples=5, deadline=None)
@given(extra=st.integers(min_value=0, max_value=3_000_000))
def test_the_largest_dead_letter_fits_the_producer_and_the_topic(extra: int) -> None:
    """Everything at its worst: a value above the largest bound, a key of a megabyte, a
    reason text of 4-byte characters, the longest topic name."""
    bound = records.MAX_DEAD_LETTER_VALUE_BYTES
    message = _dead(
        b"\xff" * (bound + extra),
        b"\x00" * 1_000_000,
        bound=bound,
        text="𠀀" * 50_000,
        topic="t" * MAX_TOPIC_LENGTH,
    )
    kafka_key = 36  # the event id
    assert len(message) + kafka_key <= MAX_OUTPUT_BYTES
    assert MAX_OUTPUT_BYTES + BATCH_FRAMING <= MAX_MESSAGE_BYTES


def test_limits_agree_with_each_other_and_the_topics() -> None:
    # Every event an agency may send is kept whole in its dead letter by default.
    assert DEFAULT_DEAD_LETTER_VALUE_BYTES == MAX_EVENT_BYTES <= records.MAX_DEAD_LETTER_VALUE_BYTES
    # The broker takes one event at the limit, with a key and framing, on an ingest topic.
    ingest = POLICIES[TopicKind.INGEST].config
    assert int(ingest["max.message.bytes"]) == INGEST_MAX_MESSAGE_BYTES
    assert (
        MAX_EVENT_BYTES + records.DEAD_LETTER_KEY_BYTES + BATCH_FRAMING <= INGEST_MAX_MESSAGE_BYTES
    )
    # A submission topic takes what an ingest topic takes: the repartition stage forwards
    # the event with a header of a few dozen bytes, well inside the framing margin.
    assert POLICIES[TopicKind.SUBMIT].config == ingest
    # Every topic the processor writes takes its largest message.
    for kind, policy in POLICIES.items():
        if kind not in (TopicKind.INGEST, TopicKind.SUBMIT):
            assert int(policy.config["max.message.bytes"]) == MAX_MESSAGE_BYTES, kind


@pytest.mark.parametrize("bound", [0, records.MAX_DEAD_LETTER_VALUE_BYTES + 1])
def test_a_bound_that_would_not_fit_is_refused(bound: int) -> None:
    with pytest.raises(ConfigError, match="dead_letter_value_bytes"):
        ProcessorConfig("127.0.0.1:9", dead_letter_value_bytes=bound)
    assert ProcessorConfig("127.0.0.1:9", dead_letter_value_bytes=1).plan_options


def test_receipts_cut_long_reasons_too() -> None:
    assert records.reason("x" * 5) == "x" * 5
    assert len(records.reason("x" * 50_000)) == records.REASON_TEXT_CHARS
