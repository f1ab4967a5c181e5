"""One measured deployment: worker processes on a fresh scenario, warmed up, with a
watcher on the open feed (the last feed of every event's fan-out): the bus's, shared by
every entry, read for the scenario's entry; a peer's, a topic of the scenario's own.

A *throughput* measurement publishes ``count`` events at once and times from the first
send to the moment the last event's open-feed record is readable (``read_committed``).
A *latency* measurement publishes at a fixed rate and takes each event's time from its
send to its open-feed record being readable: govbus commits every output of an event in
one transaction, so that is when its last feed record is committed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.broker import BenchBroker
from bench.measure import (
    DRAIN_TIMEOUT_S,
    READY_TIMEOUT_S,
    FeedWatcher,
    Progress,
    Workers,
    new_producer,
    send_burst,
    send_paced,
)
from bench.scenario import CONSUMERS, Events, Scenario, make_events, new_scenario
from kafkaclient import Admin, TopicSpec
from schemas.topics import POLICIES, TopicKind, bus_topics

MIB = 1024 * 1024
#: Given a fresh scenario and a directory for files: the worker commands to run.
Commands = Callable[[Scenario, Path], list[list[str]]]


@dataclass(frozen=True)
class Launcher:
    """A pipeline measured on fresh scenarios: its worker ``commands``, and whether it is a
    framework ``peer`` (bench.peers) rather than govbus. A peer writes its open feed to a
    topic of the scenario's own (``Scenario.peer_open_topic``), made with the scenario's
    topics, not to the bus's open feed that every entry shares."""

    commands: Commands
    peer: bool = False

    def outputs(self, scenario: Scenario) -> tuple[str, ...]:
        """Every feed the pipeline writes an event of ``scenario`` to, the open feed last."""
        return scenario.peer_output_topics if self.peer else scenario.output_topics

    def own_topics(self, scenario: Scenario) -> list[TopicSpec]:
        """Topics the pipeline writes beside the bus's: a peer's open feed, with the
        partitions and settings of the bus's open feed."""
        if not self.peer:
            return []
        policy = POLICIES[TopicKind.OPEN]
        return [TopicSpec(scenario.peer_open_topic, policy.partitions, config=policy.config)]


def create_topics(
    broker: BenchBroker, scenario: Scenario, partitions: int, extra: Sequence[TopicSpec] = ()
) -> None:
    """The scenario's bus topics (settings of schemas.topics), its ingest topic with
    ``partitions`` partitions, and the bench's ``extra`` topics of it."""
    specs = [
        TopicSpec(
            d.name, partitions if d.kind is TopicKind.INGEST else d.partitions, config=d.config
        )
        for d in bus_topics([scenario.entry], [scenario.provider, *scenario.consumers])
    ]
    Admin(broker.bootstrap, extra_config=broker.config).ensure_topics([*specs, *extra])


@dataclass(frozen=True)
class Throughput:
    """``events`` published at once; ``seconds`` from the first send until the last one's
    open-feed record is readable (so it includes filling the pipeline and the final
    commit: with ``--events`` large these are a small share)."""

    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def describe(self) -> dict[str, Any]:
        return {
            "events_per_s": round(self.events_per_s, 1),
            "timed_events": self.events,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class Workload:
    """What a run is fed: ``warmup`` events first (waited for), then events on demand, all
    from the sequence of ``seed``, on ``partitions`` ingest partitions."""

    partitions: int
    warmup: int
    seed: int
    #: Publish to the provider's submission topic (through the repartition stage).
    submit: bool = False
    #: Consuming agencies of the scenario (bench.scenario.Scenario.consumer_count).
    consumers: int = len(CONSUMERS)


class Running:
    """Use as a context manager: starts the workers and waits for the warm-up's output."""

    def __init__(
        self,
        broker: BenchBroker,
        work_dir: Path,
        launcher: Launcher,
        workload: Workload,
        *,
        label: str,
        progress: Progress | None = None,
    ) -> None:
        self.broker = broker
        self.bootstrap = broker.bootstrap
        self.progress = progress
        self.label = label
        self.scenario = new_scenario(workload.consumers)
        self.seed = workload.seed
        self.warmup = workload.warmup
        self.sent = 0
        self.input_topic = self.scenario.input_topic(workload.submit)
        #: Every feed the pipeline writes an event to, the open feed (the watched one) last.
        self.outputs = launcher.outputs(self.scenario)
        #: The agency's publisher: one long-lived client for the warm-up and every
        #: measurement, as an agency system runs it (connected and with its producer id
        #: before the first timed event).
        self.publisher = new_producer(self.bootstrap, broker.config)
        create_topics(
            broker, self.scenario, workload.partitions, launcher.own_topics(self.scenario)
        )
        self.workers = Workers(
            launcher.commands(self.scenario, work_dir), log_dir=work_dir, env=broker.env
        )
        try:
            self.watcher = FeedWatcher(
                self.bootstrap, self.outputs[-1], broker.config, entry=self.scenario.entry
            )
        except BaseException:
            self.workers.stop()
            raise
        self.peak_rss: list[int] = []

    def __enter__(self) -> Running:
        try:
            self.send_and_wait(make_events(self.scenario, self.warmup, self.seed), self.progress)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self.peak_rss:
            self.peak_rss = self.workers.stop()
            self.watcher.close()

    def events(self, count: int) -> Events:
        """The next ``count`` events of the seed's sequence, for this scenario."""
        return make_events(self.scenario, count, self.seed, first=self.warmup + self.sent)

    def send_and_wait(self, events: Events, progress: Progress | None = None) -> float:
        """Send at once; seconds from the first send until the last is readable."""
        target = self.watcher.seen + len(events)
        budget = READY_TIMEOUT_S if self.sent == 0 else DRAIN_TIMEOUT_S
        started = time.perf_counter()
        sender = send_burst(self.publisher, self.input_topic, events)
        while True:
            self.workers.check_alive()
            done = self.watcher.wait_count(target, 1.0, progress)
            if done is not None:
                break
            if time.perf_counter() - started > budget:
                raise SystemExit(
                    f"{self.label}: {self.watcher.seen} of {target} open-feed records "
                    f"in {budget:.0f} s; worker logs: {[str(p) for p in self.workers.logs]}"
                )
        sender.join()
        self.sent += len(events)
        return done - started

    def throughput(self, count: int, progress: Progress | None = None) -> Throughput:
        """Publish ``count`` events at once; the pipeline drains them at its best rate."""
        return Throughput(count, self.send_and_wait(self.events(count), progress))

    def latency(self, rate: float, count: int, progress: Progress | None = None) -> dict[str, Any]:
        """Publish ``count`` events at ``rate``/s; send-to-readable latency percentiles."""
        events = self.events(count)
        target = self.watcher.seen + count
        paced = send_paced(self.publisher, self.input_topic, events, rate)
        seconds: list[float] = []
        last_progress = time.perf_counter()
        while self.watcher.seen < target:
            self.workers.check_alive()
            before = self.watcher.seen
            seconds += self.watcher.latencies(paced.sent_at, target, 1.0, progress)
            if self.watcher.seen > before or paced.thread.is_alive():
                last_progress = time.perf_counter()
            elif time.perf_counter() - last_progress > DRAIN_TIMEOUT_S:
                break
        paced.thread.join()
        self.sent += count
        return latency_summary(rate, count, seconds, paced.finished - paced.started)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(rate: float, count: int, seconds: list[float], send_s: float) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "offered_events_per_s": round(rate, 1),
        "sent": count,
        "achieved_send_rate": round(count / send_s, 1) if send_s > 0 else None,
        "measured": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "p99_9_ms": round(percentile(ms, 99.9), 2),
        "max_ms": round(max(ms), 2) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
    }


def rss_mib(peaks: Sequence[int]) -> dict[str, Any]:
    return {
        "peak_rss_mib_per_worker": [round(p / MIB, 1) for p in peaks],
        "peak_rss_mib": round(max(peaks, default=0) / MIB, 1),
    }
