"""The authoritative-record table of one processor, backed by compacted changelog topics.

Each ingest partition ``govbus.ingest.<entry>``/p has its state in changelog partition
``govbus.state.onesource.<entry>``/p (same partition count), keyed by canonical subject,
valued by the JSON of that subject's authoritative records, each with the source order of
the change that set it (so a restarted processor still judges an older change stale).
Changelog records are written in the same transaction as the outputs they justify, so
after a crash the restored state and the committed outputs agree.

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
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from base.errors import GovbusError, KafkaError, KafkaTimeoutError
from exchange.onesource import AuthoritativeRecord, SourceOrder
from kafkaclient import (
    OFFSET_BEGINNING,
    Admin,
    Backoff,
    Consumer,
    TopicPartition,
    coordinates,
    transient,
)
from schemas.topics import TopicKind, entry_of, topic_name

#: Restoring a partition of ~10^6 subjects reads ~100 MB; allow minutes, not forever.
RESTORE_TIMEOUT_S = 300.0
RESTORE_BATCH = 1000
#: A freshly created partition has a leader within seconds; on a loaded broker that has
#: just made thousands of partitions, up to a minute and more (bench.capacity).
WATERMARK_TIMEOUT_S = 120.0
WATERMARK_BACKOFF = Backoff(first_s=0.2, max_s=5.0)

log = logging.getLogger("govbus.state")

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


def _record_document(record: AuthoritativeRecord) -> dict[str, Any]:
    """``{value, provider, event_id, seen, order?}``: ``order`` (the source order of the
    change that set the value, :meth:`SourceOrder.to_dict`) is left out when not known,
    so records written before orders were kept read the same."""
    doc: dict[str, Any] = {
        "value": record.value,
        "provider": record.provider,
        "event_id": record.event_id,
        "seen": list(record.seen_event_ids),
    }
    if record.order is not None:
        doc["order"] = record.order.to_dict()
    return doc


def encode_records(records: Mapping[str, AuthoritativeRecord]) -> bytes:
    return json.dumps(
        {item: _record_document(r) for item, r in records.items()},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    ).encode("utf-8")


def decode_records(subject: str, data: bytes) -> Records:
    raw: dict[str, Any] = json.loads(data)
    return {
        item: AuthoritativeRecord(
            subject,
            item,
            r["value"],
            r["provider"],
            r["event_id"],
            tuple(r["seen"]),
            SourceOrder.from_dict(r.get("order")),
        )
        for item, r in raw.items()
    }


def _end_offsets(
    bootstrap: str, extra: Mapping[str, Any], partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The high watermark of each changelog partition, in one request per leader.

    A partition created moments ago may have no leader yet, or a client's metadata may not
    know it yet (UNKNOWN_TOPIC_OR_PART, LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION):
    the partitions that failed so are asked again, alone, with bounded backoff and a new
    client each time (fresh metadata), until WATERMARK_TIMEOUT_S. Then a retriable
    :class:`KafkaTimeoutError` names them (the worker is restarted, not crashed); an error
    no wait cures (credentials, ACLs) is raised at once."""
    deadline = time.monotonic() + WATERMARK_TIMEOUT_S
    delays = WATERMARK_BACKOFF.delays()
    ends: dict[tuple[str, int], int] = {}
    remaining = list(partitions)
    while True:
        failed: dict[tuple[str, int], KafkaError] = {}
        try:
            with Admin(bootstrap, extra_config=extra) as admin:
                ends.update(admin.end_offsets(remaining, timeout_s=10.0, failed=failed))
        except KafkaError as exc:
            if not transient(exc):
                raise
            failed = dict.fromkeys(remaining, exc)
        if not failed:
            return ends
        remaining = list(failed)
        (topic, partition), error = next(iter(failed.items()))
        left = deadline - time.monotonic()
        if left <= 0:
            raise KafkaTimeoutError(
                f"end offsets of {len(failed)} changelog partition(s) still failing after "
                f"{WATERMARK_TIMEOUT_S:.0f}s, {topic}/{partition} with: {error}",
                code=error.code,
                retriable=True,
            ) from error
        wait = min(next(delays), left)
        log.info(
            "end offsets of %d changelog partition(s) not known yet (%s/%d: %s); again in %.2f s",
            len(failed),
            topic,
            partition,
            error.code,
            wait,
        )
        time.sleep(wait)


class _Loaded:
    """What a restore read so far, per ingest partition."""

    def __init__(self, keys: list[PartitionKey]) -> None:
        self.tables: dict[PartitionKey, dict[str, Records]] = {key: {} for key in keys}
        self.heads: dict[PartitionKey, ChainHead] = dict.fromkeys(keys, _NO_HEAD)
        self.incarnations: dict[PartitionKey, int] = dict.fromkeys(keys, 0)

    def take(self, key: PartitionKey, subject: str, value: bytes | None) -> None:
        """One changelog record: a subject's records (None: deleted), the chain's head or
        the partition's incarnation."""
        if subject == AUDIT_HEAD_KEY:
            self.heads[key] = decode_head(value) if value is not None else _NO_HEAD
        elif subject == INCARNATION_KEY:
            self.incarnations[key] = decode_incarnation(value)
        elif value is None:
            self.tables[key].pop(subject, None)
        else:
            self.tables[key][subject] = decode_records(subject, value)


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
        return self.restore_many([(ingest_topic, partition)])

    def restore_many(self, partitions: Sequence[PartitionKey]) -> int:
        """Load the committed state of ``partitions`` (ingest topic, partition) from their
        changelogs with one consumer: the end offsets in one request per leader, then only
        the partitions that hold records are read (an empty changelog costs nothing, however
        many entries the catalog has). Returns the records read."""
        wanted = {(changelog_topic(t), p): (t, p) for t, p in partitions}
        loaded = _Loaded(list(wanted.values()))
        count = 0
        began = time.monotonic()
        ends = _end_offsets(self._bootstrap, self._extra, list(wanted))
        ends = {k: e for k, e in ends.items() if e > 0}
        asked = time.monotonic()
        first = 0.0
        polls = 0
        if ends:
            # A private, never-committing group: restore reads, it does not consume.
            with Consumer(
                self._bootstrap, f"govbus-restore-{uuid.uuid4().hex}", extra_config=self._extra
            ) as consumer:
                consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
                deadline = time.monotonic() + RESTORE_TIMEOUT_S
                pending = dict(ends)
                while pending:
                    polls += 1
                    for msg in consumer.consume(RESTORE_BATCH, timeout_s=0.2):
                        first = first or time.monotonic()
                        topic, partition, _ = coordinates(msg)
                        subject = (msg.key() or b"").decode("utf-8")
                        loaded.take(wanted[(topic, partition)], subject, msg.value())
                        count += 1
                    # read_committed stops at the last stable offset; aborted records and
                    # control markers are skipped but still advance the position.
                    at = consumer.position([TopicPartition(t, p) for t, p in pending])
                    for tp in at:
                        if tp.offset >= pending[(tp.topic, tp.partition)]:
                            del pending[(tp.topic, tp.partition)]
                    if pending and time.monotonic() > deadline:
                        (t, p), high = next(iter(pending.items()))
                        raise KafkaTimeoutError(
                            f"restoring {t}/{p} did not reach offset {high} within "
                            f"{RESTORE_TIMEOUT_S}s ({len(pending)} partition(s) behind)"
                        )
        if log.isEnabledFor(logging.DEBUG):
            done = time.monotonic()
            log.debug(
                "restore of %d partition(s), %d with records: end offsets %.0f ms, first "
                "record after %.0f ms, read %d record(s) in %.0f ms over %d poll(s)",
                len(wanted),
                len(ends),
                (asked - began) * 1000,
                ((first or done) - asked) * 1000,
                count,
                (done - asked) * 1000,
                polls,
            )
        for key, table in loaded.tables.items():
            self._committed[key] = table
            self._staged.pop(key, None)
            self._heads[key] = loaded.heads[key]
            self._staged_heads.pop(key, None)
            self._incarnations[key] = loaded.incarnations[key]
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
