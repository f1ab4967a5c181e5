"""Writing a backed-up topic into an empty cluster (``govbus restore``; GM 29, S 45).

The topic is created with its partition count and configuration (but its replication:
``min.insync.replicas`` follows the target cluster's size, as for every topic govbus makes,
so a cluster's backup restores onto one broker and a broker's onto a cluster), and every
record goes back to its partition in its order, with its key, value, timestamp and headers,
through an idempotent producer (no duplicates on retry). Offsets are new; order per
partition, and so every audit hash chain, is as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from base.errors import GovbusError, KafkaError
from kafkaclient import Admin, Message, Producer, TopicSpec
from schemas.topics import MIN_INSYNC


def write_copy(
    bootstrap: str,
    name: str,
    partitions: int,
    config: Mapping[str, str],
    records: list[tuple[int, bytes | None, bytes | None, int, list[tuple[str, bytes]]]],
    *,
    extra_config: Mapping[str, Any] | None = None,
) -> int:
    """Create ``name`` and write ``records`` (partition, key, value, timestamp ms, headers)
    in order; returns how many. Refused when ``name`` exists already: a restore goes into
    an empty cluster, never over data."""
    admin = Admin(bootstrap, extra_config=extra_config)
    sized = {k: v for k, v in config.items() if k != MIN_INSYNC}
    if not admin.ensure_topics([TopicSpec(name, partitions, config=sized)]):
        raise GovbusError(
            f"topic {name} exists already: restore into an empty cluster (a new broker's "
            "bootstrap), or delete the topic first"
        )
    failures: list[Exception] = []

    def delivered(error: Exception | None, _msg: Message) -> None:
        if error is not None:
            failures.append(error)

    settings = {**(extra_config or {}), "enable.idempotence": True, "acks": "all"}
    with Producer(bootstrap, extra_config=settings) as producer:
        for partition, key, value, ts, headers in records:
            producer.produce(
                name,
                value,
                key,
                headers=headers,
                partition=partition,
                timestamp_ms=ts,
                on_delivery=delivered,
            )
        producer.flush()
    if failures:
        raise KafkaError(f"restoring {name}: {len(failures)} record(s) not written: {failures[0]}")
    return len(records)
