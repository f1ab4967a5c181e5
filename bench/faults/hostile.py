"""Hostile input at scale (issue 18 item 2): ``python -m bench.faults.hostile``.

An attacker holding the provider agency's credentials writes hostile messages straight to
the agency's own submission topic ``govbus.submit.<agency>`` with a raw producer (the
only topic the broker lets an agency write), interleaved one by one with the agency's
valid changes sent through the project's :class:`~producers.publisher.AgencyPublisher`.
Two ``topology.run`` workers (the fault suite's commands) run throughout.

The run, on one broker, with one catalog and the same two workers:

1. warm-up: a few valid events, until the open feed has them (the workers are up);
2. *normal*: ``valid`` valid events as fast as the publisher sends them, until the open
   feed has every one; its valid throughput: events / (last open-feed record - first send);
3. *attack*: ``valid`` more valid events with ``hostile`` hostile messages interleaved
   evenly, sent the same way; its valid throughput measured the same way;
4. every output topic, both dead-letter topics and the receipts read (committed, and
   uncommitted for the checker's aborted reads); the valid events checked by
   :func:`bench.faults.checker.check` (each once in every feed, the open feed, the
   receipts and the audit stream, in order per subject); every hostile message accounted
   for by :func:`bench.faults.accounting.account`; the workers must never have exited.

Categories (:data:`CATEGORIES`) and the answer the bus gives each (:data:`EXPECT`): the
repartition stage dead-letters what it cannot read or route on the sender's submission
dlq; the gate answers the rest with a dead letter of the entry (on the dlq every entry
shares, with the entry's header) and a ``rejected`` receipt, and a stale replay (an older
source sequence of a subject the bus already has) with a ``stale`` receipt and no dead
letter. Of the topics every entry shares (the open feed, that dlq) only the scenario's
entry's records are read (:func:`bench.scenario.of_entry`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.broker import BenchBroker, bench_broker
from bench.faults.accounting import (
    ENTRY_DLQ,
    SUBMIT_DLQ,
    Expect,
    HostileSend,
    Ledger,
    ReceiptRead,
    account,
    digest,
    letter_read,
)
from bench.faults.checker import (
    REANSWERED,
    Anomalies,
    History,
    Read,
    Send,
    aborted_positions,
    check,
)
from bench.faults.record import AUDIT, OPEN, RECEIPTS, View, draft, feed_stream, read_view, reads_of
from bench.faults.run import SETUP, Workers
from bench.kill_plan import change_event
from bench.pipeline import worker_commands
from bench.runs import create_topics
from bench.scenario import Scenario, new_scenario, residents
from exchange.catalog_loader import load_catalog
from kafkaclient import Producer
from producers.model import Draft, PublisherOptions, PublishResult, PublishStatus
from producers.publisher import AgencyPublisher
from schemas import decode, encode
from schemas.partitioning import partition_for
from schemas.topics import MAX_EVENT_BYTES, TopicKind, topic_name

PARTITIONS = 3
SOURCE_SYSTEM = "户籍管理系统"
#: The gate's dead letters: one topic for every entry, each letter with its entry's header.
DLQ = topic_name(TopicKind.DLQ)
#: Waiting for every answer, after the last send of a phase.
WAIT_S = 600.0

CATEGORIES = (
    "random bytes",
    "empty value",
    "truncated Avro",
    "mistyped Avro (another schema)",
    "unknown schema fingerprint",
    "item of the wrong type",
    "unknown entry",
    "bad ID checksum",
    "oversized value",
    "null key",
    "spoofed provider",
    "event time in 2100",
    "stale replay",
)
_REJECTED = "rejected"
EXPECT: Mapping[str, Expect] = {
    "random bytes": Expect(SUBMIT_DLQ, receipt=False),
    "empty value": Expect(SUBMIT_DLQ, receipt=False, reasons=frozenset({"truncated_header"})),
    "truncated Avro": Expect(SUBMIT_DLQ, receipt=False),
    "mistyped Avro (another schema)": Expect(SUBMIT_DLQ, receipt=False),
    "unknown schema fingerprint": Expect(
        SUBMIT_DLQ, receipt=False, reasons=frozenset({"unknown_fingerprint"})
    ),
    "item of the wrong type": Expect(
        ENTRY_DLQ, receipt=True, reasons=frozenset({"item_type_mismatch"})
    ),
    "unknown entry": Expect(SUBMIT_DLQ, receipt=True, reasons=frozenset({"unknown_entry"})),
    "bad ID checksum": Expect(ENTRY_DLQ, receipt=True, reasons=frozenset({"identity_checksum"})),
    "oversized value": Expect(ENTRY_DLQ, receipt=True, reasons=frozenset({"event_too_large"})),
    "null key": Expect(ENTRY_DLQ, receipt=True, reasons=frozenset({"key_not_canonical"})),
    "spoofed provider": Expect(ENTRY_DLQ, receipt=True, reasons=frozenset({"provider_mismatch"})),
    "event time in 2100": Expect(
        ENTRY_DLQ, receipt=True, reasons=frozenset({"event_time_in_future"})
    ),
    "stale replay": Expect(
        None, receipt=True, outcome="stale", reasons=frozenset({"source_sequence_not_newer"})
    ),
}
SEED = 18
#: Oversized values are 1 MB each: one in this many hostile messages (at least one).
OVERSIZED_EVERY = 100


@dataclass(frozen=True)
class Hostile:
    """One hostile message: category, key, value, event id when it is a readable event."""

    category: str
    key: bytes | None
    value: bytes
    event_id: str | None

    def send(self, index: int, acknowledged: bool) -> HostileSend:
        return HostileSend(
            index,
            self.category,
            digest(self.key),
            hashlib.sha256(self.value).digest(),
            len(self.value),
            self.event_id,
            EXPECT[self.category],
            acknowledged,
        )


def _record(scenario: Scenario, change: Draft, n: int, **override: Any) -> dict[str, Any]:
    """A ChangeEvent record of ``change`` as the provider's publisher would write it."""
    record = change_event(
        scenario.entry,
        scenario.provider,
        change.subject_key,
        change.items,
        sequence=int(time.time() * 1_000_000) + n,
        source_system=SOURCE_SYSTEM,
    )
    return {**record, **override}


def hostile_messages(
    scenario: Scenario,
    count: int,
    people: Sequence[str],
    stale_subjects: Sequence[str],
    rng: random.Random,
) -> list[Hostile]:
    """``count`` hostile messages, the categories in turn (oversized ones only every
    :data:`OVERSIZED_EVERY`-th turn); ``stale_subjects``: residents the bus has accepted
    a change for already (a stale replay needs a newer record to be older than)."""
    out: list[Hostile] = []
    kinds = [c for c in CATEGORIES if c != "oversized value"]
    turn = 0
    while len(out) < count:
        n = len(out)
        if n % OVERSIZED_EVERY == OVERSIZED_EVERY - 1:
            category = "oversized value"
        else:
            category = kinds[turn % len(kinds)]
            turn += 1
        out.append(_one(scenario, category, n, people, stale_subjects, rng))
    return out


#: Categories whose bytes are no readable event (the repartition stage's dead letters).
UNREADABLE = (
    "random bytes",
    "empty value",
    "truncated Avro",
    "mistyped Avro (another schema)",
    "unknown schema fingerprint",
)


def _one(
    scenario: Scenario,
    category: str,
    n: int,
    people: Sequence[str],
    stale_subjects: Sequence[str],
    rng: random.Random,
) -> Hostile:
    change = draft(n, people, rng)
    key = f"resident_id:{change.subject_key}".encode()
    if category in UNREADABLE:
        whole = encode("ChangeEvent", _record(scenario, change, n))
        return Hostile(category, *_unreadable(scenario, category, n, key, whole, rng), None)
    k, override = _event_case(scenario, category, change, key, n, stale_subjects, rng)
    record = _record(scenario, change, n, **override)
    hostile = Hostile(category, k, encode("ChangeEvent", record), str(record["event_id"]))
    if category == "oversized value" and not MAX_EVENT_BYTES < len(hostile.value) < 1_040_000:
        raise AssertionError(f"oversized value of {len(hostile.value)} bytes")
    return hostile


def _unreadable(
    scenario: Scenario, category: str, n: int, key: bytes, whole: bytes, rng: random.Random
) -> tuple[bytes, bytes]:
    """(key, value) of a message no ChangeEvent decodes from; ``whole``: a valid one."""
    tag = f"hostile-{n}".encode()  # a unique key where the key does not matter
    if category == "random bytes":
        return tag, rng.randbytes(rng.randint(1, 300))
    if category == "empty value":
        return tag, b""
    if category == "truncated Avro":
        return key, whole[: rng.randint(11, len(whole) - 1)]
    if category == "unknown schema fingerprint":
        return key, whole[:2] + rng.randbytes(8) + whole[10:]
    receipt = {  # mistyped: a Receipt, with its own schema's header, as a submission
        "event_id": str(uuid.uuid4()),
        "entry": scenario.entry,
        "provider": scenario.provider,
        "outcome": "accepted",
        "reason_code": "accepted",
        "reason_text": "",
        "article": "",
        "decided_at": datetime.now(UTC),
        "audit_position": None,
        "canonical_subject": key.decode(),
    }
    return key, encode("Receipt", receipt)


def _event_case(  # noqa: PLR0913 - the case, the change, its key, and what varies it
    scenario: Scenario,
    category: str,
    change: Draft,
    key: bytes,
    n: int,
    stale_subjects: Sequence[str],
    rng: random.Random,
) -> tuple[bytes | None, dict[str, Any]]:
    """(key, fields overriding a valid ChangeEvent's) of a readable hostile event."""
    if category == "null key":
        return None, {}
    if category == "bad ID checksum":
        number = change.subject_key
        bad = number[:-1] + ("0" if number[-1] != "0" else "1")
        return f"resident_id:{bad}".encode(), {"subject_key": bad}
    if category == "stale replay":  # an older sequence of a subject the bus has
        subject = rng.choice(stale_subjects)
        old = {"source_sequence": 1 + n, "event_time": datetime(2020, 1, 1, tzinfo=UTC)}
        return f"resident_id:{subject}".encode(), {"subject_key": subject, **old}
    overrides: dict[str, dict[str, Any]] = {
        "item of the wrong type": {
            "items": [{"name": "birth_date", "before": None, "after": f"garbage-{n}"}]
        },
        "unknown entry": {"entry": "no.such.entry"},
        # About 1,020,000 bytes: above the agency limit, below the topic's.
        "oversized value": {
            "items": [{"name": "household_address", "before": None, "after": "路" * 340_000}]
        },
        "spoofed provider": {"provider": scenario.consumers[n % len(scenario.consumers)]},
        "event time in 2100": {"event_time": datetime(2100, 1, 1, tzinfo=UTC)},
    }
    return key, overrides[category]


@dataclass
class Sender:
    """Sends one phase: valid changes through the provider's publisher and hostile messages
    through a raw producer, interleaved evenly, as fast as they go; records every send."""

    broker: BenchBroker
    scenario: Scenario
    catalog: Path
    people: Sequence[str]
    rng: random.Random
    sends: list[Send] = field(default_factory=list)
    hostile: list[HostileSend] = field(default_factory=list)
    _status: dict[str, PublishStatus] = field(default_factory=dict)
    _acked: dict[int, bool] = field(default_factory=dict)

    def phase(self, valid: int, hostile: Sequence[Hostile]) -> tuple[float, list[Send]]:
        """Send ``valid`` changes with ``hostile`` interleaved; (first send time, the
        phase's valid sends, their delivery reports in)."""
        catalog = load_catalog(self.catalog).catalog
        options = PublisherOptions(source_system=SOURCE_SYSTEM, on_delivery=self._delivered)
        raw_config = {**self.broker.config, "message.max.bytes": 1_048_000}
        first = len(self.sends)
        base = len(self.hostile)
        pending: list[Hostile] = list(hostile)
        total = valid + len(pending)
        began = time.time()
        with (
            AgencyPublisher(
                self.broker.bootstrap,
                self.scenario.provider,
                catalog,
                extra_config=dict(self.broker.config),
                options=options,
            ) as publisher,
            Producer(self.broker.bootstrap, extra_config=raw_config) as raw,
        ):
            h = 0
            for step in range(total):
                # Bresenham: hostile message h goes at step (h + 1) * total / (len + 1).
                if h < len(pending) and (step + 1) * len(pending) >= (h + 1) * total:
                    self._raw(raw, pending[h], base + h)
                    h += 1
                    continue
                n = len(self.sends)
                change = draft(n, self.people, self.rng)
                subject = f"resident_id:{change.subject_key}"
                result = publisher.publish(self.scenario.entry, change)
                if result.status is PublishStatus.REFUSED:
                    raise RuntimeError(f"the publisher refused a valid change: {result!r}")
                partition = partition_for(subject.encode(), PARTITIONS)
                self.sends.append(Send(n, result.event_id, subject, partition, False, time.time()))
                if step % 200 == 0:
                    raw.poll(0)
            publisher.flush()
            raw.flush(120)
        for i, m in enumerate(pending):
            self.hostile.append(m.send(base + i, self._acked.get(base + i, False)))
        for i in range(first, len(self.sends)):
            s = self.sends[i]
            acked = self._status.get(s.event_id) is PublishStatus.DELIVERED
            self.sends[i] = Send(s.index, s.event_id, s.subject, s.partition, acked, s.sent_at)
        return began, self.sends[first:]

    def _raw(self, raw: Producer, m: Hostile, index: int) -> None:
        def report(error: object, _msg: object) -> None:
            self._acked[index] = error is None

        raw.produce(self.scenario.submit_topic, m.value, key=m.key, on_delivery=report)

    def _delivered(self, result: PublishResult) -> None:
        self._status[result.event_id] = result.status


@dataclass(frozen=True)
class Phase:
    name: str
    valid: int
    hostile: int
    began: float
    last_output: float

    @property
    def seconds(self) -> float:
        return self.last_output - self.began

    @property
    def valid_per_s(self) -> float:
        return self.valid / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "valid_events": self.valid,
            "hostile_messages": self.hostile,
            "seconds_first_send_to_last_output": round(self.seconds, 2),
            "valid_events_per_s": round(self.valid_per_s, 1),
        }


@dataclass(frozen=True)
class HostileResult:
    valid: int
    hostile: int
    phases: tuple[Phase, ...]
    anomalies: Anomalies
    ledger: Ledger
    aborted_records: int
    worker_exits: int
    worker_restarts: int
    seconds: float

    @property
    def throughput_ratio(self) -> float:
        normal, attack = self.phases[-2], self.phases[-1]
        return attack.valid_per_s / normal.valid_per_s if normal.valid_per_s else 0.0

    @property
    def ok(self) -> bool:
        return (
            self.anomalies.ok
            and self.ledger.ok
            and self.worker_exits == 0
            and self.worker_restarts == 0
            and self.throughput_ratio > 0.5
        )

    def describe(self) -> dict[str, Any]:
        return {
            "fault": "hostile",
            "valid_events": self.valid,
            "hostile_messages": self.hostile,
            "phases": [p.describe() for p in self.phases],
            "attack_over_normal_valid_throughput": round(self.throughput_ratio, 3),
            "valid": self.anomalies.counts(),
            "hostile": self.ledger.describe(),
            "aborted_records_seen_uncommitted": self.aborted_records,
            "worker_exits": self.worker_exits,
            "worker_restarts_asked": self.worker_restarts,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
        }


def run_hostile(
    broker: BenchBroker,
    valid: int,
    hostile: int,
    work_dir: Path,
    *,
    warmup: int = 50,
    say: Callable[[str], None] = lambda _m: None,
) -> HostileResult:
    """The scenario of the module docstring on ``broker``."""
    began = time.monotonic()
    rng = random.Random(SEED)
    scenario = new_scenario()
    create_topics(broker, scenario, PARTITIONS)
    catalog = scenario.write_catalog(work_dir)
    commands = worker_commands(broker.bootstrap, catalog, SETUP, f"hostile-{scenario.suffix}")
    workers = Workers(commands, broker.env, work_dir)
    people = residents(rng)
    sender = Sender(broker, scenario, catalog, people, rng)
    phases: list[Phase] = []
    workers.start_all()
    try:
        for name, count in (("warm-up", warmup), ("normal", valid)):
            at, sent = sender.phase(count, [])
            say(f"hostile: {name}: {len(sent)} valid sent; waiting for the open feed")
            last = _wait_open(broker, scenario, sender.sends, workers)
            phases.append(Phase(name, len(sent), 0, at, last))
            say(f"hostile: {phases[-1].describe()}")
        accepted_subjects = sorted({s.subject.split(":", 1)[1] for s in sender.sends})
        messages = hostile_messages(scenario, hostile, people, accepted_subjects, rng)
        at, sent = sender.phase(valid, messages)
        say(f"hostile: attack: {len(sent)} valid and {len(messages)} hostile sent; waiting")
        last = _wait_open(broker, scenario, sender.sends, workers)
        phases.append(Phase("attack", len(sent), len(messages), at, last))
        say(f"hostile: {phases[-1].describe()}")
        _wait_answers(broker, scenario, sender, workers)
        views = _read_all(broker, scenario)
        workers.check_alive()
        exits = sum(p.poll() is not None for p in workers.procs)
    finally:
        workers.stop()
    hostile_ids = {h.event_id for h in sender.hostile if h.event_id is not None}
    committed = {t: v for t, (v, _) in views.items()}
    reads = reads_of(scenario, _outputs(scenario, committed))
    uncommitted = reads_of(scenario, _outputs(scenario, {t: u for t, (_, u) in views.items()}))
    history = History(
        tuple(sender.sends),
        tuple(r for r in reads if r.event_id not in hostile_ids),
        tuple(r for r in uncommitted if r.event_id not in hostile_ids),
        (*(feed_stream(t) for t in scenario.feed_topics), OPEN, RECEIPTS, AUDIT),
    )
    ledger = account(
        sender.hostile,
        _letters(scenario, committed),
        _receipts(scenario, committed, hostile_ids),
        _delivered(reads, hostile_ids),
    )
    return HostileResult(
        valid=len(sender.sends),
        hostile=len(sender.hostile),
        phases=tuple(phases),
        anomalies=check(history),
        ledger=ledger,
        aborted_records=len(aborted_positions(uncommitted)),
        worker_exits=exits,
        worker_restarts=workers.restarts,
        seconds=time.monotonic() - began,
    )


def _count(broker: BenchBroker, scenario: Scenario, topic: str) -> View:
    """The scenario's committed records of ``topic``."""
    return read_view(broker.bootstrap, broker.config, topic, entry=scenario.entry, committed=True)


def _wait_open(
    broker: BenchBroker, scenario: Scenario, sends: Sequence[Send], workers: Workers
) -> float:
    """Wait until the open feed holds every acknowledged send; the last one's record time."""
    wanted = {s.event_id for s in sends if s.acknowledged}
    deadline = time.monotonic() + WAIT_S
    while True:
        workers.check_alive()
        view = _count(broker, scenario, scenario.open_topic)
        times = {str(decode("FeedRecord", v)["event_id"]): at for _, at, v in view.records}
        if wanted <= times.keys():
            return max(times[i] for i in wanted)
        if time.monotonic() > deadline:
            raise TimeoutError(f"open feed: {len(wanted - times.keys())} events missing")
        time.sleep(1.0)


def _wait_answers(
    broker: BenchBroker, scenario: Scenario, sender: Sender, workers: Workers
) -> None:
    """Wait until both dlqs and the receipts hold as many of the scenario's records as
    expected."""
    acked = [h for h in sender.hostile if h.acknowledged]
    want = {
        _submit_dlq(scenario): sum(h.expect.dead_letter == SUBMIT_DLQ for h in acked),
        DLQ: sum(h.expect.dead_letter == ENTRY_DLQ for h in acked),
        topic_name(TopicKind.RECEIPTS, scenario.provider): sum(h.expect.receipt for h in acked)
        + sum(s.acknowledged for s in sender.sends),
    }
    deadline = time.monotonic() + WAIT_S
    while True:
        workers.check_alive()
        have = {t: len(_count(broker, scenario, t).records) for t in want}
        if all(have[t] >= n for t, n in want.items()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"answers: have {have}, want {want}")
        time.sleep(1.0)


def _submit_dlq(scenario: Scenario) -> str:
    return topic_name(TopicKind.SUBMIT_DLQ, scenario.provider)


def _read_all(broker: BenchBroker, scenario: Scenario) -> dict[str, tuple[View, View]]:
    """Every topic the run reads, in both views; of a topic every entry shares, the
    scenario's records."""
    topics = [
        *scenario.output_topics,
        topic_name(TopicKind.RECEIPTS, scenario.provider),
        topic_name(TopicKind.AUDIT),
        _submit_dlq(scenario),
        DLQ,
    ]
    entry = scenario.entry
    return {
        t: (
            read_view(broker.bootstrap, broker.config, t, entry=entry, committed=True),
            read_view(broker.bootstrap, broker.config, t, entry=entry, committed=False),
        )
        for t in topics
    }


def _outputs(scenario: Scenario, views: Mapping[str, View]) -> dict[str, View]:
    """The views :func:`bench.faults.record.reads_of` knows (not the dlqs)."""
    dlqs = {_submit_dlq(scenario), DLQ}
    return {t: v for t, v in views.items() if t not in dlqs}


def _letters(scenario: Scenario, views: Mapping[str, View]) -> list[Any]:
    out = []
    for topic, where in ((_submit_dlq(scenario), SUBMIT_DLQ), (DLQ, ENTRY_DLQ)):
        for _, _, value in views[topic].records:
            out.append(letter_read(where, decode("DeadLetter", value)))
    return out


def _receipts(
    scenario: Scenario, views: Mapping[str, View], hostile_ids: set[str]
) -> list[ReceiptRead]:
    out = []
    for _, _, value in views[topic_name(TopicKind.RECEIPTS, scenario.provider)].records:
        r = decode("Receipt", value)
        if str(r["event_id"]) in hostile_ids:
            out.append(ReceiptRead(str(r["event_id"]), str(r["outcome"]), str(r["reason_code"])))
    return out


def _delivered(reads: Sequence[Read], hostile_ids: set[str]) -> set[str]:
    """Hostile event ids read in a feed, the open feed or an accepted audit record."""
    answers = (RECEIPTS, REANSWERED)
    return {r.event_id for r in reads if r.stream not in answers and r.event_id in hostile_ids}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults.hostile", description=__doc__)
    p.add_argument("--hostile", type=int, default=10_000, help="hostile messages")
    p.add_argument("--valid", type=int, default=10_000, help="valid events per phase")
    p.add_argument("--bootstrap", default="", help="the broker (default: a local one)")
    p.add_argument("--json", type=Path, help="write the result here too")
    args = p.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="govbus-hostile-") as tmp,
        bench_broker(args.bootstrap) as broker,
    ):
        result = run_hostile(broker, args.valid, args.hostile, Path(tmp), say=print)
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.faults.hostile", *(argv or sys.argv[1:])]),
        "result": result.describe(),
    }
    text = json.dumps(document, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
