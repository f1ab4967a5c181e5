"""AdminClient wrapper: readiness probe and idempotent topic creation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic

from kafkaclient.base import ClientBase, merge_config, with_credentials
from kafkaclient.convert import convert
from schemas.topics import TopicDef

#: Topic creation on one node answers in well under a second; allow for a cold controller.
ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: TopicDef) -> TopicSpec:
        """The spec of a bus topic, with the partitions and config of its kind."""
        return cls(definition.name, definition.partitions, 1, definition.config)


class Admin(ClientBase):
    """A lazily created ``AdminClient``."""

    DEFAULTS: Mapping[str, Any] = {}

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
        self._inner: AdminClient | None = None

    @property
    def client(self) -> AdminClient:
        if self._inner is None:
            self._inner = AdminClient(self._client_config())
        return self._inner

    def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the cluster answers a metadata request with at least one broker."""
        try:
            meta = self.client.list_topics(timeout=timeout_s)
        except confluent_kafka.KafkaException:
            return False
        return bool(meta.brokers)

    def topics(self, timeout_s: float = ADMIN_TIMEOUT_S) -> dict[str, int]:
        """Topic name -> partition count."""
        try:
            meta = self.client.list_topics(timeout=timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise convert(exc, "list topics") from exc
        return {name: len(t.partitions) for name, t in meta.topics.items()}

    def ensure_topics(
        self, specs: Sequence[TopicSpec], timeout_s: float = ADMIN_TIMEOUT_S
    ) -> list[str]:
        """Create the topics that do not exist yet; return the names created."""
        if not specs:
            return []
        new = [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=s.replication_factor,
                config=dict(s.config),
            )
            for s in specs
        ]
        futures = self.client.create_topics(
            new, operation_timeout=timeout_s, request_timeout=timeout_s
        )
        created = []
        for name, fut in futures.items():
            try:
                fut.result(timeout=timeout_s)
                created.append(name)
            except confluent_kafka.KafkaException as exc:
                if exc.args[0].code() == confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise convert(exc, f"create topic {name}") from exc
        return created

    def grow_partitions(
        self, counts: Mapping[str, int], timeout_s: float = ADMIN_TIMEOUT_S
    ) -> list[str]:
        """Raise each topic's partition count to at least ``counts[topic]``; return those grown."""
        current = self.topics(timeout_s)
        grow = [NewPartitions(t, n) for t, n in counts.items() if 0 < current.get(t, n) < n]
        if not grow:
            return []
        for name, fut in self.client.create_partitions(grow, request_timeout=timeout_s).items():
            try:
                fut.result(timeout=timeout_s)
            except confluent_kafka.KafkaException as exc:
                raise convert(exc, f"add partitions to {name}") from exc
        return [g.topic for g in grow]

    def delete_topics(self, names: Sequence[str], timeout_s: float = ADMIN_TIMEOUT_S) -> None:
        if not names:
            return
        for name, fut in self.client.delete_topics(
            list(names), operation_timeout=timeout_s
        ).items():
            try:
                fut.result(timeout=timeout_s)
            except confluent_kafka.KafkaException as exc:
                raise convert(exc, f"delete topic {name}") from exc

    def cluster_id(self, timeout_s: float = ADMIN_TIMEOUT_S) -> str:
        try:
            return str(self.client.list_topics(timeout=timeout_s).cluster_id)
        except confluent_kafka.KafkaException as exc:
            raise convert(exc, "describe cluster") from exc
