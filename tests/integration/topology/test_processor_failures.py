"""The processor's failure semantics on the real broker (topology.processor, steps 7-11):
an unexpected error aborts the open transaction, never commits it; the batch is retried;
a message that fails again is quarantined (dead-lettered with the exception and its
bytes) and the partition moves on; a shutdown while a message is in doubt aborts.

The failures are injected through the processor's planning step (step 4,
``Processor._plan``, overridden as the repartitioner overrides it), not by mocking Kafka:
the overriding step returns the real plan, whose records
the loop starts producing into the real transaction before the failure strikes, so a
commit of the half-done transaction would show as duplicates. Every input must be
answered once (G 13 timely and accurate data; S 42 the audit chains stay intact).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exchange.catalog_loader import LoadedCatalog
from monitoring.metrics import ProcessorMetrics
from schemas import encode
from schemas.audit import verify
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import (
    Names,
    event,
    publish_events,
    read_topic,
    resident_id,
    topic_of,
)
from topology.plan import Input, Plan, Reference, Write
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference

JOIN_TIMEOUT_S = 60.0
FAIL = "fail-"  # an item value starting so makes the injected step fail


class Crash(BaseException):
    """An interrupt, not an error: it escapes the loop (like KeyboardInterrupt)."""


class Breaks:
    """The plan's records, breaking with ``error`` after ``after`` of them were produced."""

    def __init__(self, writes: tuple[Write, ...], after: int, error: BaseException) -> None:
        self.writes, self.after, self.error = writes, after, error

    def __iter__(self) -> Iterator[Write]:
        yield from self.writes[: self.after]
        raise self.error


@dataclass
class FailingStep:
    """The real plans of marked messages, failing ``times`` times each (None: always)
    half-way through writing their records."""

    times: int | None
    error: type[BaseException] = RuntimeError
    calls: Counter[str] = field(default_factory=Counter)

    def __call__(self, msg: Input, plan: Plan) -> Plan:
        """``plan`` (the real plan of ``msg``), or, for a marked message, one that fails."""
        if FAIL.encode() not in msg.value:
            return plan
        self.calls[msg.position] += 1
        if self.times is not None and self.calls[msg.position] > self.times:
            return plan
        failure = self.error(f"injected failure #{self.calls[msg.position]} at {msg.position}")
        writes: Any = Breaks(plan.writes, len(plan.writes) // 2, failure)
        return dataclasses.replace(plan, writes=writes)


class FailingProcessor(Processor):
    """The processor, its planning step (:meth:`Processor._plan`) failing as ``step`` says."""

    def __init__(self, *args: Any, step: FailingStep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing = step

    def _plan(self, inp: Input, reference: Reference, now: datetime) -> Plan:
        return self.failing(inp, super()._plan(inp, reference, now))


@dataclass
class Worker:
    processor: Processor
    thread: threading.Thread
    stop: threading.Event
    died: list[BaseException]
    registry: CollectorRegistry

    def aborted(self) -> float:
        value = self.registry.get_sample_value("govbus_transactions_total", {"result": "aborted"})
        return value or 0.0

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=JOIN_TIMEOUT_S)


@dataclass
class Bus:
    bootstrap: str
    config: dict[str, str]
    names: Names
    loaded: LoadedCatalog
    group: str = field(default_factory=lambda: f"govbus-test-{uuid.uuid4().hex}")

    def start(self, step: FailingStep | None = None) -> Worker:
        registry = CollectorRegistry()
        args = (
            ProcessorConfig(
                self.bootstrap,
                group_id=self.group,
                commit_interval_s=0.1,
                extra_config=self.config,
            ),
            StaticReference(self.loaded.catalog, self.loaded.grants),
            ProcessorMetrics.create(registry),
        )
        processor = Processor(*args) if step is None else FailingProcessor(*args, step=step)
        stop, died = threading.Event(), []

        def run() -> None:
            try:
                processor.run(stop)
            except BaseException as exc:  # noqa: BLE001 - the test looks at how the worker ended
                died.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return Worker(processor, thread, stop, died, registry)

    def read(self, kind: TopicKind, part: str | None, record: str, until: int) -> list[Any]:
        """The records of ``kind`` for ``part``: its own topic, or its records in the topic
        every entry shares (accepted, dlq)."""
        topic, entry = topic_of(kind, part)
        return read_topic(
            self.bootstrap, topic, config=self.config, until=until, record=record, entry=entry
        )

    def receipts(self, agency: str, until: int) -> Counter[str]:
        found = self.read(TopicKind.RECEIPTS, self.names.agency(agency), "Receipt", until)
        return Counter(str(r["event_id"]) for r in found)

    def audit_ok(self, entry: str) -> None:
        raw = read_topic(self.bootstrap, topic_name(TopicKind.AUDIT), config=self.config)
        ingest = topic_name(TopicKind.INGEST, entry) + "/"
        report = verify(
            [(str(i), v) for i, (_, v) in enumerate(raw)], include=lambda c: c.startswith(ingest)
        )
        assert report.ok, report.findings[:5]
        assert report.records > 0


@pytest.fixture
def bus(bootstrap: str, kafka_config: dict[str, str]) -> Bus:
    names = Names()
    return Bus(bootstrap, kafka_config, names, names.load())


def _events(bus: Bus, values: list[str], person: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """Changes of one person by its source, in one partition, in this order."""
    n = bus.names
    number = resident_id(person)
    return [
        (
            f"resident_id:{number}",
            event(n.entry("psb.person.basic"), n.agency("city-psb"), number, {"name": v}),
        )
        for v in values
    ]


def test_a_poison_message_is_quarantined_once_and_the_partition_moves_on(bus: Bus) -> None:
    """Steps 8-10: it fails, the batch is retried, it fails again, its dead letter answers
    it with the exception and its bytes; the messages around it are answered once."""
    step = FailingStep(times=None)
    worker = bus.start(step)
    try:
        sent = _events(bus, ["张一", "张二", f"{FAIL}poison", "张四", "张五"])
        sent += _events(bus, ["李一", "李二"], person=8)  # another subject, maybe partition
        publish_events(bus.bootstrap, sent, config=bus.config)
        poison = sent[2][1]
        basic = bus.names.entry("psb.person.basic")
        [dead] = bus.read(TopicKind.DLQ, basic, "DeadLetter", until=1)
        assert (dead["reason_code"], dead["stage"]) == ("processing_failed", "gate")
        assert "RuntimeError: injected failure #2" in dead["reason_text"]
        assert dead["original_key"] == sent[2][0].encode()
        assert dead["original_value"] == encode("ChangeEvent", poison)
        # Every other event is answered exactly once; the poison's half-written records of
        # two aborted attempts never became visible.
        others = [e["event_id"] for k, e in sent if e is not poison]
        receipts = bus.receipts("city-psb", until=len(others))
        assert receipts == Counter(others)
        assert list(step.calls.values()) == [2]  # planned twice, then quarantined
        assert worker.aborted() >= 2
        mca = bus.names.agency("city-mca")
        feed = bus.read(TopicKind.FEED, mca, "FeedRecord", until=len(others))
        assert Counter(str(f["event_id"]) for f in feed) == Counter(others)
        # The worker is still running and goes on with the partition.
        later = _events(bus, ["张六"])
        publish_events(bus.bootstrap, later, config=bus.config)
        assert bus.receipts("city-psb", until=len(others) + 1)[later[0][1]["event_id"]] == 1
        assert worker.thread.is_alive() and not worker.died
        bus.audit_ok(basic)
    finally:
        worker.halt()
    assert not worker.died


def test_a_message_that_fails_once_is_retried_and_answered_once(bus: Bus) -> None:
    """Steps 8-9: the half-done transaction is aborted, not committed; the retry answers
    the failed message and the ones before it exactly once, and nothing is dead-lettered."""
    step = FailingStep(times=1)
    worker = bus.start(step)
    try:
        sent = _events(bus, ["王一", "王二", f"{FAIL}once", "王四"])
        publish_events(bus.bootstrap, sent, config=bus.config)
        receipts = bus.receipts("city-psb", until=len(sent))
        assert receipts == Counter(e["event_id"] for _, e in sent)
        assert list(step.calls.values()) == [2]
        assert worker.aborted() >= 1
        basic = bus.names.entry("psb.person.basic")
        assert bus.read(TopicKind.DLQ, basic, "DeadLetter", until=0) == []
        accepted = bus.read(TopicKind.ACCEPTED, basic, "ChangeEvent", until=len(sent))
        assert Counter(str(a["event_id"]) for a in accepted) == receipts
        bus.audit_ok(basic)
        assert worker.thread.is_alive()
    finally:
        worker.halt()
    assert not worker.died


def test_a_shutdown_while_a_message_is_in_doubt_aborts_it(bus: Bus) -> None:
    """Step 11: an interrupt escapes half-way through a message's records: the open
    transaction is aborted, never committed (before, closing the consumer committed it);
    the next worker answers every message exactly once."""
    step = FailingStep(times=1, error=Crash)
    first = bus.start(step)
    sent = _events(bus, ["赵一", "赵二", f"{FAIL}crash", "赵四"])
    publish_events(bus.bootstrap, sent, config=bus.config)
    first.thread.join(timeout=JOIN_TIMEOUT_S)
    assert not first.thread.is_alive() and isinstance(first.died[0], Crash)
    # Nothing of the interrupted message is visible (its receipt was produced first)...
    crashed = sent[2][1]["event_id"]
    assert crashed not in bus.receipts("city-psb", until=0)
    # ...and the next incarnation answers each message once.
    second = bus.start()
    try:
        receipts = bus.receipts("city-psb", until=len(sent))
        assert receipts == Counter(e["event_id"] for _, e in sent)
        bus.audit_ok(bus.names.entry("psb.person.basic"))
    finally:
        second.halt()
    assert not second.died
