"""The worker's liveness watchdog (topology.watchdog): a loop that begins no step for the
limit ends the worker, so a stuck transaction is fenced by the worker's successor before
the group hands its partitions to another worker (exactly once, docs/reliability.md)."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass

from topology.run import EXIT_RESTART
from topology.watchdog import stalled, watching


@dataclass
class FakeLoop:
    progress_at: float
    restoring: bool = False


def test_a_loop_past_the_limit_is_stalled_and_one_within_it_is_not() -> None:
    loops = {"processor": FakeLoop(100.0), "repartition stage": FakeLoop(10.0)}
    assert stalled(200.0, loops, limit_s=180.0) == {"repartition stage": 190.0}
    assert stalled(189.0, loops, limit_s=180.0) == {}


def test_a_restoring_loop_is_never_stalled() -> None:
    # A restore runs inside the rebalance callback and may take minutes at a large catalog;
    # the group's own max.poll.interval.ms bounds it.
    assert stalled(1000.0, {"processor": FakeLoop(0.0, restoring=True)}, limit_s=180.0) == {}


def test_the_watchdog_calls_on_stall_once_with_the_stalled_loops() -> None:
    now = [0.0]
    loop = FakeLoop(0.0)
    calls: list[dict[str, float]] = []
    fired = threading.Event()

    def on_stall(found: dict[str, float]) -> None:
        calls.append(found)
        fired.set()

    with watching(
        {"processor": loop}, on_stall, limit_s=5.0, interval_s=0.01, clock=lambda: now[0]
    ):
        now[0] = 4.0
        assert not fired.wait(0.1)
        loop.progress_at = 3.0  # a step began: still alive at 7.0
        now[0] = 7.0
        assert not fired.wait(0.1)
        now[0] = 9.0
        assert fired.wait(5.0)
    assert calls == [{"processor": 6.0}]


def test_a_stalled_worker_logs_its_stacks_and_exits_to_be_restarted() -> None:
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "from topology.run import _stalled\n"
        "_stalled(3, {'repartition stage': 181.4})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_RESTART
    assert "worker 3 stops: the repartition stage has begun no step for 181 s" in done.stderr
    assert "Current thread" in done.stderr or "Thread 0x" in done.stderr  # faulthandler's dump
