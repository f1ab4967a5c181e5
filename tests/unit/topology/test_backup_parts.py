"""The pure parts of backup and restore (issue 18 item 3): the incarnation that keeps
derived ids apart after a restore, the topics kept, and the SQL rows round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.errors import StorageError
from storage import migrate
from storage.backup import dump_tables, load_tables
from storage.engine import make_engine
from storage.reference import ReferenceStore
from topology import backup
from topology.plan import Input
from topology.records import derived_id
from topology.state import INCARNATION_KEY, decode_incarnation, encode_incarnation


def test_a_restored_partition_derives_new_ids_for_the_same_offsets() -> None:
    """The restored ingest topics start again at offset 0: the incarnation keeps the ids of
    new inputs apart from those decided before (the audit's replay check, S 42)."""
    before = Input("govbus.ingest.e", 1, 0, b"k", b"v")
    after = Input("govbus.ingest.e", 1, 0, b"k", b"v", incarnation=1)
    assert before.position == "govbus.ingest.e/1/0"  # unchanged for every running bus
    assert after.position == "govbus.ingest.e/1/0@1"
    assert derived_id("audit", "accepted", before.position) != derived_id(
        "audit", "accepted", after.position
    )


def test_each_restore_moves_every_changelog_partition_to_its_next_incarnation() -> None:
    held: list[backup.RecordTuple] = [
        (0, INCARNATION_KEY.encode(), encode_incarnation(2), 1, []),
        (1, b"subject", b"{}", 1, []),
    ]
    added = backup._next_incarnation(held, 3, 99)  # noqa: SLF001 - the restore's own step
    assert [(p, decode_incarnation(v)) for p, _, v, _, _ in added] == [(0, 3), (1, 1), (2, 1)]


def test_the_kept_topics_are_the_state_audit_and_conflict_topics() -> None:
    names = [
        "govbus.audit",
        "govbus.audit.workflows",
        "govbus.conflicts",
        "govbus.conflicts.resolved",
        "govbus.state.grants",
        "govbus.state.onesource.psb.person.basic",
        "govbus.feed.city-mca",
        "govbus.ingest.psb.person.basic",
        "__consumer_offsets",
    ]
    assert backup.kept_topics(names) == sorted(names[:6])


def test_sql_rows_round_trip_into_an_empty_store_only(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    for url in (source, target):
        migrate.upgrade(url)
    store = ReferenceStore(make_engine(source))
    store.add_agency("city-psb", "Public Security", name_zh="市公安局")
    rows = dump_tables(make_engine(source))
    assert "tokens" not in rows  # login sessions are not kept
    counts = load_tables(make_engine(target), rows)
    assert counts["agencies"] == 1
    assert [a.name_zh for a in ReferenceStore(make_engine(target)).list_agencies()] == ["市公安局"]
    with pytest.raises(StorageError, match="not empty"):
        load_tables(make_engine(target), rows)
