"""The report: rich tables on the terminal, JSON and a PNG latency plot under
``bench/results/``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

GOAL_P99_MS = 100.0  # issue 17 item 1


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}x"


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_results(out: Path, name: str, report: dict[str, Any]) -> Path:
    """Write ``report`` to ``out/<name>-<UTC stamp>.json`` (a bench run's results file) and
    return that path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return write_json(report, out / f"{name}-{stamp}.json")


def plot_latency(report: dict[str, Any], path: Path) -> Path | None:
    """Latency percentiles against offered load, one colour per commit interval."""
    points = report.get("latency", {}).get("points", [])
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    styles = {"p50_ms": ":", "p95_ms": "--", "p99_ms": "-"}
    intervals = sorted({p["commit_interval_s"] for p in points}, reverse=True)
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for colour, interval in zip(colours, intervals, strict=False):
        rows = sorted(
            (p for p in points if p["commit_interval_s"] == interval),
            key=lambda p: p["offered_events_per_s"],
        )
        load = [p["offered_events_per_s"] for p in rows]
        for key, style in styles.items():
            ax.plot(
                load,
                [p[key] for p in rows],
                style,
                marker="o",
                color=colour,
                label=f"{key[:3]}, commit every {interval} s",
            )
    ax.axhline(GOAL_P99_MS, color="grey", linewidth=0.8)
    ax.annotate("goal: p99 100 ms", (0.01, GOAL_P99_MS), xycoords=("axes fraction", "data"))
    max_eps = report["latency"]["max_events_per_s"]
    ax.set_yscale("log")
    ax.set_xlabel(f"offered load, events/s (govbus max measured: {max_eps:,.0f}/s)")
    ax.set_ylabel("ingest-to-feed latency, ms (log)")
    ax.set_title("govbus ingest-to-feed latency (exactly once, audit on)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def print_report(report: dict[str, Any], console: Console) -> None:
    console.print(_throughput_table(report))
    records = _records_table(report)
    if records is not None:
        console.print(records)
    points = report.get("latency", {}).get("points", [])
    if points:
        console.print(_latency_table(points))
    console.print(_goals_table(report))


def _throughput_table(report: dict[str, Any]) -> Table:
    ratios = report.get("ratios", {})
    main = Table(title="Throughput (events/s; one event = 1 ingest record -> 5 feeds + open)")
    for column in ("system", "events/s", "govbus / this", "peak RSS MiB", "notes"):
        main.add_column(column)
    _baseline_rows(main, report, ratios)
    _peer_rows(main, report, ratios)
    _variant_rows(main, report, ratios)
    _scaling_rows(main, report, ratios)
    return main


def _baseline_rows(main: Table, report: dict[str, Any], ratios: dict[str, Any]) -> None:
    """raw confluent-kafka and govbus itself."""
    if "raw" in report:
        raw = report["raw"]
        main.add_row(
            "raw confluent-kafka",
            _num(raw["events_per_s"]),
            _ratio(ratios.get("govbus_to_raw")),
            "-",
            f"produce {_num(raw['produce_events_per_s'])}/s, "
            f"consume {_num(raw['consume_events_per_s'])}/s",
        )
    if "govbus" in report:
        gov = report["govbus"]
        feeds = gov.get("feed_records", {})
        main.add_row(
            "govbus (EOS, audit on)",
            _num(gov["events_per_s"]),
            "1.000x",
            _num(gov["peak_rss_mib"], 1),
            f"{gov['partitions']} partitions, {gov['workers']} worker; rounds "
            f"{_rounds(gov)}; feed records {min(feeds.values(), default=0):,}.."
            f"{max(feeds.values(), default=0):,} per feed",
        )


def _peer_rows(main: Table, report: dict[str, Any], ratios: dict[str, Any]) -> None:
    for peer, result in report.get("peers", {}).items():
        if "skipped" in result:
            main.add_row(peer, "-", "-", "-", result["skipped"])
            continue
        main.add_row(
            f"{peer} {result.get('version') or ''}",
            _num(result["events_per_s"]),
            _ratio(ratios.get(f"govbus_to_{peer}")),
            _num(result["peak_rss_mib"], 1),
            f"rounds {_rounds(result)}; exactly once; decode, key check, mask, fan-out",
        )


def _variant_rows(main: Table, report: dict[str, Any], ratios: dict[str, Any]) -> None:
    """govbus with the audit off, and at least once: what each guarantee costs."""
    variants = report.get("variants", {})
    for name, label in (
        ("audit_off", "govbus audit off"),
        ("at_least_once", "govbus at-least-once"),
    ):
        if name in variants:
            main.add_row(
                label,
                _num(variants[name]["events_per_s"]),
                _ratio(
                    report["govbus"]["events_per_s"] / variants[name]["events_per_s"]
                    if "govbus" in report
                    else None
                ),
                _num(variants[name]["peak_rss_mib"], 1),
                f"cost of {'audit' if name == 'audit_off' else 'exactly once'}: "
                f"{_pct(ratios.get('audit_cost' if name == 'audit_off' else 'exactly_once_cost'))}",
            )


def _scaling_rows(main: Table, report: dict[str, Any], ratios: dict[str, Any]) -> None:
    for row in report.get("scaling", []):
        n = row["partitions"]
        main.add_row(
            f"govbus {n} partition(s) / {row['workers']} worker(s)",
            _num(row["events_per_s"]),
            "-",
            _num(row["peak_rss_mib"], 1),
            f"{_ratio(ratios.get(f'scaling_{n}_to_1'))} of 1 partition",
        )


def _records_table(report: dict[str, Any]) -> Table | None:
    """Records written per second: govbus (events/s x records per event) beside raw produce
    in the same run (issue 17 item 6)."""
    rec = report.get("records_written") or {}
    if not rec.get("govbus_records_per_s") and not rec.get("raw_produce_records_per_s"):
        return None
    table = Table(title="Records written per second (same run)")
    for column in ("system", "records/event", "records/s", "govbus / this"):
        table.add_column(column)
    scenario = report.get("scenario", {})
    rows = (  # (rate's key, system, records/event, govbus / this)
        (
            "raw_produce_records_per_s",
            "raw confluent-kafka produce",
            "1",
            _ratio(rec.get("govbus_to_raw_produce")),
        ),
        (
            "govbus_records_per_s",
            "govbus (EOS, audit on)",
            _num(rec.get("records_per_event"), 1),
            "1.000x",
        ),
        (
            "audit_off_records_per_s",
            "govbus audit off",
            _num(scenario.get("records_per_event_audit_off"), 1),
            "-",
        ),
    )
    for key, system, per_event, ratio in rows:
        if rec.get(key):
            table.add_row(system, per_event, _num(rec[key]), ratio)
    return table


def _latency_table(points: list[dict[str, Any]]) -> Table:
    lat = Table(title="govbus ingest-to-feed latency under paced load (ms)")
    for column in (
        "commit interval",
        "load",
        "offered/s",
        "sent/s",
        "p50",
        "p95",
        "p99",
        "p99.9",
    ):
        lat.add_column(column)
    for p in points:
        lat.add_row(
            f"{p['commit_interval_s']} s",
            f"{p['load_fraction']:.0%}",
            _num(p["offered_events_per_s"]),
            _num(p["achieved_send_rate"]),
            _num(p["p50_ms"], 1),
            _num(p["p95_ms"], 1),
            _num(p["p99_ms"], 1),
            _num(p.get("p99_9_ms"), 1),
        )
    return lat


def _goals_table(report: dict[str, Any]) -> Table:
    goals = Table(title="Goals (design targets, not test thresholds)")
    for column in ("goal", "measured", "target", "met"):
        goals.add_column(column)
    for name, g in report.get("assessment", {}).items():
        met = "-" if g["met"] is None else ("yes" if g["met"] else "NO")
        goals.add_row(name, _num(g["measured"], 3), _num(g["goal"], 2), met)
    return goals


def _rounds(result: dict[str, Any]) -> str:
    return ", ".join(_num(v) for v in result.get("events_per_s_rounds", []))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
