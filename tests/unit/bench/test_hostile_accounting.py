"""The hostile-input accounting on hand-built answers: a clean run is clean, and each way
of failing to answer a hostile message exactly once is counted; the generator makes the
categories it names, each message unique."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import Any

import pytest

from base.errors import SchemaError
from bench.faults.accounting import (
    ENTRY_DLQ,
    SUBMIT_DLQ,
    Expect,
    HostileSend,
    LetterRead,
    ReceiptRead,
    account,
    digest,
    letter_read,
)
from bench.faults.hostile import CATEGORIES, EXPECT, OVERSIZED_EVERY, hostile_messages
from bench.scenario import new_scenario, residents
from schemas import decode

UNREADABLE = Expect(SUBMIT_DLQ, receipt=False)
GATE = Expect(ENTRY_DLQ, receipt=True, reasons=frozenset({"provider_mismatch"}))
STALE = Expect(None, receipt=True, outcome="stale")


def _send(index: int, expect: Expect, *, event: bool = True, acked: bool = True) -> HostileSend:
    value = f"value-{index}".encode()
    return HostileSend(
        index,
        f"category-{index}",
        digest(f"key-{index}".encode()),
        hashlib.sha256(value).digest(),
        len(value),
        f"e{index}" if event else None,
        expect,
        acked,
    )


def _letter(s: HostileSend, where: str, code: str = "provider_mismatch") -> LetterRead:
    return LetterRead(where, s.identity, code, whole=True, kept_ok=True)


UNREAD = _send(1, UNREADABLE, event=False)
REFUSED = _send(2, GATE)
STALE_ONE = _send(3, STALE)
SENDS = (UNREAD, REFUSED, STALE_ONE)
LETTERS = [_letter(UNREAD, SUBMIT_DLQ, "bad_marker"), _letter(REFUSED, ENTRY_DLQ)]
RECEIPTS = [ReceiptRead("e2", "rejected", "provider_mismatch"), ReceiptRead("e3", "stale", "x")]


def test_every_message_answered_once_is_clean() -> None:
    ledger = account(SENDS, LETTERS, RECEIPTS)
    assert ledger.ok, ledger.failures()
    assert ledger.answered == 3
    assert not any(ledger.failures().values())
    assert ledger.answers["category-2"] == Counter(
        {"dlq:provider_mismatch": 1, "receipt:rejected:provider_mismatch": 1}
    )


def test_a_message_with_no_answer_is_unanswered() -> None:
    ledger = account(SENDS, LETTERS[:1], RECEIPTS[1:])
    assert ledger.unanswered == [2]
    assert not ledger.ok


def test_a_message_not_acknowledged_needs_no_answer() -> None:
    lost = _send(4, UNREADABLE, event=False, acked=False)
    ledger = account((*SENDS, lost), LETTERS, RECEIPTS)
    assert ledger.ok
    assert ledger.answered == ledger.acknowledged == 3


@pytest.mark.parametrize(
    ("letters", "receipts", "failure"),
    [
        (LETTERS[:1], RECEIPTS, "missing_dead_letter"),
        (LETTERS, RECEIPTS[1:], "missing_receipt"),
        ([*LETTERS, LETTERS[1]], RECEIPTS, "duplicate_answers"),
        (LETTERS, [*RECEIPTS, RECEIPTS[0]], "duplicate_answers"),
        ([LETTERS[0], _letter(REFUSED, SUBMIT_DLQ)], RECEIPTS, "wrong_dlq"),
        (LETTERS, [ReceiptRead("e2", "accepted", "x"), RECEIPTS[1]], "accepted"),
        ([LETTERS[0], _letter(REFUSED, ENTRY_DLQ, "")], RECEIPTS, "no_reason"),
        ([LETTERS[0], _letter(REFUSED, ENTRY_DLQ, "item_too_long")], RECEIPTS, "unexpected_reason"),
        (LETTERS, [RECEIPTS[0], ReceiptRead("e3", "rejected", "x")], "unexpected_reason"),
    ],
)
def test_each_wrong_answer_is_counted(
    letters: list[LetterRead], receipts: list[ReceiptRead], failure: str
) -> None:
    ledger = account(SENDS, letters, receipts)
    assert ledger.failures()[failure] == 1, ledger.failures()
    assert not ledger.ok


def test_a_hostile_event_in_a_feed_is_accepted() -> None:
    ledger = account(SENDS, LETTERS, RECEIPTS, delivered=["e2"])
    assert ledger.accepted == [2]


def test_a_dead_letter_of_something_never_sent_is_unexplained() -> None:
    stray = LetterRead(SUBMIT_DLQ, (None, b"x" * 32), "bad_marker", whole=True, kept_ok=True)
    ledger = account(SENDS, [*LETTERS, stray], RECEIPTS)
    assert ledger.unexplained_dead_letters == 1
    assert not ledger.ok


def _dead_letter(key: bytes | None, value: bytes, bound: int) -> dict[str, Any]:
    kept = value if len(value) <= bound else value[:bound]
    cut = len(value) > bound
    return {
        "original_key": key,
        "original_value": kept,
        "original_value_size": len(value) if cut else None,
        "original_value_sha256": hashlib.sha256(value).digest() if cut else None,
        "original_key_sha256": None,
        "reason_code": "event_too_large",
    }


def test_a_dead_letter_is_matched_by_its_bytes_whole_or_cut() -> None:
    value = b"v" * 100
    whole = letter_read(ENTRY_DLQ, _dead_letter(b"k", value, 1000))
    cut = letter_read(ENTRY_DLQ, _dead_letter(b"k", value, 10))
    assert whole.identity == cut.identity == (digest(b"k"), hashlib.sha256(value).digest())
    assert whole.whole and whole.kept_ok
    assert not cut.whole and cut.kept_ok
    keyless = letter_read(SUBMIT_DLQ, _dead_letter(None, b"", 10))
    assert keyless.identity == (None, hashlib.sha256(b"").digest())


def test_a_cut_dead_letter_without_its_digest_did_not_keep_the_bytes() -> None:
    record = {**_dead_letter(b"k", b"v" * 100, 10), "original_value_sha256": None}
    assert not letter_read(ENTRY_DLQ, record).kept_ok


def test_the_generator_makes_every_category_each_message_unique() -> None:
    rng = random.Random(1)
    scenario = new_scenario()
    people = residents(rng)
    count = 2 * OVERSIZED_EVERY
    messages = hostile_messages(scenario, count, people, people[:3], rng)
    assert len(messages) == count
    assert {m.category for m in messages} == set(CATEGORIES) == set(EXPECT)
    assert Counter(m.category for m in messages)["oversized value"] == 2
    assert len({(m.key, m.value) for m in messages}) == count
    for m in messages:
        readable = m.event_id is not None
        try:
            decoded = decode("ChangeEvent", m.value)
        except SchemaError:
            assert not readable, m.category
        else:
            assert readable, m.category
            assert str(decoded["event_id"]) == m.event_id
        assert EXPECT[m.category].receipt == readable
