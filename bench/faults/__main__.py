"""``python -m bench.faults``: the fault suite (issue 18 item 2); see :mod:`bench.faults`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from base.settings import Settings
from bench.broker import CREDENTIALS_ENV, LOCAL, BenchBroker, bench_broker
from bench.faults.run import (
    CLUSTER_FAULTS,
    FAULTS,
    LONG,
    SHORT,
    SOAK,
    Result,
    new_run_dir,
    run_scenario,
)
from bench.faults.soak import run_soak
from operations.broker.cluster import LocalCluster

RESULTS = Path(__file__).resolve().parents[1] / "results"


@contextmanager
def local_cluster(directory: Path) -> Iterator[tuple[BenchBroker, LocalCluster]]:
    """A 3-node local cluster of the project's (operations.broker) for the run."""
    settings = Settings.load()
    cluster = LocalCluster(settings.home, settings.kafka_version, "512m", state_dir=directory)
    status = cluster.start()
    try:
        admin = cluster.admin_config()
        bootstrap = admin.pop("bootstrap.servers")
        env = {**os.environ, CREDENTIALS_ENV: str(status.admin_credentials)}
        yield BenchBroker(bootstrap, LOCAL, {**settings.kafka, **admin}, env), cluster
    finally:
        cluster.stop()


def table(results: Sequence[Result]) -> str:
    """The results as the Markdown table of docs/reliability.md."""
    rows = [
        "| fault | runs | events (acknowledged) | lost | duplicated | reordered "
        "| aborted reads | time to resume (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        c = r.anomalies.counts()
        resumed = (
            f"— ({r.soak.verdict})"
            if r.soak
            else ", ".join(
                ("never" if s is None else f"{s:.1f}") + (f" ({k})" if k != r.plan.fault else "")
                for k, s in r.resumed_s
            )
        )
        rows.append(
            f"| {r.plan.fault} | {r.plan.runs} | {r.events} ({r.acknowledged}) | {c['lost']} "
            f"| {c['duplicated']} | {c['reordered']} | {c['aborted_reads']} | {resumed} |"
        )
    return "\n".join(rows)


@contextmanager
def _work_dir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="govbus-faults-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    p.add_argument(
        "--fault",
        action="append",
        choices=(*FAULTS, SOAK),
        help=f"default: every fault but {SOAK} (half load for --minutes, no fault)",
    )
    form = p.add_mutually_exclusive_group()
    form.add_argument("--short", action="store_true", help="the CI form (default)")
    form.add_argument("--long", action="store_true", help="more faults, more load")
    p.add_argument("--runs", type=int, help="faults per scenario (overrides the form)")
    p.add_argument(
        "--rate",
        type=float,
        help="events per second (overrides the form; the long soak's default: half the "
        "maximum, measured at its start)",
    )
    p.add_argument("--minutes", type=float, help="the soak's length (overrides the form)")
    p.add_argument("--gap", type=float, help="seconds of load between faults (overrides the form)")
    p.add_argument("--bootstrap", default="", help="worker-kill's broker (default: a local one)")
    p.add_argument("--json", type=Path, help="write the results here too")
    p.add_argument(
        "--work-dir",
        type=Path,
        help="keep the runs' files (worker logs, cluster logs) here (default: a temporary "
        "directory, removed after the run)",
    )
    args = p.parse_args(argv)
    plans = LONG if args.long else SHORT
    chosen = [plans[f] for f in (args.fault or FAULTS)]
    chosen = [
        replace(
            plan,
            runs=args.runs if args.runs else plan.runs,
            rate=args.rate if args.rate else plan.rate,
            gap_s=args.gap if args.gap else plan.gap_s,
            minutes=args.minutes if args.minutes else plan.minutes,
        )
        for plan in chosen
    ]
    results: list[Result] = []
    with _work_dir(args.work_dir) as work:
        single = [plan for plan in chosen if plan.fault not in CLUSTER_FAULTS]
        if single:
            with bench_broker(args.bootstrap) as broker:
                for plan in single:
                    run = run_soak if plan.fault == SOAK else run_scenario
                    results.append(run(broker, plan, new_run_dir(work), say=print))
                    print(json.dumps(results[-1].describe(), ensure_ascii=False))
        multi = [plan for plan in chosen if plan.fault in CLUSTER_FAULTS]
        if multi:
            with local_cluster(work / "cluster") as (broker, cluster):
                for plan in multi:
                    result = run_scenario(
                        broker, plan, new_run_dir(work), cluster=cluster, say=print
                    )
                    results.append(result)
                    print(json.dumps(result.describe(), ensure_ascii=False))
    print(table(results))
    if args.json:
        document = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench.faults", *(argv or sys.argv[1:])]),
            "results": [r.describe() for r in results],
        }
        args.json.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
