"""Measuring tools: the feed watcher, the senders, worker processes and their memory.

* :class:`FeedWatcher` reads one output topic ``read_committed`` from the start (partitions
  assigned, no group), keeping one entry's records of a topic every entry shares (the
  bus's open feed, :func:`bench.scenario.of_entry`). The processor writes every output of
  an event in one transaction, so the event's record on the *last* feed of its fan-out
  (the open feed) being readable means all its feed records are committed.
* :func:`send_burst` produces pre-encoded events as fast as the producer takes them;
  :func:`send_paced` at a fixed rate, noting each event's send time.
* :class:`Workers` runs worker processes (their credentials in their environment, see
  :mod:`bench.broker`) and samples their resident memory with psutil
  (peak = the kernel's high-water mark ``VmHWM`` where Linux gives it, else the highest
  sample).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
import psutil

from bench.raw import produce_all, raw_producer
from bench.scenario import Events, of_entry
from kafkaclient import OFFSET_BEGINNING, Consumer, TopicPartition
from schemas import decode

#: The repository: workers run from here, so ``python -m bench.…`` finds this package.
ROOT = Path(__file__).resolve().parents[1]
#: A worker that has not produced its warm-up output by then is reported as failed.
READY_TIMEOUT_S = 180.0
#: Waiting for the last output of a run, counted from the last send.
DRAIN_TIMEOUT_S = 180.0
STOP_GRACE_S = 30.0
RSS_SAMPLE_S = 0.2
WATCH_BATCH = 1000
#: Longest wait for the first readable record of a batch.
WATCH_WAIT_S = 0.05
#: The watcher's broker wait: short, so a record is seen soon after it becomes readable.
WATCH_FETCH_WAIT_MS = 10

Progress = Callable[[int], None]


#: How long a watcher waits for a new topic's partitions to appear in the metadata.
METADATA_WAIT_S = 30.0


class FeedWatcher:
    """Reads ``topic`` read_committed from the beginning and counts (or times) ``entry``'s
    records in it (of a topic every entry shares; of another topic, all of them).

    A shared topic's earlier records (other measurements') are read and skipped by the
    first wait, the warm-up's, before anything is timed."""

    def __init__(
        self, bootstrap: str, topic: str, config: Mapping[str, str], *, entry: str | None
    ) -> None:
        self.topic = topic
        self.entry = entry
        self.seen = 0
        self._consumer = Consumer(
            bootstrap,
            f"bench-watch-{uuid.uuid4().hex[:8]}",
            extra_config={**config, "fetch.wait.max.ms": WATCH_FETCH_WAIT_MS},
        )
        # A topic created a moment ago may have no partitions in the metadata yet: assigning
        # none would watch nothing, forever.
        deadline = time.perf_counter() + METADATA_WAIT_S
        partitions = self._consumer.topic(topic).partitions
        while not partitions and time.perf_counter() < deadline:
            time.sleep(0.2)
            partitions = self._consumer.topic(topic).partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def close(self) -> None:
        self._consumer.close()

    def _batch(self, timeout_s: float) -> list[Any]:
        """``entry``'s records of whatever is readable now: wait up to ``timeout_s`` for
        the first record only, then drain without waiting (``consume(n, t)`` would hold a
        partial batch until ``t`` ran out, delaying what it already has)."""
        first = self._consumer.consume(1, timeout_s=timeout_s)
        if not first:
            return []
        batch = first + self._consumer.consume(WATCH_BATCH, timeout_s=0)
        return [msg for msg in batch if of_entry(msg, self.entry)]

    def wait_count(
        self, target: int, timeout_s: float, progress: Progress | None = None
    ) -> float | None:
        """Read until ``target`` records in all; the perf_counter time it was reached, or
        None on timeout."""
        deadline = time.perf_counter() + timeout_s
        while self.seen < target:
            if time.perf_counter() > deadline:
                return None
            got = len(self._batch(WATCH_WAIT_S))
            self.seen += got
            if got and progress:
                progress(got)
        return time.perf_counter()

    def latencies(
        self,
        sent_at: dict[str, float],
        target: int,
        timeout_s: float,
        progress: Progress | None = None,
    ) -> list[float]:
        """Seconds from send to readable, for each event id of ``sent_at`` seen before
        ``target`` records were read in all (or the timeout, counted from now)."""
        out: list[float] = []
        deadline = time.perf_counter() + timeout_s
        while self.seen < target and time.perf_counter() < deadline:
            batch = self._batch(WATCH_WAIT_S)
            now = time.perf_counter()
            for msg in batch:
                event_id = str(decode("FeedRecord", msg.value() or b"")["event_id"])
                sent = sent_at.get(event_id)
                if sent is not None:
                    out.append(now - sent)
            self.seen += len(batch)
            if batch and progress:
                progress(len(batch))
        return out


def new_producer(bootstrap: str, config: Mapping[str, str]) -> confluent_kafka.Producer:
    """A producer with the pipeline's settings (acks=all, idempotence, linger 5 ms, lz4)
    and the client settings ``config`` (credentials)."""
    return raw_producer(bootstrap, config)


def send_burst(producer: confluent_kafka.Producer, topic: str, events: Events) -> threading.Thread:
    """Produce ``events`` with ``producer`` in a background thread as fast as it takes them
    (started)."""
    thread = threading.Thread(target=lambda: produce_all(producer, topic, events), daemon=True)
    thread.start()
    return thread


@dataclass
class Paced:
    """A paced send in progress: event id -> perf_counter send time."""

    thread: threading.Thread
    sent_at: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0


def send_paced(
    producer: confluent_kafka.Producer, topic: str, events: Events, rate: float
) -> Paced:
    """Produce ``events`` with ``producer`` at ``rate`` per second in a background thread
    (started). The producer should be connected already (it has delivered before): a new
    one holds its first events until it has logged in and got its producer id, which is the
    publisher's start, not the pipeline's latency."""
    paced = Paced(threading.Thread(daemon=True))

    def run() -> None:
        start = paced.started = time.perf_counter()
        for i, (key, value, event_id) in enumerate(
            zip(events.keys, events.values, events.ids, strict=True)
        ):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            paced.sent_at[event_id] = time.perf_counter()
            producer.produce(topic, value, key)
            producer.poll(0)
        paced.finished = time.perf_counter()
        producer.flush(DRAIN_TIMEOUT_S)

    paced.thread = threading.Thread(target=run, daemon=True)
    paced.thread.start()
    return paced


def peak_rss(pid: int) -> int | None:
    """The process's resident-set high-water mark in bytes (Linux), if readable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Workers:
    """Worker processes of one measurement, with their peak resident memory."""

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ):
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        for n, command in enumerate(commands):
            log = log_dir / f"worker-{uuid.uuid4().hex[:6]}-{n}.log"
            self.logs.append(log)
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        list(command),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=dict(os.environ if env is None else env),
                        cwd=ROOT,
                    )
                )
        self._peak = [0] * len(self.procs)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        handles = [psutil.Process(p.pid) for p in self.procs]
        while not self._stop.wait(RSS_SAMPLE_S):
            for n, handle in enumerate(handles):
                try:
                    self._peak[n] = max(self._peak[n], handle.memory_info().rss)
                except psutil.Error:
                    continue

    def check_alive(self) -> None:
        for n, proc in enumerate(self.procs):
            if proc.poll() is not None:
                tail = self.logs[n].read_text(errors="replace")[-2000:]
                raise SystemExit(f"worker {n} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> list[int]:
        """SIGTERM every worker, wait; return each one's peak RSS in bytes."""
        peaks = []
        for n, proc in enumerate(self.procs):
            hwm = peak_rss(proc.pid) if proc.poll() is None else None
            peaks.append(max(hwm or 0, self._peak[n]))
        self._stop.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return peaks
