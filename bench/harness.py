"""The whole benchmark in one run on one broker: raw ceiling, govbus, peers, variants,
partition scaling, latency under paced load. :func:`run_bench` returns the report (a
JSON-able dict); every ratio in it is computed from the measured numbers it also holds.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka

from base.settings import Settings
from bench.broker import BenchBroker
from bench.measure import Progress
from bench.peers import PEERS, available, peer_launcher
from bench.pipeline import Setup, govbus_launcher
from bench.plan_step import plan_rate
from bench.raw import run_raw
from bench.runs import Launcher, Running, Workload, create_topics, rss_mib
from bench.scenario import (
    CONSUMERS,
    PARTIAL_GRANTS,
    SUBJECTS,
    Scenario,
    make_events,
    new_scenario,
)
from bench.verify import count_committed
from kafkaclient import TopicSpec
from schemas.topics import POLICIES, TopicKind

#: The project's goals (issues 9 and 17): design targets, not test thresholds.
GOALS = {
    "govbus_to_raw_min": 0.25,
    "govbus_to_peer_min": 1.5,
    "p99_ms_at_half_load_max": 100.0,
    "p99_9_ms_at_half_load_max": 250.0,
    "audit_cost_max": 0.10,
}
DEFAULT_INTERVAL = Setup().commit_interval_s
SECTIONS = ("raw", "govbus", "peers", "variants", "scaling", "latency")
#: The raw section's warm-up topic, one per run (a scenario's suffix after it).
RAW_WARMUP_PREFIX = "bench.raw.warmup."
VARIANTS = ("audit_off", "repartition", "at_least_once")


@dataclass(frozen=True)
class Options:
    events: int = 15_000
    warmup: int = 300
    seed: int = 7
    #: Seconds of paced sending per latency point.
    latency_s: float = 8.0
    load_fractions: tuple[float, ...] = (0.25, 0.5, 0.8)
    commit_intervals: tuple[float, ...] = (0.5, 0.05)
    scaling: tuple[int, ...] = (1, 2, 4)
    peers: tuple[str, ...] = PEERS
    sections: tuple[str, ...] = SECTIONS
    #: The variants measured in the ``variants`` section.
    variants: tuple[str, ...] = VARIANTS
    #: Consuming agencies of the scenario (5: three full grants, two per-field ones;
    #: more: full grants), so the fan-out per event is ``consumers`` + the open feed.
    consumers: int = len(CONSUMERS)
    partitions: int = 3
    #: Rounds of the main comparison (govbus, peers, variants), in rotated order; each
    #: result is the median of its rounds.
    rounds: int = 2
    #: Events of an untimed govbus deployment before any measurement (a cold broker JVM
    #: is slower at first; transactions are not exercised by the raw section).
    broker_warmup: int = 3_000
    profile: Path | None = None

    @classmethod
    def quick(cls) -> Options:
        return cls(events=2_000, warmup=100, latency_s=3.0, rounds=1, broker_warmup=500)

    def describe(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "warmup": self.warmup,
            "seed": self.seed,
            "latency_seconds_per_point": self.latency_s,
            "load_fractions": list(self.load_fractions),
            "commit_intervals_s": list(self.commit_intervals),
            "scaling_partitions_and_workers": list(self.scaling),
            "peers": list(self.peers),
            "sections": list(self.sections),
            "variants": list(self.variants),
            "consumers": self.consumers,
            "partitions": self.partitions,
            "rounds": self.rounds,
            "broker_warmup_events": self.broker_warmup,
        }

    def planned_steps(self) -> int:
        """How many progress steps the run will take (see :class:`Tracker`)."""
        sections = set(self.sections)
        compared = ("govbus" in sections) + len(self.variants) * ("variants" in sections)
        compared += len(self.peers) if "peers" in sections else 0
        steps = 1 if "raw" in sections else 0
        if self.broker_warmup and sections - {"raw"}:
            steps += 2
        steps += 2 * compared * self.rounds
        steps += 2 * len(self.scaling) if "scaling" in sections else 0
        if "latency" in sections and "govbus" in sections:
            steps += len(self.commit_intervals) * (2 + len(self.load_fractions))
        return steps + (2 if self.profile is not None else 0)


@dataclass
class Tracker:
    """Progress: ``step(name, events)`` starts a step expecting ``events`` events;
    ``on_events(n)`` counts events seen."""

    on_step: Callable[[str, int], None] = lambda _name, _events: None
    on_events: Progress = lambda _n: None
    steps: list[tuple[str, float]] = field(default_factory=list)

    def step(self, name: str, events: int) -> None:
        self.steps.append((name, time.perf_counter()))
        self.on_step(name, events)

    def durations(self) -> list[dict[str, Any]]:
        """Seconds each step took (the last one until now)."""
        ends = [t for _, t in self.steps[1:]] + [time.perf_counter()]
        return [
            {"step": name, "seconds": round(end - start, 1)}
            for (name, start), end in zip(self.steps, ends, strict=True)
        ]


def machine() -> dict[str, Any]:
    cpu = ""
    mem_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu or platform.processor(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "load_average_at_start": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kafka_version": Settings.load().kafka_version,
        "confluent_kafka": str(confluent_kafka.version()[0]),
        "librdkafka": confluent_kafka.libversion()[0],
        "quixstreams": _version("quixstreams"),
        "faust_streaming": _version("faust-streaming"),
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


class Bench:
    def __init__(self, broker: BenchBroker, options: Options, work_dir: Path, tracker: Tracker):
        self.broker = broker
        self.bootstrap = broker.bootstrap
        self.o = options
        self.work_dir = work_dir
        self.t = tracker

    @contextmanager
    def running(
        self, launcher: Launcher, label: str, partitions: int, *, submit: bool = False
    ) -> Iterator[Running]:
        self.t.step(f"{label}: starting", self.o.warmup)
        with Running(
            self.broker,
            self.work_dir,
            launcher,
            Workload(partitions, self.o.warmup, self.o.seed, submit, self.o.consumers),
            label=label,
            progress=self.t.on_events,
        ) as run:
            self.t.step(label, self.o.events)
            yield run

    def raw(self) -> dict[str, Any]:
        self.t.step("raw confluent-kafka", self.o.events + self.o.warmup)
        scenario = new_scenario(self.o.consumers)
        # The warm-up topic: one of the scenario's own, made as its ingest topic is.
        warm = f"{RAW_WARMUP_PREFIX}{scenario.suffix}"
        ingest = POLICIES[TopicKind.INGEST]
        extra = [TopicSpec(warm, self.o.partitions, config=ingest.config)]
        create_topics(self.broker, scenario, self.o.partitions, extra)
        events = make_events(scenario, self.o.events + self.o.warmup, self.o.seed)
        result = run_raw(
            self.bootstrap,
            scenario.ingest_topic,
            warm,
            events,
            self.o.warmup,
            config=self.broker.config,
        )
        self.t.on_events(len(events))
        return {
            "events": result.events,
            "mean_event_bytes": round(events.mean_bytes(), 1),
            "produce_events_per_s": round(result.produce_eps, 1),
            "consume_events_per_s": round(result.consume_eps, 1),
            "events_per_s": round(result.events_per_s, 1),
        }

    def govbus_throughput(self, setup: Setup, label: str, verify: bool = False) -> dict[str, Any]:
        launcher = govbus_launcher(self.bootstrap, setup)
        with self.running(launcher, label, setup.partitions, submit=setup.submit) as run:
            measured = run.throughput(self.o.events, self.t.on_events)
        out = {**setup.describe(), **measured.describe(), **rss_mib(run.peak_rss)}
        if verify:
            out["feed_records"] = feed_records(self.broker, run)
        return out

    def warm_broker(self) -> None:
        setup = Setup(partitions=self.o.partitions)
        with self.running(
            govbus_launcher(self.bootstrap, setup), "broker warm-up (untimed)", setup.partitions
        ) as run:
            run.throughput(self.o.broker_warmup, self.t.on_events)

    def latency(
        self, interval: float, max_eps: float, *, submit: bool = False
    ) -> list[dict[str, Any]]:
        """A deployment at commit interval ``interval``; the paced points on it (``submit``:
        the provider publishes through the repartition stage)."""
        setup = Setup(partitions=self.o.partitions, commit_interval_s=interval, submit=submit)
        label = f"govbus commit {interval} s" + (" via repartition" if submit else "")
        launcher = govbus_launcher(self.bootstrap, setup)
        with self.running(launcher, label, setup.partitions, submit=submit) as run:
            points = self.latency_points(run, interval, max_eps)
        return [{**p, "submit": submit} for p in points]

    def latency_points(self, run: Running, interval: float, max_eps: float) -> list[dict[str, Any]]:
        points = []
        for fraction in self.o.load_fractions:
            rate = max_eps * fraction
            count = max(1, int(rate * self.o.latency_s))
            self.t.step(f"latency: commit {interval} s, {fraction:.0%} load ({rate:,.0f}/s)", count)
            summary = run.latency(rate, count, self.t.on_events)
            points.append({"commit_interval_s": interval, "load_fraction": fraction, **summary})
        return points

    def peer(self, peer: str, verify: bool = False) -> dict[str, Any]:
        if not available(peer):
            return {"skipped": f"{peer} is not installed (pip install '.[bench]', README)"}
        interval = Setup().commit_interval_s
        launcher = peer_launcher(peer, self.bootstrap, interval)
        with self.running(launcher, peer, self.o.partitions) as run:
            measured = run.throughput(self.o.events, self.t.on_events)
        out = {
            "version": _version("quixstreams" if peer == "quix-streams" else "faust-streaming"),
            "processing_guarantee": "exactly-once",
            "commit_interval_s": interval,
            **measured.describe(),
            **rss_mib(run.peak_rss),
        }
        if verify:
            out["feed_records"] = feed_records(self.broker, run)
        return out

    def profile(self, path: Path) -> dict[str, Any]:
        setup = Setup(partitions=self.o.partitions)
        launcher = govbus_launcher(self.bootstrap, setup, profile=path)
        with self.running(launcher, "govbus under pyinstrument", setup.partitions) as run:
            measured = run.throughput(self.o.events, self.t.on_events)
        return {
            "events_per_s_under_profiler": measured.describe()["events_per_s"],
            "file": str(path),
        }


def feed_records(broker: BenchBroker, run: Running) -> dict[str, int]:
    """Each feed of ``run``'s pipeline: how many of its scenario's records it holds
    (committed; of the bus's open feed, shared by every entry, those of its entry)."""
    return count_committed(
        broker.bootstrap, run.outputs, run.sent, config=broker.config, entry=run.scenario.entry
    )


def run_bench(
    broker: BenchBroker,
    options: Options,
    work_dir: Path,
    *,
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """Measure everything ``options.sections`` names on ``broker``; return the report."""
    started = time.perf_counter()
    tracker = tracker or Tracker()
    bench = Bench(broker, options, work_dir, tracker)
    sections = set(options.sections)
    report = _header(broker, options)
    if "raw" in sections:
        report["raw"] = bench.raw()
    if options.broker_warmup and sections - {"raw"}:
        bench.warm_broker()
    report.update(_in_rounds(bench, options))
    if "scaling" in sections:
        report["scaling"] = [
            bench.govbus_throughput(Setup(partitions=n, workers=n), f"govbus {n}p/{n}w")
            for n in options.scaling
        ]
    if "latency" in sections and "govbus" in report:
        max_eps = report["govbus"]["events_per_s"]
        points = [p for i in options.commit_intervals for p in bench.latency(i, max_eps)]
        report["latency"] = {"max_events_per_s": max_eps, "points": points}
        if "variants" in sections:
            # The repartition stage's hop at the first commit interval, same loads.
            first = options.commit_intervals[0]
            report["latency"]["points_repartition"] = bench.latency(first, max_eps, submit=True)
    if options.profile is not None:
        report["profile"] = bench.profile(options.profile)
    report["records_written"] = records_written(report)
    report["ratios"] = ratios(report)
    report["assessment"] = assess(report)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["steps"] = tracker.durations()
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    return report


def _header(broker: BenchBroker, options: Options) -> dict[str, Any]:
    """What a report says before anything is measured: when, where, with what settings."""
    partial = len(set(PARTIAL_GRANTS) & set(CONSUMERS[: options.consumers]))
    return {
        "benchmark": "pipeline",
        "run_id": uuid.uuid4().hex[:8],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "broker": broker.kind,
        "machine": machine(),
        "settings": options.describe(),
        "scenario": {
            "agency_feeds": options.consumers,
            "full_grants": options.consumers - partial,
            "per_field_grants": partial,
            "open_feed": "desensitised (GM 9)",
            "subjects": SUBJECTS,
            "feed_records_per_event": options.consumers + 1,
            **records_per_event(options.consumers, options.seed),
        },
        "goals": GOALS,
    }


def _in_rounds(bench: Bench, options: Options) -> dict[str, Any]:
    """govbus, the peers and the variants, measured in rounds whose order rotates."""
    report: dict[str, Any] = {}
    compared = comparisons(bench, options)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in compared}
    for number in range(options.rounds):
        shift = number % max(1, len(compared))
        for name, measure in compared[shift:] + compared[:shift]:
            rounds[name].append(measure(number == 0))
    results = {name: combine(values) for name, values in rounds.items()}
    if "govbus" in results:
        report["govbus"] = results.pop("govbus")
    peers = {p: results.pop(p) for p in options.peers if p in results}
    if "peers" in options.sections:
        report["peers"] = {
            p: peers.get(p, {"skipped": f"{p} is not installed (README: bench extra)"})
            for p in options.peers
        }
    if results:
        report["variants"] = results
    return report


Measure = Callable[[bool], dict[str, Any]]


def comparisons(bench: Bench, options: Options) -> list[tuple[str, Measure]]:
    """The measurements repeated in rounds: name -> measure(verify feeds)."""
    sections = set(options.sections)
    base = Setup(partitions=options.partitions)
    out: list[tuple[str, Measure]] = []
    if "govbus" in sections:
        out.append(("govbus", lambda verify: bench.govbus_throughput(base, "govbus", verify)))
    if "peers" in sections:
        for peer in options.peers:
            if available(peer):
                out.append((peer, functools.partial(bench.peer, peer)))
    if "variants" in sections:
        variants = {
            "audit_off": (replace(base, audit=False), "govbus audit off"),
            "repartition": (replace(base, submit=True), "govbus via repartition"),
            "at_least_once": (replace(base, exactly_once=False), "govbus at-least-once"),
        }
        for name in options.variants:
            setup, label = variants[name]
            out.append((name, functools.partial(_variant, bench, setup, label)))
    return out


def _variant(bench: Bench, setup: Setup, label: str, _verify: bool) -> dict[str, Any]:
    return bench.govbus_throughput(setup, label)


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from its rounds: the first round's fields, events/s the median of the
    rounds (each listed), peak RSS the highest."""
    out = dict(rounds[0])
    out["events_per_s"] = round(statistics.median(r["events_per_s"] for r in rounds), 1)
    out["events_per_s_rounds"] = [r["events_per_s"] for r in rounds]
    out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rounds)
    return out


def _eps(section: Any) -> float | None:
    if isinstance(section, dict) and "events_per_s" in section:
        return float(section["events_per_s"])
    return None


#: Events planned to count the records the processor writes per event.
RECORD_COUNT_EVENTS = 200


def records_per_event(consumers: int, seed: int) -> dict[str, float]:
    """The records govbus writes per event of the scenario, audit on and off: counted by
    planning events with the processor's own plan step (``bench.plan_step``), no broker."""
    scenario = Scenario("records", consumers)
    on = plan_rate(scenario, RECORD_COUNT_EVENTS, seed, audit=True)
    off = plan_rate(scenario, RECORD_COUNT_EVENTS, seed, audit=False)
    return {
        "records_per_event": on["records_per_event"],
        "records_per_event_audit_off": off["records_per_event"],
    }


def records_written(report: dict[str, Any]) -> dict[str, float | None]:
    """govbus's records written per second beside raw produce's records per second of the
    same run (issue 17 item 6): events/s x records per event, and raw's produce rate (one
    record per event). The ceiling of a fan-out pipeline is raw produce, not raw events."""
    per_event = report["scenario"].get("records_per_event")
    gov = _eps(report.get("govbus"))
    off = _eps(report.get("variants", {}).get("audit_off"))
    raw = report.get("raw", {}).get("produce_events_per_s")
    gov_rps = round(gov * per_event) if gov and per_event else None
    off_per_event = report["scenario"].get("records_per_event_audit_off")
    return {
        "records_per_event": per_event,
        "govbus_records_per_s": gov_rps,
        "audit_off_records_per_s": round(off * off_per_event) if off and off_per_event else None,
        "raw_produce_records_per_s": raw,
        "govbus_to_raw_produce": ratio(gov_rps, raw),
    }


def ratios(report: dict[str, Any]) -> dict[str, float | None]:
    """govbus / raw, govbus / each peer, and what audit and exactly once cost."""
    gov = _eps(report.get("govbus"))
    out: dict[str, float | None] = {}
    if "raw" in report:
        out["govbus_to_raw"] = ratio(gov, _eps(report["raw"]))
    for peer, result in report.get("peers", {}).items():
        out[f"govbus_to_{peer}"] = ratio(gov, _eps(result))
    variants = report.get("variants", {})
    off = _eps(variants.get("audit_off"))
    alo = _eps(variants.get("at_least_once"))
    if off and gov:
        # Share of the audit-off throughput lost by auditing: 1 - on/off.
        out["audit_cost"] = round(1 - gov / off, 3)
    if alo and gov:
        out["exactly_once_cost"] = round(1 - gov / alo, 3)
    hop = _eps(variants.get("repartition"))
    if hop and gov:
        # Share of the direct-to-ingest throughput lost to the repartition stage's hop.
        out["repartition_cost"] = round(1 - hop / gov, 3)
    scaling = report.get("scaling", [])
    if scaling and _eps(scaling[0]):
        for row in scaling:
            out[f"scaling_{row['partitions']}_to_1"] = ratio(_eps(row), _eps(scaling[0]))
    return out


def assess(report: dict[str, Any]) -> dict[str, Any]:
    """Each goal: measured value, goal, met or not (None when not measured)."""
    r = report["ratios"]
    out: dict[str, Any] = {}
    if "govbus_to_raw" in r:
        out["govbus_to_raw"] = _goal(r["govbus_to_raw"], GOALS["govbus_to_raw_min"], True)
    for key, value in r.items():
        if key.startswith("govbus_to_") and key != "govbus_to_raw":
            out[key] = _goal(value, GOALS["govbus_to_peer_min"], True)
    half = [p for p in report.get("latency", {}).get("points", []) if p["load_fraction"] == 0.5]
    for point in half:
        key = f"p99_ms_at_half_load_commit_{point['commit_interval_s']}s"
        out[key] = _goal(point["p99_ms"], GOALS["p99_ms_at_half_load_max"], False)
        if point.get("p99_9_ms") is not None:
            key = f"p99_9_ms_at_half_load_commit_{point['commit_interval_s']}s"
            out[key] = _goal(point["p99_9_ms"], GOALS["p99_9_ms_at_half_load_max"], False)
    if "audit_cost" in r:
        cost = r["audit_cost"]
        out["audit_cost"] = _goal(cost, GOALS["audit_cost_max"], False)
        if cost is not None and cost < 0:
            out["audit_cost"]["met"] = None  # audit off slower than on: noise, not a result
    return out


def _goal(value: float | None, goal: float, at_least: bool) -> dict[str, Any]:
    met = None if value is None else (value >= goal if at_least else value <= goal)
    return {"measured": value, "goal": goal, "met": met}
