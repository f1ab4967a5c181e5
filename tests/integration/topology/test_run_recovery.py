"""Recovery without a person (issue 14 item 5): ``govbus run`` with one worker, as the
processors' own principal, through a broker restart. The bus is the agencies' channel for
real-time data (G 11): processing must resume by itself when the broker is back.

The test runs its own local broker (the session's must not be stopped), stops it while the
worker runs (the reference view's first refresh after the restart used to raise
``_UNKNOWN_PARTITION`` and end a one-worker ``govbus run`` for good), publishes while it is
down, starts it again, and expects every event answered exactly once, with the supervisor
still running. It records how long after the broker first answered again the first receipt
was produced (``resume_after_broker_s``): issue 14 asks for 10 s; this test only bounds it
generously (timing belongs to benchmarks, and this machine may be loaded).

A worker that lives through the broker's absence is restarted by the supervisor when the
broker answers again (its librdkafka clients may wait a minute in a transactional call):
the second test checks that with a worker that merely sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from base.settings import Settings
from govbus.cli.main import app
from kafkaclient import Admin, Producer
from operations.broker.local import LocalBroker
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import Names, event, read_topic, resident_id
from topology.run import EXIT_PERSON
from topology.supervisor import LOST_AFTER_S, WATCH_EVERY_S, supervise

#: A worker starts, joins and answers its first event on a loaded machine within this.
START_S = 120.0
#: Generous: the aim (issue 14) is 10 s; a loaded CI machine may take longer.
RESUME_BOUND_S = 90.0
PING_EVERY_S = 0.1
#: The tail of ``govbus run``'s log a failure shows.
RUN_LOG_SHOWN = 30_000


class Own:
    """This test's broker, and how its clients and ``govbus`` processes reach it."""

    def __init__(self, broker: LocalBroker, home: Path) -> None:
        self.broker = broker
        self.admin = broker.admin_config()
        self.bootstrap = self.admin.pop("bootstrap.servers")
        status = broker.status()
        self.admin_file = str(status.admin_credentials)
        self.env_admin = self._env(home, self.admin_file)
        self.env_processor = self._env(home, str(status.processor_credentials))

    @staticmethod
    def _env(home: Path, credentials: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVBUS_")}
        return {
            **env,
            "GOVBUS_HOME": str(home),
            "GOVBUS_CREDENTIALS_FILE": credentials,
            "GOVBUS_PROFILE": "shenyang-2019",  # the profile the demo catalog is written for
        }


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    settings = Settings.load()
    where = tmp_path_factory.mktemp("own-broker")
    broker = LocalBroker(
        settings.home, settings.kafka_version, settings.broker_heap, state_dir=where / "b"
    )
    broker.start()
    try:
        yield Own(broker, where / "home")
    finally:
        broker.stop()


def _events(names: Names, first: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    basic, psb = names.entry("psb.person.basic"), names.agency("city-psb")
    return [
        (f"resident_id:{resident_id(i)}", event(basic, psb, resident_id(i), {"name": "张三"}))
        for i in range(first, first + count)
    ]


def _receipts(own: Own, names: Names, want: int) -> list[dict[str, Any]]:
    return read_topic(
        own.bootstrap,
        topic_name(TopicKind.RECEIPTS, names.agency("city-psb")),
        config=own.admin,
        until=want,
        record="Receipt",
        timeout_s=START_S,
    )


def _first_answer_after(own: Own, since: float, stop: threading.Event) -> list[float]:
    """Wall-clock seconds of the broker's first metadata answer after ``since``."""
    found: list[float] = []

    def ping() -> None:
        while not stop.is_set():
            now = time.time()
            if now > since and Admin(own.bootstrap, extra_config=own.admin).ping(0.5):
                found.append(now)
                return
            time.sleep(PING_EVERY_S)

    threading.Thread(target=ping, daemon=True).start()
    return found


def test_one_worker_resumes_by_itself_after_a_broker_restart(
    own: Own, tmp_path: Path, record_property: Any
) -> None:
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    # The import is set-up, run in process in the same environment (this process's GOVBUS_*
    # settings, the session broker's, unset); `govbus run` below is a real process.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GOVBUS_")}
    imported = CliRunner().invoke(
        app, ["catalog", "import", str(catalog), "--json"], env={**unset, **own.env_admin}
    )
    assert imported.exit_code == 0, imported.output
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        # The processors' own principal, through the SASL_SSL listener, reference data
        # from the state topics: the production path.
        run = subprocess.Popen(
            [sys.executable, "-m", "govbus", "run", "--commit-interval", "0.2"],
            env=own.env_processor,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stop_ping = threading.Event()
        try:
            before = _events(names, 0, 5)
            _publish(own, before)
            assert len(_receipts(own, names, len(before))) == len(before)

            # The broker goes away while the worker runs; events keep coming meanwhile.
            stopped_at = time.time()
            own.broker.stop()
            answered = _first_answer_after(own, stopped_at, stop_ping)
            during = _events(names, 100, 5)
            publishing = threading.Thread(target=_publish, args=(own, during), daemon=True)
            publishing.start()
            time.sleep(2.0)
            own.broker.start()
            publishing.join(timeout=START_S)
            assert not publishing.is_alive(), "the events sent during the outage never arrived"

            receipts = _receipts(own, names, len(before) + len(during))
            by_event = [str(r["event_id"]) for r in receipts]
            sent = [e["event_id"] for _, e in before + during]
            assert sorted(by_event) == sorted(sent), "every event answered exactly once"
            assert {r["outcome"] for r in receipts} == {"accepted"}
            assert run.poll() is None, "govbus run must still be running"

            assert answered, "the broker never answered again"
            late = {e["event_id"] for _, e in during}
            first_new = min(
                r["decided_at"].timestamp() for r in receipts if str(r["event_id"]) in late
            )
            resumed_after = first_new - answered[0]
            record_property("resume_after_broker_s", round(resumed_after, 2))
            (tmp_path / "resume.json").write_text(json.dumps({"seconds": resumed_after}))
            print(f"\nfirst receipt {resumed_after:.2f}s after the broker answered again")
            assert resumed_after < RESUME_BOUND_S
        finally:
            stop_ping.set()
            if run.poll() is None:
                run.send_signal(signal.SIGTERM)
                try:
                    run.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    run.kill()
            # Shown by pytest only when the test fails: what the worker and supervisor said.
            print(log_path.read_text(errors="replace")[-RUN_LOG_SHOWN:])
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def _publish(own: Own, events: list[tuple[str, dict[str, Any]]]) -> None:
    with Producer(own.bootstrap, extra_config=own.admin) as producer:
        for subject, e in events:
            topic = topic_name(TopicKind.INGEST, e["entry"])
            producer.produce(topic, encode("ChangeEvent", e), key=subject.encode())


def test_workers_that_lived_through_a_broker_loss_are_restarted_when_it_answers(
    own: Own, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker process that never noticed the loss (here: one that only sleeps, as a worker
    stuck in a client call would) is replaced by a fresh one once the broker is back."""
    started: list[int] = []

    def sleeper(_worker: int, _argv: object) -> list[str]:
        started.append(len(started))
        return [sys.executable, "-c", "import time; time.sleep(3600)"]

    connection = ["--bootstrap", own.bootstrap, "--credentials-file", own.admin_file]
    seen: dict[str, int] = {}
    failures: list[BaseException] = []

    def restart_the_broker() -> None:
        try:
            _until(lambda: len(started) == 1, START_S, "the worker started")
            own.broker.stop()
            time.sleep(LOST_AFTER_S + 2 * WATCH_EVERY_S + 1.0)  # a loss, not a blip
            seen["while_away"] = len(started)
            own.broker.start()
            _until(lambda: len(started) == 2, RESUME_BOUND_S, "a fresh worker after the loss")
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which reports it
            failures.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's own stop

    # The supervisor handles signals, so it runs here, in the main thread.
    chaos = threading.Thread(target=restart_the_broker, daemon=True)
    with caplog.at_level("WARNING", logger="govbus.run"):
        chaos.start()
        code = supervise(1, connection, command=sleeper)
        chaos.join(timeout=60)
    assert not failures, failures
    assert seen["while_away"] == 1, "nothing is restarted while the broker is away"
    assert len(started) == 2 and code != EXIT_PERSON
    assert any("answers again after a loss" in r.getMessage() for r in caplog.records)


def _until(done: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.1)
