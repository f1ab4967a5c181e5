"""``govbus run --workers N``: a worker that dies is restarted; a crash loop is reported.

Processing must survive a dead worker without an operator (the bus is the agencies' only
channel, G 11: data pushed in real time), and a worker that cannot start must not leave a
supervisor that looks alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkaclient import Admin
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import Names, Reader, event, publish_events, resident_id
from topology.run import EXIT_PERSON
from topology.supervisor import RestartPolicy, supervise

#: Two JVM-free Python workers start, join and create their topics in well under this.
START_S = 90.0


#: Restart backoff is 1 s; a new worker process appears well within this.
RESTART_S = 30.0


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(c) for c in path.read_text().split()} if path.exists() else set()


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.2)


def test_a_killed_worker_is_restarted_and_events_keep_flowing(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    log = (tmp_path / "run.log").open("wb")
    cmd = [sys.executable, "-m", "govbus", "run", "--workers", "2", "--bootstrap", bootstrap]
    cmd += ["--catalog", str(catalog), "--group", f"govbus-sup-{uuid.uuid4().hex}"]
    cmd += ["--commit-interval", "0.5"]
    sup = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    basic = names.entry("psb.person.basic")
    psb = names.agency("city-psb")
    try:
        _wait(lambda: len(_children(sup.pid)) == 2, START_S, "two workers")
        ingest = topic_name(TopicKind.INGEST, basic)
        _wait(
            lambda: ingest in Admin(bootstrap, extra_config=kafka_config).topics(),
            START_S,
            "bus topics",
        )
        victim = min(_children(sup.pid))
        os.kill(victim, signal.SIGKILL)
        _wait(
            lambda: len(_children(sup.pid)) == 2 and victim not in _children(sup.pid),
            RESTART_S,
            "a new worker in place of the killed one",
        )
        assert sup.poll() is None
        sent = [
            (f"resident_id:{resident_id(i)}", event(basic, psb, resident_id(i), {"name": "张三"}))
            for i in range(20)
        ]
        publish_events(bootstrap, sent, config=kafka_config)
        receipts = Reader(bootstrap, kafka_config).records(
            topic_name(TopicKind.RECEIPTS, psb), "Receipt", until=len(sent)
        )
        assert sorted(str(r["event_id"]) for r in receipts) == sorted(
            e["event_id"] for _, e in sent
        )
        assert {r["outcome"] for r in receipts} == {"accepted"}
        # A clean stop: every worker finishes, the supervisor exits 0, nothing is left.
        workers = _children(sup.pid)
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{w}").exists() and _state(w) != "Z" for w in workers)
    finally:
        if sup.poll() is None:
            sup.kill()
        log.close()
    assert "restarting in" in (tmp_path / "run.log").read_text()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def test_a_worker_that_reports_a_persons_error_is_not_restarted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A worker that cannot start because of what a person must fix (here: its catalog file
    is missing) says so in one line; restarting cannot help, so the supervisor stops at
    once with the worker's exit code instead of looping."""
    argv = ["--bootstrap", "127.0.0.1:9", "--catalog", str(tmp_path / "missing.yaml")]
    with caplog.at_level("WARNING", logger="govbus.run"):
        code = supervise(1, argv, RestartPolicy(backoff_s=0.05))
    assert code == EXIT_PERSON
    assert not [r for r in caplog.records if "restarting" in r.getMessage()]
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing.yaml" in errors[0]
    assert "Traceback" not in capfd.readouterr().err


def _crashing(_worker: int, _argv: object) -> list[str]:
    """A worker process that crashes at once, for a reason restarting cannot fix."""
    return [sys.executable, "-c", "import sys; sys.exit(3)"]


def test_a_crash_loop_stops_the_supervisor_with_the_workers_exit_code(
    bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Crashes while the broker answers are restarted a few times, then the supervisor
    gives up with a failing exit code instead of looping forever."""
    policy = RestartPolicy(backoff_s=0.05, backoff_max_s=0.1, max_restarts=2, window_s=60.0)
    began = time.monotonic()
    with caplog.at_level("WARNING", logger="govbus.run"):
        code = supervise(1, ["--bootstrap", bootstrap], policy, command=_crashing)
    assert code == 3
    restarts = [r for r in caplog.records if "restarting in" in r.getMessage()]
    assert len(restarts) == policy.max_restarts
    assert "giving up" in caplog.records[-1].getMessage()
    assert time.monotonic() - began < 60.0


def test_deaths_while_the_broker_is_away_are_waited_out_not_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker that dies while nothing answers at the broker's address is restarted when
    the broker answers again; however often that happens, it is no crash loop (a broker
    restart must not make the supervisor give up)."""
    policy = RestartPolicy(backoff_s=0.01, backoff_max_s=0.01, max_restarts=1, window_s=60.0)
    timer = threading.Timer(6.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with caplog.at_level("WARNING", logger="govbus.run"):
            supervise(1, ["--bootstrap", "127.0.0.1:9"], policy, command=_crashing)
    finally:
        timer.cancel()
    messages = [r.getMessage() for r in caplog.records]
    assert any("the broker does not answer" in m for m in messages), messages
    assert not any("giving up" in m or "restarting in" in m for m in messages), messages
