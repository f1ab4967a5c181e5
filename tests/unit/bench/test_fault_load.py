"""The fault suite's load: every change it publishes passes the publisher's admission
checks on the scenario's catalog (a refused change would be a send never made), and the
results table names every anomaly count."""

from __future__ import annotations

import random
from pathlib import Path

from bench.faults.__main__ import table
from bench.faults.checker import Anomalies
from bench.faults.record import draft
from bench.faults.run import SHORT, WORKER_KILL, Result
from bench.scenario import new_scenario, residents
from exchange.catalog_loader import load_catalog
from producers.publisher import AgencyPublisher, Prepared


def test_every_change_of_the_load_is_admitted(tmp_path: Path) -> None:
    scenario = new_scenario()
    catalog = load_catalog(scenario.write_catalog(tmp_path)).catalog
    rng = random.Random(18)
    people = residents(rng)
    # Never connects: prepare checks and encodes locally.
    publisher = AgencyPublisher("127.0.0.1:1", scenario.provider, catalog)
    changes = [draft(n, people, rng) for n in range(300)]
    prepared = [publisher.prepare(scenario.entry, c, event_id=str(c.event_id)) for c in changes]
    refused = [p for p in prepared if not isinstance(p, Prepared)]
    assert refused == []
    assert len({c.event_id for c in changes}) == len(changes)


def test_the_table_shows_each_runs_counts_and_resume_times() -> None:
    result = Result(
        plan=SHORT[WORKER_KILL],
        events=10,
        acknowledged=9,
        anomalies=Anomalies(lost=(("open", "e1"),), duplicated=(("open", "e2"),) * 2),
        resumed_s=(("worker-kill", 4.25), ("worker-kill", None)),
        audit_chains_ok=True,
        aborted_records=0,
        worker_restarts=0,
        seconds=1.0,
    )
    assert not result.ok
    row = table([result]).splitlines()[-1]
    assert row == "| worker-kill | 3 | 10 (9) | 1 | 2 | 0 | 0 | 4.2, never |"
