"""The authoritative-record table of one processor, backed by compacted changelog topics.

Each ingest partition ``govbus.ingest.<entry>``/p has its state in changelog partition
``govbus.state.onesource.<entry>``/p (same partition count), keyed by canonical subject,
valued by the JSON of that subject's authoritative records. Changelog records are written
in the same transaction as the outputs they justify, so after a crash the restored
state and the committed outputs agree.

The same changelog partition keeps the head of the partition's audit hash chain
(:mod:`schemas.audit`) under the reserved key :data:`AUDIT_HEAD_KEY` (no canonical
subject starts with ``#``), written in the transaction that commits the records it
names; a restored worker continues the chain from there.

After ``govbus restore`` the changelog partition also holds an *incarnation* under
:data:`INCARNATION_KEY`: the restored ingest topics start again at offset 0, so the
positions that derived record ids are made of (:attr:`topology.plan.Input.position`) name
the incarnation too, and a new input never takes the id of one decided before the restore.

Within a transaction the table stages changes; :meth:`commit` makes them the committed
state, :meth:`rollback` forgets them (the transaction was aborted).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from base.errors import GovbusError, KafkaError, KafkaTimeoutError
from exchange.onesource import AuthoritativeRecord
from kafkaclient import OFFSET_BEGINNING, Consumer, TopicPartition
from schemas.topics import TopicKind, entry_of, topic_name

#: Restoring a partition of ~10^6 subjects reads ~100 MB; allow minutes, not forever.
RESTORE_TIMEOUT_S = 300.0
RESTORE_BATCH = 1000
#: A freshly created topic reaches every client's metadata within seconds.
WATERMARK_TIMEOUT_S = 30.0

PartitionKey = tuple[str, int]
Records = dict[str, AuthoritativeRecord]
#: (seq, record_hash) of a chain's newest record; (0, None) before its first.
ChainHead = tuple[int, bytes | None]
AUDIT_HEAD_KEY = "#audit-chain-head"
#: The partition's incarnation (0 until its first restore): ``{"incarnation": n}``.
INCARNATION_KEY = "#incarnation"
_NO_HEAD: ChainHead = (0, None)


def encode_head(head: ChainHead) -> bytes:
    seq, digest = head
    return json.dumps({"seq": seq, "hash": digest.hex() if digest else None}).encode()


def encode_incarnation(incarnation: int) -> bytes:
    return json.dumps({"incarnation": incarnation}).encode()


def decode_incarnation(data: bytes | None) -> int:
    return 0 if data is None else int(json.loads(data)["incarnation"])


def decode_head(data: bytes) -> ChainHead:
    raw = json.loads(data)
    return int(raw["seq"]), bytes.fromhex(raw["hash"]) if raw["hash"] else None


def changelog_topic(ingest_topic: str) -> str:
    """``govbus.ingest.<entry>`` -> ``govbus.state.onesource.<entry>``."""
    return topic_name(TopicKind.STATE, "onesource." + entry_of(ingest_topic))


def encode_records(records: Mapping[str, AuthoritativeRecord]) -> bytes:
    return json.dumps(
        {
            item: {
                "value": r.value,
                "provider": r.provider,
                "event_id": r.event_id,
                "seen": list(r.seen_event_ids),
            }
            for item, r in records.items()
        },
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    ).encode("utf-8")


def decode_records(subject: str, data: bytes) -> Records:
    raw: dict[str, Any] = json.loads(data)
    return {
        item: AuthoritativeRecord(
            subject, item, r["value"], r["provider"], r["event_id"], tuple(r["seen"])
        )
        for item, r in raw.items()
    }


def _watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    """(low, high) of ``tp``; a topic created moments ago may not be in the client's
    metadata yet, so unknown-partition answers are retried until WATERMARK_TIMEOUT_S."""
    deadline = time.monotonic() + WATERMARK_TIMEOUT_S
    while True:
        try:
            consumer.topic(tp.topic, 5.0)
            return consumer.watermarks(tp.topic, tp.partition, 5.0)
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class OneSourceState:
    def __init__(self, bootstrap: str, extra_config: Mapping[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap
        self._extra = dict(extra_config or {})
        self._committed: dict[PartitionKey, dict[str, Records]] = {}
        self._staged: dict[PartitionKey, dict[str, Records]] = {}
        self._heads: dict[PartitionKey, ChainHead] = {}
        self._staged_heads: dict[PartitionKey, ChainHead] = {}
        self._incarnations: dict[PartitionKey, int] = {}

    def restore(self, ingest_topic: str, partition: int) -> int:
        """Load ``partition``'s committed state from its changelog; return records read."""
        table: dict[str, Records] = {}
        head = _NO_HEAD
        incarnation = 0
        tp = TopicPartition(changelog_topic(ingest_topic), partition, OFFSET_BEGINNING)
        # A private, never-committing group: restore reads, it does not consume.
        with Consumer(
            self._bootstrap, f"govbus-restore-{uuid.uuid4().hex}", extra_config=self._extra
        ) as consumer:
            low, high = _watermarks(consumer, tp)
            count = 0
            if high > low:
                consumer.assign([tp])
                deadline = time.monotonic() + RESTORE_TIMEOUT_S
                while True:
                    for msg in consumer.consume(RESTORE_BATCH, timeout_s=0.2):
                        subject = (msg.key() or b"").decode("utf-8")
                        value = msg.value()
                        if subject == AUDIT_HEAD_KEY:
                            head = decode_head(value) if value is not None else _NO_HEAD
                        elif subject == INCARNATION_KEY:
                            incarnation = decode_incarnation(value)
                        elif value is None:
                            table.pop(subject, None)
                        else:
                            table[subject] = decode_records(subject, value)
                        count += 1
                    position = consumer.position([tp])[0].offset
                    # read_committed stops at the last stable offset; aborted records and
                    # control markers are skipped but still advance the position.
                    if position >= high:
                        break
                    if time.monotonic() > deadline:
                        raise KafkaTimeoutError(
                            f"restoring {tp.topic}/{partition} did not reach offset {high} "
                            f"within {RESTORE_TIMEOUT_S}s (at {position})"
                        )
        self._committed[(ingest_topic, partition)] = table
        self._staged.pop((ingest_topic, partition), None)
        self._heads[(ingest_topic, partition)] = head
        self._staged_heads.pop((ingest_topic, partition), None)
        self._incarnations[(ingest_topic, partition)] = incarnation
        return count

    def incarnation(self, ingest_topic: str, partition: int) -> int:
        """The partition's incarnation: how many times it was restored from a backup."""
        return self._incarnations.get((ingest_topic, partition), 0)

    def owns(self, ingest_topic: str, partition: int) -> bool:
        return (ingest_topic, partition) in self._committed

    def drop(self, ingest_topic: str, partition: int) -> None:
        self._committed.pop((ingest_topic, partition), None)
        self._staged.pop((ingest_topic, partition), None)
        self._heads.pop((ingest_topic, partition), None)
        self._staged_heads.pop((ingest_topic, partition), None)
        self._incarnations.pop((ingest_topic, partition), None)

    def chain_head(self, ingest_topic: str, partition: int) -> ChainHead:
        """The newest (staged, else committed) record of the partition's audit chain."""
        key = (ingest_topic, partition)
        staged = self._staged_heads.get(key)
        if staged is not None:
            return staged
        if key not in self._heads:
            raise GovbusError(f"{ingest_topic}/{partition} is not restored here")
        return self._heads[key]

    def advance_chain(self, ingest_topic: str, partition: int, head: ChainHead) -> None:
        self._staged_heads[(ingest_topic, partition)] = head

    def staged_heads(self) -> dict[PartitionKey, ChainHead]:
        """Heads this transaction moved: written to the changelog before it commits."""
        return dict(self._staged_heads)

    def get(self, ingest_topic: str, partition: int, subject: str) -> Records:
        key = (ingest_topic, partition)
        staged = self._staged.get(key)
        if staged is not None and subject in staged:
            return staged[subject]
        return self._committed[key].get(subject, {})

    def stage(
        self,
        ingest_topic: str,
        partition: int,
        subject: str,
        records: Mapping[str, AuthoritativeRecord],
    ) -> None:
        """Stage ``subject``'s records after a message (all of them: the plan merged the
        message's changes over :meth:`get`)."""
        self._staged.setdefault((ingest_topic, partition), {})[subject] = dict(records)

    def commit(self) -> None:
        for key, subjects in self._staged.items():
            if key in self._committed:
                self._committed[key].update(subjects)
        self._staged.clear()
        for key, head in self._staged_heads.items():
            if key in self._heads:
                self._heads[key] = head
        self._staged_heads.clear()

    def rollback(self) -> None:
        self._staged.clear()
        self._staged_heads.clear()
