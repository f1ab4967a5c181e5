"""Consumer groups and offsets, read-only: what monitoring needs of the cluster.

* :func:`list_groups`, :func:`describe_groups`, :func:`committed_offsets`: the groups,
  their state and members, and the offsets they committed (``AdminClient``).
* :func:`partition_offsets`: earliest or latest offsets as a ``read_committed`` reader
  sees them (the latest is the last stable offset: open transactions are not counted).
* :class:`RecordProbe`: the first committed record at or after an offset, and its
  timestamp; ``None`` when nothing committed lies between that offset and the end (only
  transaction markers or aborted records: a caught-up reader of a transactional topic).
* :func:`groups_reading`: the groups that read given topics (committed offsets on them,
  or members assigned to them now): who owns an input.

Nothing here joins a group or commits: monitoring never sits in the data path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import confluent_kafka
from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, TopicPartition

# The defining module: the package re-exports it without declaring it.
from confluent_kafka.admin._listoffsets import OffsetSpec

from base.errors import KafkaError
from kafkaclient.admin import Admin
from kafkaclient.base import Closing, merge_config
from kafkaclient.consumer import Consumer
from kafkaclient.convert import convert

#: One admin round trip (list, describe, offsets) on a loaded broker.
GROUPS_TIMEOUT_S = 15.0
#: Attempts of an offsets request whose partitions answer with retriable errors.
OFFSETS_ATTEMPTS = 5
OFFSETS_BACKOFF_S = 0.5
#: A probe gives up on partitions that did not answer in this time (they count as unknown).
PROBE_TIMEOUT_S = 5.0
#: Probe fetches are small and answered at once: one record per partition is wanted.
_PROBE_CONFIG: Mapping[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
    "isolation.level": "read_committed",
    # An offset below the log start (records deleted by retention): the oldest kept one.
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 50,
    "max.partition.fetch.bytes": 65536,
    "fetch.max.bytes": 1048576,
}
_PROBE_POLL_S = 0.1

TP = tuple[str, int]

#: Group states in which members hold assignments (classic and KIP-848 groups).
ACTIVE_STATES = frozenset({"STABLE", "PREPARING_REBALANCING", "COMPLETING_REBALANCING"})


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str  # STABLE, EMPTY, DEAD, ... (librdkafka's names)
    members: int

    @property
    def active(self) -> bool:
        return self.members > 0 or self.state in ACTIVE_STATES


def list_groups(admin: Admin, timeout_s: float = GROUPS_TIMEOUT_S) -> list[str]:
    """Ids of every consumer group the cluster knows."""
    result = admin.result(
        admin.client.list_consumer_groups(request_timeout=timeout_s), "list groups", timeout_s
    )
    return sorted(g.group_id for g in result.valid)


def describe_groups(
    admin: Admin, group_ids: Iterable[str], timeout_s: float = GROUPS_TIMEOUT_S
) -> dict[str, GroupState]:
    ids = list(group_ids)
    if not ids:
        return {}
    futures = admin.client.describe_consumer_groups(ids, request_timeout=timeout_s)
    out: dict[str, GroupState] = {}
    for group, fut in futures.items():
        desc = admin.result(fut, f"describe group {group}", timeout_s)
        state = getattr(desc.state, "name", str(desc.state))
        out[group] = GroupState(group, state, len(desc.members or ()))
    return out


def committed_offsets(
    admin: Admin, group_ids: Iterable[str], timeout_s: float = GROUPS_TIMEOUT_S
) -> dict[str, dict[TP, int]]:
    """group -> (topic, partition) -> committed offset (partitions without one are left out).

    The client accepts one group per request; the requests run concurrently.
    """
    futures: dict[str, Future[Any]] = {}
    for group in group_ids:
        futures.update(
            admin.client.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s
            )
        )
    out: dict[str, dict[TP, int]] = {}
    for group, fut in futures.items():
        result = admin.result(fut, f"offsets of group {group}", timeout_s)
        out[group] = {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or ()
            if tp.error is None and tp.offset >= 0
        }
    return out


def partition_offsets(
    admin: Admin,
    partitions: Iterable[TP],
    which: Literal["earliest", "latest"] = "latest",
    timeout_s: float = GROUPS_TIMEOUT_S,
    *,
    strict: bool = True,
    committed: bool = True,
) -> dict[TP, int]:
    """Earliest or latest (last stable) offset of each partition, as read_committed sees it;
    with ``committed=False`` as read_uncommitted sees it (latest: the high watermark).

    Retriable errors (a new topic's leader still settling) are retried; partitions still
    failing then raise, or with ``strict=False`` are left out of the answer.
    """
    spec = (
        OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        if which == "earliest"
        else OffsetSpec.latest()  # type: ignore[no-untyped-call]
    )
    todo = list(dict.fromkeys(partitions))
    out: dict[TP, int] = {}
    for attempt in range(OFFSETS_ATTEMPTS):
        if not todo:
            break
        futures = admin.client.list_offsets(
            {TopicPartition(t, p): spec for t, p in todo},
            isolation_level=(
                IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED
            ),
            request_timeout=timeout_s,
        )
        failed: list[TP] = []
        for tp, fut in futures.items():
            key = (tp.topic, tp.partition)
            try:
                out[key] = int(
                    admin.result(fut, f"offsets of {tp.topic}/{tp.partition}", timeout_s).offset
                )
            except KafkaError as exc:
                if not exc.retriable or attempt == OFFSETS_ATTEMPTS - 1:
                    if strict:
                        raise
                    continue
                failed.append(key)
        todo = failed
        if todo:
            time.sleep(OFFSETS_BACKOFF_S)
    return out


@dataclass(frozen=True)
class Probed:
    """The first committed record at or after the probed offset."""

    offset: int
    timestamp_ms: int


class RecordProbe(Closing):
    """Finds the first committed record at or after given offsets (assign, never commit)."""

    def __init__(self, bootstrap: str, *, extra_config: Mapping[str, Any] | None = None) -> None:
        # A group id librdkafka requires; it never joins nor commits, so no group exists.
        self._consumer = Consumer(
            bootstrap,
            f"govbus-probe-{uuid.uuid4().hex}",
            extra_config=merge_config(_PROBE_CONFIG, extra_config, {}),
        )

    def first_records(
        self, positions: Mapping[TP, int], timeout_s: float = PROBE_TIMEOUT_S
    ) -> dict[TP, Probed | None]:
        """(topic, partition) -> first committed record at/after the offset, or None when
        the partition holds none up to its end. Partitions that do not answer in time are
        left out."""
        if not positions:
            return {}
        # Partition EOF events are the answer "nothing committed up to the end": the raw
        # batch is read here, inside the wrapper, where the native client may be used.
        client = self._consumer.client
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in positions.items()])
        pending = set(positions)
        out: dict[TP, Probed | None] = {}
        deadline = time.monotonic() + timeout_s
        try:
            while pending and time.monotonic() < deadline:
                for msg in client.consume(num_messages=500, timeout=_PROBE_POLL_S):
                    key = (str(msg.topic()), int(msg.partition() or 0))
                    if key not in pending:
                        continue
                    err = msg.error()
                    if err is None:
                        out[key] = Probed(int(msg.offset() or 0), int(msg.timestamp()[1]))
                        pending.discard(key)
                    elif err.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        out[key] = None
                        pending.discard(key)
                    else:
                        raise convert(err, f"probe {key[0]}/{key[1]}")
        finally:
            client.unassign()
        return out

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class GroupInput:
    """A group's hold on some topics: ``committed`` has offsets the group committed,
    ``assigned`` is assigned to its members now."""

    group: str
    state: str
    members: int
    committed: frozenset[str]
    assigned: frozenset[str]

    @property
    def topics(self) -> frozenset[str]:
        return self.committed | self.assigned


def groups_reading(
    admin: Admin, topics: Iterable[str], timeout_s: float = GROUPS_TIMEOUT_S
) -> list[GroupInput]:
    """Every group (that this client may describe) holding one of ``topics``, by group id.

    A group that disappears between the listing and the questions, or that this principal
    may not describe, is left out: the answer is what the cluster lets this client see.
    """
    wanted = frozenset(topics)
    ids = list_groups(admin, timeout_s)
    if not wanted or not ids:
        return []
    assigned: dict[str, tuple[str, int, frozenset[str]]] = {}
    futures = admin.client.describe_consumer_groups(ids, request_timeout=timeout_s)
    for group, fut in futures.items():
        try:
            desc = admin.result(fut, f"describe group {group}", timeout_s)
        except KafkaError:
            continue
        members = desc.members or ()
        held = frozenset(
            str(tp.topic)
            for m in members
            for tp in (getattr(m.assignment, "topic_partitions", None) or ())
        )
        state = getattr(desc.state, "name", str(desc.state))
        assigned[group] = (state, len(members), held & wanted)
    out: list[GroupInput] = []
    for group in ids:
        try:
            offsets = committed_offsets(admin, [group], timeout_s).get(group, {})
        except KafkaError:
            offsets = {}
        committed = frozenset(t for t, _ in offsets) & wanted
        state, members, held = assigned.get(group, ("UNKNOWN", 0, frozenset()))
        if committed or held:
            out.append(GroupInput(group, state, members, committed, held))
    return out
