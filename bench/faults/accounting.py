"""Accounting for hostile input (issue 18 item 2): every hostile message sent must be
answered exactly once, where the bus says it answers it, and nothing hostile delivered.

Pure: the scenario (:mod:`bench.faults.hostile`) reads the topics and passes records here.

A hostile message is identified in a dead letter by its bytes: the digest of its key and
of its value (the SHA-256 a cut value carries, else the digest of the bytes kept), so the
generator makes every hostile (key, value) pair unique. Its *answer* is what
:class:`Expect` names: a dead letter (on the sender's submission dlq when the repartition
stage cannot read or route it, among the entry's dead letters when the gate refuses it:
those of the dlq every entry shares that carry the entry's header), a receipt to
the sender when the event could be read (its event id), or both. Counted per message:

- *unanswered*: acknowledged, and neither a dead letter nor a receipt came;
- *missing dead letter* / *missing receipt*: the expected one did not come;
- *duplicate answers*: each dead letter or receipt beyond the first for one message;
- *accepted*: a receipt saying ``accepted`` for a hostile event, or the event in a feed;
- *no reason*: an answer without a reason code;
- *bytes not kept*: a dead letter keeping neither the whole value nor its size and digest;
- *unexplained dead letters*: dead letters matching no hostile message.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Receipt outcomes that answer a hostile event (anything but being taken in).
REFUSING = frozenset({"rejected", "stale", "stopped", "duplicate"})
#: Where a dead letter is expected: the sender's submission dlq, the entry's dead letters
#: (its records of the shared dlq, govbus.dlq).
SUBMIT_DLQ, ENTRY_DLQ = "submit-dlq", "entry-dlq"


def digest(data: bytes | None) -> bytes | None:
    return None if data is None else hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Expect:
    """How the bus answers a category: a dead letter on ``dead_letter`` (None: none), a
    receipt to the sender (``receipt``), its outcome and, when fixed, its reason codes."""

    dead_letter: str | None
    receipt: bool
    outcome: str = "rejected"
    reasons: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HostileSend:
    """One hostile message as written: its category, key, value digests, event id (when it
    is a readable event), whether the broker acknowledged it."""

    index: int
    category: str
    key_digest: bytes | None
    value_digest: bytes
    value_size: int
    event_id: str | None
    expect: Expect
    acknowledged: bool = True

    @property
    def identity(self) -> tuple[bytes | None, bytes]:
        return (self.key_digest, self.value_digest)


@dataclass(frozen=True)
class LetterRead:
    """A dead letter as read: its topic kind (SUBMIT_DLQ or ENTRY_DLQ), the identity of the
    message it keeps, its reason code, whether the value is whole."""

    where: str
    identity: tuple[bytes | None, bytes]
    reason_code: str
    whole: bool
    kept_ok: bool


@dataclass(frozen=True)
class ReceiptRead:
    event_id: str
    outcome: str
    reason_code: str


def letter_read(where: str, record: Mapping[str, Any]) -> LetterRead:
    """A decoded DeadLetter record (v2) as a :class:`LetterRead`."""
    value = bytes(record["original_value"] or b"")
    size, sha = record.get("original_value_size"), record.get("original_value_sha256")
    whole = size is None and sha is None
    value_digest = hashlib.sha256(value).digest() if whole else bytes(sha or b"")
    key = record.get("original_key")
    key_sha = record.get("original_key_sha256")
    key_digest: bytes | None
    if key_sha is not None:
        key_digest = bytes(key_sha)
    else:
        key_digest = digest(None if key is None else bytes(key))
    kept_ok = whole or (size is not None and sha is not None and len(value) < size)
    code = str(record["reason_code"] or "")
    return LetterRead(where, (key_digest, value_digest), code, whole, kept_ok)


@dataclass
class Ledger:
    """The accounting of one run (module docstring); empty tuples and zeros are clean."""

    sent: int = 0
    acknowledged: int = 0
    answered: int = 0
    unanswered: list[int] = field(default_factory=list)
    missing_dead_letter: list[int] = field(default_factory=list)
    wrong_dlq: list[int] = field(default_factory=list)
    missing_receipt: list[int] = field(default_factory=list)
    duplicate_answers: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    no_reason: list[int] = field(default_factory=list)
    unexpected_reason: list[int] = field(default_factory=list)
    bytes_not_kept: list[int] = field(default_factory=list)
    unexplained_dead_letters: int = 0
    kept_whole: int = 0
    kept_cut: int = 0
    #: category -> (answer -> count); answer "dlq:<reason>" or "receipt:<outcome>:<reason>".
    answers: dict[str, Counter[str]] = field(default_factory=dict)
    sent_by_category: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return (
            self.sent > 0
            and self.answered == self.acknowledged
            and not any(self.failures().values())
        )

    def failures(self) -> dict[str, int]:
        return {
            "unanswered": len(self.unanswered),
            "missing_dead_letter": len(self.missing_dead_letter),
            "wrong_dlq": len(self.wrong_dlq),
            "missing_receipt": len(self.missing_receipt),
            "duplicate_answers": len(self.duplicate_answers),
            "accepted": len(self.accepted),
            "no_reason": len(self.no_reason),
            "unexpected_reason": len(self.unexpected_reason),
            "bytes_not_kept": len(self.bytes_not_kept),
            "unexplained_dead_letters": self.unexplained_dead_letters,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "answered_exactly_once": self.answered,
            **self.failures(),
            "dead_letters_kept_whole": self.kept_whole,
            "dead_letters_kept_cut_with_size_and_sha256": self.kept_cut,
            "by_category": {
                c: {"sent": self.sent_by_category[c], "answers": dict(sorted(a.items()))}
                for c, a in sorted(self.answers.items())
            },
        }


def account(
    sends: Sequence[HostileSend],
    letters: Iterable[LetterRead],
    receipts: Iterable[ReceiptRead],
    delivered: Iterable[str] = (),
) -> Ledger:
    """Match every hostile send with its answers (module docstring). ``delivered``: the
    event ids read in any feed, the open feed or an ``accepted`` audit record."""
    ledger = Ledger(sent=len(sends), acknowledged=sum(s.acknowledged for s in sends))
    by_identity: dict[tuple[bytes | None, bytes], list[LetterRead]] = defaultdict(list)
    known = {s.identity for s in sends}
    for letter in letters:
        if letter.identity in known:
            by_identity[letter.identity].append(letter)
        else:
            ledger.unexplained_dead_letters += 1
    by_event: dict[str, list[ReceiptRead]] = defaultdict(list)
    for receipt in receipts:
        by_event[receipt.event_id].append(receipt)
    leaked = set(delivered)
    for s in sends:
        ledger.sent_by_category[s.category] += 1
        found = by_identity.get(s.identity, [])
        got = by_event.get(s.event_id, []) if s.event_id is not None else []
        _tally(ledger, s, found, got)
        if not (found or got):
            if s.acknowledged:
                ledger.unanswered.append(s.index)
            continue
        problems = _problems(s, found, got, s.event_id in leaked)
        for name in problems:
            getattr(ledger, name).append(s.index)
        if not problems:
            ledger.answered += 1
    return ledger


def _tally(
    ledger: Ledger, s: HostileSend, found: Sequence[LetterRead], got: Sequence[ReceiptRead]
) -> None:
    """Count ``s``'s answers by category, and how its dead letters kept its bytes."""
    answers = ledger.answers.setdefault(s.category, Counter())
    for letter in found:
        answers[f"dlq:{letter.reason_code}"] += 1
        if letter.whole:
            ledger.kept_whole += 1
        else:
            ledger.kept_cut += 1
    for r in got:
        answers[f"receipt:{r.outcome}:{r.reason_code}"] += 1
    if not (found or got or s.acknowledged):
        answers["not acknowledged"] += 1


def _problems(
    s: HostileSend, found: Sequence[LetterRead], got: Sequence[ReceiptRead], leaked: bool
) -> list[str]:
    out: list[str] = []
    want = s.expect
    if want.dead_letter is not None and not found:
        out.append("missing_dead_letter")
    if found and any(f.where != want.dead_letter for f in found):
        out.append("wrong_dlq")
    if want.receipt and not got:
        out.append("missing_receipt")
    if len(found) > 1 or len(got) > 1:
        out.append("duplicate_answers")
    if leaked or any(r.outcome not in REFUSING for r in got):
        out.append("accepted")
    if any(not f.reason_code for f in found) or any(not r.reason_code for r in got):
        out.append("no_reason")
    codes = {f.reason_code for f in found} | {r.reason_code for r in got}
    if (want.reasons and not codes <= want.reasons) or any(r.outcome != want.outcome for r in got):
        out.append("unexpected_reason")
    if any(not f.kept_ok for f in found):
        out.append("bytes_not_kept")
    return out
