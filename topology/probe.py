"""A worker's memory probe, for the soak (bench.faults.soak): where the resident memory goes.

Off unless ``GOVBUS_MEMORY_PROBE`` names a directory. Then the worker writes, every
:data:`PROBE_S` seconds, one JSON line to ``<directory>/worker-<n>-<pid>.jsonl``:

- ``rss_kib``: the process's resident memory (``VmRSS``);
- ``py_blocks``: the memory blocks the Python allocator holds (``sys.getallocatedblocks``:
  Python objects, cheap to ask). Never ``gc.get_objects()`` from this thread: it hands out
  a tuple another thread is still building (``tuple(generator)``), whose resize then fails
  with ``SystemError: Objects/tupleobject.c: bad argument to internal function`` (it ended
  a worker of the soak's test);
- ``traced_kib``: the Python heap traced by ``tracemalloc`` when it runs
  (``PYTHONTRACEMALLOC=1``), else None;
- librdkafka's statistics (``statistics.interval.ms``, every client of the worker), summed
  by :func:`queues`: the consumers' prefetch queues (``fetchq_cnt`` / ``fetchq_size`` of
  every partition) and the producers' queues (``msg_cnt`` / ``msg_size``).

Python objects that grow point at a cache; native memory that grows with the prefetch queue
points at librdkafka fetching ahead of a lag.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The environment variable naming the probe's directory.
PROBE_ENV = "GOVBUS_MEMORY_PROBE"
#: Seconds between lines, and librdkafka's statistics interval.
PROBE_S = 10.0


def queues(stats: Mapping[str, Any]) -> dict[str, int]:
    """One client's statistics (librdkafka's JSON, parsed): its prefetch queues summed over
    every partition it fetches, and its producer queue."""
    fetch_cnt = fetch_size = 0
    for topic in stats.get("topics", {}).values():
        for number, partition in topic.get("partitions", {}).items():
            if number == "-1":  # the internal "unassigned" partition
                continue
            fetch_cnt += int(partition.get("fetchq_cnt", 0))
            fetch_size += int(partition.get("fetchq_size", 0))
    producing = stats.get("type") == "producer"
    return {
        "fetchq_cnt": fetch_cnt,
        "fetchq_size": fetch_size,
        "producer_msg_cnt": int(stats.get("msg_cnt", 0)) if producing else 0,
        "producer_msg_size": int(stats.get("msg_size", 0)) if producing else 0,
    }


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class MemoryProbe:
    """The probe's thread and the librdkafka statistics callback (module docstring)."""

    def __init__(self, directory: Path, worker: int) -> None:
        self.path = directory / f"worker-{worker}-{os.getpid()}.jsonl"
        self._clients: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def client_config(self) -> dict[str, Any]:
        """What every client of the worker adds to its configuration."""
        return {"statistics.interval.ms": int(PROBE_S * 1000), "stats_cb": self.on_stats}

    def on_stats(self, raw: str) -> None:
        stats = json.loads(raw)
        with self._lock:
            self._clients[str(stats.get("name", "?"))] = queues(stats)

    def line(self) -> dict[str, Any]:
        with self._lock:
            clients = dict(self._clients)
        totals = {k: sum(c[k] for c in clients.values()) for k in next(iter(clients.values()), {})}
        traced = tracemalloc.get_traced_memory()[0] // 1024 if tracemalloc.is_tracing() else None
        return {
            "t": round(time.time(), 1),
            "rss_kib": _rss_kib(),
            "py_blocks": sys.getallocatedblocks(),
            "traced_kib": traced,
            **totals,
            "clients": clients,
        }

    def start(self, stop: threading.Event) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def run() -> None:
            while not stop.wait(PROBE_S):
                with self.path.open("a") as out:
                    out.write(json.dumps(self.line()) + "\n")

        threading.Thread(target=run, name="memory-probe", daemon=True).start()


def memory_probe(worker: int, environ: Mapping[str, str]) -> MemoryProbe | None:
    """The probe if ``environ`` asks for one (module docstring)."""
    directory = environ.get(PROBE_ENV, "")
    return MemoryProbe(Path(directory), worker) if directory else None
