"""Sealing audit records into their ingest partition's hash chain (S 42), one at a time.

A chain's head is (seq, record_hash) of its newest record, ``(0, None)`` before the first.
The next record gets ``seq + 1`` and ``prev_hash`` = the head's hash, is encoded with
``record_hash`` null and sealed by :func:`schemas.audit.seal` (the hash appended); its
hash is the new head. Pure: the processor stages the head the plan returns
(:mod:`topology.state`) and writes it to the changelog when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.audit import RECORD, seal
from topology.state import ChainHead

Encode = Callable[[str, Mapping[str, Any]], bytes]


def chain_name(topic: str, partition: int) -> str:
    """The chain of an ingest partition: ``<topic>/<partition>`` (Decision.chain)."""
    return f"{topic}/{partition}"


def seal_next(
    encode: Encode, record: dict[str, Any], chain: str, head: ChainHead
) -> tuple[bytes, ChainHead]:
    """(the message to write, the chain's new head) for ``record``, a Decision built by
    :func:`topology.records.decision` (filled in place: each call builds a fresh dict)."""
    seq, prev = head
    record.update(chain=chain, seq=seq + 1, prev_hash=prev)
    message, digest = seal(encode(RECORD, record))
    return message, (seq + 1, digest)
