"""``python -m bench.capacity``: what a city's catalog costs one broker (issue 19 item 4).

For each point (N entries, M agencies), on a local broker started for that point alone
(its own temporary state directory, its heap sized by :mod:`operations.broker.sizing` for
the point's partitions, its open-file limit raised by :mod:`operations.broker.limits`):

1. a catalog of N entries (the demo catalog's entries copied under new ids, as
   :mod:`bench.ready` does: one in six withdrawn) and M agencies (the demo's five, then
   copies) is imported as ``govbus catalog import`` does (:class:`ReferenceService`, a
   SQLite store): topics of published entries and of every agency, the SQL store, the
   state topics;
2. a worker starts as ``govbus run`` starts one (:mod:`topology.run`): the processor and
   beside it the repartition stage, reference data read from the state topics; if a loop
   ends by an error it is started again, as the supervisor would, and counted;
3. when the processor has restored every partition of a published entry (ready: from the
   worker's start; the import made every topic it needs, changelogs included, and a
   withdrawn entry gets none: :mod:`topology.topics`), the broker is counted:
   partitions (the admin client's topic list), open file descriptors
   (``/proc/<pid>/fd``), memory maps (``/proc/<pid>/maps``), RSS, and heap used as
   ``jcmd <pid> GC.heap_info`` reports it, before and after a full collection
   (``jcmd GC.run``: the live set). Without ``jcmd`` the heap fields are null;
4. the worker stops and a new one starts in the same group on the topics as they are
   (a restart): its ready time too.

Prints one JSON object per point, and writes them all to
``bench/results/capacity-<stamp>.json``::

    python -m bench.capacity [--entries 6,50,200] [--agencies 20,100] [--out DIR]

A point that does not fit (the import fails, the broker exits or holds as many files as its
limit allows) is recorded with its error, and the next point runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from base.settings import Settings
from bench.ready import catalog_of
from bench.report import write_results
from exchange.catalog import Agency, AgencyKind, Catalog, LifecycleState
from exchange.catalog_loader import CheckResult
from kafkaclient.admin import Admin
from operations.broker.limits import current_nofile
from operations.broker.local import LocalBroker
from operations.broker.sizing import (
    broker_size,
    fixed_partitions,
    partitions,
    partitions_per_agency,
    partitions_per_entry,
)
from schemas.topics import POLICIES, TopicKind
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from topology.processor import Processor, ProcessorConfig
from topology.reference_service import ReferenceService
from topology.repartitioner import Repartitioner, repartition_config, run_beside
from topology.run import worker_config

RESULTS = Path(__file__).resolve().parent / "results"
READY_TIMEOUT_S = 900.0
#: Loops started again after an error before the point is given up.
MAX_RESTARTS = 5


def city_of(entries: int, agencies: int, run: str) -> Catalog:
    """``entries`` copied demo entries and ``agencies`` agencies: the demo's, then more
    administrative agencies (consumers only) until there are ``agencies``."""
    catalog = catalog_of(entries, run)
    extra = tuple(
        Agency(
            f"bench{run}-agency-{i}", f"Agency {i}", f"部门{i}", AgencyKind.ADMINISTRATIVE_AGENCY
        )
        for i in range(max(0, agencies - len(catalog.agencies)))
    )
    return replace(catalog, agencies=(catalog.agencies + extra)[: max(agencies, 1)])


@dataclass
class Worker:
    """One ``govbus run`` worker in a thread (topology.run step 3), restarted after an error."""

    config: ProcessorConfig
    store_bootstrap: str
    extra: dict[str, str]
    restarts: int = 0
    error: str = ""

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.processor: Processor | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from consumers.reference import ReferenceView

        while not self.stop.is_set():

            def view() -> ReferenceView:
                return ReferenceView(self.store_bootstrap, extra_config=self.extra)

            self.processor = Processor(self.config, view())
            side = Repartitioner(repartition_config(self.config), view())
            try:
                run_beside(self.processor, side, self.stop)
            except Exception as exc:  # noqa: BLE001 - the supervisor's restart, counted
                self.error = " ".join(str(exc).split())[:300]
                if self.restarts >= MAX_RESTARTS:
                    return
                self.restarts += 1
                self.stop.clear()

    def restored(self) -> int:
        return self.processor.restored_partitions if self.processor else 0


def _jcmd(pid: int, *command: str) -> str:
    tool = shutil.which("jcmd")
    if tool is None:
        return ""
    done = subprocess.run(
        [tool, str(pid), *command], capture_output=True, text=True, timeout=120, check=False
    )
    return done.stdout


_USED = re.compile(r"heap\s+total\s+(\d+)K,\s+used\s+(\d+)K")


def heap_used_mib(pid: int) -> float | None:
    """Heap used, as ``jcmd <pid> GC.heap_info`` says (G1: 'garbage-first heap total
    ...K, used ...K'); None without jcmd."""
    match = _USED.search(_jcmd(pid, "GC.heap_info"))
    return round(int(match.group(2)) / 1024, 1) if match else None


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def broker_counts(pid: int) -> dict[str, Any]:
    limits = Path(f"/proc/{pid}/limits").read_text()
    nofile = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    used = heap_used_mib(pid)
    _jcmd(pid, "GC.run")
    return {
        "broker_fds": len(os.listdir(f"/proc/{pid}/fd")),
        "broker_fd_limit": int(nofile.split()[3]),
        "broker_maps": sum(1 for _ in Path(f"/proc/{pid}/maps").open()),
        "broker_rss_mib": rss_mib(pid),
        "heap_used_mib": used,
        "heap_live_mib": heap_used_mib(pid),
    }


def measure(entries: int, agencies: int, settings: Settings) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    city = city_of(entries, agencies, run)
    published = sum(1 for e in city.entries if e.lifecycle.state is LifecycleState.PUBLISHED)
    # Only entries ever published have topics (topology.topics): N is the published ones.
    expected = partitions(published, len(city.agencies))
    size = broker_size(expected)
    point: dict[str, Any] = {
        "entries": entries,
        "agencies": len(city.agencies),
        "published": published,
        "model_partitions": expected,
        "broker_heap": size.heap,
    }
    with tempfile.TemporaryDirectory(prefix="govbus-capacity-") as tmp:
        local = LocalBroker(
            settings.home, settings.kafka_version, size.heap, state_dir=Path(tmp) / "broker"
        )
        status = local.start()
        assert status.pid is not None
        try:
            admin = local.admin_config()
            bootstrap = admin.pop("bootstrap.servers")
            url = f"sqlite:///{Path(tmp) / 'govbus.db'}"
            migrate.upgrade(url)
            store = ReferenceStore(make_engine(url))
            began = time.monotonic()
            ReferenceService(store, bootstrap, extra_config=admin).import_catalog(
                CheckResult(city, (), (), len(city.entries))
            )
            point["import_s"] = round(time.monotonic() - began, 2)
            config = worker_config(
                ProcessorConfig(bootstrap, group_id=f"govbus-capacity-{run}", extra_config=admin)
            )
            worker = Worker(config, bootstrap, admin)
            # Ready: the published entries' partitions restored (withdrawn ones lazily).
            total = int(point["published"]) * POLICIES[TopicKind.INGEST].partitions
            began = time.monotonic()
            worker.thread.start()
            try:
                while worker.restored() < total:
                    if not Path(f"/proc/{status.pid}").exists() or local.status().pid is None:
                        raise RuntimeError(f"the broker exited: {_last_error(local)}")
                    if _out_of_files(status.pid):
                        # The broker does not exit then: it stops making partitions and
                        # accepting connections, and the worker would wait forever.
                        raise RuntimeError(f"the broker ran out of files: {_last_error(local)}")
                    if time.monotonic() - began > READY_TIMEOUT_S or not worker.thread.is_alive():
                        raise RuntimeError(f"not ready: {worker.error or 'timeout'}")
                    time.sleep(0.05)
                point["ready_s"] = round(time.monotonic() - began, 2)
                point["restarts"] = worker.restarts
                if worker.error:
                    point["restart_cause"] = worker.error
                topics = Admin(bootstrap, extra_config=admin).topics()
                point["topics"] = len(topics)
                point["partitions"] = sum(topics.values())
                point.update(broker_counts(status.pid))
            finally:
                worker.stop.set()
                worker.thread.join(timeout=120)
            # A restart: a new worker in the same group on the topics that exist now.
            again = Worker(config, bootstrap, admin)
            began = time.monotonic()
            again.thread.start()
            try:
                while again.restored() < total:
                    if time.monotonic() - began > READY_TIMEOUT_S or not again.thread.is_alive():
                        raise RuntimeError(f"not ready after a restart: {again.error or 'timeout'}")
                    time.sleep(0.05)
                point["ready_restart_s"] = round(time.monotonic() - began, 2)
            finally:
                again.stop.set()
                again.thread.join(timeout=120)
        finally:
            local.stop()
    return point


def _out_of_files(pid: int) -> bool:
    """The broker holds all the files its limit allows (within a few)."""
    limits = Path(f"/proc/{pid}/limits").read_text()
    nofile = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    try:
        return len(os.listdir(f"/proc/{pid}/fd")) >= int(nofile.split()[3]) - 16
    except (FileNotFoundError, ValueError):
        return False


def _last_error(local: LocalBroker) -> str:
    """The broker log's last ERROR or FATAL line (why it stopped)."""
    try:
        lines = local.log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    errors = [line for line in lines if " ERROR " in line or " FATAL " in line]
    return (errors or lines or ["(empty log)"])[-1][:400]


def machine() -> dict[str, Any]:
    soft, hard = current_nofile().soft, current_nofile().hard
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "nofile": [soft, hard],
        "vm_max_map_count": int(Path("/proc/sys/vm/max_map_count").read_text()),
        "heap_tool": "jcmd GC.heap_info" if shutil.which("jcmd") else None,
        "partitions_per_entry": partitions_per_entry(),
        "partitions_per_agency": partitions_per_agency(),
        "fixed_partitions": fixed_partitions(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", default="6,50,200")
    p.add_argument("--agencies", default="20")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    settings = Settings.load()
    report: dict[str, Any] = {"machine": machine(), "points": []}
    for agencies in (int(a) for a in args.agencies.split(",")):
        for entries in (int(n) for n in args.entries.split(",")):
            try:
                point = measure(entries, agencies, settings)
            except Exception as exc:  # noqa: BLE001 - a point that does not fit is a result
                point = {"entries": entries, "agencies": agencies, "error": str(exc)[-600:]}
            report["points"].append(point)
            print(json.dumps(point, ensure_ascii=False), flush=True)
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = write_results(args.out, "capacity", report)
    print(f"results: {path}", flush=True)


if __name__ == "__main__":
    main()
