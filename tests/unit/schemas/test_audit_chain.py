"""Sealing and verifying the audit hash chains (schemas.audit), without a broker (S 42: data
kept from 篡改): a changed byte, a re-sealed forgery, removed, duplicated, truncated and
unsealed records are each found. The chains of a running bus and `govbus audit verify`:
tests/integration/topology/test_audit_chain.py."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import EncodingError
from schemas import decode, default_registry, encode
from schemas.audit import (
    ALTERED,
    BROKEN_LINK,
    DUPLICATE,
    GAP,
    REWRITTEN,
    TRUNCATED,
    UNSEALED,
    Head,
    seal,
    verify,
)
from tests.support.avro import SAMPLES


def _chain(n: int, chain: str = "govbus.ingest.x/0") -> list[bytes]:
    out: list[bytes] = []
    prev: bytes | None = None
    for seq in range(1, n + 1):
        record = {
            **SAMPLES["Decision"],
            "audit_id": uuid.uuid4(),
            "chain": chain,
            "seq": seq,
            "prev_hash": prev,
            "record_hash": None,
        }
        message, prev = seal(encode("Decision", record))
        out.append(message)
    return out


def _labelled(messages: list[bytes]) -> list[tuple[str, bytes]]:
    return [(str(i), m) for i, m in enumerate(messages)]


def _kinds(messages: list[bytes], expected: Mapping[str, Head] | None = None) -> list[str]:
    return [f.kind for f in verify(_labelled(messages), expected=expected).findings]


def test_an_untouched_chain_verifies_and_reports_its_head() -> None:
    messages = _chain(5)
    report = verify(_labelled(messages))
    assert report.ok and report.records == 5 and report.unchained == 0
    head = report.heads["govbus.ingest.x/0"]
    assert head.seq == 5
    assert bytes.fromhex(head.hash) == decode("Decision", messages[-1])["record_hash"]
    # Any order in, the same answer out (audit partitions interleave chains).
    assert verify(_labelled(messages[::-1])).to_dict() == report.to_dict()


def test_a_changed_byte_is_found() -> None:
    messages = _chain(3)
    changed = messages[1].replace(b"GY-RK-0001", b"GY-RK-0002")
    assert changed != messages[1]
    assert _kinds([messages[0], changed, messages[2]]) == [ALTERED]


def test_a_re_sealed_forgery_breaks_the_next_link_and_a_forged_head_the_recorded_one() -> None:
    """A forger who recomputes the hash of a changed record is caught by the next record's
    prev_hash; at the head, by the head an auditor recorded before."""
    messages = _chain(3)
    record = decode("Decision", messages[1])
    forged, _ = seal(encode("Decision", {**record, "recipient": "某单位", "record_hash": None}))
    assert _kinds([messages[0], forged, messages[2]]) == [BROKEN_LINK]
    heads = verify(_labelled(messages)).heads
    last = decode("Decision", messages[2])
    forged_head, _ = seal(encode("Decision", {**last, "recipient": "某单位", "record_hash": None}))
    assert _kinds([*messages[:2], forged_head]) == []
    assert _kinds([*messages[:2], forged_head], expected=heads) == [REWRITTEN]


def test_removed_duplicated_truncated_and_unsealed_records_are_found() -> None:
    messages = _chain(5)
    heads = verify(_labelled(messages)).heads
    assert _kinds(messages[:2] + messages[3:]) == [GAP]
    assert _kinds(messages[1:]) == [GAP]  # the first record is gone
    assert _kinds([*messages, messages[2]]) == [DUPLICATE]
    assert _kinds(messages[:4]) == []  # truncation is silent without a recorded head...
    assert _kinds(messages[:4], expected=heads) == [TRUNCATED]  # ...and found with one
    unsealed = encode("Decision", {**decode("Decision", messages[4]), "record_hash": None})
    assert _kinds([*messages[:4], unsealed]) == [UNSEALED]


def test_unchained_records_are_counted_not_judged() -> None:
    """Decision v1 records (before chaining) carry no chain."""
    v1 = {
        k: v
        for k, v in SAMPLES["Decision"].items()
        if k not in ("chain", "seq", "grants", "deliveries")
    }
    old = default_registry().encode("Decision", v1, version=1)
    report = verify(_labelled([old, *_chain(2)]))
    assert report.ok and report.unchained == 1 and report.records == 2


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 12), data=st.data())
def test_any_removed_or_re_sealed_record_below_the_head_is_found(
    n: int, data: st.DataObject
) -> None:
    messages = _chain(n)
    i = data.draw(st.integers(0, n - 2))  # not the head: that needs a recorded head
    assert _kinds(messages[:i] + messages[i + 1 :]) == [GAP]
    record = decode("Decision", messages[i])
    changed = {**record, "article": "伪造", "record_hash": None}
    forged, _ = seal(encode("Decision", changed))
    assert _kinds([*messages[:i], forged, *messages[i + 1 :]]) == [BROKEN_LINK]


def test_sealing_appends_exactly_what_a_full_encode_with_the_hash_writes() -> None:
    record = {**SAMPLES["Decision"], "chain": "c/0", "seq": 1, "prev_hash": None}
    unsealed = encode("Decision", {**record, "record_hash": None})
    sealed, digest = seal(unsealed)
    assert sealed == encode("Decision", {**record, "record_hash": digest})
    with pytest.raises(EncodingError, match="record_hash null"):
        seal(unsealed[:-1] + b"\x02")  # not the null branch at the end
