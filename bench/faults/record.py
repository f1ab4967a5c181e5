"""Recording a fault run: every send through the project's publisher, every read of the
output streams in both views (``read_committed``, ``read_uncommitted``). Of a topic the
bus shares between entries (the open feed, the dead letters) a read keeps the scenario's
entry's records (:func:`bench.scenario.of_entry`): other runs on the broker write there."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.background import Publishing
from bench.faults.checker import REANSWERED, SUBMITTED, Position, Read, Send
from bench.scenario import DISTRICTS, GIVEN, STREETS, SURNAMES, Scenario, of_entry, residents
from exchange.catalog_loader import load_catalog
from kafkaclient import read_from_beginning
from producers.model import Draft, PublisherOptions, PublishResult, PublishStatus
from producers.publisher import AgencyPublisher
from schemas import decode
from schemas.partitioning import partition_for
from schemas.topics import TopicKind, topic_name

#: Stream names of the history: each agency's feed, the open feed, receipts, audit.
OPEN, RECEIPTS, AUDIT = "open", "receipts", "audit"
#: A read of one view ends after this long without a new record.
SETTLE_S = 1.0
#: A read of one view gives up after this long.
READ_TIMEOUT_S = 120.0


def feed_stream(topic: str) -> str:
    return f"feed:{topic}"


def draft(n: int, people: Sequence[str], rng: random.Random) -> Draft:
    """Change number ``n``: every item of the scenario's entry, a fresh name, address and
    phone (so the gate accepts it and every grant has something to deliver)."""
    person = rng.choice(people)
    name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
    return Draft(
        subject_key=person,
        operation="update",
        items={
            "name": name,
            "gender": "男" if int(person[16]) % 2 else "女",
            "birth_date": f"{person[6:10]}-{person[10:12]}-{person[12:14]}",
            "household_address": f"{rng.choice(DISTRICTS)}{rng.choice(STREETS)}{n + 1}号",
            "phone": f"1{rng.choice('3589')}{n % 10**9:09d}",
        },
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


@dataclass
class Load(Publishing):
    """Publishes changes at ``rate`` per second through the provider's
    :class:`~producers.publisher.AgencyPublisher` (acks=all, idempotent, to its submission
    topic) in a thread until :meth:`stop`; records every send and its delivery report."""

    bootstrap: str
    config: Mapping[str, str]
    scenario: Scenario
    catalog: Path
    rate: float
    partitions: int
    seed: int = 18
    sends: list[Send] = field(default_factory=list)
    _status: dict[str, PublishStatus] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: Exception | None = None

    def stop(self) -> list[Send]:
        """Stop publishing, wait for every delivery report; the sends, acknowledged or not."""
        self._join_or_raise()
        return [
            Send(
                s.index,
                s.event_id,
                s.subject,
                s.partition,
                self._status.get(s.event_id) is PublishStatus.DELIVERED,
                s.sent_at,
            )
            for s in self.sends
        ]

    def set_rate(self, rate: float) -> None:
        """Publish at ``rate`` per second from now on (0: pause), from the next send."""
        self.rate = rate

    def halt(self) -> None:
        """Stop publishing (after a failure elsewhere); nothing is returned or raised."""
        self._join()

    def _delivered(self, result: PublishResult) -> None:
        self._status[result.event_id] = result.status

    def _publish(self) -> None:
        rng = random.Random(self.seed)
        people = residents(rng)
        catalog = load_catalog(self.catalog).catalog
        options = PublisherOptions(source_system="户籍管理系统", on_delivery=self._delivered)
        with AgencyPublisher(
            self.bootstrap,
            self.scenario.provider,
            catalog,
            extra_config=dict(self.config),
            options=options,
        ) as publisher:
            began = time.monotonic()
            n = paced_from = 0
            pace = self.rate
            while not self._stop.is_set():
                if self.rate != pace:  # set_rate: a new schedule from here
                    pace, began, paced_from = self.rate, time.monotonic(), n
                if pace <= 0:
                    publisher.poll(0.05)
                    continue
                due = began + (n - paced_from) / pace
                wait = due - time.monotonic()
                if wait > 0:  # never a negative timeout: librdkafka waits forever on one
                    publisher.poll(min(0.05, wait))
                    continue
                change = draft(n, people, rng)
                subject = f"resident_id:{change.subject_key}"
                sent_at = time.time()
                result = publisher.publish(self.scenario.entry, change)
                if result.status is PublishStatus.REFUSED:
                    raise RuntimeError(f"the publisher refused a valid change: {result!r}")
                partition = partition_for(subject.encode(), self.partitions)
                self.sends.append(Send(n, result.event_id, subject, partition, False, sent_at))
                n += 1
            publisher.flush()


@dataclass(frozen=True)
class View:
    """One topic as one consumer read it: (position, record time in s, value) per record."""

    topic: str
    records: tuple[tuple[Position, float, bytes], ...]


def read_view(
    bootstrap: str,
    config: Mapping[str, str],
    topic: str,
    *,
    entry: str | None,
    committed: bool,
    until: int = 0,
) -> View:
    """Every record of ``topic`` in one view (of a topic every entry shares, ``entry``'s),
    read until ``until`` of them came and nothing more for ``SETTLE_S``."""
    isolation = "read_committed" if committed else "read_uncommitted"
    out: list[tuple[Position, float, bytes]] = []
    for batch in read_from_beginning(
        bootstrap,
        [topic],
        group_id=f"faults-read-{uuid.uuid4().hex}",
        config={**config, "isolation.level": isolation},
        enough=lambda: len(out) >= until,
        settle_s=SETTLE_S,
        timeout_s=READ_TIMEOUT_S,
        batch=1000,
    ):
        for msg in (m for m in batch if of_entry(m, entry)):
            position = Position(topic, msg.partition() or 0, msg.offset() or 0)
            out.append((position, msg.timestamp()[1] / 1000, msg.value() or b""))
    return View(topic, tuple(out))


def reads_of(scenario: Scenario, views: Mapping[str, View]) -> list[Read]:
    """The history's reads in ``views`` (topic -> view, read for the scenario's entry):
    feed and open-feed records by event id, receipts, and the audit stream's decision
    records of the scenario's entry."""
    out: list[Read] = []
    for topic, view in views.items():
        for position, at, value in view.records:
            stream, event_id = _identify(scenario, topic, value)
            if stream:
                out.append(Read(stream, event_id, position, at))
    return out


def _identify(scenario: Scenario, topic: str, value: bytes) -> tuple[str, str]:
    if topic in scenario.feed_topics:
        return feed_stream(topic), str(decode("FeedRecord", value)["event_id"])
    if topic == scenario.open_topic:
        return OPEN, str(decode("FeedRecord", value)["event_id"])
    if topic == topic_name(TopicKind.RECEIPTS, scenario.provider):
        receipt: dict[str, Any] = decode("Receipt", value)
        stream = REANSWERED if receipt["outcome"] == "duplicate" else RECEIPTS
        return stream, str(receipt["event_id"])
    if topic == topic_name(TopicKind.SUBMIT, scenario.provider):
        return SUBMITTED, str(decode("ChangeEvent", value)["event_id"])
    record: dict[str, Any] = decode("Decision", value)
    if record["entry"] == scenario.entry and record["kind"] == "accepted":
        return AUDIT, str(record["event_id"])
    return "", ""
