"""``python -m bench.ready``: how long a processor takes to be ready, by catalog size
(issue 19 items 1-2).

For each size N, the demo catalog's entries are copied (new ids) until there are N, a
processor starts on them in a group of its own (topics created, its assignment restored),
and the time from start until every ingest partition is restored is measured; then it
stops and a second processor in the same group starts on the existing topics (a restart).
Prints one JSON object per size::

    python -m bench.ready [--sizes 6,50,200] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import replace

from bench.broker import BenchBroker, bench_broker
from exchange.catalog import Catalog
from exchange.catalog_loader import check_catalog_file
from schemas.topics import POLICIES, TopicKind
from topology.demo import DEMO_CATALOG
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference

READY_TIMEOUT_S = 900.0


def catalog_of(size: int, run: str) -> Catalog:
    """``size`` entries: copies of the demo catalog's entries under new ids."""
    demo = check_catalog_file(DEMO_CATALOG).catalog
    if demo is None:
        raise SystemExit("the demo catalog does not load")
    entries = [
        replace(entry, id=f"bench{run}.{i}.{entry.id}")
        for i in range(size // len(demo.entries) + 1)
        for entry in demo.entries
    ][:size]
    return replace(demo, entries=tuple(entries))


def time_to_ready(broker: BenchBroker, catalog: Catalog, group: str) -> float:
    total = len(catalog.entries) * POLICIES[TopicKind.INGEST].partitions
    processor = Processor(
        ProcessorConfig(broker.bootstrap, group_id=group, extra_config=dict(broker.config)),
        StaticReference(catalog, ()),
    )
    stop = threading.Event()
    began = time.monotonic()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while processor.restored_partitions < total:
            if time.monotonic() - began > READY_TIMEOUT_S or not thread.is_alive():
                raise SystemExit(f"not ready within {READY_TIMEOUT_S} s ({total} partitions)")
            time.sleep(0.05)
        return time.monotonic() - began
    finally:
        stop.set()
        thread.join(timeout=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="6,50,200")
    p.add_argument("--bootstrap", default="")
    args = p.parse_args()
    with bench_broker(args.bootstrap) as broker:
        for size in (int(s) for s in args.sizes.split(",")):
            run = uuid.uuid4().hex[:6]
            catalog = catalog_of(size, run)
            group = f"govbus-bench-ready-{run}"
            first = time_to_ready(broker, catalog, group)
            restart = time_to_ready(broker, catalog, group)
            partitions = size * POLICIES[TopicKind.INGEST].partitions
            print(
                json.dumps(
                    {
                        "entries": size,
                        "ingest_partitions": partitions,
                        "ready_first_s": round(first, 2),
                        "ready_restart_s": round(restart, 2),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
