"""Publisher throughput as a ratio to raw confluent-kafka produce of the same bytes.

    python -m bench.publisher [--count 20000] [--seed 7] [--rounds 3] [--bootstrap HOST:PORT]

In one run, on one broker (``--bootstrap``, else the configured one, else a local broker
started on a temporary state directory and stopped at the end; :mod:`bench.broker`), every
client with the benchmark's client settings (credentials):

* **raw**: ``confluent_kafka.Producer`` with the publisher's producer settings (acks=all,
  idempotence, linger.ms=5, lz4) produces pre-encoded ChangeEvent bytes and keys, with a
  delivery callback per message, then flushes;
* **publisher (memory)**: :class:`producers.AgencyPublisher` publishes the same changes
  (same event ids, times and sequence numbers, so the very same bytes) including the
  local checks, encoding and delivery results, journal in memory;
* **publisher (journal)**: the same with a state directory (one journal line per ack).

Each mode gets its own topic (3 partitions, like ingest), a warm-up of ``--warmup``
messages, then ``--count`` timed events from first send to the end of the flush.
Rounds alternate the modes; the table shows the median events/s per mode and its ratio
to raw. Results go to ``bench/results/publisher-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import confluent_kafka
from rich.console import Console
from rich.table import Table

from base.settings import Settings
from bench.broker import BenchBroker, bench_broker
from bench.raw import raw_producer
from bench.report import write_results
from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from kafkaclient import Admin, TopicSpec
from producers import AgencyPublisher, Draft, PublishStatus
from producers.publisher import Prepared
from schemas.topics import TopicKind, topic_def

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "examples" / "catalog-demo.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
BASE_ENTRY = "psb.person.basic"
AGENCY = "city-psb"
DEFAULT_COUNT = 20_000
DEFAULT_SEED = 7
DEFAULT_ROUNDS = 3
DEFAULT_WARMUP = 500
SUBJECTS = 2_000
FLUSH_TIMEOUT_S = 120.0
REGIONS = ("110105", "310104", "440305", "520102", "210102", "370102")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
MODES = ("raw", "publisher (memory)", "publisher (journal)")


def gb11643_check(body17: str) -> str:
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_drafts(count: int, seed: int) -> list[Draft]:
    """``count`` changes of ``SUBJECTS`` residents, reproducible from ``seed``."""
    rng = random.Random(seed)
    people = []
    for _ in range(SUBJECTS):
        born = datetime(1940, 1, 1) + timedelta(days=rng.randrange(365 * 80))
        body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        people.append(body + gb11643_check(body))
    start = datetime(2025, 6, 1, tzinfo=UTC)
    drafts = []
    for i in range(count):
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
        drafts.append(
            Draft(
                subject_key=rng.choice(people),
                operation="update",
                items={"name": name, "gender": rng.choice(("男", "女"))},
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                event_time=start + timedelta(milliseconds=i),
                source_system="户籍管理系统",
                source_sequence=i,
            )
        )
    return drafts


def bench_catalog(run: str, rounds: int) -> tuple[Catalog, dict[tuple[str, int], str]]:
    """The demo catalog plus a copy of the person entry per mode and round (own topics)."""
    catalog = load_catalog(CATALOG).catalog
    base = catalog.entry(BASE_ENTRY)
    if base is None:
        raise SystemExit(f"{CATALOG} has no entry {BASE_ENTRY}")
    entries = {
        (mode, number): f"bench.{run}.m{index}.r{number}"
        for index, mode in enumerate(MODES)
        for number in range(rounds)
    }
    copies = tuple(replace(base, id=entry_id) for entry_id in entries.values())
    return replace(catalog, entries=catalog.entries + copies), entries


def run_raw(broker: BenchBroker, topic: str, prepared: list[Prepared], warmup: int) -> float:
    producer = raw_producer(broker.bootstrap, broker.config)
    failures: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(err)

    def send(batch: list[Prepared]) -> None:
        for p in batch:
            while True:
                try:
                    producer.produce(topic, p.value, p.key, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        if producer.flush(FLUSH_TIMEOUT_S):
            raise SystemExit("raw producer: messages not delivered in time")

    send(prepared[:warmup])
    started = time.perf_counter()
    send(prepared[warmup:])
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"raw producer: {len(failures)} delivery failures, first {failures[0]}")
    return (len(prepared) - warmup) / elapsed


def run_publisher(
    broker: BenchBroker,
    catalog: Catalog,
    entry: str,
    drafts: list[Draft],
    warmup: int,
    state_dir: Path | None,
) -> float:
    with AgencyPublisher(
        broker.bootstrap, AGENCY, catalog, extra_config=broker.config, state_dir=state_dir
    ) as publisher:
        warm = publisher.publish_many(entry, drafts[:warmup])
        publisher.flush(FLUSH_TIMEOUT_S)
        started = time.perf_counter()
        results = publisher.publish_many(entry, drafts[warmup:])
        publisher.flush(FLUSH_TIMEOUT_S)
        elapsed = time.perf_counter() - started
    bad = [r for r in warm + results if r.status is not PublishStatus.DELIVERED]
    if bad:
        raise SystemExit(f"publisher: {len(bad)} events not delivered, first {bad[0]!r}")
    return len(results) / elapsed


def prepare_all(catalog: Catalog, entry: str, drafts: list[Draft]) -> list[Prepared]:
    """The exact bytes and keys the publisher sends for ``drafts`` (no broker needed)."""
    dry = AgencyPublisher("127.0.0.1:1", AGENCY, catalog)  # never connects: prepare is local
    out = []
    for draft in drafts:
        prepared = dry.prepare(entry, draft, event_id=str(draft.event_id))
        if not isinstance(prepared, Prepared):
            raise SystemExit(f"bench data refused: {prepared}")
        out.append(prepared)
    dry.close()
    return out


def measure(args: argparse.Namespace, broker: BenchBroker) -> dict[str, Any]:
    bootstrap, config = broker.bootstrap, broker.config
    catalog, entries = bench_catalog(uuid.uuid4().hex[:8], args.rounds)
    defs = {key: topic_def(TopicKind.INGEST, entry) for key, entry in entries.items()}
    Admin(bootstrap, extra_config=config).ensure_topics([TopicSpec.of(d) for d in defs.values()])
    drafts = make_drafts(args.count + args.warmup, args.seed)
    eps: dict[str, list[float]] = {mode: [] for mode in MODES}
    sizes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="govbus-bench-state-") as state_root:
        for number in range(args.rounds):
            # raw sends exactly the bytes the in-memory publisher sends in this round
            prepared = prepare_all(catalog, entries[("publisher (memory)", number)], drafts)
            sizes.extend(len(p.value) for p in prepared)
            for mode in MODES[number % 3 :] + MODES[: number % 3]:  # rotate the order
                entry = entries[(mode, number)]
                if mode == "raw":
                    topic = defs[(mode, number)].name
                    rate = run_raw(broker, topic, prepared, args.warmup)
                else:
                    state = Path(state_root) / f"r{number}" if "journal" in mode else None
                    rate = run_publisher(broker, catalog, entry, drafts, args.warmup, state)
                eps[mode].append(rate)
    medians = {mode: statistics.median(values) for mode, values in eps.items()}
    return {
        "benchmark": "publisher",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "count": args.count,
        "warmup": args.warmup,
        "seed": args.seed,
        "rounds": args.rounds,
        "broker": broker.kind,
        "kafka_version": Settings.load().kafka_version,
        "confluent_kafka": str(confluent_kafka.version()),
        "librdkafka": confluent_kafka.libversion()[0],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "mean_message_bytes": round(statistics.fmean(sizes), 1),
        "events_per_s": {mode: [round(v, 1) for v in values] for mode, values in eps.items()},
        "median_events_per_s": {mode: round(v, 1) for mode, v in medians.items()},
        "ratio_to_raw": {mode: round(medians[mode] / medians["raw"], 3) for mode in MODES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.publisher", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="timed events per mode")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument(
        "--bootstrap", default="", help="default: the configured broker or a local one"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    args = parser.parse_args(argv)
    with bench_broker(args.bootstrap) as broker:
        report = measure(args, broker)
    table = Table(title=f"publisher vs raw produce: {args.count} events x {args.rounds} rounds")
    for column in ("mode", "median events/s", "ratio to raw", "rounds (events/s)"):
        table.add_column(column)
    for mode in MODES:
        table.add_row(
            mode,
            f"{report['median_events_per_s'][mode]:,.0f}",
            f"{report['ratio_to_raw'][mode]:.3f}",
            ", ".join(f"{v:,.0f}" for v in report["events_per_s"][mode]),
        )
    console = Console()
    console.print(table)
    path = write_results(args.out, "publisher", report)
    console.print(f"broker: {report['broker']}; result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
