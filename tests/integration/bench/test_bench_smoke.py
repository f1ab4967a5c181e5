"""Smoke test of ``python -m bench`` (issue 9) with tiny sizes on the session broker: the
report's structure, every ratio recomputed from the measured numbers it holds, every feed
holding every event once, the JSON and PNG written. No timing assertions. The bench and
its worker processes authenticate with the session's settings (GOVBUS_CREDENTIALS_FILE:
the administrator of the local broker)."""

from __future__ import annotations

import json
import sys
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

# bench/ is a directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


from bench.__main__ import main as bench_main
from bench.harness import GOALS, assess, ratios, records_written
from bench.report import print_report
from bench.scenario import CONSUMERS

EVENTS = 60


WARMUP = 20


LATENCY_S = 0.5


@pytest.mark.broker
def test_bench_runs_end_to_end_and_derives_ratios_from_its_measurements(
    bootstrap: str, tmp_path: Path
) -> None:
    code = bench_main(
        [
            "--bootstrap",
            bootstrap,
            "--events",
            str(EVENTS),
            "--warmup",
            str(WARMUP),
            "--latency-seconds",
            str(LATENCY_S),
            "--loads",
            "0.25,0.5",
            "--commit-intervals",
            "0.5",
            "--scaling",
            "1,2",
            "--rounds",
            "1",
            "--broker-warmup",
            "0",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    [json_file] = tmp_path.glob("pipeline-*.json")
    [png] = tmp_path.glob("latency-*.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(json_file.read_text(encoding="utf-8"))
    for section in ("machine", "raw", "govbus", "peers", "variants", "scaling", "latency"):
        assert section in report, section
    assert report["machine"]["nproc"] >= 1 and report["machine"]["cpu_model"]
    gov = report["govbus"]
    assert gov["exactly_once"] and gov["audit"] and gov["commit_interval_s"] == 0.5
    assert gov["events_per_s"] > 0 and gov["peak_rss_mib"] > 0
    # Every feed of the fan-out holds every event sent (warm-up and timed) once.
    assert len(gov["feed_records"]) == len(CONSUMERS) + 1
    assert set(gov["feed_records"].values()) == {WARMUP + EVENTS}
    assert gov["events_per_s_rounds"] == [gov["events_per_s"]]
    r = report["ratios"]
    assert r["govbus_to_raw"] == round(gov["events_per_s"] / report["raw"]["events_per_s"], 3)
    assert set(report["peers"]) == {"quix-streams", "faust-streaming"}
    for peer, result in report["peers"].items():
        assert result["events_per_s"] > 0, peer
        assert set(result["feed_records"].values()) == {WARMUP + EVENTS}, peer
        assert r[f"govbus_to_{peer}"] == round(gov["events_per_s"] / result["events_per_s"], 3)
    off = report["variants"]["audit_off"]
    alo = report["variants"]["at_least_once"]
    assert not off["audit"] and off["exactly_once"]
    assert alo["audit"] and not alo["exactly_once"]
    assert r["audit_cost"] == round(1 - gov["events_per_s"] / off["events_per_s"], 3)
    assert r["exactly_once_cost"] == round(1 - gov["events_per_s"] / alo["events_per_s"], 3)
    assert [(s["partitions"], s["workers"]) for s in report["scaling"]] == [(1, 1), (2, 2)]
    assert len(report["scaling"][1]["peak_rss_mib_per_worker"]) == 2
    points = report["latency"]["points"]
    assert [p["load_fraction"] for p in points] == [0.25, 0.5]
    for p in points:
        assert p["measured"] == p["sent"]
        assert p["offered_events_per_s"] == pytest.approx(
            p["load_fraction"] * gov["events_per_s"], abs=0.1
        )
        assert 0 < p["p50_ms"] <= p["p95_ms"] <= p["p99_ms"] <= p["max_ms"]
    half = report["assessment"]["p99_ms_at_half_load_commit_0.5s"]
    assert half["measured"] == points[1]["p99_ms"]
    assert half["met"] == (points[1]["p99_ms"] <= GOALS["p99_ms_at_half_load_max"])
    # The report is a pure function of its measured numbers.
    assert ratios(report) == r
    assert assess(report) == report["assessment"]
    # Records written per second beside raw produce's (issue 17 item 6), same run.
    rec = report["records_written"]
    assert rec == records_written(report)
    assert report["scenario"]["records_per_event"] == len(CONSUMERS) + 5
    assert rec["govbus_records_per_s"] == round(gov["events_per_s"] * (len(CONSUMERS) + 5))
    assert rec["raw_produce_records_per_s"] == report["raw"]["produce_events_per_s"]
    out = StringIO()
    print_report(report, Console(file=out, width=160))
    assert "govbus" in out.getvalue() and "quix-streams" in out.getvalue()
    assert "Records written per second" in out.getvalue()


@pytest.mark.broker
def test_python_m_bench_runs_the_harness_and_prints_its_json(
    bootstrap: str, tmp_path: Path
) -> None:
    """`python -m bench` is the benchmark's one command (it is not in the wheel)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    args = ["--only", "raw", "--events", "50", "--bootstrap", bootstrap]
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--out", str(tmp_path), "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["sections"] == ["raw"]
    assert report["raw"]["events"] == 50
    assert "govbus" not in report and report["ratios"] == {"govbus_to_raw": None}
    assert report["assessment"]["govbus_to_raw"]["met"] is None
    assert report["files"]["json"] == str(next(tmp_path.glob("pipeline-*.json")))
    bad = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nonsense", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
