"""``govbus run``: supervise processor workers, one or several, the same way.

A worker (:mod:`topology.run`) is a process; the supervisor starts it, restarts it when it
dies, and stops it. Its exit code tells why it ended: :data:`topology.run.EXIT_PERSON`
(a person must fix something: restarting cannot help), :data:`topology.run.EXIT_RESTART`
(the broker went away, or the worker was fenced: restarted at once), anything else (a
crash: restarted after a backoff).

The supervisor also watches the broker (:class:`BrokerWatch`). When the whole cluster was
unreachable and answers again (a restart of a one-node broker, say), every worker that
lived through it is restarted: librdkafka's clients come back from a broker restart in
states that can take a minute to clear (the group coordinator unknown, a transactional
``send_offsets_to_transaction`` waiting its whole timeout, a static member fenced), while
a fresh worker rejoins at once (a static member, the default, takes its partitions back
without a rebalance; a dynamic one leaves its group on the way out:
:class:`topology.run.Membership`) and its ``init_transactions`` aborts what the old one
left open, so a restart is both quick and safe (exactly once: tests/test_exactly_once.py
kills workers outright).
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from base.errors import GovbusError
from kafkaclient import Admin
from topology.run import (
    EXIT_PERSON,
    EXIT_RESTART,
    Connection,
    worker_command,
    worker_connection,
)

#: How long the supervisor waits for workers to finish their last transaction on a stop.
WORKER_STOP_GRACE_S = 30.0
#: A worker restarted because the broker came back gets this long to stop by itself (it
#: may be stuck in a client call that waits for a minute), then it is killed.
RESTART_GRACE_S = 1.5
#: How often the supervisor looks at its workers: a restart is never late by more.
SUPERVISE_POLL_S = 0.25
#: One "does the broker answer?" question, and how often it is asked.
BROKER_PING_S = 1.0
WATCH_EVERY_S = 0.5
#: No answer for this long (from the last answer to the next: three questions in a row
#: unanswered) is a loss, not a slow answer.
LOST_AFTER_S = 3.5

log = logging.getLogger("govbus.run")

Command = Callable[[int, Sequence[str]], list[str]]


@dataclass(frozen=True)
class RestartPolicy:
    """When the supervisor restarts a dead worker, and when it gives up."""

    #: First wait before a restart; doubled for each further death inside the window, so a
    #: worker that cannot start does not spin the CPU or flood the broker with logins.
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    #: More deaths than this within ``window_s`` is a crash loop (bad configuration, lost
    #: credentials): restarting cannot help, an operator must look.
    max_restarts: int = 5
    window_s: float = 300.0
    #: Restarts the broker caused (EXIT_RESTART) are immediate and not crashes; more than
    #: this many within ``window_s`` means restarting does not cure it after all.
    max_quick_restarts: int = 30

    def delay(self, recent_deaths: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, recent_deaths - 1)))

    def recent(self, times: list[float], now: float) -> list[float]:
        """``times`` still within ``window_s`` of ``now``, and ``now`` added: the restarts or
        deaths that count against a limit."""
        return [t for t in times if now - t < self.window_s] + [now]


class BrokerWatch:
    """Whether the workers' broker answers, asked every :data:`WATCH_EVERY_S`; and whether
    it just came back after being lost.

    A loss is :data:`LOST_AFTER_S` or more between the last answer before a failed question
    and the first answer after it. Counting from the last answer (not from the first failed
    question, which comes up to a question's timeout after the broker went away) finds
    every outage at least that long, a quick restart of a one-node broker included, while
    one or two slow answers on a loaded machine are not a loss."""

    def __init__(
        self, ping: Callable[[float], bool] | None, close: Callable[[], None] | None = None
    ) -> None:
        #: One question, with its timeout in s: True when the broker answered.
        self._ping = ping
        self._close = close
        self.answers = True
        self._asked: float | None = None
        #: When the broker last answered (before its first answer: the first question).
        self._answered_at: float | None = None
        #: A question went unanswered since then.
        self._missed = False

    @classmethod
    def of(cls, connection: Connection | None) -> BrokerWatch:
        """A watch of ``connection``'s broker (none: a watch that never asks)."""
        if connection is None:
            return cls(None)
        admin = Admin(connection.bootstrap, extra_config=connection.config)
        return cls(lambda timeout_s: admin.ping(timeout_s=timeout_s), admin.close)

    def look(self, now: float) -> bool:
        """Ask again when due; True once, when the broker answers after a loss."""
        if self._ping is None or (self._asked is not None and now - self._asked < WATCH_EVERY_S):
            return False
        self._asked = now
        if self._answered_at is None:
            self._answered_at = now
        self.answers = self._ping(BROKER_PING_S)
        if not self.answers:
            self._missed = True
            return False
        lost = self._missed and now - self._answered_at >= LOST_AFTER_S
        self._missed = False
        self._answered_at = now
        return lost

    def close(self) -> None:
        if self._close is not None:
            self._close()


@dataclass
class _Slot:
    index: int
    proc: subprocess.Popen[bytes]
    deaths: list[float] = field(default_factory=list)
    quick: list[float] = field(default_factory=list)
    restart_at: float | None = None
    #: Died while the broker did not answer: restarted as soon as it does.
    awaiting_broker: bool = False


def supervise(
    workers: int,
    argv: Sequence[str],
    policy: RestartPolicy | None = None,
    *,
    command: Command = worker_command,
) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT, restarting any that dies.

    1. Start every worker (``command``, :func:`topology.run.worker_command`): worker ``i``
       always has the static group member id and transactional id ``<group>-worker-<i>``.
    2. Watch them. A worker that exits while we are not stopping:

       a. with :data:`EXIT_PERSON`: it told a person what to fix; go to step 5 and return
          that code (restarting cannot help).
       b. while the broker does not answer (restarting, a network cut): not the worker's
          fault; it is restarted as soon as the broker answers again, and the death does
          not count toward a crash loop.
       c. with :data:`EXIT_RESTART` (a Kafka error a restart cures): restarted at once;
          more than ``max_quick_restarts`` within ``window_s`` is step 4.
       d. otherwise: restarted after the policy's backoff.

       Why a restart is safe: the new process has the same transactional ids, so its
       ``init_transactions`` fences the dead one and aborts what it left open; uncommitted
       input is read again (exactly once, tests/test_exactly_once.py). The dead one's
       partitions come back to it without a rebalance (static membership, the default),
       or go to the others once its session ends (dynamic: :class:`topology.run.Membership`).
    3. Watch the broker. When it answers after being lost, restart every worker that
       lived through the loss: ask it to stop, kill it after ``RESTART_GRACE_S``, start it
       again at once (the module docstring says why).
    4. A worker that died (2d) more than ``max_restarts`` times within ``window_s`` is in a
       crash loop: stop every worker (step 5) and return its exit code, so the service
       manager sees the failure instead of a supervisor that looks alive.
    5. On SIGTERM/SIGINT (or steps 2a, 4): terminate every worker, give each
       ``WORKER_STOP_GRACE_S`` to finish its last transaction, then kill it. Return the
       worst exit code (0 after a clean stop).
    """
    policy = policy or RestartPolicy()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    watch = BrokerWatch.of(_connection(argv))
    # Step 1: every worker, each under its fixed identity.
    slots = [_Slot(i, subprocess.Popen(command(i, argv))) for i in range(workers)]
    failed: int | None = None
    try:
        while not stop.is_set() and failed is None:
            # Step 3: the broker is back after a loss: fresh workers.
            if watch.look(time.monotonic()):
                _restart_survivors(slots, argv, command)
            # Step 2: watch the workers, restart.
            for slot in slots:
                failed = _tend(slot, argv, policy, watch, command)
                if failed is not None:
                    break
            stop.wait(SUPERVISE_POLL_S)
    finally:
        # Step 5: stop them all, each finishing its last transaction if it can.
        codes = _stop_all([s.proc for s in slots], WORKER_STOP_GRACE_S)
        watch.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # Steps 2a and 4: a person's error and a crash loop are the supervisor's failure too.
    return failed if failed is not None else max(codes, default=0)


def _connection(argv: Sequence[str]) -> Connection | None:
    """The workers' broker and credentials, read from their arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--credentials-file", type=Path, default=None)
    known, _ = parser.parse_known_args(list(argv))
    try:
        return worker_connection(known.bootstrap, known.credentials_file)
    except (GovbusError, OSError) as exc:  # the worker will say what is wrong (step 2a)
        log.debug("no broker watch for the supervisor: %s", exc)
        return None


def _restart_survivors(slots: Sequence[_Slot], argv: Sequence[str], command: Command) -> None:
    alive = [s for s in slots if s.proc.poll() is None]
    if alive:
        log.warning(
            "the broker answers again after a loss: restarting %d worker(s) with fresh clients",
            len(alive),
        )
    _stop_all([s.proc for s in alive], RESTART_GRACE_S)
    for slot in alive:
        slot.proc = subprocess.Popen(command(slot.index, argv))
        slot.restart_at = None
        slot.awaiting_broker = False


def _tend(
    slot: _Slot,
    argv: Sequence[str],
    policy: RestartPolicy,
    watch: BrokerWatch,
    command: Command,
) -> int | None:
    """Restart ``slot``'s worker when due; an exit code when the supervisor must stop."""
    code = slot.proc.poll()
    if code is None:
        return None
    now = time.monotonic()
    if slot.restart_at is None:
        stop = _schedule(slot, code, now, policy, watch)
        if stop is not None or slot.restart_at is None:
            return stop
    if now >= slot.restart_at:
        slot.proc = subprocess.Popen(command(slot.index, argv))
        slot.restart_at = None
    return None


def _schedule(
    slot: _Slot, code: int, now: float, policy: RestartPolicy, watch: BrokerWatch
) -> int | None:
    """Set when a dead worker restarts (``slot.restart_at``), or the code to stop with."""
    if code == EXIT_PERSON:  # Step 2a
        log.error("worker %d stopped on an error a person must fix (see above)", slot.index)
        return code
    if not watch.answers:  # Step 2b
        if not slot.awaiting_broker:
            log.warning(
                "worker %d exited with %s; the broker does not answer: restarting it "
                "as soon as it does",
                slot.index,
                code,
            )
        slot.awaiting_broker = True
        return None
    if slot.awaiting_broker:
        slot.awaiting_broker = False
        slot.restart_at = now
        log.warning("the broker answers again: restarting worker %d", slot.index)
    elif code == EXIT_RESTART:  # Step 2c
        slot.quick = policy.recent(slot.quick, now)
        if len(slot.quick) > policy.max_quick_restarts:  # Step 4
            log.error(
                "worker %d restarted %d times in %.0fs: giving up",
                slot.index,
                len(slot.quick),
                policy.window_s,
            )
            return code
        slot.restart_at = now
        log.warning("worker %d exited with %s; restarting it now", slot.index, code)
    else:  # Step 2d
        slot.deaths = policy.recent(slot.deaths, now)
        if len(slot.deaths) > policy.max_restarts:  # Step 4
            log.error(
                "worker %d died %d times in %.0fs (last exit %s): giving up",
                slot.index,
                len(slot.deaths),
                policy.window_s,
                code,
            )
            return code or 1
        delay = policy.delay(len(slot.deaths))
        log.warning("worker %d exited with %s; restarting in %.1fs", slot.index, code, delay)
        slot.restart_at = now + delay
    return None


def _stop_all(procs: Sequence[subprocess.Popen[bytes]], grace_s: float) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    codes = []
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes
