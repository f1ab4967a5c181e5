"""The monitor on the topics every entry shares (issue 19 item 4): govbus.accepted and
govbus.dlq records are attributed to their entry by its header, else by their value, and
silence with no change seen counts from when changes would have been seen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from base.errors import SchemaError
from monitoring.follow import Record
from monitoring.monitor import change_of, dead_letter_of
from monitoring.tracking import DeadLetters, LastChanges
from schemas import encode
from schemas.topics import TopicKind, entry_headers, topic_name
from tests.support.scenario import dead_letter_value, event

ACCEPTED = topic_name(TopicKind.ACCEPTED)
DLQ = topic_name(TopicKind.DLQ)
BASIC, CONTACT, OTHER = "psb.person.basic", "psb.person.contact", "amr.company.registration"
LIVE = frozenset({BASIC, CONTACT})
DAY = 86400.0


def _record(topic: str, value: bytes, entry: str | None, partition: int = 0) -> Record:
    headers = entry_headers(entry) if entry is not None else ()
    return Record(topic, partition, 0, 0, b"k", value, headers)


def _change(entry: str, provider: str) -> bytes:
    return encode("ChangeEvent", event(entry, provider, "11010519491231002X", {"name": "张三"}))


def _dead(source_entry: str, reason: str, *, source_topic: str | None = None) -> bytes:
    topic = source_topic or topic_name(TopicKind.INGEST, source_entry)
    return dead_letter_value(topic, reason, datetime(2025, 1, 1, tzinfo=UTC))


def test_a_change_belongs_to_the_entry_its_header_names() -> None:
    assert change_of(_record(ACCEPTED, _change(BASIC, "city-psb"), BASIC), LIVE) == (
        BASIC,
        "city-psb",
    )
    # The header decides (the processor writes it from the record's own entry).
    assert change_of(_record(ACCEPTED, _change(OTHER, "city-psb"), CONTACT), LIVE) == (
        CONTACT,
        "city-psb",
    )


def test_another_entrys_change_is_skipped_undecoded() -> None:
    # Not a ChangeEvent at all: only its header is read.
    assert change_of(_record(ACCEPTED, b"\xff", OTHER), LIVE) is None
    with pytest.raises(SchemaError):
        change_of(_record(ACCEPTED, b"\xff", BASIC), LIVE)


def test_a_change_without_the_header_belongs_to_its_events_entry() -> None:
    assert change_of(_record(ACCEPTED, _change(BASIC, "city-mca"), None), LIVE) == (
        BASIC,
        "city-mca",
    )
    assert change_of(_record(ACCEPTED, _change(OTHER, "city-amr"), None), LIVE) is None


def test_a_dead_letter_belongs_to_its_header_else_its_ingest_topic() -> None:
    assert dead_letter_of(_record(DLQ, _dead(BASIC, "undecodable"), BASIC)) == (
        BASIC,
        "undecodable",
    )
    assert dead_letter_of(_record(DLQ, _dead(CONTACT, "identity_checksum"), None)) == (
        CONTACT,
        "identity_checksum",
    )
    assert dead_letter_of(_record(DLQ, _dead(CONTACT, "undecodable"), BASIC))[0] == BASIC


def test_a_dead_letter_without_header_or_ingest_source_is_a_problem() -> None:
    value = _dead(BASIC, "undecodable", source_topic=topic_name(TopicKind.SUBMIT, "city-psb"))
    with pytest.raises(SchemaError):
        dead_letter_of(_record(DLQ, value, None))


def test_dead_letters_are_reported_for_the_entries_asked_for() -> None:
    dead = DeadLetters()
    for entry, reason in [(BASIC, "a"), (BASIC, "a"), (BASIC, "b"), (OTHER, "a")]:
        dead.add(entry, reason)
    assert [(r.entry, r.reason, r.records) for r in dead.rows([BASIC, CONTACT])] == [
        (BASIC, "a", 2),
        (BASIC, "b", 1),
    ]


NOW = 100 * DAY


def _changes(starts: dict[tuple[str, int], tuple[int, int]]) -> LastChanges:
    changes = LastChanges()
    for entry in LIVE:
        changes.watch(entry, NOW)
    changes.follow(starts)
    return changes


def test_silence_counts_from_the_latest_partition_read_only_in_part() -> None:
    """Partitions 0 and 1 were read from their 5th record, 2 from its earliest: a provider
    with no change seen is silent since the later of the cut partitions' first records
    (whichever entry's), and not before its entry's first change read."""
    changes = _changes({(ACCEPTED, 0): (5, 0), (ACCEPTED, 1): (5, 0), (ACCEPTED, 2): (0, 0)})
    changes.seen((ACCEPTED, 2), NOW - 9 * DAY)  # read from the start: no bound
    changes.seen((ACCEPTED, 0), NOW - 4 * DAY)  # another entry's record
    changes.seen((ACCEPTED, 1), NOW - 3 * DAY)
    changes.seen((ACCEPTED, 1), NOW - 5 * DAY)  # not the first read: no bound
    changes.add(BASIC, "city-psb", NOW - 2 * DAY)
    assert changes.observed_since(BASIC, NOW) == NOW - 2 * DAY
    changes.add(BASIC, "city-psb", NOW - 3.5 * DAY)  # the entry's first change read
    assert changes.observed_since(BASIC, NOW) == NOW - 3 * DAY
    assert changes.last_change(BASIC, "city-psb") == NOW - 2 * DAY
    assert changes.last_change(BASIC, "city-mca") is None


def test_silence_of_an_entry_read_in_full_counts_from_its_first_change() -> None:
    changes = _changes({(ACCEPTED, 0): (0, 0), (ACCEPTED, 1): (3, 3)})
    changes.seen((ACCEPTED, 0), NOW - 9 * DAY)
    changes.add(BASIC, "city-psb", NOW - 6 * DAY)
    changes.add(BASIC, "city-psb", NOW - 7 * DAY)
    assert changes.observed_since(BASIC, NOW) == NOW - 7 * DAY


def test_an_entry_with_no_change_read_counts_from_when_watching_began() -> None:
    """Other entries' records do not start its clock: it may be new, or its changes may lie
    before what was read."""
    changes = _changes({(ACCEPTED, 0): (5, 0)})
    changes.seen((ACCEPTED, 0), NOW - 4 * DAY)
    changes.add(BASIC, "city-psb", NOW - 4 * DAY)
    assert changes.observed_since(CONTACT, NOW + DAY) == NOW
    assert changes.observed_since(BASIC, NOW + DAY) == NOW - 4 * DAY


def test_a_cut_partition_not_read_yet_counts_from_when_watching_began() -> None:
    changes = _changes({(ACCEPTED, 0): (5, 0), (ACCEPTED, 1): (5, 0)})
    changes.seen((ACCEPTED, 0), NOW - 4 * DAY)
    changes.add(BASIC, "city-psb", NOW - 4 * DAY)
    assert changes.observed_since(BASIC, NOW) == NOW
    changes.seen((ACCEPTED, 1), NOW - 3 * DAY)
    assert changes.observed_since(BASIC, NOW) == NOW - 3 * DAY


def test_partitions_followed_later_keep_no_bound_of_their_own() -> None:
    """A partition seen again (a later round) keeps where it began."""
    changes = _changes({(ACCEPTED, 0): (0, 0)})
    changes.follow({(ACCEPTED, 0): (5, 0)})
    changes.seen((ACCEPTED, 0), NOW - 4 * DAY)
    changes.add(BASIC, "city-psb", NOW - 6 * DAY)
    assert changes.observed_since(BASIC, NOW) == NOW - 6 * DAY
