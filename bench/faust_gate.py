"""The gate and fan-out on faust-streaming with ``processing_guarantee="exactly_once"``.

A trial of faust's exactly-once mode (issue 6 item 4) against the kill test; the gate the
bus runs is :mod:`topology.processor` (confluent-kafka transactions). Same domain, same
records, same planning step: an agent on every entry's ingest topic plans each message
with :func:`topology.plan.plan_message`, the processor's own pure step, against a faust
Table (canonical subject -> JSON of the authoritative records; per input partition, the
head of its audit chain; changelog-backed, copartitioned with ingest), and sends what the
plan writes: the receipt, the sealed audit records, conflicts, the canonical stream, each
agency feed and the open feed (and dead letters). The plan's own changelog record is left
out: the faust Table writes the state's changelog.

Two ways of sending, both with faust's transactions (one transactional producer per
input partition, ``<app id>-<group>-<partition>``, fenced on restart; read_committed
consumer; offsets committed with ``send_offsets_to_transaction``):

``faust`` (the faust way): ``await topic.send(...)``; faust commits on its own timer.
   faust picks the transaction from the *destination* topic's partition; a topic its
   consumer does not subscribe to has no partition in its metadata, so the record goes
   out on the plain, non-transactional producer (faust-streaming #177).

``source-txn`` (faust tuned to the commit protocol of topology.processor):

1. faust's timer and count commits are switched off (``broker_commit_interval`` and
   ``broker_commit_every`` out of reach); the gate commits itself.
2. Every output of an event is sent with the transactional producer of the event's
   *source* partition (``app.producer.send(..., transactional_id=...)``), so outputs,
   changelog and that partition's offset share one transaction.
3. One lock covers "decide, send, write the table, ack" of an event and the commit, so a
   commit never splits an event.
4. Commit (every ``commit_interval_s``): wait for the table's changelog records (faust
   sends them through its buffer), then ``app.consumer.commit()``:
   ``send_offsets_to_transaction`` + ``commit_transaction`` per partition.

Run a worker: ``python -m bench.faust_gate [--bootstrap HOST:PORT] --app-id ID
--catalog FILE [--sink-mode faust|source-txn] worker -l warn --without-web``. It connects
with the librdkafka settings of ``Settings.load()`` (``GOVBUS_CREDENTIALS_FILE``, or the
running local broker's administrator), converted for faust by :mod:`topology.faust_auth`;
no secret goes on its command line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from base.errors import ConfigError
from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from kafkaclient import Admin, TopicSpec
from schemas.topics import TopicKind, bus_topics, topic_name
from topology.encoding import Encoder
from topology.faust_auth import broker_credentials, worker_connection
from topology.plan import Input, PlanOptions, Reference, plan_message
from topology.sealing import chain_name
from topology.state import (
    AUDIT_HEAD_KEY,
    ChainHead,
    changelog_topic,
    decode_head,
    decode_records,
    encode_head,
    encode_records,
)

log = logging.getLogger("govbus.faust_gate")
SINK_MODES = ("faust", "source-txn")
#: Commit cadence of both modes (the processor's kill test commits every 0.2 s).
COMMIT_INTERVAL_S = 0.5
#: "Never" for faust's own commit triggers in source-txn mode (seconds, messages).
NEVER_S = 10 * 365 * 24 * 3600.0
NEVER_COUNT = 2**62
#: A restarted worker rejoins at once under static membership; a vanished one goes after.
SESSION_TIMEOUT_S = 10.0
TABLE_NAME = "onesource"
#: Ingest topics have this many partitions (schemas.topics); the table must match.
INGEST_PARTITIONS = 3

#: topic, key, value, headers (a shared topic's entry header; topology.routes).
Output = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]
#: The processor's defaults: the same limits, audit records sealed into the same chains.
OPTIONS = PlanOptions()
NO_HEAD: ChainHead = (0, None)


def ensure_bus_topics(
    bootstrap: str, catalog: Catalog, kafka_config: Mapping[str, str] | None = None
) -> None:
    """Create the bus topics of ``catalog`` (the broker never auto-creates topics);
    ``kafka_config``: the librdkafka client settings (credentials) of an administrator."""
    defs = bus_topics([e.id for e in catalog.entries], [a.id for a in catalog.agencies])
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec.of(d) for d in defs])


@dataclass(frozen=True)
class _Reference:
    """The fixed catalog and grants the worker plans with, the topics it may write, and
    the encoder of its records."""

    reference: Reference
    known_topics: frozenset[str]
    encoder: Encoder

    @classmethod
    def load(cls, path: Path, now: datetime) -> _Reference:
        loaded = load_catalog(path)
        catalog = loaded.catalog
        defs = bus_topics([e.id for e in catalog.entries], [a.id for a in catalog.agencies])
        known = frozenset(d.name for d in defs)
        return cls(Reference.at(catalog, loaded.grants, now), known, Encoder())


class GateTable(faust.Table[bytes, bytes]):
    """A faust Table that keeps the futures of its changelog records until a commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.unsent: list[Awaitable[Any]] = []
        super().__init__(*args, **kwargs)

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self.unsent.append(fut)
        return fut


def _head_key(topic: str, partition: int) -> bytes:
    """The table key of an input partition's audit chain head (no subject starts with #)."""
    return f"{AUDIT_HEAD_KEY}:{chain_name(topic, partition)}".encode()


def gate_event(ref: _Reference, table: GateTable, msg: Input) -> list[Output]:
    """Plan one ingest record with the processor's own step (topology.plan.plan_message);
    update the table (the subject's records, the partition's chain head); return the
    records to send. The changelog records are the table's: faust writes them."""
    head_key = _head_key(msg.topic, msg.partition)
    stored_head = table.get(head_key)
    head = decode_head(stored_head) if stored_head is not None else NO_HEAD
    subject, key = msg.subject_hint, msg.key
    stored = None if key is None or key.startswith(b"#") else table.get(key)
    states = decode_records(subject or "", stored) if stored is not None else {}
    plan = plan_message(
        msg, states, head, ref.reference, datetime.now(UTC), encoder=ref.encoder, options=OPTIONS
    )
    if plan.state is not None and msg.key is not None:
        # The gate accepted only when the key is the canonical subject (GM 18).
        table[msg.key] = encode_records(plan.state.records)
    if plan.head != head:
        table[head_key] = encode_head(plan.head)
    changelog = changelog_topic(msg.topic)
    return [
        (w.topic, w.key, w.value, None if w.headers is None else list(w.headers))
        for w in plan.writes
        if w.topic != changelog and w.topic in ref.known_topics
    ]


@dataclass(frozen=True)
class GateOptions:
    """How one faust gate worker runs; ``kafka_config``: the librdkafka client settings
    (security protocol, SASL, TLS) it authenticates with."""

    app_id: str
    catalog_path: Path
    data_dir: Path | None = None
    sink_mode: str = "faust"
    commit_interval_s: float = COMMIT_INTERVAL_S
    kafka_config: Mapping[str, str] | None = None


def create_app(bootstrap: str, options: GateOptions) -> faust.App:
    """The faust gate app (never built at import time); see the module docstring."""
    if options.sink_mode not in SINK_MODES:
        raise ConfigError(f"sink_mode must be one of {SINK_MODES}, not {options.sink_mode!r}")
    ref = _Reference.load(options.catalog_path, datetime.now(UTC))
    app = _faust_app(bootstrap, options)
    ingest = sorted(topic_name(TopicKind.INGEST, e.id) for e in ref.reference.catalog.entries)
    source = app.topic(
        *ingest, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    table = GateTable(
        app,
        name=TABLE_NAME,
        beacon=app.tables.beacon,
        partitions=INGEST_PARTITIONS,
        key_type=bytes,
        value_type=bytes,
    )
    app.tables.add(table)
    if options.sink_mode == "source-txn":
        _source_txn_gate(app, ref, table, source, options.commit_interval_s)
    else:
        _faust_gate(app, ref, table, source)
    return app


def _faust_app(bootstrap: str, options: GateOptions) -> faust.App:
    tuned = options.sink_mode == "source-txn"
    return faust.App(
        options.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=broker_credentials(options.kafka_config),
        autodiscover=False,
        datadir=str(options.data_dir) if options.data_dir else None,
        processing_guarantee="exactly_once",
        topic_replication_factor=1,
        topic_partitions=INGEST_PARTITIONS,
        web_enabled=False,
        store="memory://",
        # Step 1 (source-txn): faust's own commit triggers out of reach.
        broker_commit_interval=NEVER_S if tuned else options.commit_interval_s,
        broker_commit_every=NEVER_COUNT if tuned else 10_000,
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=1.0,
        consumer_group_instance_id=f"{options.app_id}-worker-0",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
    )


def _input(event: faust.EventT[bytes]) -> Input:
    msg = event.message
    return Input(msg.topic, msg.partition, msg.offset, event.key, event.value)


def _faust_gate(app: faust.App, ref: _Reference, table: GateTable, source: faust.TopicT) -> None:
    """``faust`` mode: every output through ``topic.send``; faust commits on its timer."""
    sinks: dict[str, faust.TopicT] = {}

    def sink(name: str) -> faust.TopicT:
        if name not in sinks:
            sinks[name] = app.topic(
                name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            )
        return sinks[name]

    @app.agent(source)
    async def gate(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            for topic, key, value, headers in gate_event(ref, table, _input(event)):
                await sink(topic).send(key=key, value=value, headers=headers)


def _source_txn_gate(
    app: faust.App,
    ref: _Reference,
    table: GateTable,
    source: faust.TopicT,
    commit_interval_s: float,
) -> None:
    """``source-txn`` mode, steps 2-4 of the module docstring."""
    lock = asyncio.Lock()
    unsent: list[Awaitable[Any]] = []

    @app.agent(source)
    async def gate(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            msg = event.message
            # Step 2: the transactional producer of the source partition.
            tid = f"{app.conf.id}-{app.assignor.group_for_topic(msg.topic)}-{msg.partition}"
            # Step 3: one lock over decide, send, table write and ack.
            async with lock:
                for topic, key, value, headers in gate_event(ref, table, _input(event)):
                    unsent.append(
                        await app.producer.send(
                            topic, key, value, None, None, headers, transactional_id=tid
                        )
                    )
                event.ack()

    @app.timer(commit_interval_s)  # type: ignore[untyped-decorator]  # faust's timer is untyped
    async def commit() -> None:
        # Step 4: the changelog records first, then the offsets and the transaction.
        async with lock:
            pending = [*unsent, *table.unsent]
            unsent.clear()
            table.unsent.clear()
            await asyncio.gather(*pending)
            await app.consumer.commit()
            log.debug("committed after %d sends", len(pending))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bootstrap", default="", help="default: the configured or the running local broker"
    )
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sink-mode", choices=SINK_MODES, default="faust")
    parser.add_argument("--commit-interval", type=float, default=COMMIT_INTERVAL_S)
    args, rest = parser.parse_known_args(argv)
    bootstrap, kafka_config = worker_connection(args.bootstrap)
    ensure_bus_topics(bootstrap, load_catalog(args.catalog).catalog, kafka_config)
    app = create_app(
        bootstrap,
        GateOptions(
            app_id=args.app_id,
            catalog_path=args.catalog,
            data_dir=args.data_dir,
            sink_mode=args.sink_mode,
            commit_interval_s=args.commit_interval,
            kafka_config=kafka_config,
        ),
    )
    sys.argv = [sys.argv[0], *rest]
    app.main()


if __name__ == "__main__":
    main()
