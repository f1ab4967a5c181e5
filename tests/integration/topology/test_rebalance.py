"""Workers come and go without stopping the bus (issue 19 item 3): rebalancing is
incremental (KIP-429, cooperative-sticky), so a worker that joins takes only its share and
the first worker keeps, without restoring them again, the partitions it keeps; a worker
stopped gracefully leaves its group, so the others take its partitions at once instead of
after its session timeout (static members too: they unsubscribe before they close,
kafkaclient.Consumer.leave; topology.run)."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace

import pytest

from exchange.catalog_loader import LoadedCatalog
from kafkaclient import Producer
from schemas import encode
from schemas.topics import POLICIES, TopicKind, topic_name
from tests.support.processor import publish_names, running
from tests.support.scenario import Names, event, read_topic, resident_id
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference
from topology.run import Membership, worker_config
from topology.topics import published_entries

WAIT_S = 90.0
SETTLED_S = 5.0
#: Longer than the hand-over may take: a member that does not leave (a static one, KIP-345)
#: keeps its partitions this long after it stops.
LONG_SESSION_MS = 45_000
#: The hand-over is waited for at most this long, well within LONG_SESSION_MS.
HANDOVER_S = 30.0
#: Events published while a worker joins: one every this many seconds.
STREAM_EVERY_S = 0.1


def _settled(check: object, what: str) -> None:
    """Wait until ``check()`` has held for SETTLED_S (a rebalance has two phases)."""
    deadline = time.monotonic() + WAIT_S
    since = None
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            since = since or time.monotonic()
            if time.monotonic() - since >= SETTLED_S:
                return
        else:
            since = None
        time.sleep(0.2)
    raise AssertionError(f"not settled within {WAIT_S} s: {what}")


def _answered(bootstrap: str, kafka_config: dict[str, str], names: Names, name: str) -> None:
    """An event of the person's name change is accepted, whichever worker holds it."""
    publish_names(bootstrap, kafka_config, names, name)
    receipts = topic_name(TopicKind.RECEIPTS, names.agency("city-psb"))
    seen = read_topic(bootstrap, receipts, config=kafka_config, until=1, record="Receipt")
    assert [r["outcome"] for r in seen] == ["accepted"]


@dataclass(frozen=True)
class _Workers:
    """One test's workers: a fresh copy of the demo catalog, a consumer group of their own,
    and how many ingest partitions they share (a withdrawn entry has no topics to consume,
    topology.topics)."""

    bootstrap: str
    kafka_config: dict[str, str]
    names: Names
    loaded: LoadedCatalog
    group: str
    total: int

    @classmethod
    def new(cls, bootstrap: str, kafka_config: dict[str, str]) -> _Workers:
        names = Names()
        loaded = names.load()
        total = len(published_entries(loaded.catalog)) * POLICIES[TopicKind.INGEST].partitions
        group = f"govbus-test-{uuid.uuid4().hex}"
        return cls(bootstrap, kafka_config, names, loaded, group, total)

    def config(self, worker: int) -> ProcessorConfig:
        return ProcessorConfig(
            self.bootstrap, group_id=self.group, worker=worker, extra_config=dict(self.kafka_config)
        )

    def reference(self) -> StaticReference:
        return StaticReference(self.loaded.catalog, self.loaded.grants)

    def processor(self, worker: int) -> Processor:
        """Worker ``worker`` with the project's defaults (static membership)."""
        return Processor(self.config(worker), self.reference())


def test_a_joining_worker_moves_only_its_share(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    workers = _Workers.new(bootstrap, kafka_config)
    total = workers.total
    with ExitStack() as stack:
        first = stack.enter_context(running(workers.processor(0)))
        _settled(lambda: first.restored_partitions == total, "the first worker holds all")
        second = stack.enter_context(running(workers.processor(1)))
        _settled(lambda: second.restored_partitions > 0, "the second worker has its share")
        # Eager rebalancing would have revoked all and restored the kept ones again.
        assert first.restored_partitions == total
        assert 0 < second.restored_partitions < total
        # Both keep deciding: an event reaches its receipt whichever worker holds it.
        _answered(bootstrap, kafka_config, workers.names, "张三")


@pytest.mark.parametrize("membership", list(Membership))
def test_a_worker_stopped_gracefully_hands_over_its_partitions_at_once(
    bootstrap: str, kafka_config: dict[str, str], membership: Membership
) -> None:
    """Both memberships (``govbus run --membership``). A static member that only closed
    would not leave (KIP-345): its partitions would wait out its 45 s session before the
    first worker could take them back (this test failed so with ``Membership.STATIC``
    before :meth:`kafkaclient.Consumer.leave`)."""
    workers = _Workers.new(bootstrap, kafka_config)
    total = workers.total

    def processor(worker: int) -> Processor:
        config = worker_config(workers.config(worker), membership)
        consumer = {**config.consumer_config, "session.timeout.ms": LONG_SESSION_MS}
        return Processor(replace(config, consumer_config=consumer), workers.reference())

    with running(processor(0)) as first:
        _settled(lambda: first.restored_partitions == total, "the first worker holds all")
        with running(processor(1)) as second:
            _settled(lambda: second.restored_partitions > 0, "the second worker has its share")
        share = second.restored_partitions
        assert 0 < share < total
        # The second worker has stopped (its consumer closed): the first takes its share back.
        deadline = time.monotonic() + HANDOVER_S
        while first.restored_partitions < total + share and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.restored_partitions == total + share
        # And answers an event of any partition.
        _answered(bootstrap, kafka_config, workers.names, "李四")


def test_events_published_while_a_worker_joins_are_answered_exactly_once(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    """Events keep coming while the second worker joins: the first worker's transactions
    that the rebalance cuts short (a commit of the old generation fails with
    ILLEGAL_GENERATION and is aborted, step 7) are read again, so every event has exactly
    one receipt, whichever worker answered it; the first worker restores nothing again."""
    workers = _Workers.new(bootstrap, kafka_config)
    total = workers.total
    basic, psb = workers.names.entry("psb.person.basic"), workers.names.agency("city-psb")
    ingest = topic_name(TopicKind.INGEST, basic)
    sent: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        with Producer(bootstrap, extra_config=kafka_config) as producer:
            n = 0
            while not stop.is_set():
                person = resident_id(n)
                change = event(basic, psb, person, {"name": f"张{n}"})
                producer.produce(
                    ingest, encode("ChangeEvent", change), key=f"resident_id:{person}".encode()
                )
                producer.flush()
                sent.append(str(change["event_id"]))
                n += 1
                stop.wait(STREAM_EVERY_S)

    publisher = threading.Thread(target=stream, daemon=True)
    with ExitStack() as stack:
        first = stack.enter_context(running(workers.processor(0)))
        _settled(lambda: first.restored_partitions == total, "the first worker holds all")
        publisher.start()
        try:
            answered_alone = first.processed
            second = stack.enter_context(running(workers.processor(1)))
            _settled(lambda: second.restored_partitions > 0, "the second worker has its share")
        finally:
            stop.set()
            publisher.join()
        assert first.restored_partitions == total
        assert 0 < second.restored_partitions < total
        receipts = read_topic(
            bootstrap,
            topic_name(TopicKind.RECEIPTS, psb),
            config=kafka_config,
            until=len(sent),
            record="Receipt",
            settle_s=2.0,
        )
        # The first worker kept answering while the second started and joined.
        assert first.processed > answered_alone
    answered = [str(r["event_id"]) for r in receipts]
    assert sorted(answered) == sorted(sent)
