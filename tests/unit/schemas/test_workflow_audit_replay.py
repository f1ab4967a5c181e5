"""The workflows' audit chain (WorkflowEvent on ``govbus.audit.workflows``, S 42): every
transition is sealed once; the same transition sealed twice with another hash (a second
relay that did not see the first one's mark) is reported as replayed, once, at the
repeat, while a chain of distinct transitions verifies clean."""

from __future__ import annotations

from typing import Any

from schemas import decode, encode
from schemas.audit import REPLAYED, seal, verify
from tests.support.avro import SAMPLES


def _chain(transition_ids: list[int]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    prev: bytes | None = None
    for seq, transition_id in enumerate(transition_ids, start=1):
        record: dict[str, Any] = {
            **SAMPLES["WorkflowEvent"],
            "transition_id": transition_id,
            "reason": f"step {seq}",  # another record, another hash
            "seq": seq,
            "prev_hash": prev,
        }
        message, digest = seal(encode("WorkflowEvent", record))
        assert decode("WorkflowEvent", message)["record_hash"] == digest
        out.append((str(seq), message))
        prev = digest
    return out


def test_distinct_transitions_verify_clean() -> None:
    report = verify(_chain([1, 2, 3, 4]), record_name="WorkflowEvent")
    assert report.ok, report.findings
    assert report.heads["workflows"].seq == 4


def test_a_transition_sealed_twice_is_replayed_at_the_repeat() -> None:
    report = verify(_chain([1, 2, 3, 2, 5]), record_name="WorkflowEvent")
    assert [(f.kind, f.seq) for f in report.findings] == [(REPLAYED, 4)]
