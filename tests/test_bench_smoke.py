"""Smoke test of ``python -m bench`` (issue 9) with tiny sizes on the session broker: the
report's structure, every ratio recomputed from the measured numbers it holds, every feed
holding every event once, the JSON and PNG written. No timing assertions. The bench and
its worker processes authenticate with the session's settings (GOVBUS_CREDENTIALS_FILE:
the administrator of the local broker)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from exchange.catalog_loader import load_catalog
from exchange.gate import IncomingEvent, decide
from exchange.policy import OpenFeed
from schemas import decode

# bench/ is a directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.__main__ import main as bench_main
from bench.broker import GIVEN, bench_broker
from bench.harness import GOALS, assess, combine, ratios
from bench.report import print_report
from bench.runs import percentile
from bench.scenario import CONSUMERS, Scenario, make_events

EVENTS = 60
WARMUP = 20
LATENCY_S = 0.5


def test_bench_scenario_fans_out_to_five_agencies_and_the_masked_open_feed(
    tmp_path: Path,
) -> None:
    """S 22 per-field grants: three agencies get every item, two their subsets; GM 9: the
    open feed gets internal data only desensitised, the subject key masked too."""
    scenario = Scenario("0123abcd")
    loaded = load_catalog(scenario.write_catalog(tmp_path))
    events = make_events(scenario, 20, seed=3)
    for key, value in zip(events.keys, events.values, strict=True):
        raw = decode("ChangeEvent", value)
        event = IncomingEvent.from_record(raw, key)
        result = decide(event, scenario.entry, loaded.catalog, loaded.grants, {}, datetime.now(UTC))
        assert result.outcome == "accepted"
        recipients = {r.id: d for d in result.deliveries for r in d.recipients}
        assert set(recipients) == {*scenario.consumers, OpenFeed().id}
        grants = scenario.grants()
        for agency in scenario.consumers:
            assert set(recipients[agency].items) == set(grants[agency])
            assert recipients[agency].rules_applied == ()
        open_delivery = recipients[OpenFeed().id]
        assert open_delivery.subject != result.canonical_subject
        assert {name for name, _ in open_delivery.rules_applied} >= {"name", "phone"}
    # Same seed, same values whatever the scenario: only the ids differ.
    again = make_events(Scenario("ffffeeee"), 20, seed=3)
    assert again.keys == events.keys and again.ids == events.ids


def test_a_given_broker_is_used_with_the_credentials_of_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GOVBUS_BOOTSTRAP", "GOVBUS_CREDENTIALS_FILE", "GOVBUS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVBUS_HOME", str(tmp_path))
    monkeypatch.setenv("GOVBUS_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("GOVBUS_KAFKA__SASL_PASSWORD", "never-shown")
    with bench_broker("kafka.example:9092") as broker:
        assert (broker.bootstrap, broker.kind) == ("kafka.example:9092", GIVEN)
        assert dict(broker.config) == {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.password": "never-shown",
        }
        # Workers find the same settings in their environment, not on their command line.
        assert broker.env["GOVBUS_KAFKA__SASL_PASSWORD"] == "never-shown"
        assert "never-shown" not in repr(broker)
    monkeypatch.setenv("GOVBUS_BOOTSTRAP", "configured.example:9092")
    with bench_broker() as broker:
        assert (broker.bootstrap, broker.kind) == ("configured.example:9092", GIVEN)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_lies_between_min_and_max_and_grows_with_q(
    values: list[float], q: float
) -> None:
    p = percentile(values, q)
    tol = 1e-9 * (1 + max(values))  # interpolation rounds
    assert min(values) - tol <= p <= max(values) + tol
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)
    assert percentile(values, min(100.0, q + 10)) >= p - tol


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
    out = StringIO()
    print_report(report, Console(file=out, width=160))
    assert "govbus" in out.getvalue() and "quix-streams" in out.getvalue()


def test_ratios_are_missing_not_invented_when_a_measurement_is_missing() -> None:
    report = {
        "govbus": {"events_per_s": 100.0},
        "peers": {"quix-streams": {"skipped": "not installed"}},
    }
    r = ratios(report)
    assert r == {"govbus_to_quix-streams": None}
    report["ratios"] = r
    assert assess(report)["govbus_to_quix-streams"]["met"] is None


@pytest.mark.broker
def test_python_m_bench_runs_the_harness_and_prints_its_json(
    bootstrap: str, tmp_path: Path
) -> None:
    """`python -m bench` is the benchmark's one command (it is not in the wheel)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
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


def test_rounds_combine_to_the_median_rate_and_the_highest_memory() -> None:
    rounds: list[dict[str, Any]] = [
        {"events_per_s": 900.0, "peak_rss_mib": 80.0, "feed_records": {"t": 5}},
        {"events_per_s": 1200.0, "peak_rss_mib": 85.5},
        {"events_per_s": 1000.0, "peak_rss_mib": 79.0},
    ]
    out = combine(rounds)
    assert out["events_per_s"] == 1000.0
    assert out["events_per_s_rounds"] == [900.0, 1200.0, 1000.0]
    assert out["peak_rss_mib"] == 85.5 and out["feed_records"] == {"t": 5}
