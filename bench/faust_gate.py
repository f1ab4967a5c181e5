"""The gate and fan-out on faust-streaming with ``processing_guarantee="exactly_once"``.

A trial of faust's exactly-once mode (issue 6 item 4) against the kill test; the gate the
bus runs is :mod:`topology.processor` (confluent-kafka transactions). Same domain, same
records: an agent on every entry's ingest topic decodes each ChangeEvent, decides it
with :func:`exchange.gate.decide` against a faust Table (canonical subject -> JSON of the
authoritative records, changelog-backed, copartitioned with ingest), and writes the
receipt, the audit records, conflicts, the canonical stream, each agency feed and the
open feed (and dead letters), as :class:`topology.processor._Outputs` does.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from base.errors import ConfigError, SchemaError
from base.settings import DEFAULT_DEAD_LETTER_VALUE_BYTES
from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.grants import Grant, is_active
from exchange.identity import Subject
from exchange.policy import OpenFeed
from kafkaclient import Admin, TopicSpec
from schemas import decode, encode
from schemas.topics import TopicKind, bus_topics, entry_of, topic_name
from topology import records
from topology.faust_auth import broker_credentials, worker_connection
from topology.state import decode_records, encode_records

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

Output = tuple[str, bytes | None, bytes]


def ensure_bus_topics(
    bootstrap: str, catalog: Catalog, kafka_config: Mapping[str, str] | None = None
) -> None:
    """Create the bus topics of ``catalog`` (the broker never auto-creates topics);
    ``kafka_config``: the librdkafka client settings (credentials) of an administrator."""
    defs = bus_topics([e.id for e in catalog.entries], [a.id for a in catalog.agencies])
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec.of(d) for d in defs])


@dataclass
class _Reference:
    """The fixed catalog and grants the worker decides with."""

    catalog: Catalog
    grants: tuple[Grant, ...]
    grant_index: Mapping[tuple[str, str], tuple[str, str]]
    known_topics: frozenset[str]

    @classmethod
    def load(cls, path: Path, now: datetime) -> _Reference:
        loaded = load_catalog(path)
        catalog = loaded.catalog
        active = tuple(g for g in loaded.grants if is_active(g, now))
        defs = bus_topics([e.id for e in catalog.entries], [a.id for a in catalog.agencies])
        return cls(
            catalog,
            active,
            {(g.consumer, g.entry_id): (g.id, g.purpose) for g in active},
            frozenset(d.name for d in defs),
        )


class GateTable(faust.Table[bytes, bytes]):
    """A faust Table that keeps the futures of its changelog records until a commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.unsent: list[Awaitable[Any]] = []
        super().__init__(*args, **kwargs)

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self.unsent.append(fut)
        return fut


@dataclass
class _Plan:
    """The records one ingest record (``tp``: topic, partition, offset; ``key``,
    ``value``) produces, built with topology.records (nothing sent yet)."""

    ref: _Reference
    now: datetime
    tp: tuple[str, int, int]
    key: bytes | None
    value: bytes
    out: list[Output] = field(default_factory=list)

    @property
    def position(self) -> str:
        return "/".join(str(part) for part in self.tp)

    def add(self, topic: str, record: str, value: dict[str, Any], key: str | None) -> None:
        if topic in self.ref.known_topics:
            self.out.append(
                (topic, key.encode() if key is not None else None, encode(record, value))
            )

    def audit(self, key: str, **fields: Any) -> None:
        self.add(
            topic_name(TopicKind.AUDIT),
            "Decision",
            records.decision(at=self.now, position=self.position, **fields),
            key,
        )

    def dead_letter(  # noqa: PLR0913 - the faust peer keeps its own shape
        self,
        tp: tuple[str, int, int],
        key: bytes | None,
        value: bytes,
        ev: IncomingEvent | None,
        code: str,
        text: str,
        stage: str,
    ) -> None:
        topic, partition, offset = tp
        entry = entry_of(topic)
        event_id = ev.event_id if ev else None
        record = records.dead_letter(
            event_id=event_id,
            topic=topic,
            partition=partition,
            offset=offset,
            key=self.key,
            value=self.value,
            reason_code=code,
            reason_text=text,
            stage=stage,
            at=self.now,
            value_bound=DEFAULT_DEAD_LETTER_VALUE_BYTES,
        )
        self.add(topic_name(TopicKind.DLQ, entry), "DeadLetter", record, event_id)
        self.audit(
            event_id or self.position,
            kind="dead_letter",
            event_id=event_id,
            entry=entry,
            provider=ev.provider if ev else None,
            subject=None,
            reason_code=code,
            article=None,
        )

    def receipt(self, ev: IncomingEvent, result: GateResult) -> None:
        if self.ref.catalog.agency(ev.provider) is not None:
            topic = topic_name(TopicKind.RECEIPTS, ev.provider)
            self.add(topic, "Receipt", records.receipt(ev, result, self.now), ev.event_id)

    def decided(self, ev: IncomingEvent, raw: dict[str, Any], result: GateResult) -> None:
        subject = result.canonical_subject or ""
        self.receipt(ev, result)
        self.audit(
            ev.event_id,
            kind=result.outcome,
            event_id=ev.event_id,
            entry=ev.entry,
            provider=ev.provider,
            subject=subject,
            reason_code=result.reason_code,
            article=result.article,
            items=tuple(sorted(result.accepted)),
        )
        for c in result.conflicts:
            conflict = records.conflict(ev.entry, c, self.now)
            self.add(topic_name(TopicKind.CONFLICTS), "Conflict", conflict, f"{c.subject}|{c.item}")
        if not result.new_states:
            return
        canonical = {
            **raw,
            "subject_key": Subject.parse(subject).number,
            "items": [i for i in raw["items"] if i["name"] in result.accepted],
        }
        self.add(topic_name(TopicKind.ACCEPTED, ev.entry), "ChangeEvent", canonical, subject)
        self._fan_out(ev, raw, result)

    def _fan_out(self, ev: IncomingEvent, raw: dict[str, Any], result: GateResult) -> None:
        for delivery in result.deliveries:
            for recipient in delivery.recipients:
                grant: tuple[str | None, str | None] = (None, None)
                if isinstance(recipient, OpenFeed):
                    topic, kind = topic_name(TopicKind.OPEN, ev.entry), "open_delivery"
                else:
                    topic = topic_name(TopicKind.FEED, recipient.id)
                    grant = records.grant_of(self.ref.grant_index, recipient.id, ev.entry)
                    kind = "delivery"
                if topic not in self.ref.known_topics:
                    continue
                feed = records.feed_record(
                    ev,
                    delivery,
                    operation=raw["operation"],
                    event_time=raw["event_time"],
                    at=self.now,
                    grant_id=grant[0],
                    purpose=grant[1],
                )
                self.add(topic, "FeedRecord", feed, delivery.subject)
                self.audit(
                    ev.event_id,
                    kind=kind,
                    event_id=ev.event_id,
                    entry=ev.entry,
                    provider=ev.provider,
                    subject=delivery.subject,
                    reason_code=None,
                    article=None,
                    recipient=records.recipient_id(recipient),
                    grant_id=grant[0],
                    purpose=grant[1],
                    items=delivery.items,
                    masked=delivery.rules_applied,
                )


def gate_event(
    ref: _Reference, table: GateTable, tp: tuple[str, int, int], key: bytes | None, value: bytes
) -> list[Output]:
    """Decide one ingest record; update the table; return the records to send."""
    topic = tp[0]
    now = datetime.now(UTC)
    plan = _Plan(ref, now, tp, key, value)
    try:
        raw = decode("ChangeEvent", value)
    except SchemaError as exc:
        plan.dead_letter(tp, key, value, None, exc.code or "undecodable", str(exc), "decode")
        return plan.out
    ev = IncomingEvent.from_record(raw, key)
    stored = table.get(key) if key is not None else None
    subject = (key or b"").decode("utf-8", errors="replace")
    states = decode_records(subject, stored) if stored is not None else {}
    result = decide(ev, entry_of(topic), ref.catalog, ref.grants, states, now)
    if result.rejected:
        plan.dead_letter(tp, key, value, ev, result.reason_code, result.reason_text, "validate")
        plan.receipt(ev, result)
        plan.audit(
            ev.event_id,
            kind="rejected",
            event_id=ev.event_id,
            entry=ev.entry,
            provider=ev.provider,
            subject=result.canonical_subject,
            reason_code=result.reason_code,
            article=result.article,
        )
        return plan.out
    if (result.new_states or result.refreshed) and key is not None:
        # The gate accepted only when the key is the canonical subject (GM 18).
        table[key] = encode_records({**states, **result.refreshed, **result.new_states})
    plan.decided(ev, raw, result)
    return plan.out


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
    ingest = sorted(topic_name(TopicKind.INGEST, e.id) for e in ref.catalog.entries)
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
            msg = event.message
            tp = (msg.topic, msg.partition, msg.offset)
            for topic, key, value in gate_event(ref, table, tp, event.key, event.value):
                await sink(topic).send(key=key, value=value)


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
            tp = (msg.topic, msg.partition, msg.offset)
            # Step 2: the transactional producer of the source partition.
            tid = f"{app.conf.id}-{app.assignor.group_for_topic(msg.topic)}-{msg.partition}"
            # Step 3: one lock over decide, send, table write and ack.
            async with lock:
                for topic, key, value in gate_event(ref, table, tp, event.key, event.value):
                    unsent.append(
                        await app.producer.send(
                            topic, key, value, None, None, None, transactional_id=tid
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
