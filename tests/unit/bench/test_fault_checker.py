"""The fault suite's checker on hand-built histories: each anomaly appears when the
history has it, and a clean history has none."""

from __future__ import annotations

from bench.faults.checker import (
    REANSWERED,
    SUBMITTED,
    Anomalies,
    History,
    Position,
    Read,
    Reordering,
    Send,
    aborted_positions,
    check,
    merged,
    resume_after,
)

FEED = "feed"
TOPIC = "govbus.feed.x"


def _send(index: int, subject: str = "s1", *, acked: bool = True, at: float = 0.0) -> Send:
    return Send(index, f"e{index}", subject, partition=0, acknowledged=acked, sent_at=at)


def _read(event: str, offset: int, *, partition: int = 0, at: float = 0.0) -> Read:
    return Read(FEED, event, Position(TOPIC, partition, offset), at)


SENDS = (_send(1), _send(2), _send(3, "s2"))


def test_a_clean_history_has_no_anomaly() -> None:
    reads = (_read("e1", 0), _read("e3", 1), _read("e2", 2))
    anomalies = check(History(SENDS, reads, reads, (FEED,)))
    assert anomalies == Anomalies()
    assert anomalies.ok


def test_an_acknowledged_send_never_read_is_lost() -> None:
    anomalies = check(History(SENDS, (_read("e1", 0), _read("e3", 1)), (), (FEED,)))
    assert anomalies.lost == ((FEED, "e2"),)
    assert not anomalies.ok


def test_an_unacknowledged_send_may_be_missing_or_present() -> None:
    sends = (*SENDS, _send(4, acked=False))
    reads = (_read("e1", 0), _read("e2", 1), _read("e3", 2))
    assert check(History(sends, reads, (), (FEED,))).ok
    assert check(History(sends, (*reads, _read("e4", 3)), (), (FEED,))).ok


def test_a_stream_with_no_read_loses_every_acknowledged_send() -> None:
    reads = (_read("e1", 0), _read("e2", 1), _read("e3", 2))
    anomalies = check(History(SENDS, reads, (), (FEED, "open")))
    assert anomalies.lost == (("open", "e1"), ("open", "e2"), ("open", "e3"))


def test_an_event_read_twice_is_duplicated_once_per_extra_copy() -> None:
    reads = (_read("e1", 0), _read("e2", 1), _read("e1", 2), _read("e3", 3), _read("e1", 4))
    anomalies = check(History(SENDS, reads, (), (FEED,)))
    assert anomalies.duplicated == ((FEED, "e1"), (FEED, "e1"))


def test_a_subjects_later_send_read_first_is_reordered() -> None:
    reads = (_read("e2", 0), _read("e3", 1), _read("e1", 2))
    anomalies = check(History(SENDS, reads, (), (FEED,)))
    assert anomalies.reordered == (Reordering(FEED, "s1", "e1", "e2"),)


def test_order_across_partitions_or_subjects_is_not_an_anomaly() -> None:
    # Kafka orders within a partition only; another subject's order is its own.
    reads = (_read("e2", 0, partition=1), _read("e3", 0), _read("e1", 1))
    assert check(History(SENDS, reads, (), (FEED,))).reordered == ()


def test_a_committed_read_of_an_aborted_attempt_is_an_aborted_read() -> None:
    # The uncommitted view: e1 written at 0 (aborted), written again at 2 (committed).
    uncommitted = (_read("e1", 0), _read("e2", 1), _read("e1", 2), _read("e3", 3))
    assert aborted_positions(uncommitted) == {Position(TOPIC, 0, 0)}
    good = (_read("e2", 1), _read("e1", 2), _read("e3", 3))
    assert check(History(SENDS, good, uncommitted, (FEED,))).aborted_reads == ()
    bad = (_read("e1", 0), _read("e2", 1), _read("e3", 3))
    anomalies = check(History(SENDS, bad, uncommitted, (FEED,)))
    assert anomalies.aborted_reads == (_read("e1", 0),)
    assert anomalies.lost == () and not anomalies.ok


def test_a_read_of_an_event_never_sent_is_unexpected() -> None:
    reads = (_read("e1", 0), _read("e2", 1), _read("e3", 2), _read("e9", 3))
    assert check(History(SENDS, reads, (), (FEED,))).unexpected == (_read("e9", 3),)


def test_counts_name_every_kind() -> None:
    reads = (_read("e2", 0), _read("e1", 1), _read("e1", 2))
    counts = check(History(SENDS, reads, (), (FEED,))).counts()
    assert counts == {
        "lost": 1,
        "duplicated": 1,
        "reordered": 2,
        "aborted_reads": 0,
        "unexpected": 0,
    }


def test_examples_show_what_was_found_and_only_that() -> None:
    reads = (_read("e2", 0), _read("e1", 1), _read("e1", 2))
    examples = check(History(SENDS, reads, (), (FEED,))).examples(most=1)
    assert sorted(examples) == ["duplicated", "lost", "reordered"]
    assert examples["lost"] == [str((FEED, "e3"))]
    assert examples["duplicated"] == [str((FEED, "e1"))]
    assert check(History(SENDS, (), (), ())).examples() == {}


def _on(stream: str, event: str, offset: int) -> Read:
    return Read(stream, event, Position(f"govbus.{stream}", 0, offset))


def test_a_client_that_wrote_an_event_twice_gets_one_duplicate_answer_and_no_anomaly() -> None:
    # A rolling restart: the agency's idempotent producer put e1 on the submission topic
    # twice; the bus answered the copy `duplicate` and published it once.
    feed = (_read("e1", 0), _read("e2", 1), _read("e3", 2))
    submitted = (_on(SUBMITTED, "e1", 0), _on(SUBMITTED, "e1", 1), _on(SUBMITTED, "e2", 2))
    reads = (*feed, *submitted, _on(REANSWERED, "e1", 7))
    anomalies = check(History(SENDS, reads, reads, (FEED,)))
    assert anomalies.ok, anomalies
    assert anomalies.resubmitted == ("e1",)


def test_a_duplicate_answer_without_a_second_submission_is_the_bus_answering_twice() -> None:
    feed = (_read("e1", 0), _read("e2", 1), _read("e3", 2))
    once = (_on(SUBMITTED, "e1", 0), _on(SUBMITTED, "e2", 1), _on(SUBMITTED, "e3", 2))
    reads = (*feed, *once, _on(REANSWERED, "e2", 7))
    anomalies = check(History(SENDS, reads, reads, (FEED,)))
    assert anomalies.duplicated == ((REANSWERED, "e2"),)
    assert anomalies.resubmitted == ()


def test_resume_is_the_slowest_partitions_first_output_after_the_fault() -> None:
    sends = (
        Send(1, "a", "s1", 0, True, 5.0),
        Send(2, "b", "s2", 1, True, 11.0),
        Send(3, "c", "s1", 0, True, 12.0),
        Send(4, "d", "s2", 1, True, 13.0),
    )
    reads = (
        Read(FEED, "a", Position(TOPIC, 0, 0), 6.0),
        Read(FEED, "b", Position(TOPIC, 1, 0), 17.5),
        Read(FEED, "c", Position(TOPIC, 0, 1), 12.5),
        Read(FEED, "d", Position(TOPIC, 1, 1), 18.0),
    )
    history = History(sends, reads, (), (FEED,))
    assert resume_after(history, FEED, 10.0, [0, 1]) == 7.5
    assert resume_after(history, FEED, 10.0, [0]) == 2.5
    assert resume_after(history, FEED, 10.0, [0, 1, 2]) is None
    assert resume_after(history, "open", 10.0, [0]) is None


def test_topics_checked_apart_and_merged_find_what_one_check_finds() -> None:
    # Two feeds (a loss and a reordering in one, an aborted read in the other), the
    # submission topic and the receipts (a duplicate answer): checked whole and by topic.
    other = "other"
    feed = (_read("e2", 0), _read("e1", 1))  # e3 lost, e1 read after e2
    uncommitted_other = (
        Read(other, "e1", Position("govbus.other", 0, 0)),
        Read(other, "e1", Position("govbus.other", 0, 1)),
    )
    other_reads = (uncommitted_other[0], Read(other, "e2", Position("govbus.other", 0, 2)))
    submitted = (_on(SUBMITTED, "e1", 0), _on(SUBMITTED, "e2", 1), _on(SUBMITTED, "e2", 2))
    answers = (_on(REANSWERED, "e1", 7), _on(REANSWERED, "e2", 8))
    whole = check(
        History(
            SENDS,
            (*feed, *other_reads, *submitted, *answers),
            (*feed, *uncommitted_other, *submitted, *answers),
            (FEED, other),
        )
    )
    parts = merged(
        [
            check(History(SENDS, feed, feed, (FEED,))),
            check(History(SENDS, other_reads, uncommitted_other, (other,))),
            check(History(SENDS, (*submitted, *answers), (*submitted, *answers), ())),
        ]
    )
    assert (
        whole.counts()
        == parts.counts()
        == {
            "lost": 2,
            "duplicated": 1,
            "reordered": 1,
            "aborted_reads": 1,
            "unexpected": 0,
        }
    )
    assert sorted(map(str, whole.lost)) == sorted(map(str, parts.lost))
    assert whole.resubmitted == parts.resubmitted == ("e2",)
    assert merged([]) == Anomalies()
