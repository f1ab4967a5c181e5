"""End to end with a real Prometheus server: it scrapes `govbus monitor` (a subprocess) and
a processor while events flow and two feed readers fall behind, evaluates the shipped alert
rules, and answers over its HTTP API (GM 11, G 13; G 30, S 47).

Prometheus is Debian's `prometheus` package, started on loopback with a temporary data
directory and a 1 s scrape and evaluation interval. The shipped rules are used with their
``for:`` durations set to 0 s, so the test needs no minutes of waiting (the durations
themselves are covered by the promtool unit tests). A missing Prometheus fails the test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from kafkaclient import Admin, Consumer, Producer, TopicPartition
from monitoring.metrics import ProcessorMetrics
from operations.broker.local import free_port
from schemas import encode
from schemas.topics import TopicKind, entry_headers, topic_name
from tests.support.processes import stop
from tests.support.scenario import Names, event, publish_events, resident_id
from tests.support.tools import required_tool
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference

ROOT = Path(__file__).resolve().parents[3]


#: Every wait of this test is bounded.
READY_TIMEOUT_S = 30.0


ALERT_TIMEOUT_S = 90.0


#: Lag growth needs two scrapes that differ; a few seconds, more on a loaded machine.
GROWTH_TIMEOUT_S = 30.0


STOP_TIMEOUT_S = 30.0


#: Events per second into the bus while the test runs.
EVENTS_PER_S = 10


DAY_MS = 86_400_000


def _get(url: str, timeout_s: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return bytes(response.read())


def _wait(what: str, probe: Callable[[], Any], timeout_s: float, proc: Any = None) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: process exited with {proc.returncode}")
        try:
            last = probe()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout_s}s (last: {last!r})")


class PromAPI:
    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        doc = json.loads(_get(url))
        if doc["status"] != "success":
            raise ValueError(doc)
        return list(doc["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def firing(self) -> list[dict[str, Any]]:
        doc = json.loads(_get(f"{self.base}/api/v1/alerts"))
        return [a for a in doc["data"]["alerts"] if a["state"] == "firing"]


def _rules_without_for(dest: Path) -> Path:
    text = (ROOT / "monitoring" / "rules" / "govbus.yml").read_text()
    fast, n = re.subn(r"(?m)^(\s+for:)\s*\S+$", r"\1 0s", text)
    assert n == len([r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "for" in r])
    out = dest / "govbus.yml"
    out.write_text(fast)
    return out


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[tuple[PromAPI, Callable[[dict[str, str]], None]]]:
    """Yields the API and a function that writes the scrape targets and starts the server."""
    binary = required_tool("prometheus", "prometheus")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start(targets: dict[str, str]) -> None:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(_rules_without_for(tmp_path))],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [address]}]}
                for job, address in targets.items()
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        _wait(
            "prometheus ready",
            lambda: _get(f"http://127.0.0.1:{port}/-/ready"),
            READY_TIMEOUT_S,
            proc,
        )

    try:
        yield PromAPI(f"http://127.0.0.1:{port}"), start
    finally:
        for proc in procs:
            stop(proc, STOP_TIMEOUT_S)


class Background:
    """Threads that run until the test ends: events in, readers that fall behind."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def run(self, target: Callable[[threading.Event], None]) -> None:
        def guarded() -> None:
            try:
                target(self.stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the test, which fails on it
                self.errors.append(exc)

        t = threading.Thread(target=guarded, daemon=True)
        t.start()
        self.threads.append(t)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=STOP_TIMEOUT_S)


def _publisher(
    bootstrap: str, config: dict[str, str], entry: str, provider: str
) -> Callable[[threading.Event], None]:
    def loop(stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            batch = []
            for _ in range(EVENTS_PER_S // 2):
                n += 1
                person = resident_id(n)
                e = event(entry, provider, person, {"name": f"姓名{n}"}, operation="create")
                batch.append((f"resident_id:{person}", e))
            publish_events(bootstrap, batch, config=config)
            stop.wait(0.5)

    return loop


def _reader(
    bootstrap: str,
    config: dict[str, str],
    topic: str,
    group: str,
    *,
    commit_every_s: float | None,
) -> Callable[[threading.Event], None]:
    """A member of ``group``: commits one record per ``commit_every_s`` (slow), or, with
    None, commits offset 0 once and then polls without committing (stuck)."""

    def loop(stop: threading.Event) -> None:
        with Consumer(bootstrap, group, extra_config=config) as consumer:
            consumer.subscribe([topic])
            committed_once = False
            while not stop.is_set():
                if commit_every_s is None:
                    consumer.consume(100, timeout_s=0.5)
                    assigned = consumer.assignment()
                    if assigned and not committed_once:
                        consumer.commit([TopicPartition(topic, tp.partition, 0) for tp in assigned])
                        committed_once = True
                    continue
                for msg in consumer.consume(1, timeout_s=0.5):
                    tp = TopicPartition(topic, msg.partition() or 0, (msg.offset() or 0) + 1)
                    consumer.commit([tp])
                stop.wait(commit_every_s)

    return loop


def test_prometheus_scrapes_lag_update_cycles_and_fires_alerts(
    bootstrap: str,
    kafka_config: dict[str, str],
    tmp_path: Path,
    prometheus_server: tuple[PromAPI, Callable[[dict[str, str]], None]],
) -> None:
    api, start_prometheus = prometheus_server
    names = Names()
    loaded = names.load()
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(names.catalog_text(), encoding="utf-8")
    basic, reg = names.entry("psb.person.basic"), names.entry("amr.company.registration")
    psb, amr = names.agency("city-psb"), names.agency("city-amr")
    mca, hc = names.agency("city-mca"), names.agency("city-hc")
    slow, stuck = f"{mca}.slow", f"{hc}.stuck"

    # The processor, its metrics on its own registry and port (it creates the bus topics).
    registry = CollectorRegistry()
    processor_port = free_port()
    server, _ = start_http_server(processor_port, addr="127.0.0.1", registry=registry)
    processor = Processor(
        ProcessorConfig(
            bootstrap,
            group_id=f"govbus-e2e-{names.sfx}",
            commit_interval_s=0.2,
            extra_config=kafka_config,
        ),
        StaticReference(loaded.catalog, loaded.grants),
        ProcessorMetrics.create(registry),
    )
    background = Background()
    monitor_port = free_port()
    monitor: subprocess.Popen[bytes] | None = None
    try:
        background.run(processor.run)
        # The last change of a daily entry of 市市场监管局 was three days ago (GM 11).
        # govbus.accepted is shared by every entry (and may exist already): the entry's own
        # ingest topic says the processor has created this catalog's topics.
        accepted = topic_name(TopicKind.ACCEPTED)
        ours = {accepted, topic_name(TopicKind.INGEST, reg)}
        admin = Admin(bootstrap, extra_config=kafka_config)
        _wait("bus topics", lambda: ours <= set(admin.topics()), READY_TIMEOUT_S)
        with Producer(bootstrap, extra_config=kafka_config) as producer:
            old = event(reg, amr, "91350100M000100Y43", {"company_name": "示例公司"})
            producer.produce(
                accepted,
                encode("ChangeEvent", old),
                b"credit_code:91350100M000100Y43",
                headers=entry_headers(reg),
                timestamp_ms=int(time.time() * 1000) - 3 * DAY_MS,
            )
        argv = ["monitor", "--port", str(monitor_port), "--bootstrap", bootstrap]
        argv += ["--catalog", str(catalog_file), "--interval", "1", "--groups", names.sfx]
        argv += ["--window", "5", "--min-samples", "3"]
        monitor = subprocess.Popen(
            [sys.executable, "-m", "govbus", *argv],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "monitor.log").open("wb"),
        )
        _wait(
            "monitor metrics",
            lambda: (
                b"govbus_monitor_last_refresh_timestamp_seconds "
                in _get(f"http://127.0.0.1:{monitor_port}/metrics")
            ),
            READY_TIMEOUT_S,
            monitor,
        )
        start_prometheus(
            {
                "govbus-monitor": f"127.0.0.1:{monitor_port}",
                "govbus-processor": f"127.0.0.1:{processor_port}",
            }
        )
        # Events flow; 市民政局's reader takes one record every 2 s, 市卫健委's is stuck.
        background.run(_publisher(bootstrap, kafka_config, basic, psb))
        background.run(
            _reader(
                bootstrap, kafka_config, topic_name(TopicKind.FEED, mca), slow, commit_every_s=2.0
            )
        )
        background.run(
            _reader(
                bootstrap, kafka_config, topic_name(TopicKind.FEED, hc), stuck, commit_every_s=None
            )
        )

        def fired() -> dict[tuple[str, str], dict[str, Any]]:
            alerts = {
                (a["labels"]["alertname"], a["labels"].get("group") or a["labels"].get("entry")): a
                for a in api.firing()
            }
            wanted = {
                ("GovbusConsumerLagGrowing", slow),
                ("GovbusConsumerStalled", stuck),
                ("GovbusEntryOverdue", reg),
            }
            return alerts if wanted <= set(alerts) else {}

        began = time.monotonic()
        alerts = _wait("alerts firing", fired, ALERT_TIMEOUT_S, monitor)
        took = time.monotonic() - began
        assert not background.errors, background.errors
        overdue = alerts[("GovbusEntryOverdue", reg)]["labels"]
        assert (overdue["provider"], overdue["article"]) == (amr, "GM 11; G 13; G 30; S 47")
        # Lag in records and in seconds for the readers that fell behind.
        lag = api.value(f'sum(govbus_consumer_lag_messages{{group="{slow}"}})')
        assert lag is not None and lag > 0
        seconds = api.value(f'max(govbus_consumer_lag_seconds{{group="{stuck}"}})')
        assert seconds is not None and seconds > 0
        # The stuck reader's lag grows: over Prometheus's samples, not one scrape, so wait
        # for two samples that differ (under a loaded machine the first ones may not).
        growth = (
            f'max_over_time(sum(govbus_consumer_lag_messages{{group="{stuck}"}})[30s:1s])'
            f' - min_over_time(sum(govbus_consumer_lag_messages{{group="{stuck}"}})[30s:1s])'
        )
        growing = _wait(
            "the stuck reader's lag growing",
            lambda: (api.value(growth) or 0) > 0,
            GROWTH_TIMEOUT_S,
            monitor,
        )
        assert growing
        status = api.query(f'govbus_consumer_group_status{{group="{stuck}"}} == 1')
        assert [r["metric"]["status"] for r in status] == ["stalled"]
        # Update cycles: the daily entry is overdue by about 3 days; the weekly one is not.
        silence = api.value(f'govbus_entry_silence_seconds{{entry="{reg}",provider="{amr}"}}')
        assert silence is not None and 3 * 86400 - 60 < silence < 3 * 86400 + 600
        assert api.value(f'govbus_entries_overdue{{provider="{amr}"}}') == 1
        biz = names.entry("amr.individual.business")
        assert api.value(f'govbus_entry_overdue{{entry="{biz}",provider="{amr}"}}') == 0
        # The processor's own metrics reach Prometheus too.
        accepted_n = api.value(f'sum(govbus_events_total{{entry="{basic}",outcome="accepted"}})')
        assert accepted_n is not None and accepted_n > 0
        assert api.value('up{job="govbus-monitor"}') == 1
        print(f"alerts fired {took:.1f}s after events began to flow")
    finally:
        background.close()
        if monitor is not None:
            stop(monitor, STOP_TIMEOUT_S)
        server.shutdown()
