"""The audit relay: transitions from SQL into the workflow hash chain on Kafka, once each.

Every transition is written to SQL in the same transaction as the state change it records
(an outbox); the relay appends them to ``govbus.audit.workflows`` as sealed WorkflowEvent
records (S 42 tamper evidence: :mod:`schemas.audit`), in id order, one chain. One pass
(:meth:`AuditRelay.run_once`):

1. Take the relay lease (a named lease, conditional UPDATE): one relay appends at a time.
2. On taking it (again): start a transactional producer under the fixed transactional id,
   which fences any earlier relay, and read the chain's tail: transitions it holds that
   SQL does not mark yet (a relay died between the Kafka commit and step 5) are marked,
   and its newest record is the chain head.
3. Read the next unsealed transitions in id order.
4. Seal each after the head (``seq`` + 1, ``prev_hash``) and append them in one Kafka
   transaction.
5. Mark them sealed in SQL (``audit_seq``, ``audit_hash``).

A failure between steps loses nothing: the next pass starts again at step 2.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from base.errors import GovbusError
from producers.workflow_audit import CHAIN, RECORD, WorkflowAuditWriter
from schemas import encode
from schemas.audit import seal
from storage.workflows import TransitionRow, WorkflowStore
from topology.workflows.clock import Clock, SystemClock

log = logging.getLogger(__name__)

LEASE_NAME = "workflow-audit-relay"
LEASE = timedelta(seconds=60)
BATCH = 200


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: bytes | None


def event_record(t: TransitionRow, seq: int, prev: bytes | None) -> dict[str, object]:
    if t.id is None:  # pragma: no cover - read rows have ids
        raise ValueError("an unsaved transition cannot be sealed")
    return {
        "transition_id": t.id,
        "subject_kind": t.subject_kind,
        "subject_id": t.subject_id,
        "action": t.action,
        "from_state": t.from_state,
        "to_state": t.to_state,
        "actor": t.actor,
        "actor_role": t.actor_role,
        "actor_agency": t.actor_agency,
        "occurred_at": t.at,
        "reason": t.reason or None,
        "article": t.article or None,
        "details": json.dumps(dict(t.details), ensure_ascii=False, sort_keys=True),
        "chain": CHAIN,
        "seq": seq,
        "prev_hash": prev,
        "record_hash": None,
    }


class AuditRelay:
    def __init__(
        self,
        store: WorkflowStore,
        writer_factory: Callable[[], WorkflowAuditWriter],
        *,
        wall_clock: Clock | None = None,
        owner: str | None = None,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self._factory = writer_factory
        self.clock = wall_clock or SystemClock()
        self.owner = owner or f"relay-{uuid.uuid4().hex[:12]}"
        self.batch = batch
        self._writer: WorkflowAuditWriter | None = None
        self._head: ChainHead | None = None
        self._lock = threading.Lock()

    def run_once(self) -> int:
        """One pass; the number of transitions appended."""
        with self._lock:
            try:
                return self._run()
            except GovbusError as exc:
                log.warning("workflow audit relay: %s; retried on the next pass", exc)
                self._drop()
                return 0

    def _run(self) -> int:
        # Step 1
        now = self.clock.now()
        if not self.store.acquire_lease(LEASE_NAME, self.owner, now, now + LEASE):
            self._drop()
            return 0
        # Step 2
        if self._writer is None or self._head is None:
            writer = self._factory()
            writer.ensure_topic()
            writer.start()
            self._writer, self._head = writer, self._recover(writer)
        written = 0
        while True:
            # Step 3
            pending = self.store.unsealed(self.batch)
            if not pending:
                return written
            # Step 4
            head, messages, sealed = self._head, [], []
            for t in pending:
                assert t.id is not None
                seq = head.seq + 1
                message, digest = seal(encode(RECORD, event_record(t, seq, head.hash)))
                messages.append((t.subject_id, message))
                sealed.append((t.id, seq, digest.hex()))
                head = ChainHead(seq, digest)
            self._writer.append(messages)
            # Step 5
            self.store.mark_sealed(sealed)
            self._head = head
            written += len(sealed)

    def _recover(self, writer: WorkflowAuditWriter) -> ChainHead:
        tail = writer.tail()
        if tail:
            self.store.mark_sealed(
                [
                    (int(r["transition_id"]), int(r["seq"]), bytes(r["record_hash"]).hex())
                    for r in tail
                    if r.get("record_hash") is not None
                ]
            )
            top = max(tail, key=lambda r: int(r["seq"]))
            return ChainHead(int(top["seq"]), top["record_hash"])
        known = self.store.last_sealed()
        return ChainHead(0, None) if known is None else ChainHead(known[0], bytes.fromhex(known[1]))

    def _drop(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except GovbusError:
                pass
        self._writer, self._head = None, None

    def close(self) -> None:
        with self._lock:
            self._drop()
            self.store.release_lease(LEASE_NAME, self.owner)
