"""Helpers for broker tests of the bus: an isolated copy of the demo catalog, events,
reading topics to the end (read_committed)."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, overload

from bench.kill_plan import change_event
from exchange.catalog_loader import LoadedCatalog, check_catalog_text
from kafkaclient import Producer, read_from_beginning
from schemas import decode, encode
from schemas.topics import SHARED_BUS_KINDS, TopicKind, header_entry, topic_name
from topology.records import dead_letter

#: Source sequences of the events built here: growing, as a source system's (exchange.onesource
#: judges a change not newer than the authoritative record stale).
SEQUENCES = itertools.count(time.time_ns() // 1000)
DEMO = Path(__file__).resolve().parents[2] / "examples" / "catalog-demo.yaml"
READ_TIMEOUT_S = 60.0


class Names:
    """Demo ids made unique for one test: agencies and entries get a suffix/prefix."""

    def __init__(self, suffix: str | None = None) -> None:
        self.sfx = suffix or uuid.uuid4().hex[:10]

    def agency(self, base: str) -> str:
        return f"{base}-{self.sfx}"

    def entry(self, base: str) -> str:
        return f"t{self.sfx}.{base}"

    def catalog_text(self, source: Path = DEMO) -> str:
        text = source.read_text(encoding="utf-8")
        text = re.sub(r"\bcity-(psb|amr|mca|hc|bdb)\b", lambda m: self.agency(m.group(0)), text)
        text = re.sub(
            r"(?<![\w.-])((?:psb|amr)\.[a-z_0-9]+(?:\.[a-z_0-9]+)*)",
            lambda m: self.entry(m.group(1)),
            text,
        )
        return text

    def load(self) -> LoadedCatalog:
        result = check_catalog_text(self.catalog_text())
        if result.catalog is None:
            raise ValueError([i.message for i in result.issues])
        return LoadedCatalog(result.catalog, result.grants)


def event(
    entry: str,
    provider: str,
    subject_key: str,
    items: dict[str, str | None],
    *,
    operation: str = "update",
    authoritative: bool = True,
) -> dict[str, Any]:
    """A ChangeEvent record (a new event id, the next source sequence) about a person
    (``subject_kind`` resident_id; override it for another kind of subject)."""
    return change_event(
        entry,
        provider,
        subject_key,
        items,
        operation=operation,
        authoritative=authoritative,
        sequence=next(SEQUENCES),
        source_system="test",
    )


def publish(
    bootstrap: str,
    records: Iterable[tuple[str, bytes | None, bytes]],
    *,
    config: Mapping[str, str],
) -> None:
    """Publish raw (topic, key, value) records, acknowledged (``config``: the client's
    settings, e.g. the ``kafka_config`` fixture: the administrator's)."""
    with Producer(bootstrap, extra_config=config) as producer:
        for topic, key, value in records:
            producer.produce(topic, value, key=key)


def publish_events(
    bootstrap: str, events: Iterable[tuple[str, dict[str, Any]]], *, config: Mapping[str, str]
) -> None:
    """(canonical subject, event) pairs to each event's ingest topic."""
    publish(
        bootstrap,
        (
            (topic_name(TopicKind.INGEST, e["entry"]), subject.encode(), encode("ChangeEvent", e))
            for subject, e in events
        ),
        config=config,
    )


#: A record as read without decoding: (key, value).
RawRecord = tuple[bytes | None, bytes]


@overload
def read_topic(
    bootstrap: str,
    topic: str,
    *,
    config: Mapping[str, str],
    until: int | None = None,
    record: str,
    settle_s: float = 0.5,
    timeout_s: float = READ_TIMEOUT_S,
    entry: str | None = None,
) -> list[dict[str, Any]]: ...


@overload
def read_topic(
    bootstrap: str,
    topic: str,
    *,
    config: Mapping[str, str],
    until: int | None = None,
    record: None = None,
    settle_s: float = 0.5,
    timeout_s: float = READ_TIMEOUT_S,
    entry: str | None = None,
) -> list[RawRecord]: ...


def read_topic(  # noqa: PLR0913 - the read's knobs, all keyword-only with defaults
    bootstrap: str,
    topic: str,
    *,
    config: Mapping[str, str],
    until: int | None = None,
    record: str | None = None,
    settle_s: float = 0.5,
    timeout_s: float = READ_TIMEOUT_S,
    entry: str | None = None,
) -> list[dict[str, Any]] | list[RawRecord]:
    """Every committed record of ``topic`` (decoded when ``record`` names its schema),
    within ``READ_TIMEOUT_S``; of a topic shared by every entry (accepted, dlq, open),
    ``entry`` keeps the records whose ENTRY_HEADER names it.

    Reads until ``until`` records arrived (then ``settle_s`` more, to catch extras), or, when
    ``until`` is None, until ``settle_s`` passes without a new record. The processor commits
    each event's receipt, audit and feed records in one transaction, so once a receipt is
    read the absence of a feed record is conclusive.
    """
    raw = _read_raw(
        bootstrap, topic, config, until=until, settle_s=settle_s, timeout_s=timeout_s, entry=entry
    )
    return raw if record is None else [decode(record, value) for _, value in raw]


def topic_of(kind: TopicKind, part: str | None) -> tuple[str, str | None]:
    """Where the records of ``kind`` for ``part`` (an entry, agency or no name) are, and
    the entry header that picks them: a topic of ``part``'s own (no header to check), or
    the topic every entry shares (accepted, dlq, open), read for ``part``'s records."""
    if kind in SHARED_BUS_KINDS and part is not None:
        return topic_name(kind), part
    return topic_name(kind, part), None


def wait_receipt(
    bootstrap: str,
    agency: str,
    event_id: str,
    *,
    config: Mapping[str, str],
    timeout_s: float = READ_TIMEOUT_S,
) -> dict[str, Any]:
    """The receipt of ``event_id`` in ``agency``'s (full id) receipts topic, the topic read
    again until it is there, up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for r in read_topic(
            bootstrap,
            topic_name(TopicKind.RECEIPTS, agency),
            config=config,
            record="Receipt",
            settle_s=0.3,
        ):
            if str(r["event_id"]) == event_id:
                return r
    raise AssertionError(f"no receipt for {event_id} in {timeout_s} s")


def _read_raw(  # noqa: PLR0913 - read_topic's knobs, passed on
    bootstrap: str,
    topic: str,
    config: Mapping[str, str],
    *,
    until: int | None,
    settle_s: float,
    timeout_s: float,
    entry: str | None = None,
) -> list[RawRecord]:
    out: list[RawRecord] = []
    for batch in read_from_beginning(
        bootstrap,
        [topic],
        group_id=f"test-read-{uuid.uuid4().hex}",
        config=config,
        enough=lambda: until is None or len(out) >= until,
        settle_s=settle_s,
        timeout_s=timeout_s,
    ):
        out.extend(
            (msg.key(), msg.value() or b"")
            for msg in batch
            if entry is None or header_entry(msg.headers()) == entry
        )
    return out


@dataclass(frozen=True)
class Reader:
    """:func:`read_topic` on one broker with one client's settings."""

    bootstrap: str
    config: Mapping[str, str]

    def records(
        self, topic: str, record: str, *, until: int | None = None, entry: str | None = None
    ) -> list[dict[str, Any]]:
        """The committed records of ``topic`` (of ``entry``, in a shared topic), decoded as
        ``record``."""
        return read_topic(
            self.bootstrap, topic, config=self.config, until=until, record=record, entry=entry
        )


def dead_letter_value(source_topic: str, reason: str, at: datetime) -> bytes:
    """An encoded DeadLetter of a one-byte undecodable input from ``source_topic``."""
    record = dead_letter(
        event_id=None,
        topic=source_topic,
        partition=0,
        offset=0,
        key=None,
        value=b"\xff",
        reason_code=reason,
        reason_text=reason,
        stage="decode",
        at=at,
        value_bound=1000,
    )
    return encode("DeadLetter", record)


def resident_id(n: int, region: str = "110105") -> str:
    """A valid 18-digit resident ID (GB 11643 check digit) for person number ``n``."""
    year, day = 1950 + n % 50, 1 + n % 28
    body = f"{region}{year:04d}{1 + n % 12:02d}{day:02d}{n % 1000:03d}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    check = (12 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11) % 11
    return body + ("X" if check == 10 else str(check))
