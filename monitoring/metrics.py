"""The typed metrics bundle of govbus, built on a ``CollectorRegistry`` passed in.

Names and labels are an interface (dashboards and alert rules use them); a test pins them.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

#: Event time -> committed feed write; the commit interval (0.5 s default) dominates.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ProcessorMetrics:
    events: Counter
    dead_letters: Counter
    conflicts: Counter
    deliveries: Counter
    transactions: Counter
    batch_seconds: Histogram
    end_to_end_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ProcessorMetrics:
        return cls(
            events=Counter(
                "govbus_events",
                "Change events decided by the gate, by outcome.",
                ["entry", "outcome"],
                registry=registry,
            ),
            dead_letters=Counter(
                "govbus_dead_letters",
                "Events sent to a dead-letter topic, by reason.",
                ["entry", "reason"],
                registry=registry,
            ),
            conflicts=Counter(
                "govbus_conflicts",
                "Conflicts raised for coordination (GM 19).",
                ["entry"],
                registry=registry,
            ),
            deliveries=Counter(
                "govbus_deliveries",
                "Feed records delivered, by recipient.",
                ["entry", "recipient"],
                registry=registry,
            ),
            transactions=Counter(
                "govbus_transactions",
                "Processor transactions, by result.",
                ["result"],
                registry=registry,
            ),
            batch_seconds=Histogram(
                "govbus_batch_seconds",
                "Time to process one consumed batch.",
                registry=registry,
            ),
            end_to_end_seconds=Histogram(
                "govbus_end_to_end_seconds",
                "Event time to committed feed write.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )
