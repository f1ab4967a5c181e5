"""The processor's metrics (:class:`monitoring.metrics.ProcessorMetrics`), from what each
plan tallied (:class:`topology.plan.Tally`) and what each transaction became.

Counters count when a message is planned (a retried message counts again, as before the
plan step existed); the event-to-feed latency is observed when the transaction that wrote
the feed records commits.
"""

from __future__ import annotations

from datetime import datetime

from monitoring.metrics import ProcessorMetrics
from topology.plan import Tally

COMMITTED, ABORTED = "committed", "aborted"


class Meter:
    """Metrics of one worker; every method does nothing without a registry."""

    def __init__(self, metrics: ProcessorMetrics | None) -> None:
        self._metrics = metrics
        self._event_times: list[datetime] = []

    def planned(self, tally: Tally) -> None:
        m = self._metrics
        if m is None:
            return
        for entry, outcome in tally.events:
            m.events.labels(entry, outcome).inc()
        for entry, reason in tally.dead_letters:
            m.dead_letters.labels(entry, reason).inc()
        for entry in tally.conflicts:
            m.conflicts.labels(entry).inc()
        for entry, recipient in tally.deliveries:
            m.deliveries.labels(entry, recipient).inc()
        if tally.event_time is not None:
            self._event_times.append(tally.event_time)

    def batch(self, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.batch_seconds.observe(seconds)

    def committed(self, now: datetime) -> None:
        """The transaction committed at ``now``: its accepted events reached the feeds."""
        if self._metrics is not None:
            self._metrics.transactions.labels(COMMITTED).inc()
            for t in self._event_times:
                self._metrics.end_to_end_seconds.observe(max(0.0, (now - t).total_seconds()))
        self._event_times.clear()

    def aborted(self) -> None:
        if self._metrics is not None:
            self._metrics.transactions.labels(ABORTED).inc()
        self._event_times.clear()
