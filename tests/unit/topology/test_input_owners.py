"""Which groups hold an ingest topic against a group being started (issue 14 item 7):
every group but that one, by committed offsets or by members assigned now."""

from __future__ import annotations

from kafkaclient.groups import GroupInput
from topology.ownership import foreign_owners

A, B = "govbus.ingest.a", "govbus.ingest.b"


def _held(group: str, committed: set[str], assigned: set[str] | None = None) -> GroupInput:
    now = frozenset(assigned or ())
    state = "STABLE" if now else "EMPTY"
    return GroupInput(group, state, len(now), frozenset(committed), now)


def test_the_group_itself_is_no_owner_of_its_own_input() -> None:
    assert foreign_owners([_held("govbus-processor", {A, B})], "govbus-processor") == {}


def test_other_groups_by_offsets_or_by_assignment_own_each_topic() -> None:
    demo = _held("govbus-demo", {A})  # ran once, committed, stopped
    live = _held("govbus-ns", set(), {B})  # running, nothing committed yet
    owners = foreign_owners([live, demo, _held("govbus-processor", {A, B})], "govbus-processor")
    assert {t: [g.group for g in gs] for t, gs in owners.items()} == {
        A: ["govbus-demo"],
        B: ["govbus-ns"],
    }


def test_a_topic_held_by_several_lists_them_in_order() -> None:
    owners = foreign_owners([_held("z", {A}), _held("m", set(), {A})], "new")
    assert [g.group for g in owners[A]] == ["m", "z"]
