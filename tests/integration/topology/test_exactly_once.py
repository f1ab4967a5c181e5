"""The kill test (issue 6): SIGKILL the processor at random points while 10,000 events
flow, five times, restart it each time; then every receipt, feed, open-feed, conflict and
audit record is there exactly once, read committed, and nothing else is.

The expected outcome of each event comes from the pure domain (exchange.gate.decide)
replayed in publish order: one number one source (GM 22, S 20), conflicts (GM 19).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.kill_plan import PROVIDERS, Plan, plan, replay
from bench.pipeline import Setup, worker_commands
from kafkaclient import Admin
from schemas.audit import verify
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import Names, Reader, publish_events, read_topic

EVENTS = 10_000


KILLS = 5


CHUNKS = 25


SEED = 20261125


#: One worker, the project's defaults but for a short commit interval and batches.
WORKER = Setup(commit_interval_s=0.2, batch_size=200)


#: Everything published must be decided within this after the last restart.
DRAIN_TIMEOUT_S = 240.0


def _expected(names: Names, sent: Plan) -> list[str]:
    """Each send's outcome as the pure domain decides it (publish order)."""
    loaded, entry = names.load(), names.entry("psb.person.basic")
    results = replay(loaded.catalog, (), entry, sent, datetime.now(UTC))
    return [r.outcome for r in results]


def _start(bootstrap: str, catalog: Path, group: str, log: Path) -> subprocess.Popen[bytes]:
    """One ``topology.run`` worker (the bench's command), committing every 0.2 s."""
    [command] = worker_commands(bootstrap, catalog, WORKER, group)
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def test_kill_and_restart_five_times_exactly_once(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    providers = [names.agency(a) for a in PROVIDERS]
    sent = plan(names.entry("psb.person.basic"), providers, EVENTS, rng)
    expected = _expected(names, sent)
    group, log = f"govbus-kill-{uuid.uuid4().hex}", tmp_path / "worker.log"
    proc = _start(bootstrap, catalog, group, log)
    basic = names.entry("psb.person.basic")
    ingest = topic_name(TopicKind.INGEST, basic)
    deadline = time.monotonic() + 60
    admin = Admin(bootstrap, extra_config=kafka_config)
    while ingest not in admin.topics():  # the worker creates the bus topics
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)

    def publisher() -> None:
        size = len(sent) // CHUNKS
        for i in range(CHUNKS):
            publish_events(bootstrap, sent[i * size : (i + 1) * size], config=kafka_config)
            time.sleep(0.4)

    feeder = threading.Thread(target=publisher)
    feeder.start()
    kills = 0
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = _start(bootstrap, catalog, group, log)
        feeder.join()
        receipts = _drain(bootstrap, kafka_config, names, proc, log)
    finally:
        feeder.join()
        proc.terminate()
        proc.wait(timeout=60)
    assert kills == KILLS

    # Receipts: one per event, each with the outcome the pure domain gives.
    by_event = Counter(str(r["event_id"]) for r in receipts)
    unique_sent = {e["event_id"] for _, e in sent}
    assert set(by_event) == unique_sent
    first_outcome: dict[str, str] = {}
    want: Counter[str] = Counter()
    for (_, e), outcome in zip(sent, expected, strict=True):
        want[e["event_id"]] += 1
        first_outcome.setdefault(e["event_id"], outcome)
    assert by_event == want  # a resent event gets its own receipt, the processor's never twice
    got_outcomes = Counter(r["outcome"] for r in receipts)
    assert got_outcomes == Counter(expected)

    # Feeds and the open feed: each accepted event exactly once, nothing else.
    reader = Reader(bootstrap, kafka_config)
    accepted = Counter(
        e["event_id"] for (_, e), o in zip(sent, expected, strict=True) if o == "accepted"
    )
    assert accepted and max(accepted.values()) == 1
    for agency in ("city-mca", "city-hc", "city-amr", "city-bdb"):
        feed_topic = topic_name(TopicKind.FEED, names.agency(agency))
        feed = reader.records(feed_topic, "FeedRecord", until=len(accepted))
        assert Counter(str(f["event_id"]) for f in feed) == accepted, agency
    opened = reader.records(
        topic_name(TopicKind.OPEN), "FeedRecord", until=len(accepted), entry=basic
    )
    assert Counter(str(f["event_id"]) for f in opened) == accepted

    # Conflicts and audit: ids are derived from events, so a duplicate would show. A conflict
    # id names the report and the authoritative event it contradicts (a resent report that
    # meets the same state repeats its case); the count per report is exact.
    conflicts = [
        c
        for c in reader.records(topic_name(TopicKind.CONFLICTS), "Conflict")
        if c["entry"] == basic
    ]
    assert len(conflicts) == got_outcomes["conflict"]
    cases = {
        (str(c["reported_event_id"]), c["item"], str(c["authoritative_event_id"]))
        for c in conflicts
    }
    assert len({c["conflict_id"] for c in conflicts}) == len(cases)
    reported = Counter(
        e["event_id"] for (_, e), o in zip(sent, expected, strict=True) if o == "conflict"
    )
    assert Counter(str(c["reported_event_id"]) for c in conflicts) == reported
    audit = [
        a for a in reader.records(topic_name(TopicKind.AUDIT), "Decision") if a["entry"] == basic
    ]
    assert len({a["audit_id"] for a in audit}) == len(audit)
    kinds = Counter(a["kind"] for a in audit)
    for outcome, n in Counter(expected).items():
        assert kinds[outcome] == n, outcome
    # One audit record per event (Decision v5): an accepted change's lists its deliveries,
    # four agency feeds and the open feed.
    assert sum(kinds.values()) == len(sent)
    listed = [
        sorted(d["recipient"] == "open" for d in a["deliveries"])
        for a in audit
        if a["kind"] == "accepted"
    ]
    assert listed == [[False] * 4 + [True]] * len(accepted)
    assert all(a["deliveries"] == [] for a in audit if a["kind"] != "accepted")

    # Tamper evidence survives the kills (S 42): each ingest partition's audit chain runs
    # from seq 1 without a gap, a duplicate or a broken link, and holds every record.
    ingest = topic_name(TopicKind.INGEST, basic) + "/"
    raw = read_topic(bootstrap, topic_name(TopicKind.AUDIT), config=kafka_config)
    chains = verify(
        [(str(i), v) for i, (_, v) in enumerate(raw)], include=lambda c: c.startswith(ingest)
    )
    assert chains.ok, chains.findings[:5]
    assert chains.records == len(audit) == sum(h.seq for h in chains.heads.values())


def _drain(
    bootstrap: str,
    config: dict[str, str],
    names: Names,
    proc: subprocess.Popen[bytes],
    log: Path,
) -> list[dict[str, Any]]:
    topics = [
        topic_name(TopicKind.RECEIPTS, names.agency(a)) for a in ("city-psb", "city-mca", "city-hc")
    ]
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        receipts = [
            r for t in topics for r in read_topic(bootstrap, t, config=config, record="Receipt")
        ]
        if len(receipts) >= EVENTS or time.monotonic() > deadline:
            return receipts
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(2.0)
