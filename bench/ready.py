"""``python -m bench.ready``: how long a processor takes to be ready, by catalog size
(issue 19 items 1-2).

For each size N, the demo catalog's entries are copied (new ids) until there are N (one
in six withdrawn, as in the demo). Their topics are made as ``govbus catalog import``
makes them (:func:`topology.topics.ensure_catalog_topics`: published entries, their
changelogs included; timed as ``import_s``); then a processor starts on them in a group
of its own, and the time from start until every partition of a published entry is
restored is measured (*first start*); then it stops and a second processor in the same
group starts (*restart*). ``created_at_start`` counts the topics the first start had to
make (0 on an imported catalog); ``served_after_s``: how long after the import the broker
answered for every partition made (the worker starts only then). ``--no-import`` skips
the import: the first start makes the topics itself (a bus imported by an older version).
Prints one JSON object per size::

    python -m bench.ready [--sizes 6,50,200] [--no-import] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from dataclasses import replace

from base.errors import KafkaError
from bench.broker import BenchBroker, bench_broker
from exchange.catalog import Catalog
from exchange.catalog_loader import check_catalog_file
from kafkaclient import Admin
from schemas.topics import POLICIES, TopicKind
from topology.demo import DEMO_CATALOG
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference
from topology.topics import ensure_catalog_topics, published_entries

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


def import_topics(broker: BenchBroker, catalog: Catalog) -> tuple[float, float]:
    """Make the catalog's topics as ``govbus catalog import`` does: the seconds it took,
    and the seconds after it until the broker answered ListOffsets for every partition
    made (a partition is served once the broker has applied its creation; until then it
    answers NOT_LEADER or no leader)."""
    began = time.monotonic()
    with Admin(broker.bootstrap, extra_config=dict(broker.config)) as admin:
        ensured = ensure_catalog_topics(
            admin, published_entries(catalog), [a.id for a in catalog.agencies]
        )
    imported = time.monotonic() - began
    remaining = [(t, p) for t in ensured.created for p in range(ensured.topics[t])]
    while remaining:
        # A new client each round: one keeps "no leader" in its metadata cache for up to
        # metadata.max.age.ms (15 min), as topology.state's restore knows.
        failed: dict[tuple[str, int], KafkaError] = {}
        with Admin(broker.bootstrap, extra_config=dict(broker.config)) as admin:
            admin.end_offsets(remaining, failed=failed)
        remaining = list(failed)
        if remaining:
            time.sleep(0.2)
    return imported, time.monotonic() - began - imported


def time_to_ready(broker: BenchBroker, catalog: Catalog, group: str) -> tuple[float, int]:
    """Seconds until the published entries' partitions are restored; topics it created."""
    total = len(published_entries(catalog)) * POLICIES[TopicKind.INGEST].partitions
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
        return time.monotonic() - began, len(processor.created_topics)
    finally:
        stop.set()
        thread.join(timeout=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="6,50,200")
    p.add_argument("--bootstrap", default="")
    p.add_argument("--no-import", action="store_true", help="the first start makes the topics")
    args = p.parse_args()
    # The processor's and the restore's own account (restore durations, retries) on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("govbus").setLevel(logging.INFO)
    with bench_broker(args.bootstrap) as broker:
        for size in (int(s) for s in args.sizes.split(",")):
            run = uuid.uuid4().hex[:6]
            catalog = catalog_of(size, run)
            group = f"govbus-bench-ready-{run}"
            imported, served = (0.0, 0.0) if args.no_import else import_topics(broker, catalog)
            first, created = time_to_ready(broker, catalog, group)
            restart, _ = time_to_ready(broker, catalog, group)
            published = len(published_entries(catalog))
            partitions = published * POLICIES[TopicKind.INGEST].partitions
            print(
                json.dumps(
                    {
                        "entries": size,
                        "published": published,
                        "restored_partitions": partitions,
                        "import_s": None if args.no_import else round(imported, 2),
                        "served_after_s": None if args.no_import else round(served, 2),
                        "created_at_start": created,
                        "ready_first_s": round(first, 2),
                        "ready_restart_s": round(restart, 2),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
