"""The kill test of tests/integration/topology/test_exactly_once.py, run against the faust gate.

    python -m bench.faust_eos_kill [--events 10000] [--kills 5] [--seed 20261125]
        [--mode faust|source-txn] [--bootstrap HOST:PORT] [--out bench/results]

On one broker (``--bootstrap``, else the configured one, else a local broker started on
a temporary state directory and stopped at the end; :mod:`bench.broker`: the harness's
clients use its client settings, the worker finds its credentials in its environment):

1. an isolated copy of the demo catalog (suffixed agency and entry ids) and a plan
   (:mod:`bench.kill_plan`, shared with the processor's kill test) of
   ``--events`` events on 500 residents: authoritative changes from the source, stopped
   writes from a non-source, reports (confirmations and conflicts) and ~10 % resends of
   an earlier event (same event id);
2. the expected records per topic from the pure domain (exchange.gate.decide replayed
   in publish order): one receipt per send; one feed record per recipient, one open-feed
   and one canonical record per accepted event; conflicts; one audit record per event;
3. one faust gate worker (``python -m bench.faust_gate``); the plan is published in 25
   chunks, 0.4 s apart; ``--kills`` times: once the (re)started worker has committed
   progress (its group's offsets on the ingest topic moved), a random 0.5-2.5 s later,
   SIGKILL it and start it again; so every kill lands while it is processing;
4. drain: wait until the worker's committed offsets reach the end of the ingest topic;
5. read every output topic to its end, read_committed, and count per topic: expected,
   received, duplicates (an event id more often than expected), missing, unexpected.

The JSON goes to ``bench/results/faust-eos-kill-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from base.errors import KafkaError
from base.settings import Settings
from bench.broker import BenchBroker, bench_broker
from bench.faust_gate import SINK_MODES, ensure_bus_topics
from bench.kill_plan import PROVIDERS, Plan, plan, replay
from bench.report import write_results
from bench.scenario import of_entry
from exchange.catalog_loader import LoadedCatalog, check_catalog_text
from exchange.gate import GateResult
from exchange.grants import is_active
from exchange.policy import OpenFeed
from kafkaclient import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from schemas import decode, encode
from schemas.topics import TopicKind, topic_name

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "catalog-demo.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_EVENTS = 10_000
DEFAULT_KILLS = 5
DEFAULT_SEED = 20261125
CHUNKS = 25
CHUNK_PAUSE_S = 0.4
#: Kill this long after the worker's first write since its (re)start.
KILL_AFTER_PROGRESS_S = (0.5, 2.5)
#: A (re)started worker that writes nothing for this long is killed anyway.
PROGRESS_TIMEOUT_S = 90.0
#: Everything published must be committed within this after the last restart...
DRAIN_TIMEOUT_S = 600.0
#: ...and the committed position must move at least once in this long.
DRAIN_STALL_S = 120.0
POLL_S = 0.5
READ_TIMEOUT_S = 120.0
WATERMARK_TIMEOUT_S = 30.0
STOP_GRACE_S = 30.0
COMMIT_INTERVAL_S = 0.2
#: Events whose receipts differ from the expected ones, listed in the JSON.
EXAMPLES = 10
#: aiokafka reads lz4 batches only with the lz4 package (absent here): publish plainly.
UNCOMPRESSED = {"compression.type": "none"}
CONSUMERS = ("city-mca", "city-hc", "city-amr", "city-bdb")
LOG_SIGNALS = ("Traceback", "ProducerFenced", "CRITICAL", "ERROR", "WARNING")


# -- plan and expectations (pure domain) ----------------------------------------------
@dataclass(frozen=True)
class Names:
    """Demo ids made unique for one run (as tests/support/scenario.Names)."""

    sfx: str

    def agency(self, base: str) -> str:
        return f"{base}-{self.sfx}"

    def entry(self, base: str) -> str:
        return f"t{self.sfx}.{base}"

    def catalog_text(self) -> str:
        text = DEMO.read_text(encoding="utf-8")
        text = re.sub(r"\bcity-(psb|amr|mca|hc|bdb)\b", lambda m: self.agency(m.group(0)), text)
        return re.sub(
            r"(?<![\w.-])((?:psb|amr)\.[a-z_0-9]+(?:\.[a-z_0-9]+)*)",
            lambda m: self.entry(m.group(1)),
            text,
        )

    def load(self) -> LoadedCatalog:
        result = check_catalog_text(self.catalog_text())
        if result.catalog is None:
            raise ValueError([i.message for i in result.issues])
        return LoadedCatalog(result.catalog, result.grants)


@dataclass
class Expected:
    """Per topic label, how many records each event id must have; receipt outcomes."""

    by_topic: dict[str, Counter[str]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    #: event id -> the outcome of each send, in publish order
    per_event: dict[str, list[str]] = field(default_factory=dict)

    def add(self, label: str, event_id: str, n: int = 1) -> None:
        if n:
            self.by_topic.setdefault(label, Counter())[event_id] += n


def expected_records(names: Names, sent: Plan) -> Expected:
    loaded = names.load()
    now = datetime.now(UTC)
    grants = tuple(g for g in loaded.grants if is_active(g, now))
    entry = names.entry("psb.person.basic")
    labels = {names.agency(a): f"feed.{a}" for a in CONSUMERS}
    want = Expected(by_topic={label: Counter() for label in _labels()})
    for (_, e), result in zip(sent, replay(loaded.catalog, grants, entry, sent, now), strict=True):
        _expect(want, e["event_id"], result, labels)
    return want


def _expect(want: Expected, event_id: str, result: GateResult, labels: dict[str, str]) -> None:
    want.outcomes[result.outcome] += 1
    want.per_event.setdefault(event_id, []).append(result.outcome)
    want.add("receipts", event_id)
    want.add("conflicts", event_id, len(result.conflicts))
    # One audit record per event, its deliveries listed (Decision v5).
    want.add("audit", event_id)
    if result.new_states:
        want.add("accepted", event_id)
    for delivery in result.deliveries:
        for recipient in delivery.recipients:
            label = "open" if isinstance(recipient, OpenFeed) else labels.get(recipient.id)
            if label is not None:
                want.add(label, event_id)


def _labels() -> list[str]:
    return [
        "receipts",
        *(f"feed.{a}" for a in CONSUMERS),
        "open",
        "accepted",
        "conflicts",
        "audit",
        "dlq",
    ]


# -- broker helpers ----------------------------------------------------------------
def publish(bootstrap: str, sent: Plan, config: Mapping[str, str]) -> None:
    with Producer(bootstrap, extra_config={**config, **UNCOMPRESSED}) as producer:
        for subject, e in sent:
            topic = topic_name(TopicKind.INGEST, e["entry"])
            producer.produce(topic, encode("ChangeEvent", e), key=subject.encode())


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    return list(consumer.topic(topic).partitions)


def _high(consumer: Consumer, tp: TopicPartition) -> int:
    """High watermark of ``tp``; a topic created moments ago may not have a leader yet."""
    deadline = time.monotonic() + WATERMARK_TIMEOUT_S
    while True:
        try:
            return consumer.watermarks(tp.topic, tp.partition)[1]
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def high_watermarks(
    bootstrap: str, topics: list[str], config: Mapping[str, str]
) -> dict[tuple[str, int], int]:
    with Consumer(bootstrap, f"bench-wm-{uuid.uuid4().hex}", extra_config=config) as consumer:
        return {
            (topic, p): _high(consumer, TopicPartition(topic, p))
            for topic in topics
            for p in _partitions(consumer, topic)
        }


def committed(bootstrap: str, group: str, topic: str, config: Mapping[str, str]) -> dict[int, int]:
    """The group's committed offsets on ``topic`` (retried while the coordinator moves)."""
    deadline = time.monotonic() + WATERMARK_TIMEOUT_S
    with Consumer(bootstrap, group, extra_config=config) as consumer:
        tps = [TopicPartition(topic, p) for p in _partitions(consumer, topic)]
        while True:
            try:
                found = consumer.committed(tps)
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            return {tp.partition: tp.offset for tp in found}


def read_all(
    bootstrap: str, topic: str, record: str, config: Mapping[str, str], *, entry: str
) -> tuple[list[dict[str, Any]], bool]:
    """Every committed record of ``topic`` (read_committed; of a topic every entry shares,
    ``entry``'s: :func:`bench.scenario.of_entry`) and whether the read reached the high
    watermark of every partition (False: an open transaction held it back)."""
    out: list[dict[str, Any]] = []
    with Consumer(bootstrap, f"bench-read-{uuid.uuid4().hex}", extra_config=config) as consumer:
        parts = _partitions(consumer, topic)
        high = {p: _high(consumer, TopicPartition(topic, p)) for p in parts}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout_s=0.2):
                if of_entry(msg, entry):
                    out.append(decode(record, msg.value() or b""))
            positions = consumer.position([TopicPartition(topic, p) for p in parts])
            if all(tp.offset >= high[tp.partition] or high[tp.partition] == 0 for tp in positions):
                return out, True
    return out, False


# -- the worker ---------------------------------------------------------------------
@dataclass
class Worker:
    """The faust gate worker process; ``broker.env`` carries its credentials."""

    broker: BenchBroker
    app_id: str
    catalog: Path
    mode: str
    log: Path
    log_level: str = "warn"
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.faust_gate",
                    "--bootstrap",
                    self.broker.bootstrap,
                    "--app-id",
                    self.app_id,
                    "--catalog",
                    str(self.catalog),
                    # faust's default is <app id>-data in the working directory (ROOT).
                    "--data-dir",
                    str(self.log.parent / "data"),
                    "--sink-mode",
                    self.mode,
                    "--commit-interval",
                    str(COMMIT_INTERVAL_S),
                    "worker",
                    "-l",
                    self.log_level,
                    "--without-web",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=dict(self.broker.env),
            )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()


# -- the run ------------------------------------------------------------------------
def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S)
    return False


def kill_loop(worker: Worker, ingest: str, kills: int, rng: random.Random) -> list[dict[str, Any]]:
    """Kill once the (re)started worker has committed progress, a random moment later."""
    broker = worker.broker

    def position() -> int:
        return sum(committed(broker.bootstrap, worker.app_id, ingest, broker.config).values())

    def moved_past(before: int) -> Callable[[], bool]:
        return lambda: position() > before

    points = []
    for _ in range(kills):
        progressed = wait_for(moved_past(position()), PROGRESS_TIMEOUT_S)
        ready_s = time.monotonic() - worker.started_at
        time.sleep(rng.uniform(*KILL_AFTER_PROGRESS_S))
        alive = worker.alive()
        after_start = time.monotonic() - worker.started_at
        worker.kill()
        points.append(
            {
                "first_commit_after_s": round(ready_s, 2) if progressed else None,
                "killed_after_s": round(after_start, 2),
                "was_alive": alive,
            }
        )
        worker.start()
    return points


def drain(worker: Worker, ingest: str) -> tuple[bool, float]:
    bootstrap, config = worker.broker.bootstrap, worker.broker.config
    began = time.monotonic()
    end = {p: o for (_, p), o in high_watermarks(bootstrap, [ingest], config).items()}
    last, moved = None, time.monotonic()
    while time.monotonic() - began < DRAIN_TIMEOUT_S:
        position = committed(bootstrap, worker.app_id, ingest, config)
        if all(position.get(p, -1) >= o for p, o in end.items()):
            return True, time.monotonic() - began
        if position != last:
            last, moved = position, time.monotonic()
        elif time.monotonic() - moved > DRAIN_STALL_S or not worker.alive():
            break
        time.sleep(POLL_S)
    return False, time.monotonic() - began


def count(want: Counter[str], got: Counter[str]) -> dict[str, int]:
    return {
        "expected": sum(want.values()),
        "received": sum(got.values()),
        "duplicates": sum(max(0, n - want[k]) for k, n in got.items() if k in want),
        "missing": sum(max(0, n - got[k]) for k, n in want.items()),
        "unexpected": sum(n for k, n in got.items() if k not in want),
    }


def collect(broker: BenchBroker, names: Names) -> tuple[dict[str, Counter[str]], dict[str, Any]]:
    basic = names.entry("psb.person.basic")
    sources: dict[str, list[tuple[str, str, str]]] = {
        "receipts": [
            (topic_name(TopicKind.RECEIPTS, names.agency(a)), "Receipt", "event_id")
            for a in PROVIDERS
        ],
        **{
            f"feed.{a}": [(topic_name(TopicKind.FEED, names.agency(a)), "FeedRecord", "event_id")]
            for a in CONSUMERS
        },
        # Shared by every entry: read for this run's entry (its header on each record).
        "open": [(topic_name(TopicKind.OPEN), "FeedRecord", "event_id")],
        "accepted": [(topic_name(TopicKind.ACCEPTED), "ChangeEvent", "event_id")],
        "conflicts": [(topic_name(TopicKind.CONFLICTS), "Conflict", "reported_event_id")],
        "audit": [(topic_name(TopicKind.AUDIT), "Decision", "event_id")],
        "dlq": [(topic_name(TopicKind.DLQ), "DeadLetter", "event_id")],
    }
    got: dict[str, Counter[str]] = {}
    extra: dict[str, Any] = {
        "incomplete_reads": [],
        "receipt_outcomes": Counter(),
        "per_event": {},
    }
    audit_ids: Counter[str] = Counter()
    for label, topics in sources.items():
        got[label] = Counter()
        for topic, record, id_field in topics:
            rows, complete = read_all(broker.bootstrap, topic, record, broker.config, entry=basic)
            if not complete:
                extra["incomplete_reads"].append(topic)
            for row in rows:
                if row.get("entry", basic) != basic:
                    continue  # conflicts and audit are shared by every entry, no header
                got[label][str(row[id_field])] += 1
                if label == "receipts":
                    extra["receipt_outcomes"][row["outcome"]] += 1
                    extra["per_event"].setdefault(str(row["event_id"]), []).append(row["outcome"])
                if label == "audit":
                    audit_ids[str(row["audit_id"])] += 1
    extra["audit_ids_seen_twice_or_more"] = sum(1 for n in audit_ids.values() if n > 1)
    return got, extra


def log_signals(log: Path) -> dict[str, int]:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return {s: text.count(s) for s in LOG_SIGNALS}


def run(args: argparse.Namespace, broker: BenchBroker) -> dict[str, Any]:
    rng = random.Random(args.seed)
    names = Names(uuid.uuid4().hex[:10])
    work = Path(tempfile.mkdtemp(prefix="govbus-faust-kill-"))
    catalog = work / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    providers = [names.agency(a) for a in PROVIDERS]
    sent = plan(names.entry("psb.person.basic"), providers, args.events, rng)
    want = expected_records(names, sent)
    ensure_bus_topics(broker.bootstrap, names.load().catalog, broker.config)
    ingest = topic_name(TopicKind.INGEST, names.entry("psb.person.basic"))
    worker = Worker(
        broker,
        f"govbus-faust-kill-{names.sfx}",
        catalog,
        args.mode,
        work / "w.log",
        args.worker_log_level,
    )
    began = time.monotonic()
    worker.start()
    publish_s: list[float] = []

    def publisher() -> None:
        size = -(-len(sent) // CHUNKS)
        for i in range(CHUNKS):
            publish(broker.bootstrap, sent[i * size : (i + 1) * size], broker.config)
            time.sleep(CHUNK_PAUSE_S)
        publish_s.append(time.monotonic() - began)

    feeder = threading.Thread(target=publisher)
    feeder.start()
    try:
        points = kill_loop(worker, ingest, args.kills, rng)
        feeder.join()
        drained, drain_s = drain(worker, ingest)
        got, extra = collect(broker, names)
    finally:
        feeder.join()
        worker.stop()
    topics = {label: count(want.by_topic.get(label, Counter()), got[label]) for label in got}
    examples = [
        {"event_id": eid, "expected": outcomes, "received": extra["per_event"].get(eid, [])}
        for eid, outcomes in want.per_event.items()
        if sorted(outcomes) != sorted(extra["per_event"].get(eid, []))
    ]
    outcomes_ok = extra["receipt_outcomes"] == want.outcomes
    passed = (
        drained
        and outcomes_ok
        and not extra["incomplete_reads"]
        and all(t["duplicates"] == t["missing"] == t["unexpected"] == 0 for t in topics.values())
    )
    return {
        "benchmark": "faust-eos-kill",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": args.mode,
        "events": args.events,
        "kills": args.kills,
        "seed": args.seed,
        "commit_interval_s": COMMIT_INTERVAL_S,
        "passed": passed,
        "drained": drained,
        "publish_s": round(publish_s[0], 1) if publish_s else None,
        "drain_s": round(drain_s, 1),
        "total_s": round(time.monotonic() - began, 1),
        "kill_points": points,
        "topics": topics,
        "receipt_outcomes": {
            "expected": dict(sorted(want.outcomes.items())),
            "received": dict(sorted(extra["receipt_outcomes"].items())),
        },
        "events_with_wrong_receipts": len(examples),
        "examples": examples[:EXAMPLES],
        "audit_ids_seen_twice_or_more": extra["audit_ids_seen_twice_or_more"],
        "incomplete_reads": extra["incomplete_reads"],
        "worker_log": str(worker.log),
        "worker_log_signals": log_signals(worker.log),
        "broker": broker.kind,
        "kafka_version": Settings.load().kafka_version,
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faust_eos_kill", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--kills", type=int, default=DEFAULT_KILLS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--mode", choices=SINK_MODES, default="faust")
    parser.add_argument(
        "--bootstrap", default="", help="default: the configured broker or a local one"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    parser.add_argument("--worker-log-level", default="warn", choices=("warn", "info", "debug"))
    args = parser.parse_args(argv)
    with bench_broker(args.bootstrap) as broker:
        report = run(args, broker)
    path = write_results(args.out, "faust-eos-kill", report)
    print(f"{'PASSED' if report['passed'] else 'FAILED'}: mode={args.mode} kills={args.kills}")
    for label, t in report["topics"].items():
        print(f"  {label:<14} " + "  ".join(f"{k}={v}" for k, v in t.items()))
    print(f"  receipt outcomes: {report['receipt_outcomes']}")
    print(f"  drain {report['drain_s']} s; result written to {path}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
