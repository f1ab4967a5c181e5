"""The processor's pure plan step without a broker: plans/s of :func:`topology.plan.plan_message`
on the bench scenario, with audit on and off, and the records each event writes.

    python -m bench.plan_step [--events 3000] [--consumers 5,50] [--rounds 3] [--json]

Each event of the scenario's sequence (:func:`bench.scenario.make_events`) is planned in
order on one ingest partition, its state and audit chain head carried from plan to plan as
the processor's loop carries them; nothing is produced. Per consumer count and audit
setting: the median over ``rounds`` of plans per second (CPU of this process only), the
records per event, and the audit records and their bytes per event. Audit cost = 1 - on/off.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scenario import Scenario, make_events
from exchange.catalog_loader import load_catalog
from exchange.onesource import AuthoritativeRecord
from schemas.topics import TopicKind, topic_name
from topology.encoding import Encoder
from topology.plan import Input, PlanOptions, Reference, plan_message
from topology.state import ChainHead

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
AUDIT = topic_name(TopicKind.AUDIT)


def plan_rate(scenario: Scenario, events: int, seed: int, *, audit: bool) -> dict[str, float]:
    """Plan ``events`` events of ``scenario`` once; plans/s and records written per event."""
    with tempfile.TemporaryDirectory(prefix="govbus-plan-step-") as work:
        loaded = load_catalog(scenario.write_catalog(Path(work)))
    reference = Reference.at(loaded.catalog, loaded.grants, NOW)
    encoder, options = Encoder(), PlanOptions(audit=audit)
    batch = make_events(scenario, events, seed)
    states: dict[str, dict[str, AuthoritativeRecord]] = {}
    head: ChainHead = (0, None)
    writes = audited = audit_bytes = 0
    started = time.process_time()
    for offset, (key, value) in enumerate(zip(batch.keys, batch.values, strict=True)):
        msg = Input(scenario.ingest_topic, 0, offset, key, value)
        subject = key.decode()
        plan = plan_message(
            msg, states.get(subject, {}), head, reference, NOW, encoder=encoder, options=options
        )
        head = plan.head
        if plan.state is not None:
            states[plan.state.subject] = dict(plan.state.records)
        writes += len(plan.writes)
        sealed = [len(w.value) for w in plan.writes if w.topic == AUDIT]
        audited += len(sealed)
        audit_bytes += sum(sealed)
    seconds = time.process_time() - started
    return {
        "plans_per_s": round(events / seconds, 1),
        "records_per_event": round(writes / events, 2),
        "audit_records_per_event": round(audited / events, 2),
        "audit_bytes_per_event": round(audit_bytes / events),
    }


def measure(consumers: int, events: int, seed: int, rounds: int) -> dict[str, Any]:
    """Audit on and off in alternating rounds, for one consumer count."""
    scenario = Scenario("planstep", consumers)
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(rounds):
        for audit in (True, False):
            runs[audit].append(plan_rate(scenario, events, seed, audit=audit))
    on = statistics.median(r["plans_per_s"] for r in runs[True])
    off = statistics.median(r["plans_per_s"] for r in runs[False])
    return {
        "consumers": consumers,
        "events": events,
        "plans_per_s_audit_on": on,
        "plans_per_s_audit_off": off,
        "plans_per_s_rounds_audit_on": [r["plans_per_s"] for r in runs[True]],
        "plans_per_s_rounds_audit_off": [r["plans_per_s"] for r in runs[False]],
        "audit_cost": round(1 - on / off, 3),
        "records_per_event": runs[True][0]["records_per_event"],
        "records_per_event_audit_off": runs[False][0]["records_per_event"],
        "audit_records_per_event": runs[True][0]["audit_records_per_event"],
        "audit_bytes_per_event": runs[True][0]["audit_bytes_per_event"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.plan_step", description=__doc__)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--consumers", default="5,50", help="consumer counts, comma-separated")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    results = [
        measure(int(n), args.events, args.seed, args.rounds) for n in args.consumers.split(",") if n
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(
            f"{r['consumers']:>3} consumers: {r['plans_per_s_audit_on']:>8,.0f} plans/s audit on, "
            f"{r['plans_per_s_audit_off']:>8,.0f} off (audit costs {r['audit_cost']:.1%}); "
            f"{r['records_per_event']:g} records/event "
            f"({r['audit_records_per_event']:g} audit of {r['audit_bytes_per_event']:,} bytes "
            f"in all, {r['records_per_event_audit_off']:g} without audit)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
