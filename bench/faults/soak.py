"""The soak (issue 18 item 2): half load for a long while on one broker, no fault; the
workers' memory and open files and the lag sampled, then every stream checked as after
the faults (:mod:`bench.faults.checker`), the series judged (:mod:`bench.faults.leaks`).

Soak protocol (:func:`run_soak`):

1. The scenario's topics and catalog; two ``topology.run`` workers (the fault suite's
   setup) and the provider's publisher, paused.
2. The rate: the plan's, if it gives one; else half of the maximum measured now, on this
   broker, by these workers: :data:`CALIBRATION_EVENTS` offered at once (a backlog), the
   processor group's committed ingest offsets timed from 20 % to 80 % of them (the
   workers' start before, the tail after, left out; the offsets count the repartition
   stage's transaction markers too, under 1 % at its batch of 200). Then the backlog
   drains (the lag back at rest).
3. The soak: the publisher at the rate for the plan's minutes, a :class:`Sample` every
   :data:`SAMPLE_S`. The series is written to ``soak-series.json`` in the run's directory
   as soon as it ends (kept if the check below does not finish).
4. The publisher stops; once both groups' lag is back at rest every output stream is read
   in both views and checked, the audit chains verified.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from bench.broker import BenchBroker
from bench.faults.checker import (
    Anomalies,
    History,
    Read,
    Send,
    aborted_positions,
    check,
    merged,
)
from bench.faults.leaks import Sample, Soak
from bench.faults.record import AUDIT, OPEN, RECEIPTS, Load, feed_stream, read_view, reads_of
from bench.faults.run import (
    DRAIN_WAIT_S,
    PARTITIONS,
    WAIT_S,
    Plan,
    Result,
    Workers,
    chains_ok,
    rig,
    until,
)
from bench.scenario import SUBJECTS, Scenario
from exchange.onesource import SEEN_EVENTS_LIMIT
from kafkaclient import Admin, retrying
from kafkaclient.groups import committed_offsets, partition_offsets
from schemas.topics import TopicKind, bus_topics, topic_name
from topology.probe import PROBE_ENV
from topology.repartitioner import repartition_group

#: The events after which the workers' state holds all it will: every subject's records
#: remember its last :data:`~exchange.onesource.SEEN_EVENTS_LIMIT` event ids (the soak's
#: warm-up lasts at least until they were sent, :class:`~bench.faults.leaks.Soak`).
WARMUP_EVENTS = SUBJECTS * SEEN_EVENTS_LIMIT
#: Seconds between samples.
SAMPLE_S = 10.0
#: The backlog that measures the maximum (step 2), and the rate it is offered at.
CALIBRATION_EVENTS = 12_000
CALIBRATION_OFFER = 5_000.0
#: The lag bound's floor: this many seconds of the rate (a few commit intervals and
#: batches in flight are no trend), and at least :data:`LAG_FLOOR_MIN` offsets.
LAG_FLOOR_S = 5.0
LAG_FLOOR_MIN = 100
#: How long one lag sample may keep asking the broker.
LAG_DEADLINE_S = 120.0


def rss_kib(pid: int) -> int:
    """The process's resident memory (``VmRSS``), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_files(pid: int) -> int:
    """The process's open file descriptors."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class Lag:
    """The lag, in offsets, of the processor group on the ingest topic and of the
    repartition stage's group on the submission topic: the end (last stable) offsets
    minus the groups' committed offsets (none committed: from 0)."""

    def __init__(self, admin: Admin, scenario: Scenario, group: str) -> None:
        self.admin, self.group, self.stage = admin, group, repartition_group(group)
        self.ingest = [(scenario.ingest_topic, p) for p in range(PARTITIONS)]
        submit = next(
            d
            for d in bus_topics([scenario.entry], [scenario.provider])
            if d.kind is TopicKind.SUBMIT
        )
        self.submit = [(submit.name, p) for p in range(submit.partitions)]

    def now(self) -> tuple[int, int]:
        """(processor group's lag, repartition stage's lag)."""
        processor, stage = self.per_partition()
        return sum(processor), sum(stage)

    def per_partition(self) -> tuple[list[int], list[int]]:
        """Per partition; an answer timed out (a loaded machine) is asked again, for up to
        :data:`LAG_DEADLINE_S`."""
        deadline = time.monotonic() + LAG_DEADLINE_S
        committed = retrying(
            lambda: committed_offsets(self.admin, [self.group, self.stage]),
            "the groups' committed offsets",
            deadline,
        )
        ends = retrying(
            lambda: partition_offsets(self.admin, [*self.ingest, *self.submit]),
            "the end offsets",
            deadline,
        )

        def lag(group: str, partitions: list[tuple[str, int]]) -> list[int]:
            done = committed.get(group, {})
            return [max(0, ends[tp] - done.get(tp, 0)) for tp in partitions]

        return lag(self.group, self.ingest), lag(self.stage, self.submit)

    def rested(self) -> bool:
        """Both groups processed everything: the stage's lag is 0; the processors' is at
        most the commit marker of the stage's last transaction on each ingest partition
        (a record left would come with its marker after it: 2)."""
        processor, stage = self.per_partition()
        return sum(stage) == 0 and all(n <= 1 for n in processor)

    def committed(self) -> int:
        done = retrying(
            lambda: committed_offsets(self.admin, [self.group]),
            "the processor group's committed offsets",
            time.monotonic() + LAG_DEADLINE_S,
        ).get(self.group, {})
        return sum(done.get(tp, 0) for tp in self.ingest)

    @property
    def at_rest(self) -> int:
        """The lag of groups that processed everything: the commit marker of the last
        transaction on each ingest partition stays after their committed offset."""
        return len(self.ingest)


def measure_maximum(load: Load, workers: Workers, lag: Lag, say: Callable[[str], None]) -> float:
    """Events per second the workers process at most (step 2); the backlog drained."""
    load.set_rate(CALIBRATION_OFFER)
    until("the calibration backlog sent", lambda: len(load.sends) >= CALIBRATION_EVENTS)
    load.set_rate(0.0)
    marks: dict[float, tuple[float, int]] = {}

    def passed() -> bool:
        workers.check_alive()
        done = lag.committed()
        for mark in (0.2, 0.8):
            if mark not in marks and done >= mark * CALIBRATION_EVENTS:
                marks[mark] = (time.monotonic(), done)
        return 0.8 in marks

    until("80 % of the calibration backlog processed", passed, WAIT_S * 2)
    (t0, c0), (t1, c1) = marks[0.2], marks[0.8]
    maximum = (c1 - c0) / max(t1 - t0, 1e-3)
    say(f"maximum {maximum:.0f} events/s; draining the backlog")
    until("the calibration backlog drained", lambda: _at_rest(workers, lag), DRAIN_WAIT_S)
    return maximum


def topic_groups(scenario: Scenario) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The output topics in the groups :func:`~bench.faults.checker.merged` checks apart,
    each with the streams that must hold every acknowledged event once: each feed, the open
    feed, the audit stream; the receipts with the submission topic (the one check across
    topics: a duplicate answer against the copies submitted)."""
    return [
        *(((t,), (feed_stream(t),)) for t in scenario.feed_topics),
        ((scenario.open_topic,), (OPEN,)),
        ((topic_name(TopicKind.AUDIT),), (AUDIT,)),
        (
            (
                topic_name(TopicKind.RECEIPTS, scenario.provider),
                topic_name(TopicKind.SUBMIT, scenario.provider),
            ),
            (RECEIPTS,),
        ),
    ]


def check_by_topic(
    broker: BenchBroker, scenario: Scenario, sends: Sequence[Send]
) -> tuple[Anomalies, int, bool]:
    """Step 4's reads and checks, one group of topics at a time (:func:`topic_groups`): a
    view is turned into its reads as soon as it is read, so the bench holds one view's
    records at a time, not every record of the run. (The anomalies; the aborted records
    seen uncommitted; whether the audit chains verify.)"""
    found: list[Anomalies] = []
    aborted = 0
    audit_ok = False
    entry = scenario.entry  # its records of the open feed every entry shares
    for topics, streams in topic_groups(scenario):
        reads: list[Read] = []
        uncommitted: list[Read] = []
        for t in topics:
            view = read_view(broker.bootstrap, broker.config, t, entry=entry, committed=True)
            if t == topic_name(TopicKind.AUDIT):
                audit_ok = chains_ok(scenario, view)
            reads += reads_of(scenario, {t: view})
            del view
            unseen = read_view(broker.bootstrap, broker.config, t, entry=entry, committed=False)
            uncommitted += reads_of(scenario, {t: unseen})
            del unseen
        found.append(check(History(tuple(sends), tuple(reads), tuple(uncommitted), streams)))
        aborted += len(aborted_positions(uncommitted))
    return merged(found), aborted, audit_ok


def _at_rest(workers: Workers, lag: Lag) -> bool:
    workers.check_alive()
    return lag.rested()


def _sample(at_s: float, load: Load, workers: Workers, lag: Lag, broker_pid: int | None) -> Sample:
    pids = tuple(p.pid for p in workers.procs)
    processor, stage = lag.now()
    return Sample(
        at_s=at_s,
        sent=len(load.sends),
        pids=pids,
        rss_kib=tuple(rss_kib(p) for p in pids),
        fds=tuple(open_files(p) for p in pids),
        broker_fds=open_files(broker_pid) if broker_pid is not None else None,
        lag=processor,
        repartition_lag=stage,
        load1=os.getloadavg()[0],
    )


def run_soak(
    broker: BenchBroker,
    plan: Plan,
    work_dir: Path,
    *,
    say: Callable[[str], None] = lambda _m: None,
    sample_s: float = SAMPLE_S,
) -> Result:
    """Soak ``plan.minutes`` at ``plan.rate`` (0: half the maximum measured first) on
    ``broker``; the sends and reads checked, the series judged (module docstring)."""
    began = time.monotonic()

    def said(what: str) -> None:
        say(f"soak +{time.monotonic() - began:.0f}s: {what}")

    # Step 1
    scenario, catalog, group, workers, admin = rig(broker, work_dir)
    # The workers' memory probe (topology.probe): where their resident memory goes.
    workers.env = {**workers.env, PROBE_ENV: str(work_dir / "memory-probe")}
    lag = Lag(admin, scenario, group)
    load = Load(broker.bootstrap, broker.config, scenario, catalog, 0.0, PARTITIONS)
    samples: list[Sample] = []
    loads = [os.getloadavg()]
    workers.start_all()
    try:
        load.start()
        # Step 2
        if plan.rate > 0:
            rate, source = plan.rate, "given (--rate)"
        else:
            maximum = measure_maximum(load, workers, lag, said)
            rate, source = maximum / 2, f"half of the maximum measured first, {maximum:.1f}/s"
        # Step 3
        said(f"soaking {plan.minutes:g} min at {rate:.1f} events/s ({source})")
        load.set_rate(rate)
        soak_began = time.monotonic()
        end = soak_began + plan.minutes * 60
        while True:
            now = time.monotonic()
            samples.append(_sample(now - soak_began, load, workers, lag, broker.pid))
            if len(samples) % 6 == 1:
                said(f"sample {samples[-1].describe()}")
            if now >= end:
                break
            while time.monotonic() < min(now + sample_s, end):
                workers.check_alive()
                time.sleep(0.2)
        loads.append(os.getloadavg())
        floor = max(LAG_FLOOR_MIN, int(rate * LAG_FLOOR_S))
        cores = os.cpu_count() or 1
        series = Soak(
            rate,
            source,
            tuple(samples),
            -1,
            floor,
            lag.at_rest,
            (loads[0], loads[1]),
            cores,
            warmup_sent=WARMUP_EVENTS,
        )
        (work_dir / "soak-series.json").write_text(json.dumps(series.describe(), indent=1))
        # Step 4
        sends = load.stop()
        acknowledged = sum(s.acknowledged for s in sends)
        said(f"{len(sends)} sent, {acknowledged} acknowledged; draining")
        until("the lag back at rest", lambda: _at_rest(workers, lag), DRAIN_WAIT_S)
        final = sum(lag.now())
        said(f"lag at rest ({final}); reading and checking every output, topic by topic")
        anomalies, aborted, audit_ok = check_by_topic(broker, scenario, sends)
        said("read and checked")
    finally:
        load.halt()
        workers.stop()
        admin.close()  # else its threads outlive the broker and hold the process at exit
    return Result(
        plan=plan,
        events=len(sends),
        acknowledged=acknowledged,
        anomalies=anomalies,
        resumed_s=(),
        audit_chains_ok=audit_ok,
        aborted_records=aborted,
        worker_restarts=workers.restarts,
        seconds=time.monotonic() - began,
        soak=replace(series, final_lag=final),
    )
