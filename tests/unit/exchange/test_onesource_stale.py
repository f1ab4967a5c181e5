"""A change older than the authoritative record never overwrites it (GM 22 一数一源; S 20
动态更新: the one number is the source's latest), however long ago the record's event was
first seen: it is decided *stale* with a reason code (issue 15 item 5).

Order: the provider's source sequence within one source system, else the event time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import PolicyError
from exchange.catalog_loader import load_catalog
from exchange.onesource import (
    SEEN_EVENTS_LIMIT,
    AuthoritativeRecord,
    ChangeEvent,
    Decision,
    DecisionKind,
    ItemChange,
    Operation,
    SourceOrder,
    decide,
    decide_event,
)
from tests.support.scenario import DEMO

CATALOG = load_catalog(DEMO).catalog
SUBJECT = "resident_id:52010219900101123X"
SOURCE = "city-psb"
NEW_SOURCE = "city-mca"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ARTICLE = "GM 22; S 20"


def order(sequence: int, minutes: int = 0, system: str = "hukou") -> SourceOrder:
    return SourceOrder(system, sequence, T0 + timedelta(minutes=minutes))


def change(
    value: str | None,
    at: SourceOrder | None,
    event_id: str = "e-new",
    provider: str = SOURCE,
    operation: Operation = Operation.UPDATE,
) -> ItemChange:
    return ItemChange(event_id, provider, SUBJECT, "name", value, operation, at)


def record(
    value: str | None, at: SourceOrder | None, provider: str = SOURCE
) -> AuthoritativeRecord:
    return AuthoritativeRecord(SUBJECT, "name", value, provider, "e-rec", ("e-rec",), at)


def _stale(decision: Decision, code: str) -> None:
    assert (decision.kind, decision.reason_code, decision.article) == (
        DecisionKind.STALE,
        code,
        ARTICLE,
    )
    assert decision.new_state is None and decision.refreshed is None


def test_a_lower_source_sequence_is_stale_gm_22_s_20() -> None:
    """The source's change 7 arrives after its change 9 (out of order): 9 stays."""
    _stale(
        decide(SOURCE, record("张叁", order(9)), change("张三", order(7))),
        "source_sequence_not_newer",
    )


def test_the_same_source_sequence_with_another_value_is_stale_gm_22() -> None:
    _stale(
        decide(SOURCE, record("张叁", order(9)), change("张三", order(9))),
        "source_sequence_not_newer",
    )


def test_a_higher_source_sequence_is_accepted_and_kept_with_its_order_gm_22_s_21() -> None:
    decision = decide(SOURCE, record("张三", order(9)), change("张叁", order(10)))
    assert (decision.kind, decision.reason_code) == (DecisionKind.ACCEPT, "authoritative_source")
    assert decision.new_state is not None and decision.new_state.order == order(10)


def test_sequence_decides_within_a_source_system_even_against_event_time() -> None:
    """A source system's clock may step back; its sequence does not (ChangeEvent doc)."""
    decision = decide(SOURCE, record("张三", order(9, minutes=30)), change("张叁", order(10, 0)))
    assert decision.kind is DecisionKind.ACCEPT
    _stale(
        decide(SOURCE, record("张三", order(9, 0)), change("张叁", order(8, 30))),
        "source_sequence_not_newer",
    )


def test_another_source_system_is_ordered_by_event_time_s_20() -> None:
    """Two systems of one provider number their changes independently."""
    current = record("张叁", order(500, minutes=10, system="hukou"))
    _stale(decide(SOURCE, current, change("张三", order(1, 5, "e-gov"))), "event_time_older")
    assert (
        decide(SOURCE, current, change("张三", order(1, 11, "e-gov"))).kind is DecisionKind.ACCEPT
    )
    # Equal instants cannot be ordered: the later arrival is taken.
    assert (
        decide(SOURCE, current, change("张三", order(1, 10, "e-gov"))).kind is DecisionKind.ACCEPT
    )


def test_a_new_source_is_ordered_by_event_time_gm_22() -> None:
    """After the catalog names a new source of the item, its sequences are not comparable
    with the old source's: event time decides."""
    current = record("张叁", order(900, minutes=10), provider=SOURCE)
    _stale(
        decide(NEW_SOURCE, current, change("张三", order(1, 9), provider=NEW_SOURCE)),
        "event_time_older",
    )
    accepted = decide(NEW_SOURCE, current, change("张三", order(1, 11), provider=NEW_SOURCE))
    assert accepted.kind is DecisionKind.ACCEPT


def test_a_stale_delete_does_not_remove_the_value_gm_22() -> None:
    decision = decide(
        SOURCE, record("张三", order(9)), change(None, order(8), operation=Operation.DELETE)
    )
    _stale(decision, "source_sequence_not_newer")


def test_an_old_resend_beyond_the_seen_window_is_stale_gm_22_s_20() -> None:
    """However long ago it was first seen: the first change, resent after more than
    SEEN_EVENTS_LIMIT later ones, is older than the record. Without orders (as before
    issue 15) it put the old value back."""
    first = change("v0", order(0), event_id="e0")
    state = decide(SOURCE, None, first).new_state
    for n in range(1, SEEN_EVENTS_LIMIT + 5):
        state = decide(SOURCE, state, change(f"v{n}", order(n), event_id=f"e{n}")).new_state
    assert state is not None and "e0" not in state.seen_event_ids
    _stale(decide(SOURCE, state, first), "source_sequence_not_newer")
    unordered = AuthoritativeRecord(
        state.subject, state.item, state.value, state.provider, state.event_id, state.seen_event_ids
    )
    old_behaviour = decide(SOURCE, unordered, change("v0", None, event_id="e0"))
    assert old_behaviour.kind is DecisionKind.ACCEPT


def test_records_and_changes_without_an_order_are_never_stale() -> None:
    """Records kept before orders were, and callers that pass none, decide as before; the
    accepted record then keeps the change's order."""
    decision = decide(SOURCE, record("张三", None), change("张叁", order(1)))
    assert decision.kind is DecisionKind.ACCEPT
    assert decision.new_state is not None and decision.new_state.order == order(1)
    assert (
        decide(SOURCE, record("张三", order(9)), change("张叁", None)).kind is DecisionKind.ACCEPT
    )


def test_a_newer_duplicate_moves_the_record_on_so_an_older_change_stays_out_gm_22() -> None:
    """Sequence 9 says 张三 again (a duplicate, not propagated); 8 (张叁) arrives late."""
    duplicate = decide(SOURCE, record("张三", order(5)), change("张三", order(9)))
    assert (duplicate.kind, duplicate.reason_code) == (DecisionKind.DUPLICATE, "same_value")
    assert duplicate.new_state is None
    assert duplicate.refreshed is not None and duplicate.refreshed.order == order(9)
    assert duplicate.refreshed.value == "张三"
    _stale(
        decide(SOURCE, duplicate.refreshed, change("张叁", order(8))), "source_sequence_not_newer"
    )
    older = decide(SOURCE, record("张三", order(5)), change("张三", order(4)))
    assert older.kind is DecisionKind.DUPLICATE and older.refreshed is None


def test_a_delete_before_any_value_keeps_its_place_gm_22() -> None:
    """The source deleted at 9; its value from 8 arrives later and must not appear."""
    deleted = decide(SOURCE, None, change(None, order(9), "e9", operation=Operation.DELETE))
    assert (deleted.kind, deleted.reason_code) == (DecisionKind.DUPLICATE, "already_absent")
    assert deleted.refreshed is not None and deleted.refreshed.value is None
    _stale(decide(SOURCE, deleted.refreshed, change("张三", order(8))), "source_sequence_not_newer")


def test_reports_are_not_judged_by_order_s_20() -> None:
    """A non-source report never overwrites anything: confirmation or conflict as before."""
    report = change("张三", order(1), provider=NEW_SOURCE, operation=Operation.REPORT)
    assert decide(SOURCE, record("张三", order(9)), report).kind is DecisionKind.CONFIRMATION


def test_a_whole_event_stale_item_outranks_accept_but_siblings_propagate() -> None:
    entry = CATALOG.entry("psb.person.basic")
    assert entry is not None
    states = {
        "name": record("张叁", order(9)),
        "gender": AuthoritativeRecord(SUBJECT, "gender", "男", SOURCE, "e-rec", (), None),
    }
    event = ChangeEvent(
        "ev",
        SOURCE,
        entry.id,
        SUBJECT,
        Operation.UPDATE,
        {"name": "张三", "gender": "女"},
        order(8),
    )
    result = decide_event(entry, states, event)
    assert result.outcome is DecisionKind.STALE
    assert dict(result.accepted) == {"gender": "女"}
    assert dict(result.decisions)["name"].reason_code == "source_sequence_not_newer"
    assert result.new_states["gender"].order == order(8)
    same = ChangeEvent(
        "ev2", SOURCE, entry.id, SUBJECT, Operation.UPDATE, {"name": "张叁"}, order(10)
    )
    refreshed = decide_event(entry, states, same)
    assert refreshed.outcome is DecisionKind.DUPLICATE and not refreshed.new_states
    assert refreshed.refreshed["name"].order == order(10)


def test_an_order_needs_an_aware_event_time_and_round_trips() -> None:
    with pytest.raises(PolicyError) as info:
        SourceOrder("hukou", 1, datetime(2025, 3, 1, 8, 0))  # naive: refused
    assert info.value.code == "naive_event_time"
    shanghai = SourceOrder("hukou", 2**62, datetime.fromisoformat("2025-03-01T16:00:00+08:00"))
    assert SourceOrder.from_dict(shanghai.to_dict()) == shanghai
    assert SourceOrder.from_dict(None) is None


def _final_value(
    changes: list[tuple[int, str | None]], arrival: list[int], system: str
) -> str | None:
    state: AuthoritativeRecord | None = None
    for index in arrival:
        sequence, value = changes[index]
        operation = Operation.DELETE if value is None else Operation.UPDATE
        minutes = sequence if system == "by-time" else -sequence  # clocks disagree with sequence
        at = order(sequence, minutes, system if system != "by-time" else f"s{index}")
        decision = decide(SOURCE, state, change(value, at, f"e{index}", operation=operation))
        state = decision.new_state or decision.refreshed or state
    return None if state is None or state.value is None else str(state.value)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    changes=st.lists(
        st.tuples(st.integers(0, 10**6), st.one_of(st.none(), st.sampled_from("ABC"))),
        min_size=1,
        max_size=12,
        unique_by=lambda c: c[0],
    ),
    system=st.sampled_from(["hukou", "by-time"]),
)
def test_arrival_order_does_not_matter_the_latest_change_wins_gm_22_s_20(
    data: st.DataObject, changes: list[tuple[int, str | None]], system: str
) -> None:
    """Any arrival order of a source's changes ends at the value of its latest one (by
    sequence in one system; by event time across systems)."""
    arrival = data.draw(st.permutations(range(len(changes))))
    latest = max(changes)[1]
    assert _final_value(changes, list(arrival), system) == latest
