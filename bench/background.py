"""A bench's work in a daemon thread until it is told to stop: the publishers of a load,
the readers of its answers (:mod:`bench.rebalance`, :mod:`bench.faults.record`)."""

from __future__ import annotations

import threading


class Background:
    """Runs :meth:`_run` in a daemon thread from :meth:`start`; :meth:`_join` sets the
    stop event that :meth:`_run` watches and waits for the thread. The dataclass that
    uses it declares ``_stop`` and ``_thread`` as its fields."""

    _stop: threading.Event
    _thread: threading.Thread | None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _join(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class Publishing(Background):
    """A background publisher: a failure of :meth:`_publish` ends the thread and is kept
    in ``error``, raised by :meth:`_join_or_raise` (the caller's ``stop``)."""

    error: Exception | None

    def _join_or_raise(self) -> None:
        self._join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._publish()
        except Exception as exc:  # noqa: BLE001 - the thread's failure, raised by stop()
            self.error = exc

    def _publish(self) -> None:
        raise NotImplementedError
