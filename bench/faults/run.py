"""The fault scenarios: load through the project's publisher, two ``topology.run`` workers
(the bench's commands), a fault injected again and again, then every stream read in both
views and checked (:mod:`bench.faults.checker`).

- ``worker-kill``: SIGKILL one of the two workers (alternately) and start it again at
  once (static membership: it takes its partitions back);
- ``broker-kill``: SIGKILL the node leading ingest partition 0 of a 3-node cluster, start
  it again after ``down_s``, wait until every partition is in sync;
- ``broker-pause``: SIGSTOP that node for ``pause_s`` (longer than the broker's and the
  workers' session timeouts, 9 and 10 s), then SIGCONT;
- ``rolling-restart``: SIGTERM each node in turn, start it again, wait until in sync.

Time to resume, per fault: from the fault's start until the open feed (the last record
of every event's fan-out, committed with the rest) has a record again for an event sent
after it, on every ingest partition (:func:`bench.faults.checker.resume_after`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from bench.broker import BenchBroker
from bench.faults.checker import Anomalies, History, aborted_positions, check, resume_after
from bench.faults.leaks import Soak
from bench.faults.record import (
    AUDIT,
    OPEN,
    RECEIPTS,
    Load,
    View,
    feed_stream,
    read_view,
    reads_of,
)
from bench.faults.stall import diagnose
from bench.pipeline import Setup, worker_commands
from bench.runs import create_topics
from bench.scenario import Scenario, new_scenario
from kafkaclient import Admin
from operations.broker.cluster import LocalCluster
from schemas.audit import verify
from schemas.topics import TopicKind, topic_name
from topology.run import EXIT_RESTART

WORKER_KILL, BROKER_KILL, BROKER_PAUSE, ROLLING_RESTART = (
    "worker-kill",
    "broker-kill",
    "broker-pause",
    "rolling-restart",
)
#: No fault: half load for a long while, memory, open files and lag sampled
#: (:mod:`bench.faults.soak`); not among the faults run by default.
SOAK = "soak"
#: The broker faults in turn in one stream (CI's short form: one cluster, one drain).
CLUSTER_CYCLE = "cluster-cycle"
FAULTS = (WORKER_KILL, BROKER_KILL, BROKER_PAUSE, ROLLING_RESTART, CLUSTER_CYCLE)
CLUSTER_FAULTS = (BROKER_KILL, BROKER_PAUSE, ROLLING_RESTART, CLUSTER_CYCLE)
PARTITIONS = 3
WORKERS = 2
#: The workers: the project's defaults but for a short commit interval (as the kill test).
SETUP = Setup(partitions=PARTITIONS, workers=WORKERS, commit_interval_s=0.2, batch_size=200)
#: Waiting for the first output, for every acknowledged event's outputs, for replicas.
WAIT_S = 240.0
#: Waiting for the drain after the faults: after a rolling restart the bus has given no
#: output for minutes (librdkafka's send_offsets_to_transaction hang, ended by the workers'
#: watchdog; once a longer stall not yet explained: docs/reliability.md). The wait is a
#: bound on the run, not a measure: the time to resume is.
DRAIN_WAIT_S = 600.0
#: The drain has given no new output this long: the workers are asked for their stacks.
STALL_DUMP_S = 60.0


@dataclass(frozen=True)
class Plan:
    """One scenario: ``runs`` faults, ``gap_s`` seconds of load before each and after the
    last, ``rate`` events per second; ``down_s``: a killed broker stays down this long;
    ``pause_s``: a stopped broker stays stopped this long."""

    fault: str
    runs: int
    rate: float = 20.0
    gap_s: float = 6.0
    down_s: float = 5.0
    pause_s: float = 15.0
    #: The soak's length (``soak`` only; there ``rate`` 0: half the maximum, measured).
    minutes: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "runs": self.runs,
            "rate": self.rate,
            "gap_s": self.gap_s,
            "down_s": self.down_s,
            "pause_s": self.pause_s,
            "minutes": self.minutes,
        }


SHORT = {
    WORKER_KILL: Plan(WORKER_KILL, runs=3, rate=20.0, gap_s=5.0),
    BROKER_KILL: Plan(BROKER_KILL, runs=1, rate=15.0, gap_s=8.0),
    BROKER_PAUSE: Plan(BROKER_PAUSE, runs=1, rate=15.0, gap_s=8.0, pause_s=15.0),
    ROLLING_RESTART: Plan(ROLLING_RESTART, runs=1, rate=15.0, gap_s=5.0),
    # CI's form: the leader's SIGKILL, then its SIGSTOP. Not the rolling restart: there
    # librdkafka's send_offsets_to_transaction can hang past its timeout when the group
    # coordinator's node restarts (#5456, #5511), and a run once stalled over 600 s after
    # it (docs/reliability.md); `--fault rolling-restart` and the long form run it.
    CLUSTER_CYCLE: Plan(CLUSTER_CYCLE, runs=2, rate=5.0, gap_s=3.0, pause_s=15.0),
    SOAK: Plan(SOAK, runs=1, rate=10.0, minutes=1.5),
}
LONG = {
    # 100 events/s for 21 gaps of 48 s: 20 kills in a stream of about 100,000 events.
    WORKER_KILL: Plan(WORKER_KILL, runs=20, rate=100.0, gap_s=48.0),
    BROKER_KILL: Plan(BROKER_KILL, runs=5, rate=30.0, gap_s=15.0, down_s=10.0),
    BROKER_PAUSE: Plan(BROKER_PAUSE, runs=3, rate=30.0, gap_s=15.0, pause_s=30.0),
    ROLLING_RESTART: Plan(ROLLING_RESTART, runs=3, rate=30.0, gap_s=10.0),
    CLUSTER_CYCLE: Plan(CLUSTER_CYCLE, runs=6, rate=30.0, gap_s=10.0, pause_s=30.0),
    # 30 minutes at half the maximum measured at the run's start (issue 18).
    SOAK: Plan(SOAK, runs=1, rate=0.0, minutes=30.0),
}


@dataclass(frozen=True)
class Result:
    """One scenario's outcome: the faults' start times (wall clock), the sends, the
    anomalies, the time to resume after each fault, the audit chains' verdict."""

    plan: Plan
    events: int
    acknowledged: int
    anomalies: Anomalies
    #: (fault, seconds to resume or None) per fault injected.
    resumed_s: tuple[tuple[str, float | None], ...]
    audit_chains_ok: bool
    aborted_records: int
    worker_restarts: int
    seconds: float
    #: The soak's time series and judgement (the ``soak`` scenario only).
    soak: Soak | None = None

    @property
    def ok(self) -> bool:
        return (
            self.anomalies.ok
            and self.audit_chains_ok
            and all(r is not None for _, r in self.resumed_s)
            and self.acknowledged > 0
            and (self.soak is None or self.soak.ok)
        )

    def describe(self) -> dict[str, Any]:
        return {
            **self.plan.describe(),
            "events": self.events,
            "acknowledged": self.acknowledged,
            **self.anomalies.counts(),
            "anomaly_examples": self.anomalies.examples(),
            "resubmitted_by_client": list(self.anomalies.resubmitted),
            "resumed_s": [[k, None if r is None else round(r, 1)] for k, r in self.resumed_s],
            "audit_chains_ok": self.audit_chains_ok,
            "aborted_records_seen_uncommitted": self.aborted_records,
            "worker_restarts_asked": self.worker_restarts,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
            **({"soak": self.soak.describe()} if self.soak is not None else {}),
        }


@dataclass
class Workers:
    """The two ``topology.run`` workers of a scenario; each can be killed and restarted."""

    commands: list[list[str]]
    env: Mapping[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Workers restarted because they exited with ``EXIT_RESTART``.
    restarts: int = 0

    def start_all(self) -> None:
        self.procs = [self._spawn(n) for n in range(len(self.commands))]

    def _spawn(self, n: int) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"worker-{n}.log").open("ab") as out:
            return subprocess.Popen(
                self.commands[n], stdout=out, stderr=subprocess.STDOUT, env=dict(self.env)
            )

    def kill_and_restart(self, n: int) -> None:
        self.procs[n].send_signal(signal.SIGKILL)
        self.procs[n].wait()
        self.procs[n] = self._spawn(n)

    def check_alive(self) -> None:
        """Restart a worker that asked for it (``EXIT_RESTART``: fenced, or the broker went
        away), as :func:`topology.supervisor.supervise` does; any other exit fails the run."""
        for n, proc in enumerate(self.procs):
            if proc.poll() == EXIT_RESTART:
                self.restarts += 1
                self.procs[n] = self._spawn(n)
            elif proc.poll() is not None:
                log = (self.log_dir / f"worker-{n}.log").read_text(errors="replace")
                raise RuntimeError(f"worker {n} exited ({proc.returncode}): {log[-2000:]}")

    def dump_stacks(self) -> None:
        """Every worker writes its threads' Python stacks to its log (SIGUSR1,
        :mod:`topology.run`)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _watch(workers: Workers, seconds: float) -> None:
    """Keep the workers running (:meth:`Workers.check_alive`) for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        workers.check_alive()
        time.sleep(0.2)


def until(what: str, probe: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.5)


class Faults:
    """Injects ``plan.fault`` on ``workers`` or ``cluster``; returns each fault's start."""

    def __init__(
        self, plan: Plan, workers: Workers, admin: Admin, ingest: str, cluster: LocalCluster | None
    ) -> None:
        self.plan, self.workers, self.admin, self.ingest = plan, workers, admin, ingest
        self.cluster = cluster

    def inject(self, run: int) -> list[tuple[str, float]]:
        """Fault number ``run``: (kind, wall-clock start) of each fault injected."""
        fault = self.plan.fault
        if fault == CLUSTER_CYCLE:
            fault = CLUSTER_FAULTS[run % 3]
        if fault == WORKER_KILL:
            at = time.time()
            self.workers.kill_and_restart(run % WORKERS)
            return [(fault, at)]
        cluster = self._cluster()
        if fault == ROLLING_RESTART:
            nodes = sorted(cluster.node_pids())
            return [(fault, self._restart_node(cluster, node)) for node in nodes]
        leader = self.admin.replicas(self.ingest)[0].leader
        pid = cluster.node_pids()[leader]
        if pid is None:
            raise RuntimeError(f"node {leader} leads {self.ingest}/0 but does not run")
        at = time.time()
        if fault == BROKER_KILL:
            os.kill(pid, signal.SIGKILL)
            _watch(self.workers, self.plan.down_s)
            cluster.start()
        else:
            os.kill(pid, signal.SIGSTOP)
            _watch(self.workers, self.plan.pause_s)
            os.kill(pid, signal.SIGCONT)
        self._in_sync()
        return [(fault, at)]

    def _cluster(self) -> LocalCluster:
        if self.cluster is None:
            raise RuntimeError(f"{self.plan.fault} needs a local cluster")
        return self.cluster

    def _restart_node(self, cluster: LocalCluster, node: int) -> float:
        pid = cluster.node_pids()[node]
        at = time.time()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            until(f"node {node} stopped", lambda: cluster.node_pids()[node] is None, 120.0)
        cluster.start()
        self._in_sync()
        _watch(self.workers, self.plan.gap_s)
        return at

    def _in_sync(self) -> None:
        def synced() -> bool:
            self.workers.check_alive()
            health = self.admin.partition_health()
            return health.brokers == 3 and health.under_replicated == 0

        until("every partition in sync", synced)


def run_scenario(
    broker: BenchBroker,
    plan: Plan,
    work_dir: Path,
    *,
    cluster: LocalCluster | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> Result:
    """Run ``plan`` on ``broker`` (``cluster``: the same broker as a local cluster, for
    the broker faults); check what was sent against what was read."""
    began = time.monotonic()
    scenario, catalog, _group, workers, admin = rig(broker, work_dir)
    load = Load(broker.bootstrap, broker.config, scenario, catalog, plan.rate, PARTITIONS)
    faults = Faults(plan, workers, admin, scenario.ingest_topic, cluster)
    fault_times: list[tuple[str, float]] = []
    workers.start_all()

    def said(what: str) -> None:
        say(f"{plan.fault} +{time.monotonic() - began:.0f}s: {what}")

    try:
        load.start()
        said(f"load at {plan.rate:.0f}/s; waiting for the first output")
        until("the first output", lambda: open_feed_count(broker, scenario) > 0)
        said("first output")
        for run in range(plan.runs):
            _watch(workers, plan.gap_s)
            fault_times += faults.inject(run)
            said(f"fault {run + 1}/{plan.runs} ({fault_times[-1][0]}) done")
        _watch(workers, plan.gap_s)
        sends = load.stop()
        acknowledged = sum(s.acknowledged for s in sends)
        said(f"{len(sends)} sent, {acknowledged} acknowledged; draining")
        streams = streams_of(scenario)
        views = drain_and_read(broker, scenario, acknowledged, workers, said)
        said("drained and read")
    finally:
        load.halt()
        workers.stop()
    reads = reads_of(scenario, {t: v for t, (v, _) in views.items()})
    uncommitted = reads_of(scenario, {t: u for t, (_, u) in views.items()})
    history = History(tuple(sends), tuple(reads), tuple(uncommitted), streams)
    anomalies = check(history)
    resumed = tuple(
        (kind, resume_after(history, OPEN, at, range(PARTITIONS))) for kind, at in fault_times
    )
    return Result(
        plan=plan,
        events=len(sends),
        acknowledged=acknowledged,
        anomalies=anomalies,
        resumed_s=resumed,
        audit_chains_ok=chains_ok(scenario, views[topic_name(TopicKind.AUDIT)][0]),
        aborted_records=len(aborted_positions(uncommitted)),
        worker_restarts=workers.restarts,
        seconds=time.monotonic() - began,
    )


class Rig(NamedTuple):
    """What every fault run sets up before its load: a new scenario (its topics made, its
    catalog written), its workers' group, the workers (not started) and an admin client."""

    scenario: Scenario
    catalog: Path
    group: str
    workers: Workers
    admin: Admin


def rig(broker: BenchBroker, work_dir: Path) -> Rig:
    """Set up a fault run on ``broker`` (:class:`Rig`)."""
    scenario = new_scenario()
    create_topics(broker, scenario, PARTITIONS)
    catalog = scenario.write_catalog(work_dir)
    group = f"faults-{scenario.suffix}"
    workers = Workers(
        worker_commands(broker.bootstrap, catalog, SETUP, group), broker.env, work_dir
    )
    admin = Admin(broker.bootstrap, extra_config=dict(broker.config))
    return Rig(scenario, catalog, group, workers, admin)


def streams_of(scenario: Scenario) -> tuple[str, ...]:
    return (*(feed_stream(t) for t in scenario.feed_topics), OPEN, RECEIPTS, AUDIT)


def open_feed_count(broker: BenchBroker, scenario: Scenario) -> int:
    """The scenario's committed records in the open feed (shared by every entry)."""
    view = read_view(
        broker.bootstrap, broker.config, scenario.open_topic, entry=scenario.entry, committed=True
    )
    return len(view.records)


def drain_and_read(
    broker: BenchBroker,
    scenario: Scenario,
    acknowledged: int,
    workers: Workers,
    say: Callable[[str], None],
) -> dict[str, tuple[View, View]]:
    """Each output topic in both views, once the open feed holds every acknowledged event."""

    progress = {"count": -1, "since": time.monotonic(), "dumped": False}

    def drained() -> bool:
        workers.check_alive()
        count = open_feed_count(broker, scenario)
        if count != progress["count"]:
            progress.update(count=count, since=time.monotonic())
        elif not progress["dumped"] and time.monotonic() - progress["since"] > STALL_DUMP_S:
            progress["dumped"] = True
            workers.dump_stacks()
            say(
                f"no new output for {STALL_DUMP_S:.0f} s at {count}/{acknowledged}: the "
                "workers' thread stacks are in their logs"
            )
            watched = [scenario.submit_topic, scenario.ingest_topic, *scenario.output_topics]
            for line in diagnose(broker, watched):
                say(line)
        return count >= acknowledged

    until("every acknowledged event in the open feed", drained, DRAIN_WAIT_S)
    say("every acknowledged event in the open feed; reading every output")
    return read_outputs(broker, scenario)


def read_outputs(broker: BenchBroker, scenario: Scenario) -> dict[str, tuple[View, View]]:
    """Each output topic (and the submission topic) in both views, the scenario's records
    of the open feed every entry shares."""
    topics = [
        *scenario.output_topics,
        topic_name(TopicKind.RECEIPTS, scenario.provider),
        topic_name(TopicKind.AUDIT),
        topic_name(TopicKind.SUBMIT, scenario.provider),
    ]
    return {
        t: (
            read_view(broker.bootstrap, broker.config, t, entry=scenario.entry, committed=True),
            read_view(broker.bootstrap, broker.config, t, entry=scenario.entry, committed=False),
        )
        for t in topics
    }


def chains_ok(scenario: Scenario, audit: View) -> bool:
    """The audit chains of the scenario's ingest partitions verify (S 42)."""
    prefix = scenario.ingest_topic + "/"
    raw = [(f"{p.partition}/{p.offset}", v) for p, _, v in audit.records]
    report = verify(raw, include=lambda chain: chain.startswith(prefix))
    return report.ok and report.records > 0


def new_run_dir(base: Path) -> Path:
    path = base / f"faults-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path
