"""The workflows' audit chain on Kafka: WorkflowEvent records on ``govbus.audit.workflows``
(``.<namespace>`` when the deployment namespaces its state topics).

One partition, one hash chain (``workflows``), sealed like the processors' Decisions
(:mod:`schemas.audit`). :class:`WorkflowAuditWriter` appends a batch in one Kafka
transaction under a fixed ``transactional.id``, so a writer that lost its turn (another
instance took over) is fenced by the broker and cannot append after it; :meth:`tail`
reads the chain's newest committed records, from which a writer resumes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from kafkaclient import Admin, Consumer, Producer, TopicPartition, TopicSpec
from schemas import decode
from schemas.topics import TopicKind, topic_def, topic_name

RECORD = "WorkflowEvent"
CHAIN = "workflows"
TRANSACTIONAL_ID = "govbus-workflow-audit"
#: Offsets read back from the end to find the chain head: more than one batch of records
#: plus its transaction markers.
TAIL_OFFSETS = 1000
TAIL_TIMEOUT_S = 15.0


def workflow_audit_topic(namespace: str | None = None) -> str:
    """``govbus.audit.workflows``, or ``govbus.audit.workflows.<namespace>`` for a deployment
    sharing its broker (the same namespace as its state topics)."""
    base = topic_name(TopicKind.WORKFLOW_AUDIT)
    return base if not namespace else f"{base}.{namespace}"


class WorkflowAuditWriter:
    """Transactional appends to the workflow audit topic; no I/O in ``__init__``."""

    def __init__(
        self,
        bootstrap: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> None:
        self.topic = workflow_audit_topic(namespace)
        self._bootstrap = bootstrap
        self._extra = dict(extra_config or {})
        self._transactional_id = TRANSACTIONAL_ID + (f"-{namespace}" if namespace else "")
        self._producer: Producer | None = None

    def ensure_topic(self) -> list[str]:
        spec = topic_def(TopicKind.WORKFLOW_AUDIT)
        return Admin(self._bootstrap, extra_config=self._extra).ensure_topics(
            [TopicSpec.of(replace(spec, name=self.topic))]
        )

    def start(self) -> None:
        """Create the producer and fence any earlier writer with the same transactional id."""
        self.close()
        producer = Producer(
            self._bootstrap,
            extra_config=self._extra,
            transactional_id=self._transactional_id,
            client_id="govbus-workflow-audit",
        )
        producer.init_transactions()
        self._producer = producer

    def tail(self, offsets: int = TAIL_OFFSETS) -> list[dict[str, Any]]:
        """The committed WorkflowEvents among the last ``offsets`` offsets, oldest first."""
        group = f"govbus-workflow-audit-tail-{uuid.uuid4().hex}"
        with Consumer(self._bootstrap, group, extra_config=self._extra) as consumer:
            low, high = consumer.watermarks(self.topic, 0, TAIL_TIMEOUT_S)
            if high <= low:
                return []
            consumer.assign([TopicPartition(self.topic, 0, max(low, high - offsets))])
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + TAIL_TIMEOUT_S
            while time.monotonic() < deadline:
                batch = consumer.consume(500, timeout_s=0.2)
                for msg in batch:
                    out.append(decode(RECORD, msg.value() or b""))
                position = consumer.position([TopicPartition(self.topic, 0)])[0].offset
                if not batch and position >= high:
                    break
            return out

    def append(self, records: Sequence[tuple[str, bytes]]) -> None:
        """(key, sealed message) pairs, in one transaction; aborted on any error."""
        if self._producer is None:
            self.start()
        producer = self._producer
        assert producer is not None
        producer.begin_transaction()
        try:
            for key, value in records:
                producer.produce(self.topic, value, key.encode())
            producer.commit_transaction()
        except BaseException:
            try:
                producer.abort_transaction()
            finally:
                self.close()
            raise

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close()
            finally:
                self._producer = None
