"""``govbus audit verify`` finds two writers on one audit chain (S 42 tamper evidence;
issue 14 item 7): a second processor group over the same ingest partition restores the
chain's head and goes on from it, deciding the input again.

* It re-decides inputs first: records whose ``audit_id`` (derived from the input position)
  the chain already holds are **replayed**, though every link is still valid.
* Once both groups write, two records claim one seq (or one predecessor): **forked**, once,
  at the first forked record, and the links are followed along one branch (no cascade of
  broken links from the other).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import decode, encode
from schemas.audit import (
    BROKEN_LINK,
    DUPLICATE,
    FORKED,
    REPLAYED,
    Finding,
    seal,
    verify,
)

CHAIN = "govbus.ingest.psb.person.basic/1"
AT = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)


def _record(seq: int, prev: bytes | None, audit_id: uuid.UUID, *, kind: str = "accepted") -> bytes:
    record = {
        "audit_id": audit_id,
        "kind": kind,
        "event_id": uuid.uuid5(audit_id, "event"),
        "entry": "psb.person.basic",
        "provider": "city-psb",
        "canonical_subject": "resident_id:11010519491231002X",
        "reason_code": "authoritative_source",
        "article": "GM 22; S 21",
        "recipient": None,
        "grant_id": None,
        "purpose": None,
        "items_delivered": [],
        "masked_items": [],
        "occurred_at": AT,
        "chain": CHAIN,
        "seq": seq,
        "prev_hash": prev,
        "record_hash": None,
    }
    message, _ = seal(encode("Decision", record))
    return message


def _hash(message: bytes) -> bytes:
    digest = decode("Decision", message)["record_hash"]
    assert isinstance(digest, bytes)
    return digest


def _extend(start: list[bytes], ids: list[uuid.UUID]) -> list[bytes]:
    """Records after ``start``'s last one (or a new chain), one per audit id."""
    out: list[bytes] = []
    prev = _hash(start[-1]) if start else None
    seq = len(start)
    for audit_id in ids:
        seq += 1
        message = _record(seq, prev, audit_id)
        out.append(message)
        prev = _hash(message)
    return out


def _ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def _findings(messages: list[bytes]) -> list[Finding]:
    return list(verify([(f"0/{i}", m) for i, m in enumerate(messages)]).findings)


def test_a_second_group_re_deciding_the_input_is_found_before_any_fork() -> None:
    """What issue 14 saw as "intact at first": group B restored the head (seq 5) and
    decided offsets 0.. again; every link holds, but the decisions repeat."""
    inputs = _ids(5)
    a = _extend([], inputs)
    b = _extend(a, inputs[:3])  # the same inputs, the same audit ids, new hashes
    found = _findings(a + b)
    assert [(f.kind, f.chain, f.seq) for f in found] == [(REPLAYED, CHAIN, 6)]
    assert "seq 1" in found[0].detail and "3 record(s)" in found[0].detail


def test_two_writers_after_one_head_fork_once_at_the_first_forked_record() -> None:
    shared = _extend([], _ids(5))
    branch_a = _extend(shared, _ids(3))
    branch_b = _extend(shared, _ids(4))
    messages = shared + branch_a + branch_b
    found = _findings(messages)
    assert [(f.kind, f.seq) for f in found] == [(FORKED, 6)]
    assert "2 later place(s) contested" in found[0].detail  # seqs 7 and 8
    # Whatever order the audit partitions interleave them in, the same answer.
    report = verify([(f"0/{i}", m) for i, m in enumerate(messages)])
    shuffled = verify([(f"0/{i}", m) for i, m in reversed(list(enumerate(messages)))])
    assert report.to_dict() == shuffled.to_dict()
    # The head follows one branch to its end.
    assert report.heads[CHAIN].seq == 9
    assert bytes.fromhex(report.heads[CHAIN].hash) == _hash(branch_b[-1])


def test_a_record_claiming_an_earlier_records_predecessor_is_a_fork() -> None:
    """Same predecessor, another seq: the chain splits at the first of the two."""
    chain = _extend([], _ids(6))
    rival = _record(6, _hash(chain[3]), uuid.uuid4())  # seq 6 but after seq 4
    kinds = [(f.kind, f.seq) for f in _findings([*chain, rival])]
    assert (FORKED, 5) in kinds


def test_the_same_record_twice_is_a_duplicate_not_a_fork_and_a_clean_chain_is_intact() -> None:
    chain = _extend([], _ids(4))
    assert _findings(chain) == []
    assert [f.kind for f in _findings([*chain, chain[2]])] == [DUPLICATE]


def test_a_fork_below_an_altered_link_still_reports_the_link() -> None:
    """Following one branch does not hide a broken link on it."""
    shared = _extend([], _ids(3))
    a = _extend(shared, _ids(2))
    b = _extend(shared, _ids(2))
    bad = _record(6, b"\x01" * 32, uuid.uuid4())  # after both, but linked to neither
    kinds = sorted((f.kind, f.seq) for f in _findings(shared + a + b + [bad]))
    assert kinds == [(BROKEN_LINK, 6), (FORKED, 4)]


@settings(max_examples=60, deadline=None)
@given(
    shared=st.integers(0, 8),
    left=st.integers(1, 5),
    right=st.integers(1, 5),
    order=st.randoms(use_true_random=False),
)
def test_any_fork_is_reported_once_where_it_starts(
    shared: int, left: int, right: int, order: object
) -> None:
    base = _extend([], _ids(shared))
    messages = base + _extend(base, _ids(left)) + _extend(base, _ids(right))
    order.shuffle(messages)  # type: ignore[attr-defined]
    found = _findings(messages)
    assert [(f.kind, f.seq) for f in found] == [(FORKED, shared + 1)]
