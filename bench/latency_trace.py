"""Where an event's latency goes: per-event timestamps through the pipeline's stages.

``python -m bench.latency_trace [--rate R] [--seconds S] [--commit-interval C]`` deploys
one govbus worker (processor and repartition stage) on a fresh scenario, publishes to the
provider's submission topic at ``R`` events/s, and times each event at every point it can
be seen from outside the worker, all in wall-clock seconds (``time.time()``):

- ``send``: the publisher's ``produce()`` call;
- ``submit``: readable in the submission topic (read_uncommitted);
- ``ingest_produced``: the repartition stage's ``produce()`` call (the ingest record's
  CreateTime, set by librdkafka when it is produced);
- ``ingest_written``: readable in the ingest topic read_uncommitted (in the log, inside
  the stage's open transaction);
- ``ingest_committed``: readable read_committed (the stage's transaction committed);
- ``feed_produced``: the processor's ``produce()`` of the open-feed record (its
  CreateTime: the processor has consumed and planned the event by then); the open feed is
  one topic for every entry, read for the scenario's entry;
- ``feed_written``: readable in the open feed read_uncommitted;
- ``feed_committed``: readable read_committed: the bench's end point.

Each watcher is a consumer of its own with a 5 ms fetch wait, so a watcher adds a few
ms at most to its point. The report gives each step's p50/p99/p99.9/max, and for the
slowest 1 % of events which step took the most time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from confluent_kafka import OFFSET_END

from bench.broker import BenchBroker, bench_broker
from bench.measure import DRAIN_TIMEOUT_S
from bench.pipeline import Setup, govbus_launcher
from bench.runs import Running, Workload, percentile
from bench.scenario import of_entry
from kafkaclient import Consumer, TopicPartition
from schemas import decode

POINTS = (
    "send",
    "submit",
    "ingest_produced",
    "ingest_written",
    "ingest_committed",
    "feed_produced",
    "feed_written",
    "feed_committed",
)
WATCH_FETCH_WAIT_MS = 5


class StageWatcher(threading.Thread):
    """Reads ``topic`` from its end; for each event id of ``entry``'s records (all of a
    topic of the scenario's own; of a topic every entry shares, those of its entry,
    :func:`bench.scenario.of_entry`), the wall time it was first seen (``seen``) and its
    record's CreateTime (``created``)."""

    def __init__(  # noqa: PLR0913 - the watched topic and how it is read, keyword-only
        self,
        bootstrap: str,
        topic: str,
        schema: str,
        config: Mapping[str, str],
        *,
        entry: str,
        committed: bool,
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True)
        self.schema = schema
        self.entry = entry
        self.stop = stop
        self.seen: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self._consumer = Consumer(
            bootstrap,
            f"bench-trace-{topic}-{committed}",
            extra_config={
                **config,
                "fetch.wait.max.ms": WATCH_FETCH_WAIT_MS,
                "isolation.level": "read_committed" if committed else "read_uncommitted",
            },
        )
        partitions = self._consumer.topic(topic).partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])

    def run(self) -> None:
        while not self.stop.is_set():
            batch = self._consumer.consume(1, timeout_s=0.05)
            if batch:
                batch += self._consumer.consume(1000, timeout_s=0)
            now = time.time()
            for msg in (m for m in batch if of_entry(m, self.entry)):
                event_id = str(decode(self.schema, msg.value() or b"")["event_id"])
                self.seen.setdefault(event_id, now)
                self.created.setdefault(event_id, msg.timestamp()[1] / 1000)
        self._consumer.close()


def trace(broker: BenchBroker, args: argparse.Namespace) -> dict[str, Any]:
    bootstrap, config = broker.bootstrap, broker.config
    setup = Setup(commit_interval_s=args.commit_interval, submit=True)
    with (
        TemporaryDirectory() as tmp,
        Running(
            broker,
            args.work_dir or Path(tmp),
            govbus_launcher(bootstrap, setup),
            Workload(setup.partitions, args.warmup, args.seed, submit=True),
            label="trace",
        ) as run,
    ):
        scenario = run.scenario
        stop = threading.Event()

        def watch(topic: str, schema: str, *, committed: bool) -> StageWatcher:
            return StageWatcher(
                bootstrap,
                topic,
                schema,
                config,
                entry=scenario.entry,
                committed=committed,
                stop=stop,
            )

        w = {
            "submit": watch(scenario.submit_topic, "ChangeEvent", committed=False),
            "ingest_written": watch(scenario.ingest_topic, "ChangeEvent", committed=False),
            "ingest_committed": watch(scenario.ingest_topic, "ChangeEvent", committed=True),
            "feed_written": watch(scenario.open_topic, "FeedRecord", committed=False),
            "feed_committed": watch(scenario.open_topic, "FeedRecord", committed=True),
        }
        for watcher in w.values():
            watcher.start()
        time.sleep(2.0)  # the watchers' first fetches
        count = int(args.rate * args.seconds)
        events = run.events(count)
        producer = run.publisher  # connected: it published the warm-up
        sent: dict[str, float] = {}
        start = time.perf_counter()
        for i, (key, value, event_id) in enumerate(
            zip(events.keys, events.values, events.ids, strict=True)
        ):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[event_id] = time.time()
            producer.produce(scenario.submit_topic, value, key)
            producer.poll(0)
        producer.flush(DRAIN_TIMEOUT_S)
        deadline = time.time() + 60
        while len(w["feed_committed"].seen.keys() & sent.keys()) < count and time.time() < deadline:
            time.sleep(0.2)
        stop.set()
        for watcher in w.values():
            watcher.join()
        run.sent += count
    rows = []
    for event_id, t_send in sent.items():
        row = {
            "send": t_send,
            "submit": w["submit"].seen.get(event_id),
            "ingest_produced": w["ingest_written"].created.get(event_id),
            "ingest_written": w["ingest_written"].seen.get(event_id),
            "ingest_committed": w["ingest_committed"].seen.get(event_id),
            "feed_produced": w["feed_written"].created.get(event_id),
            "feed_written": w["feed_written"].seen.get(event_id),
            "feed_committed": w["feed_committed"].seen.get(event_id),
        }
        if all(v is not None for v in row.values()):
            rows.append({k: float(v or 0) for k, v in row.items()})
    return summarise(rows, count, args)


def summarise(rows: list[dict[str, float]], sent: int, args: argparse.Namespace) -> dict[str, Any]:
    steps = list(itertools.pairwise(POINTS))

    def stats(values: list[float]) -> dict[str, float]:
        ms = [v * 1000 for v in values]
        return {
            "p50": round(percentile(ms, 50), 1),
            "p99": round(percentile(ms, 99), 1),
            "p99.9": round(percentile(ms, 99.9), 1),
            "max": round(max(ms), 1) if ms else float("nan"),
        }

    total = [r["feed_committed"] - r["send"] for r in rows]
    cut = percentile(total, 99)
    slow = [r for r in rows if r["feed_committed"] - r["send"] >= cut]
    blame: dict[str, int] = {}
    for r in slow:
        worst = max(steps, key=lambda s: r[s[1]] - r[s[0]])
        blame[f"{worst[0]}->{worst[1]}"] = blame.get(f"{worst[0]}->{worst[1]}", 0) + 1
    return {
        "rate": args.rate,
        "commit_interval_s": args.commit_interval,
        "sent": sent,
        "traced": len(rows),
        "total_ms": stats(total),
        "steps_ms": {f"{a}->{b}": stats([r[b] - r[a] for r in rows]) for a, b in steps},
        "slowest_1pct_worst_step": blame,
        "slowest_1pct_steps_ms": {
            f"{a}->{b}": stats([r[b] - r[a] for r in slow]) for a, b in steps
        },
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.latency_trace", description=__doc__)
    p.add_argument("--rate", type=float, default=300.0, help="events/s offered (300)")
    p.add_argument("--seconds", type=float, default=15.0, help="seconds of paced sending")
    p.add_argument("--commit-interval", type=float, default=0.5)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--bootstrap", default="")
    p.add_argument("--work-dir", type=Path, default=None, help="keep the worker logs here")
    p.add_argument("--out", type=Path, default=None, help="write the JSON here too")
    args = p.parse_args(argv)
    with bench_broker(args.bootstrap) as broker:
        report = trace(broker, args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
