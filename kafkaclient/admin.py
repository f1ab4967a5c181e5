"""AdminClient wrapper: readiness, topics (create, grow, delete, describe) and waiting on
the admin API's futures (:meth:`Admin.result`) so that a failure names its cause."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient

# The defining module: the admin package re-exports it without declaring it.
from confluent_kafka.admin._config import ConfigResource, ConfigSource
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewPartitions, NewTopic

from base.errors import GovbusError, KafkaError, KafkaTimeoutError
from kafkaclient.base import CONNECTION_DEFAULTS, ClientBase, merge_config, with_credentials
from kafkaclient.quorum import quorum_leader
from kafkaclient.retry import transient
from schemas.topics import MIN_INSYNC, Replication, TopicDef

#: Topic creation on one node answers in well under a second; allow for a cold controller.
ADMIN_TIMEOUT_S = 30.0
#: How long the metadata quorum may take to name its leader (kafkaclient.quorum).
QUORUM_TIMEOUT_S = 5.0
#: How often a wait on an admin future serves the client's callbacks and looks at the
#: evidence (credentials refused: no need to wait the whole budget).
WAIT_SLICE_S = 0.1
#: A future is given this much longer than its request's own timeout, so the broker's
#: answer (with its reason) wins over a bare local timeout.
RESULT_SLACK_S = 2.0


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create. ``replication_factor`` None: sized to the cluster
    (:class:`schemas.topics.Replication`, from the broker count the admin client sees);
    ``min.insync.replicas`` follows the factor unless ``config`` sets it."""

    name: str
    partitions: int = 1
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: TopicDef) -> TopicSpec:
        """The spec of a bus topic, with the partitions and config of its kind."""
        return cls(definition.name, definition.partitions, None, definition.config)

    def sized(self, cluster: Replication) -> NewTopic:
        """The request that creates this topic on a cluster whose topics get ``cluster``."""
        factor = cluster.factor if self.replication_factor is None else self.replication_factor
        config = {MIN_INSYNC: str(Replication.for_factor(factor).min_insync), **self.config}
        return NewTopic(
            self.name, num_partitions=self.partitions, replication_factor=factor, config=config
        )


@dataclass(frozen=True)
class Replicas:
    """One partition's leader (-1: none), replicas and in-sync replicas (node ids)."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class PartitionHealth:
    """The replication health of the cluster's partitions (``govbus monitor``)."""

    brokers: int
    #: The active KRaft controller's node id (the metadata quorum's leader); -1: the quorum
    #: has none (or could not be asked while the brokers answer); None: not asked (a
    #: listener whose protocol :mod:`kafkaclient.quorum` does not speak).
    controller: int | None
    partitions: int
    #: Partitions with fewer in-sync replicas than replicas.
    under_replicated: int
    #: Partitions without a leader: neither read nor written.
    offline: int
    #: Partitions whose in-sync replicas are fewer than the topic's ``min.insync.replicas``
    #: (writes with acks=all refused); counted against the cluster's default.
    under_min_isr: int


#: ListOffsets' "the end of the partition" (confluent-kafka leaves the factory untyped).
LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
#: Metadata records one CreateTopics request may make: well under the KRaft controller's
#: limit of 10,000 records per batch (``QuorumController.MAX_RECORDS_PER_USER_OP``).
MAX_RECORDS_PER_REQUEST = 5_000
#: Records a topic makes besides one per partition: its TopicRecord and its config records.
RECORDS_PER_TOPIC = 1


def topic_records(topic: NewTopic) -> int:
    """How many metadata records creating ``topic`` makes on the controller (about)."""
    return RECORDS_PER_TOPIC + len(topic.config or {}) + max(topic.num_partitions, 1)


def creation_chunks(
    topics: Sequence[NewTopic], budget: int = MAX_RECORDS_PER_REQUEST
) -> list[list[NewTopic]]:
    """``topics`` in order, cut into requests of at most ``budget`` metadata records each
    (a single larger topic goes alone)."""
    chunks: list[list[NewTopic]] = []
    used = budget
    for topic in topics:
        cost = topic_records(topic)
        if used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(topic)
        used += cost
    return chunks


#: librdkafka's answer to ListOffsets for a partition that has no leader yet ("Failed to
#: query partition leaders: No leaders found"), a moment after the topic was created.
NO_LEADERS_CODE = "_NOENT"


def _no_leader_yet(exc: KafkaError) -> KafkaError:
    """``exc``; a ListOffsets partition without a leader yet as the retriable
    ``LEADER_NOT_AVAILABLE`` it is."""
    if exc.code != NO_LEADERS_CODE:
        return exc
    return KafkaError(f"{exc} (no leader yet)", code="LEADER_NOT_AVAILABLE", retriable=True)


class Admin(ClientBase[AdminClient]):
    """A lazily created ``AdminClient``."""

    DEFAULTS: Mapping[str, Any] = CONNECTION_DEFAULTS
    KIND = "admin client"

    def __init__(
        self,
        bootstrap: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
        credentials_file: Path | str | None = None,
    ) -> None:
        super().__init__(
            merge_config(
                self.DEFAULTS,
                with_credentials(extra_config, credentials_file),
                {"bootstrap.servers": bootstrap or None},
            )
        )
        self._replication: Replication | None = None
        #: Topics this client has had metadata for (:meth:`end_offsets`).
        self._known: set[str] = set()

    def _open(self, config: dict[str, Any]) -> AdminClient:
        return AdminClient(config)

    # -- waiting -------------------------------------------------------------------------
    def result(self, future: Future[Any], what: str, timeout_s: float = ADMIN_TIMEOUT_S) -> Any:
        """The future's result; its failure converted and, for a connection failure, named
        by its cause. Credentials refused (or missing) end the wait at once."""
        began = time.monotonic()
        deadline = began + timeout_s + RESULT_SLACK_S
        while True:
            try:
                return future.result(timeout=WAIT_SLICE_S)
            except concurrent.futures.TimeoutError as exc:
                self._serve_callbacks()
                verdict = self._evidence.verdict(began)
                if verdict is not None:
                    raise verdict from exc
                if time.monotonic() >= deadline:
                    raise self._explain(
                        KafkaTimeoutError(
                            f"{what}: no answer within {timeout_s:.0f}s",
                            code="_TIMED_OUT",
                            retriable=True,
                        ),
                        began,
                    ) from exc
            except confluent_kafka.KafkaException as exc:
                raise self._failed(exc, what, began) from exc

    # -- the cluster ---------------------------------------------------------------------
    def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the cluster answers a metadata request with at least one broker."""
        try:
            meta = self.client.list_topics(timeout=timeout_s)
        except (confluent_kafka.KafkaException, GovbusError):
            return False
        return bool(meta.brokers)

    def check(self, timeout_s: float = ADMIN_TIMEOUT_S) -> None:
        """Return when the cluster answers; else raise why not (credentials missing or
        refused, nothing listening), without waiting the whole budget when that is clear."""
        future = self.client.describe_cluster(request_timeout=timeout_s)
        self.result(future, f"connecting to {self._config.get('bootstrap.servers')}", timeout_s)

    def brokers(self, timeout_s: float = ADMIN_TIMEOUT_S) -> int:
        """How many brokers the cluster has now (a metadata request)."""
        meta = self._metadata("list brokers", timeout_s)
        return len(meta.brokers)

    def replication(self, timeout_s: float = ADMIN_TIMEOUT_S) -> Replication:
        """How topics are replicated on this cluster, asked once per client."""
        if self._replication is None:
            self._replication = Replication.for_brokers(self.brokers(timeout_s))
        return self._replication

    def replicas(self, topic: str, timeout_s: float = ADMIN_TIMEOUT_S) -> dict[int, Replicas]:
        """Partition -> its leader and replicas, for one topic (empty: no such topic)."""
        meta = self._metadata(f"describe {topic}", timeout_s, topic)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return {}
        return {
            n: Replicas(p.leader, tuple(p.replicas), tuple(p.isrs))
            for n, p in found.partitions.items()
        }

    def partition_health(self, timeout_s: float = ADMIN_TIMEOUT_S) -> PartitionHealth:
        """Brokers, the active controller and the partitions that are under-replicated,
        offline or below two in-sync replicas of three, from one metadata request."""
        meta = self._metadata("list topics", timeout_s)
        parts = [p for t in meta.topics.values() for p in t.partitions.values()]
        # DescribeCluster names a random broker as controller in KRaft: ask the quorum.
        try:
            controller = quorum_leader(self._config, timeout_s=min(timeout_s, QUORUM_TIMEOUT_S))
        except KafkaError:
            controller = -1
        return PartitionHealth(
            brokers=len(meta.brokers),
            controller=controller,
            partitions=len(parts),
            under_replicated=sum(1 for p in parts if len(p.isrs) < len(p.replicas)),
            offline=sum(1 for p in parts if p.leader < 0),
            under_min_isr=sum(
                1 for p in parts if len(p.isrs) < Replication.for_factor(len(p.replicas)).min_insync
            ),
        )

    def cluster_id(self, timeout_s: float = ADMIN_TIMEOUT_S) -> str:
        future = self.client.describe_cluster(request_timeout=timeout_s)
        return str(self.result(future, "describe cluster", timeout_s).cluster_id)

    # -- topics --------------------------------------------------------------------------
    def topics(self, timeout_s: float = ADMIN_TIMEOUT_S) -> dict[str, int]:
        """Topic name -> partition count."""
        meta = self._metadata("list topics", timeout_s)
        return {name: len(t.partitions) for name, t in meta.topics.items()}

    def topic_config(self, name: str, timeout_s: float = ADMIN_TIMEOUT_S) -> dict[str, str]:
        """The topic's effective configuration (``cleanup.policy``, ``max.message.bytes``)."""
        return {key: str(entry.value) for key, entry in self._described(name, timeout_s).items()}

    def topic_overrides(self, name: str, timeout_s: float = ADMIN_TIMEOUT_S) -> dict[str, str]:
        """The configuration set on the topic itself (not the broker's defaults): what a
        copy of the topic must be created with."""
        topic_set = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        return {
            k: str(e.value)
            for k, e in self._described(name, timeout_s).items()
            if int(getattr(e.source, "value", e.source)) == topic_set
        }

    def _described(self, name: str, timeout_s: float) -> dict[str, Any]:
        """DescribeConfigs of topic ``name``: its entries by name."""
        futures = self.client.describe_configs(
            [ConfigResource("topic", name)], request_timeout=timeout_s
        )
        (future,) = futures.values()
        return dict(self.result(future, f"configuration of {name}", timeout_s))

    def ensure_topics(
        self, specs: Sequence[TopicSpec], timeout_s: float = ADMIN_TIMEOUT_S
    ) -> list[str]:
        """Create the topics that do not exist yet; return the names created."""
        if not specs:
            return []
        needs_size = any(s.replication_factor is None for s in specs)
        cluster = self.replication(timeout_s) if needs_size else Replication.for_brokers(1)
        new = [s.sized(cluster) for s in specs]
        created = []
        # One CreateTopics request per chunk: the KRaft controller refuses a request whose
        # metadata records exceed its batch limit (POLICY_VIOLATION: excessively large
        # batch), and then creates none of its topics.
        for chunk in creation_chunks(new):
            futures = self.client.create_topics(
                chunk, operation_timeout=timeout_s, request_timeout=timeout_s
            )
            for name, fut in futures.items():
                try:
                    self.result(fut, f"create topic {name}", timeout_s)
                except KafkaError as exc:
                    if exc.code == "TOPIC_ALREADY_EXISTS":
                        continue
                    raise
                created.append(name)
        return created

    def end_offsets(
        self,
        partitions: Sequence[tuple[str, int]],
        timeout_s: float = ADMIN_TIMEOUT_S,
        *,
        failed: dict[tuple[str, int], KafkaError] | None = None,
    ) -> dict[tuple[str, int], int]:
        """The high watermark of each partition, in one ListOffsets request per leader
        (``Consumer.watermarks`` asks once per partition). With ``failed``, a partition
        whose answer is a transient error (no leader yet, NOT_LEADER_FOR_PARTITION, a
        timeout) is put there with its error instead of failing the whole call. A partition
        without a leader yet is such an error (LEADER_NOT_AVAILABLE), with ``failed`` or not.

        librdkafka finds the leaders in its metadata cache; when a topic is not there yet it
        asks for metadata and, about one call in six, waits 3 s more before it uses the
        answer (measured: 4 of 25 calls on new clients took 3,019-3,035 ms, the others
        14-68 ms; a processor's restore waited so, bench/README.md "Why a rejoin
        stalled"). So this client first asks for the metadata of every topic once, the
        first time it meets a topic: 40 of 40 calls then took 65-122 ms."""
        if not partitions:
            return {}
        if not {t for t, _ in partitions} <= self._known:
            self._known |= set(self._metadata("list topics", timeout_s).topics)
        wanted = {confluent_kafka.TopicPartition(t, p): LATEST for t, p in partitions}
        futures = self.client.list_offsets(
            wanted,
            isolation_level=confluent_kafka.IsolationLevel.READ_UNCOMMITTED,
            request_timeout=timeout_s,
        )
        ends: dict[tuple[str, int], int] = {}
        for tp, fut in futures.items():
            try:
                info = self.result(fut, f"end offset of {tp.topic}/{tp.partition}", timeout_s)
            except KafkaError as exc:
                error = _no_leader_yet(exc)
                if failed is None or not transient(error):
                    raise error from exc
                failed[(tp.topic, tp.partition)] = error
                continue
            ends[(tp.topic, tp.partition)] = int(info.offset)
        return ends

    def grow_partitions(
        self, counts: Mapping[str, int], timeout_s: float = ADMIN_TIMEOUT_S
    ) -> list[str]:
        """Raise each topic's partition count to at least ``counts[topic]``; return those grown."""
        current = self.topics(timeout_s)
        grow = [NewPartitions(t, n) for t, n in counts.items() if 0 < current.get(t, n) < n]
        if not grow:
            return []
        for name, fut in self.client.create_partitions(grow, request_timeout=timeout_s).items():
            self.result(fut, f"add partitions to {name}", timeout_s)
        return [g.topic for g in grow]

    def delete_topics(self, names: Sequence[str], timeout_s: float = ADMIN_TIMEOUT_S) -> None:
        if not names:
            return
        futures = self.client.delete_topics(list(names), operation_timeout=timeout_s)
        for name, fut in futures.items():
            self.result(fut, f"delete topic {name}", timeout_s)
