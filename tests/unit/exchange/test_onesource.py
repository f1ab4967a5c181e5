"""One number, one source (GM 19, GM 22, S 20, S 21)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import PolicyError
from exchange.onesource import (
    OUTCOME_PRECEDENCE,
    SEEN_EVENTS_LIMIT,
    AuthoritativeRecord,
    ChangeEvent,
    Decision,
    DecisionKind,
    ItemChange,
    Operation,
    aggregate,
    decide,
    decide_event,
)
from tests.support.catalog import demo_entry

SUBJECT = "52010219900101123X"


SOURCE = "city-psb"


OTHER = "city-mca"


def _record(value: str | None = "张三", event_id: str = "e0") -> AuthoritativeRecord:
    return AuthoritativeRecord(SUBJECT, "name", value, SOURCE, event_id, (event_id,))


def _change(
    value: str | None = "张三",
    provider: str = SOURCE,
    operation: Operation = Operation.UPDATE,
    event_id: str = "e1",
) -> ItemChange:
    return ItemChange(event_id, provider, SUBJECT, "name", value, operation)


def _said(decision: Decision) -> tuple[DecisionKind, str, str]:
    """What a decision says: its kind, reason code and article."""
    return decision.kind, decision.reason_code, decision.article


def test_accept_new_value_from_the_source_gm_22_s_21() -> None:
    decision = decide(SOURCE, _record("张三"), _change("张叁"))
    assert _said(decision) == (DecisionKind.ACCEPT, "authoritative_source", "GM 22; S 21")
    assert decision.new_state is not None
    assert decision.new_state.value == "张叁"
    assert decision.new_state.event_id == "e1"
    assert decision.new_state.seen_event_ids == ("e0", "e1")


def test_first_value_from_the_source_is_accepted_gm_22() -> None:
    decision = decide(SOURCE, None, _change("张三", operation=Operation.CREATE))
    assert decision.kind is DecisionKind.ACCEPT
    assert decision.new_state is not None and decision.new_state.seen_event_ids == ("e1",)


def test_source_delete_is_accepted_then_duplicate_gm_22() -> None:
    deleted = decide(SOURCE, _record(), _change(operation=Operation.DELETE))
    assert deleted.kind is DecisionKind.ACCEPT
    assert deleted.new_state is not None and deleted.new_state.value is None
    again = decide(SOURCE, deleted.new_state, _change(operation=Operation.DELETE, event_id="e2"))
    assert (again.kind, again.reason_code) == (DecisionKind.DUPLICATE, "already_absent")


def test_replayed_event_id_is_duplicate_gm_22() -> None:
    decision = decide(SOURCE, _record(event_id="e7"), _change("李四", event_id="e7"))
    assert _said(decision) == (DecisionKind.DUPLICATE, "event_seen", "GM 22")
    assert decision.new_state is None


def test_same_value_again_from_the_source_is_duplicate_gm_22() -> None:
    decision = decide(SOURCE, _record("张三"), _change("张三", event_id="e9"))
    assert (decision.kind, decision.reason_code) == (DecisionKind.DUPLICATE, "same_value")
    assert decision.new_state is None


@pytest.mark.parametrize("operation", [Operation.CREATE, Operation.UPDATE, Operation.DELETE])
def test_write_by_a_non_source_is_stopped_gm_22_s_20(operation: Operation) -> None:
    for current in (None, _record()):
        decision = decide(SOURCE, current, _change("王五", provider=OTHER, operation=operation))
        assert _said(decision) == (DecisionKind.STOPPED, "not_the_source", "GM 22; S 20")
        assert decision.new_state is None


def test_item_outside_the_catalog_is_stopped_s_20() -> None:
    decision = decide(None, None, _change())
    assert _said(decision) == (DecisionKind.STOPPED, "item_not_in_catalog", "S 20")


def test_matching_report_is_a_confirmation_s_20() -> None:
    decision = decide(SOURCE, _record("张三"), _change("张三", OTHER, Operation.REPORT))
    assert _said(decision) == (DecisionKind.CONFIRMATION, "multi_source_verified", "S 20")
    assert decision.new_state is None and decision.conflict is None


def test_differing_report_is_a_conflict_never_propagated_gm_19() -> None:
    decision = decide(SOURCE, _record("张三"), _change("张山", OTHER, Operation.REPORT))
    assert _said(decision) == (DecisionKind.CONFLICT, "value_differs", "GM 19")
    assert decision.new_state is None
    conflict = decision.conflict
    assert conflict is not None
    assert (conflict.authoritative_value, conflict.reported_value) == ("张三", "张山")
    assert (conflict.authoritative_provider, conflict.reporter) == (SOURCE, OTHER)
    assert conflict.authoritative_event_id == "e0"


def test_report_without_authoritative_value_is_a_conflict_gm_19() -> None:
    decision = decide(SOURCE, None, _change("张三", OTHER, Operation.REPORT))
    assert (decision.kind, decision.reason_code) == (DecisionKind.CONFLICT, "source_has_no_value")
    assert decision.conflict is not None and decision.conflict.authoritative_value is None


def test_record_of_another_item_is_refused() -> None:
    other = AuthoritativeRecord(SUBJECT, "gender", "男", SOURCE, "e0")
    with pytest.raises(PolicyError) as caught:
        decide(SOURCE, other, _change())
    assert caught.value.code == "record_mismatch"


def test_seen_event_ids_are_bounded_gm_22() -> None:
    state: AuthoritativeRecord | None = None
    for n in range(SEEN_EVENTS_LIMIT + 10):
        decision = decide(SOURCE, state, _change(f"v{n}", event_id=f"e{n}"))
        assert decision.kind is DecisionKind.ACCEPT
        state = decision.new_state
    assert state is not None
    assert len(state.seen_event_ids) == SEEN_EVENTS_LIMIT
    assert state.seen_event_ids[-1] == f"e{SEEN_EVENTS_LIMIT + 9}"
    assert "e0" not in state.seen_event_ids


_VALUES = st.sampled_from(["张三", "李四", "王五", None])


@given(
    steps=st.lists(
        st.tuples(st.sampled_from([SOURCE, OTHER]), st.sampled_from(Operation), _VALUES),
        max_size=25,
    ),
    replay=st.integers(min_value=0),
)
def test_only_the_source_changes_state_and_replays_are_duplicates_gm_22(
    steps: list[tuple[str, Operation, str | None]], replay: int
) -> None:
    state: AuthoritativeRecord | None = None
    accepted: list[ItemChange] = []
    for n, (provider, operation, value) in enumerate(steps):
        change = _change(value, provider, operation, event_id=f"e{n}")
        decision = decide(SOURCE, state, change)
        assert decision.article
        if decision.new_state is not None:
            assert decision.kind is DecisionKind.ACCEPT
            assert provider == SOURCE
            state = decision.new_state
            accepted.append(change)
        if provider == OTHER and operation is not Operation.REPORT:
            assert decision.kind is DecisionKind.STOPPED
        if decision.kind is DecisionKind.CONFLICT:
            assert decision.conflict is not None and decision.conflict.reported_value == value
    if accepted:
        again = accepted[replay % len(accepted)]
        assert decide(SOURCE, state, again).kind is DecisionKind.DUPLICATE


def test_event_with_foreign_item_is_stopped_but_own_items_propagate_gm_22() -> None:
    entry = demo_entry("psb.person.basic")  # marital_status is city-mca's item
    event = ChangeEvent(
        "ev1",
        SOURCE,
        entry.id,
        SUBJECT,
        Operation.UPDATE,
        {"name": "张三", "marital_status": "已婚"},
    )
    result = decide_event(entry, {}, event)
    assert result.outcome is DecisionKind.STOPPED
    assert dict(result.accepted) == {"name": "张三"}
    kinds = {item: d.kind for item, d in result.decisions}
    assert kinds == {"name": DecisionKind.ACCEPT, "marital_status": DecisionKind.STOPPED}


def test_event_outcome_is_the_most_serious_item_gm_19() -> None:
    entry = demo_entry("psb.person.basic")
    states = {
        "name": AuthoritativeRecord(SUBJECT, "name", "张三", SOURCE, "e0"),
        "gender": AuthoritativeRecord(SUBJECT, "gender", "男", SOURCE, "e0"),
    }
    report = ChangeEvent(
        "ev2", OTHER, entry.id, SUBJECT, Operation.REPORT, {"name": "张三", "gender": "女"}
    )
    result = decide_event(entry, states, report)
    assert result.outcome is DecisionKind.CONFLICT
    assert not result.accepted and not result.new_states
    assert [c.item for c in result.conflicts] == ["gender"]
    replay = ChangeEvent("e0", SOURCE, entry.id, SUBJECT, Operation.UPDATE, {"name": "x"})
    assert decide_event(entry, states, replay).outcome is DecisionKind.DUPLICATE


@given(st.sets(st.sampled_from(DecisionKind), min_size=1))
def test_aggregate_follows_the_documented_precedence(kinds: set[DecisionKind]) -> None:
    outcome = aggregate(kinds)
    assert outcome in kinds
    assert all(OUTCOME_PRECEDENCE.index(outcome) <= OUTCOME_PRECEDENCE.index(k) for k in kinds)


def test_empty_or_misdirected_event_is_refused() -> None:
    entry = demo_entry("psb.person.basic")
    with pytest.raises(PolicyError) as empty:
        decide_event(entry, {}, ChangeEvent("e", SOURCE, entry.id, SUBJECT, Operation.UPDATE, {}))
    assert empty.value.code == "empty_change"
    wrong = ChangeEvent("e", SOURCE, "other", SUBJECT, Operation.UPDATE, {"name": "x"})
    with pytest.raises(PolicyError) as misdirected:
        decide_event(entry, {}, wrong)
    assert misdirected.value.code == "wrong_entry"
