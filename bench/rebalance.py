"""``python -m bench.rebalance``: how long a partition pauses while workers come and go
(issue 19 item 3).

One broker (:mod:`bench.broker`), a catalog of N entries (the demo catalog's resident
entries copied under new ids, as :mod:`bench.ready` copies them, every copy published and
keyed by resident id, with its grants), and ``topology.run`` workers as ``govbus run``
starts them (processor and repartition stage, two consumer groups per worker):

1. worker 0 starts on the catalog file; once its processor has restored every ingest
   partition, the provider publishes ``--rate`` changes per second through its
   :class:`~producers.publisher.AgencyPublisher` (submission topic, repartition stage),
   round robin over every ingest partition (subjects chosen by their partition), and a
   reader takes every receipt as it is committed;
2. once every ingest partition has answered, ``--hold`` seconds of steady load (baseline);
3. **join**: worker 1 starts; ``--hold`` seconds;
4. **leave**: worker 1 is stopped gracefully (SIGTERM) and exits; ``--hold`` seconds;
5. with ``--kill``: worker 1 starts again (**rejoin**), ``--hold`` seconds; then
   **crash-restart**: SIGKILL and started again at once (as the supervisor does),
   ``--hold`` seconds; then **kill**: SIGKILL, ``--hold`` seconds;
6. the load stops, the receipts drain, the workers stop.

For each event's window (from the event until the next one), per ingest partition: its
**pause**, the longest latency (receipt time minus send time) of an event sent to it in the
window, and its longest gap between two receipts reaching into the window; their maximum,
p99 and median over partitions, and how many exceed 5 s. The pause is the measure: a gap
includes the send interval of a partition (partitions / rate: 600 / 50 = 12 s at 200
entries), and a 2-core machine shared with others does not keep up with the rate that
would make that interval small. Receipt times are the records' timestamps (the worker's
produce time; only committed receipts are read). The baseline starts once there is no
backlog (the last 100 events answered within 2 s), or after 90 s if the machine is too
busy for that (``backlog_at_baseline``).

Writes ``bench/results/rebalance-<stamp>.json``::

    python -m bench.rebalance --entries 200 [--rate 50] [--hold 30] [--kill]
        [--membership static|dynamic]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.background import Background, Publishing
from bench.broker import BenchBroker, bench_broker
from bench.capacity import machine
from bench.report import write_results
from bench.runs import percentile
from bench.scenario import DISTRICTS, GIVEN, STREETS, SURNAMES, residents
from exchange.catalog_loader import load_catalog
from kafkaclient import Admin, TopicSpec, read_from_beginning
from producers.model import Draft, PublisherOptions, PublishResult, PublishStatus
from producers.publisher import AgencyPublisher
from schemas import decode
from schemas.partitioning import partition_for
from schemas.topics import POLICIES, TopicKind, bus_topics, topic_name
from topology.demo import DEMO_CATALOG
from topology.processor import HEARTBEAT_INTERVAL_MS
from topology.run import EXIT_RESTART

RESULTS = Path(__file__).resolve().parent / "results"
PROVIDER = "city-psb"
#: The demo entries copied: published, keyed by resident id, provided by city-psb.
RESIDENT_ENTRIES = ("psb.person.basic", "psb.person.contact", "psb.person.watchlist")
PAUSE_LIMIT_S = 5.0
READY_TIMEOUT_S = 600.0
#: The baseline starts after this long even if the worker is still behind.
CATCH_UP_S = 90.0
DRAIN_TIMEOUT_S = 120.0
WORKER_STOP_S = 120.0


def catalog_document(size: int, run: str) -> dict[str, Any]:
    """The demo catalog with ``size`` copies of its resident entries (new ids) and their
    grants; the other entries and grants left out."""
    demo = yaml.safe_load(DEMO_CATALOG.read_text(encoding="utf-8"))
    bases = [e for e in demo["entries"] if e["id"] in RESIDENT_ENTRIES]
    entries, grants = [], []
    for i in range(size):
        base = bases[i % len(bases)]
        copy = {**base, "id": f"bench{run}.{i}.{base['id']}"}
        entries.append(copy)
        for grant in demo.get("grants", []):
            if grant["entry"] == base["id"]:
                grants.append({**grant, "id": f"{grant['id']}-{run}-{i}", "entry": copy["id"]})
    return {**demo, "entries": entries, "grants": grants}


def items_for(entry_id: str, n: int, rng: random.Random) -> dict[str, str | None]:
    """A valid change of the copy ``entry_id`` (its base is the id's last part)."""
    if entry_id.endswith("psb.person.basic"):
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
        return {"name": name, "gender": rng.choice(("男", "女"))}
    if entry_id.endswith("psb.person.contact"):
        address = f"{rng.choice(DISTRICTS)}{rng.choice(STREETS)}{n % 999 + 1}号"
        return {"household_address": address, "phone": f"1{rng.choice('3589')}{n % 10**9:09d}"}
    return {"watch_category": rng.choice(("甲", "乙", "丙")), "listed_on": "2024-03-01"}


@dataclass(frozen=True)
class Sent:
    event_id: str
    partition: tuple[str, int]
    at: float


@dataclass
class Load(Publishing):
    """Publishes ``rate`` changes per second, round robin over every (entry, partition),
    in a thread until :meth:`stop`."""

    broker: BenchBroker
    catalog: Path
    entries: Sequence[str]
    rate: float
    sent: list[Sent] = field(default_factory=list)
    failed: int = 0
    error: Exception | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def stop(self) -> None:
        self._join_or_raise()

    def halt(self) -> None:
        """Stop publishing after a failure elsewhere; nothing is raised."""
        self._stop.set()

    def _delivered(self, result: PublishResult) -> None:
        if result.status is not PublishStatus.DELIVERED:
            self.failed += 1

    def _publish(self) -> None:
        rng = random.Random(19)
        partitions = POLICIES[TopicKind.INGEST].partitions
        by_partition: dict[int, list[str]] = defaultdict(list)
        for person in residents(rng):
            by_partition[partition_for(f"resident_id:{person}".encode(), partitions)].append(person)
        targets = [(e, p) for p in range(partitions) for e in self.entries]
        catalog = load_catalog(self.catalog).catalog
        options = PublisherOptions(source_system="户籍管理系统", on_delivery=self._delivered)
        with AgencyPublisher(
            self.broker.bootstrap,
            PROVIDER,
            catalog,
            extra_config=dict(self.broker.config),
            options=options,
        ) as publisher:
            began = time.monotonic()
            n = 0
            while not self._stop.is_set():
                wait = began + n / self.rate - time.monotonic()
                if wait > 0:  # never a negative timeout: librdkafka waits forever on one
                    publisher.poll(min(0.05, wait))
                    continue
                entry, partition = targets[n % len(targets)]
                person = rng.choice(by_partition[partition])
                change = Draft(person, "update", items_for(entry, n, rng))
                at = time.time()
                result = publisher.publish(entry, change)
                if result.status is PublishStatus.REFUSED:
                    raise RuntimeError(f"the publisher refused a valid change: {result!r}")
                ingest = topic_name(TopicKind.INGEST, entry)
                self.sent.append(Sent(result.event_id, (ingest, partition), at))
                n += 1
            publisher.flush()


@dataclass
class Receipts(Background):
    """Every committed receipt of the provider as it comes: event id -> record time (s)."""

    broker: BenchBroker
    times: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def stop(self) -> None:
        self._join()

    def _run(self) -> None:
        for batch in read_from_beginning(
            self.broker.bootstrap,
            [topic_name(TopicKind.RECEIPTS, PROVIDER)],
            group_id=f"bench-rebalance-read-{uuid.uuid4().hex}",
            config={**self.broker.config, "isolation.level": "read_committed"},
            enough=self._stop.is_set,
            settle_s=0.0,
            timeout_s=24 * 3600.0,
        ):
            for msg in batch:
                receipt: dict[str, Any] = decode("Receipt", msg.value() or b"")
                self.times.setdefault(str(receipt["event_id"]), msg.timestamp()[1] / 1000)


@dataclass
class Worker:
    """One ``topology.run`` process (``govbus run``'s worker)."""

    command: list[str]
    env: Mapping[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env=dict(self.env)
            )
        return time.time()

    def signal(self, sig: signal.Signals) -> float:
        """Send ``sig``; the time it was sent (the process has exited on return)."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=WORKER_STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return at

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def keep(self) -> bool:
        """Start again a worker that exited with ``EXIT_RESTART``, as the supervisor does
        (True then); any other exit fails the run."""
        if self.proc is None or self.proc.poll() is None:
            return False
        if self.proc.returncode == EXIT_RESTART:
            self.start()
            return True
        raise RuntimeError(f"{self.log.name}: exited ({self.proc.returncode})")

    def restored(self) -> list[int]:
        """Partitions the processor restored, per assignment, from the log."""
        counts = []
        for line in self.log.read_text(errors="replace").splitlines():
            if " restored " in line and "partition(s)" in line:
                counts.append(int(line.split(" restored ")[1].split()[0]))
        return counts


def windows(events: Sequence[tuple[str, float]], end: float) -> list[tuple[str, float, float]]:
    """(name, start, end) per event: until the next event, the last until ``end``."""
    out = []
    for i, (name, at) in enumerate(events):
        until = events[i + 1][1] if i + 1 < len(events) else end
        out.append((name, at, until))
    return out


def longest_gap(times: Sequence[float], start: float, end: float) -> float:
    """The longest gap between consecutive ``times`` (sorted) that reaches into
    [start, end]; a partition silent until ``end`` counts up to ``end``."""
    before = [t for t in times if t < start]
    inside = [t for t in times if start <= t <= end]
    points = ([before[-1]] if before else [start]) + inside
    gaps = [b - a for a, b in itertools.pairwise(points)]
    gaps.append(end - points[-1])
    return max(gaps)


def summarise(
    sent: Sequence[Sent], receipts: Mapping[str, float], window: tuple[str, float, float]
) -> dict[str, Any]:
    """One event's window: per ingest partition, its pause (the longest latency of an
    event sent to it in the window) and its longest gap between receipts."""
    name, start, end = window
    answered: dict[tuple[str, int], list[float]] = defaultdict(list)
    pause: dict[tuple[str, int], float] = defaultdict(float)
    latency: list[float] = []
    unanswered = 0
    for s in sent:
        at = receipts.get(s.event_id)
        if at is not None:
            answered[s.partition].append(at)
        if start <= s.at < end - 5.0:  # sent at least 5 s before the window's end
            if at is None:
                unanswered += 1
            else:
                latency.append(at - s.at)
                pause[s.partition] = max(pause[s.partition], at - s.at)
    partitions = sorted({s.partition for s in sent})
    gaps = [longest_gap(sorted(answered[p]), start, end) for p in partitions]
    pauses = list(pause.values())
    return {
        "event": name,
        "window_s": round(end - start, 1),
        "partitions": len(partitions),
        "max_pause_s": round(max(pauses), 2) if pauses else None,
        "p99_pause_s": round(percentile(pauses, 99), 2) if pauses else None,
        "p50_pause_s": round(percentile(pauses, 50), 2) if pauses else None,
        "partitions_paused_over_5s": sum(1 for v in pauses if v > PAUSE_LIMIT_S),
        "max_gap_s": round(max(gaps), 2),
        "p99_gap_s": round(percentile(gaps, 99), 2),
        "partitions_gap_over_5s": sum(1 for g in gaps if g > PAUSE_LIMIT_S),
        "events": len(latency) + unanswered,
        "p50_latency_s": round(percentile(latency, 50), 2) if latency else None,
        "unanswered": unanswered,
    }


def caught_up(sent: Sequence[Sent], receipts: Mapping[str, float], last: int) -> bool:
    """The ``last`` events sent at least 2 s ago were all answered within 2 s (no backlog)."""
    now = time.time()
    recent = [s for s in sent if s.at < now - 2.0][-last:]
    return len(recent) == last and all(receipts.get(s.event_id, now) - s.at < 2.0 for s in recent)


def _until(
    what: str, probe: Callable[[], bool], timeout_s: float, workers: Sequence[Worker]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        _keep(workers)
        time.sleep(0.2)


def _keep(workers: Sequence[Worker]) -> None:
    for worker in workers:
        if worker.keep():
            RESTARTS.append((worker.log.name, time.time()))


def _hold(seconds: float, workers: Sequence[Worker]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _keep(workers)
        time.sleep(0.2)


#: (worker log, time) of each restart after ``EXIT_RESTART``.
RESTARTS: list[tuple[str, float]] = []


def measure(args: argparse.Namespace, broker: BenchBroker, work: Path) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    catalog = work / "catalog.yaml"
    document = catalog_document(args.entries, run)
    catalog.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    loaded = load_catalog(catalog).catalog
    entry_ids = [e.id for e in loaded.entries]
    defs = bus_topics(entry_ids, [a.id for a in loaded.agencies])
    began = time.monotonic()
    Admin(broker.bootstrap, extra_config=dict(broker.config)).ensure_topics(
        [TopicSpec.of(d) for d in defs]
    )
    topics_s = time.monotonic() - began
    group = f"govbus-bench-rebalance-{run}"
    argv = ["--bootstrap", broker.bootstrap, "--group", group, "--catalog", str(catalog)]
    if args.membership:
        argv += ["--membership", args.membership]
    workers = [
        Worker(
            [sys.executable, "-m", "topology.run", "--worker", str(n), *argv],
            broker.env,
            work / f"worker-{n}.log",
        )
        for n in range(2)
    ]
    total: int = args.entries * POLICIES[TopicKind.INGEST].partitions
    load = Load(broker, catalog, entry_ids, args.rate)
    receipts = Receipts(broker)
    events: list[tuple[str, float]] = []
    say = partial_say(time.monotonic())
    try:
        workers[0].start()
        _until(
            "worker 0 ready", lambda: sum(workers[0].restored()) >= total, READY_TIMEOUT_S, workers
        )
        say(f"worker 0 restored {total} partitions")
        receipts.start()
        load.start()

        def every_partition_answered() -> bool:
            seen = {s.partition for s in list(load.sent) if s.event_id in receipts.times}
            return len(seen) >= total

        _until("every partition answered", every_partition_answered, READY_TIMEOUT_S, workers)
        try:
            _until(
                "no backlog",
                lambda: caught_up(list(load.sent), receipts.times, 100),
                CATCH_UP_S,
                workers,
            )
            backlog = False
        except TimeoutError:
            backlog = True  # a loaded machine: the baseline's pauses say how far behind
        say("every partition answered; baseline")
        events.append(("baseline", time.time()))
        _hold(args.hold, workers[:1])
        events.append(("join", workers[1].start()))
        say("worker 1 joined")
        _hold(args.hold, workers)
        joined = workers[1].restored()
        events.append(("leave", workers[1].signal(signal.SIGTERM)))
        say(f"worker 1 left (exit {workers[1].proc and workers[1].proc.returncode})")
        _hold(args.hold, workers[:1])
        if args.kill:
            events.append(("rejoin", workers[1].start()))
            say("worker 1 joined again")
            _hold(args.hold, workers)
            events.append(("crash-restart", workers[1].signal(signal.SIGKILL)))
            workers[1].start()
            say("worker 1 killed and started again at once")
            _hold(args.hold, workers)
            events.append(("kill", workers[1].signal(signal.SIGKILL)))
            say("worker 1 killed")
            _hold(args.hold, workers[:1])
        end = time.time()
        load.stop()
        sent = list(load.sent)
        say(f"{len(sent)} sent; draining")
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and any(s.event_id not in receipts.times for s in sent):
            time.sleep(0.5)
    finally:
        load.halt()
        receipts.stop()
        for worker in workers:
            if worker.alive():
                worker.signal(signal.SIGTERM)
    return {
        "benchmark": "rebalance",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": args.entries,
        "ingest_partitions": total,
        "rate": args.rate,
        "send_interval_per_partition_s": round(total / args.rate, 2),
        "hold_s": args.hold,
        "membership": args.membership or "default",
        # The workers' consumers: the processor's default unless the settings override it.
        "heartbeat_interval_ms": int(
            broker.config.get("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS)
        ),
        "broker": broker.kind,
        "topics_created_s": round(topics_s, 1),
        "sent": len(sent),
        "failed_deliveries": load.failed,
        "worker0_restored": workers[0].restored(),
        "worker1_restored_on_join": joined,
        "backlog_at_baseline": backlog,
        "worker_restarts": [[name, round(at - events[0][1], 1)] for name, at in RESTARTS],
        "events": [summarise(sent, receipts.times, w) for w in windows(events, end)],
    }


def partial_say(began: float) -> Callable[[str], None]:
    def say(what: str) -> None:
        wall = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        print(f"+{time.monotonic() - began:.0f}s {wall} {what}", file=sys.stderr, flush=True)

    return say


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=200)
    p.add_argument("--rate", type=float, default=50.0, help="events per second, all partitions")
    p.add_argument("--hold", type=float, default=30.0, help="seconds after each event")
    p.add_argument("--kill", action="store_true", help="a second round: rejoin, then SIGKILL")
    p.add_argument("--membership", default="", help="passed to topology.run if given")
    p.add_argument("--bootstrap", default="")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--logs", type=Path, default=None, help="keep the worker logs here")
    args = p.parse_args()
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="govbus-rebalance-") as tmp:
        with bench_broker(args.bootstrap) as broker:
            report.update(measure(args, broker, Path(tmp)))
        report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        for n in range(2):
            log = Path(tmp) / f"worker-{n}.log"
            errors = [ln for ln in log.read_text(errors="replace").splitlines() if "rror" in ln]
            report[f"worker{n}_error_lines"] = errors[-5:]
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, args.logs / log.name)
    for event in report["events"]:
        print(json.dumps(event, ensure_ascii=False), flush=True)
    path = write_results(args.out, "rebalance", report)
    print(f"results: {path}", flush=True)


if __name__ == "__main__":
    main()
