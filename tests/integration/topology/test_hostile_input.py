"""Hostile and careless input through the real processor (issue 14 item 9): every message is
answered (a dead letter with its original bytes and reason, and a receipt when the event
could be read), every valid event interleaved with them is delivered exactly once, and the
processor keeps running. Articles: identity keys (GM 18), catalog and provider (GM 21,
GM 22), the agency limit (G 10), timeliness (G 13).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.processor import Bus
from tests.support.scenario import event, publish, resident_id

#: Each hostile category appears this many times, interleaved with as many valid events.
ROUNDS = 4


def _hostile(bus: Bus, n: int) -> list[tuple[str, bytes | None, bytes, str | None]]:
    """One message of each hostile category: (category, key, value, event id if readable)."""
    entry = bus.names.entry("psb.person.basic")
    psb = bus.names.agency("city-psb")
    number = resident_id(1000 + n)
    key = f"resident_id:{number}".encode()
    valid = encode("ChangeEvent", event(entry, psb, number, {"name": "王五"}))
    bad_check = number[:-1] + ("0" if number[-1] != "0" else "1")
    other_digit = number[:-1] + "\u19da"  # a digit of another script (issue 14)
    future = event(entry, psb, number, {"name": "王五"})
    future["event_time"] = datetime(2100, 1, 1, tzinfo=UTC)
    elsewhere = event(entry, psb, number, {"name": "王五"})
    elsewhere["entry"] = "no.such.entry"
    keyless = event(entry, psb, number, {"name": "王五"})
    cases: list[tuple[str, bytes | None, dict[str, Any] | bytes]] = [
        ("random bytes", key, os.urandom(64 + n)),
        ("empty value", key, b""),
        ("truncated Avro", key, valid[: len(valid) // 2]),
        ("unknown schema fingerprint", key, b"\xc3\x01" + os.urandom(8) + valid[10:]),
        ("bad ID checksum", f"resident_id:{bad_check}".encode(), _with(entry, psb, bad_check)),
        ("non-ASCII digit", f"resident_id:{other_digit}".encode(), _with(entry, psb, other_digit)),
        ("event time in 2100", key, future),
        ("unknown entry", key, elsewhere),
        ("null key", None, keyless),
    ]
    out: list[tuple[str, bytes | None, bytes, str | None]] = []
    for category, k, value in cases:
        if isinstance(value, dict):
            out.append((category, k, encode("ChangeEvent", value), str(value["event_id"])))
        else:
            out.append((category, k, value, None))
    return out


def _with(entry: str, provider: str, number: str) -> dict[str, Any]:
    return event(entry, provider, number, {"name": "赵六"})


def test_hostile_messages_are_all_answered_and_valid_events_delivered_once(bus: Bus) -> None:
    entry = bus.names.entry("psb.person.basic")
    psb = bus.names.agency("city-psb")
    ingest = topic_name(TopicKind.INGEST, entry)
    sent: list[tuple[str, bytes | None, bytes]] = []
    hostile: list[tuple[str, bytes | None, bytes, str | None]] = []
    valid_ids: list[str] = []
    for n in range(ROUNDS):
        for case in _hostile(bus, n):
            hostile.append(case)
            sent.append((ingest, case[1], case[2]))
            number = resident_id(2000 + len(valid_ids))
            ok = event(entry, psb, number, {"name": "张三"})
            valid_ids.append(str(ok["event_id"]))
            sent.append((ingest, f"resident_id:{number}".encode(), encode("ChangeEvent", ok)))
    publish(bus.bootstrap, sent, config=bus.config)

    # Every hostile message has its dead letter, with its original bytes and a reason.
    dead = bus.of_entry(TopicKind.DLQ, entry, "DeadLetter", until=len(hostile))
    assert len(dead) == len(hostile)
    kept = Counter(bytes(d["original_value"]) for d in dead)
    assert kept == Counter(value for _, _, value, _ in hostile)
    assert all(d["reason_code"] for d in dead)
    by_value = {bytes(d["original_value"]): d["reason_code"] for d in dead}
    answered = {category: by_value[value] for category, _, value, _ in hostile}
    answered.pop("random bytes")  # almost always bad_marker; by chance another header code
    assert answered == {
        "empty value": "truncated_header",
        "truncated Avro": "undecodable_body",
        "unknown schema fingerprint": "unknown_fingerprint",
        "bad ID checksum": "identity_checksum",  # GM 18
        "non-ASCII digit": "identity_characters",  # GM 18
        "event time in 2100": "event_time_in_future",  # G 13
        "unknown entry": "wrong_topic",  # GM 21
        "null key": "key_not_canonical",
    }

    # The events that could be read are answered to their provider too; the valid ones
    # are accepted once each.
    readable = [event_id for *_, event_id in hostile if event_id is not None]
    receipts = bus.receipts("city-psb", until=len(readable) + len(valid_ids))
    outcomes = Counter((str(r["event_id"]), r["outcome"]) for r in receipts)
    assert outcomes == Counter(
        [(i, "accepted") for i in valid_ids] + [(i, "rejected") for i in readable]
    )

    # Every valid event reaches an entitled agency's feed exactly once; nothing hostile does.
    feed = bus.feed("city-mca", until=len(valid_ids))
    assert Counter(str(f["event_id"]) for f in feed) == Counter(valid_ids)

    # And the processor still runs: one more event is answered.
    number = resident_id(9999)
    last = event(entry, psb, number, {"name": "李四"})
    publish(
        bus.bootstrap,
        [(ingest, f"resident_id:{number}".encode(), encode("ChangeEvent", last))],
        config=bus.config,
    )
    after = bus.receipts("city-psb", until=len(readable) + len(valid_ids) + 1)
    assert (str(last["event_id"]), "accepted") in {
        (str(r["event_id"]), r["outcome"]) for r in after
    }
