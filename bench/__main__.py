"""``python -m bench``: govbus throughput, latency and memory as ratios to raw Kafka and to
Python peers, in one run on one broker (issue 9). See bench/README.md.

    python -m bench [--events N] [--quick] [--rounds R] [--only SECTIONS] [--variants V]
                    [--consumers N] [--profile]
                    [--bootstrap HOST:PORT] [--out DIR] [--json]

Broker (:mod:`bench.broker`): ``--bootstrap``, else the configured one (``GOVBUS_BOOTSTRAP``,
settings or credentials file) with the credentials of ``Settings.load()``, else a local
broker started on a temporary state directory, used as its administrator and stopped at
the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.broker import bench_broker
from bench.harness import SECTIONS, VARIANTS, Options, Tracker, run_bench
from bench.peers import PEERS
from bench.report import plot_latency, print_report, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(x for x in text.split(",") if x)
        bad = [n for n in names if n not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {allowed}")
        return names

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, help="events per throughput measurement (15000)")
    p.add_argument("--quick", action="store_true", help="small sizes (2000 events, 3 s points)")
    p.add_argument("--warmup", type=int, help="warm-up events per deployment (300)")
    p.add_argument("--seed", type=int, help="event generator seed (7)")
    p.add_argument("--latency-seconds", type=float, help="paced sending per latency point (8)")
    p.add_argument("--loads", type=_floats, help="fractions of the max rate (0.25,0.5,0.8)")
    p.add_argument("--commit-intervals", type=_floats, help="seconds (0.5,0.05)")
    p.add_argument("--scaling", type=_ints, help="partitions = workers (1,2,4)")
    p.add_argument("--peers", type=_names(PEERS), help=f"subset of {','.join(PEERS)}")
    p.add_argument("--rounds", type=int, help="rounds of govbus/peers/variants (2; median)")
    p.add_argument("--broker-warmup", type=int, help="untimed govbus events first (3000; 0: none)")
    p.add_argument("--only", type=_names(SECTIONS), help=f"subset of {','.join(SECTIONS)}")
    p.add_argument("--variants", type=_names(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    p.add_argument("--consumers", type=int, help="consuming agencies of the scenario (5)")
    p.add_argument("--profile", action="store_true", help="one more govbus run under pyinstrument")
    p.add_argument("--bootstrap", default="", help="default: the configured broker or a local one")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON, PNG, profile")
    p.add_argument("--json", action="store_true", help="print the report as JSON, no table")
    return p


def options_from(args: argparse.Namespace, stamp: str) -> Options:
    base = Options.quick() if args.quick else Options()
    fields = {
        "events": args.events,
        "warmup": args.warmup,
        "seed": args.seed,
        "latency_s": args.latency_seconds,
        "load_fractions": args.loads,
        "commit_intervals": args.commit_intervals,
        "scaling": args.scaling,
        "peers": args.peers,
        "sections": args.only,
        "variants": args.variants,
        "consumers": args.consumers,
        "rounds": args.rounds,
        "broker_warmup": args.broker_warmup,
    }
    chosen: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if args.profile:
        chosen["profile"] = args.out / f"profile-{stamp}.txt"
    return replace(base, **chosen)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    options = options_from(args, stamp)
    console = Console(stderr=args.json)
    args.out.mkdir(parents=True, exist_ok=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        bench_broker(args.bootstrap) as broker,
        tempfile.TemporaryDirectory(prefix="govbus-bench-work-") as work,
        Progress(*columns, console=console, transient=False) as progress,
    ):
        overall = progress.add_task("benchmark", total=options.planned_steps())
        current = progress.add_task("", total=1)

        def on_step(name: str, events: int) -> None:
            progress.advance(overall)
            progress.reset(current, total=max(1, events), description=f"  {name}")

        tracker = Tracker(on_step, lambda n: progress.advance(current, n))
        report = run_bench(broker, options, Path(work), tracker=tracker)
    json_path = args.out / f"pipeline-{stamp}.json"
    plot = plot_latency(report, args.out / f"latency-{stamp}.png")
    report["files"] = {"json": str(json_path), "plot": str(plot) if plot else None}
    write_json(report, json_path)
    if args.json:
        print(json_path.read_text(encoding="utf-8"))
    else:
        print_report(report, console)
        console.print(f"broker: {report['broker']}; {report['elapsed_s']} s; results: {json_path}")
        if plot:
            console.print(f"latency plot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
