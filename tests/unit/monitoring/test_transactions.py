"""Open transactions seen from outside (:mod:`monitoring.transactions`): a partition whose
last stable offset (LSO) is held behind its high watermark keeps readers waiting (G 12:
real time); how long it has been held is what tells a slow transaction from a hanging
one."""

from __future__ import annotations

from govbus.cli.monitor_cmd import print_transactions
from govbus.cli.output import console
from monitoring.snapshot import OpenTransactionRow, Snapshot
from monitoring.transactions import OpenTransactions

A, B = ("govbus.feed.tax", 0), ("govbus.open.person", 2)


def test_held_time_counts_while_the_stable_offset_stays() -> None:
    t = OpenTransactions()
    assert [r.held_seconds for r in t.observe({A: 5}, {A: 9}, now=100.0)] == [0.0]
    rows = t.observe({A: 5}, {A: 12}, now=160.0)  # more written, LSO still at 5
    assert [(r.topic, r.partition, r.stable_offset, r.high_watermark) for r in rows] == [
        (*A, 5, 12)
    ]
    assert rows[0].held_seconds == 60.0


def test_a_moving_or_caught_up_offset_starts_again() -> None:
    t = OpenTransactions()
    t.observe({A: 5, B: 1}, {A: 9, B: 4}, now=0.0)
    rows = t.observe({A: 9, B: 4}, {A: 20, B: 4}, now=50.0)  # A moved on, B caught up
    assert [(r.partition, r.held_seconds) for r in rows] == [(0, 0.0)]
    # B opens again later: its count starts from then, not from its first hold.
    rows = t.observe({A: 9, B: 4}, {A: 20, B: 8}, now=80.0)
    assert {(r.partition, r.held_seconds) for r in rows} == {(0, 30.0), (2, 0.0)}


def test_oldest_first_and_unread_partitions_keep_their_count() -> None:
    t = OpenTransactions()
    t.observe({A: 5, B: 1}, {A: 9, B: 4}, now=0.0)
    # B's high watermark could not be read this round: left out, not forgotten.
    assert [r.partition for r in t.observe({A: 5, B: 1}, {A: 9}, now=10.0)] == [0]
    rows = t.observe({A: 6, B: 1}, {A: 9, B: 4}, now=20.0)
    assert [(r.topic, r.held_seconds) for r in rows] == [(B[0], 20.0), (A[0], 0.0)]


def test_the_monitor_text_names_a_hanging_partition() -> None:
    rows = (
        OpenTransactionRow("govbus.feed.tax", 0, 5, 12, 420.0),
        OpenTransactionRow("govbus.open.person", 2, 1, 4, 3.0),
    )
    with console.capture() as captured:
        print_transactions(Snapshot(at=0.0, open_transactions=rows))
    text = captured.get()
    assert "open transactions: 2 partition(s)" in text and "longest 420 s" in text
    assert "govbus.feed.tax/0: LSO 5 < HW 12 for 420 s" in text
    assert "govbus.open.person/2" not in text
