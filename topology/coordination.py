"""The bureau's desk for conflicts (GM 19): read the cases, write their resolutions.

Conflicts come from ``govbus.conflicts`` (written by the processors), resolutions go to
``govbus.conflicts.resolved`` (written by administration only; the processors' ACLs do not
cover it). The rules are :mod:`exchange.coordination`'s; this is the Kafka side.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from base.errors import DeliveryError
from consumers.reader import read_to_end
from exchange.coordination import CaseLog, Resolution, distinct, resolve
from kafkaclient import Admin, Producer, TopicSpec
from schemas import decode, encode
from schemas.topics import TopicKind, topic_def, topic_name


class CoordinationDesk:
    """Conflicts and resolutions on one broker. No I/O in ``__init__``."""

    def __init__(self, bootstrap: str, *, extra_config: Mapping[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self._config = dict(extra_config or {})

    def cases(self) -> CaseLog:
        """Every conflict once (topic order) and every resolution; none before the first."""
        conflicts = [dict(c) for c in distinct(self._read(TopicKind.CONFLICTS, "Conflict"))]
        resolved = topic_name(TopicKind.RESOLVED)
        if resolved not in Admin(self.bootstrap, extra_config=self._config).topics():
            return CaseLog(conflicts, [])
        return CaseLog(conflicts, self._read(TopicKind.RESOLVED, "ConflictResolution"))

    def _read(self, kind: TopicKind, record: str) -> list[dict[str, Any]]:
        """The committed records of the topic ``kind``, decoded as ``record``."""
        topic = topic_name(kind)
        decoded = read_to_end(
            self.bootstrap, topic, partial(decode, record), extra_config=self._config
        )
        return [r.value for r in decoded]

    def resolve(
        self,
        conflict_id: str,
        *,
        resolution: Resolution,
        resolved_by: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Close ``conflict_id`` (refused: unknown, already resolved); the record written."""
        record = resolve(
            conflict_id,
            self.cases(),
            resolution=resolution,
            resolved_by=resolved_by,
            note=note,
            at=at or datetime.now(UTC),
        )
        self._publish(record)
        return record

    def _publish(self, record: dict[str, Any]) -> None:
        """Write the resolution, acknowledged by every in-sync replica (acks=all)."""
        d = topic_def(TopicKind.RESOLVED)
        Admin(self.bootstrap, extra_config=self._config).ensure_topics([TopicSpec.of(d)])
        errors: list[Exception] = []
        with Producer(self.bootstrap, extra_config=self._config) as producer:
            producer.produce(
                d.name,
                encode("ConflictResolution", record),
                key=record["conflict_id"].encode(),
                on_delivery=lambda e, _m: errors.append(e) if e else None,
            )
        if errors:
            raise DeliveryError(f"the resolution was not acknowledged: {errors[0]}") from errors[0]
