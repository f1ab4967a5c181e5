"""The agency publisher's local parts, without a broker: admission (the source, identity
keys and their message key, GM 18, GM 22, S 20), input rows (CSV and JSON lines) and the
journal. The publisher on the broker: tests/integration/producers/test_publisher.py."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import PolicyError, PublishError
from exchange.ingest_checks import ProposedChange, Refusal, admit
from exchange.outcomes import ReasonCode
from producers.journal import ACKS_FILE, Ack, Journal
from producers.rows import InputFormat, read_rows
from tests.support.publisher import (
    LI,
    NOW,
    WANG_15,
    WANG_18,
    ZHANG,
    World,
    legacy_id,
    make_world,
    resident_id,
)

_CACHED: list[World] = []


def make_world_cached() -> World:
    """One catalog for all Hypothesis examples (loading YAML per example is slow)."""
    if not _CACHED:
        _CACHED.append(make_world(Path(tempfile.mkdtemp())))
    return _CACHED[0]


# -- pure admission checks (no broker) ----------------------------------------------------
def test_admission_accepts_the_source_and_keys_by_canonical_subject(world: World) -> None:
    """GM 18 ¶2: the 15- and 18-digit forms of one resident ID give one canonical key."""
    keys = []
    for number in (WANG_15, WANG_18, f" {WANG_18.lower()} "):
        got = admit(
            world.catalog, world.psb, world.person, ProposedChange(number, {"name": "王五"}), NOW
        )
        assert not isinstance(got, Refusal), got
        keys.append(got.canonical_subject)
    assert keys == [f"resident_id:{WANG_18}"] * 3


ITEM_SOURCES = {
    "name": "psb",
    "birth_date": "psb",
    "household_size": "psb",
    "marital_status": "mca",
}


@given(
    writer=st.sampled_from(["psb", "mca"]),
    items=st.lists(st.sampled_from(sorted(ITEM_SOURCES)), min_size=1, unique=True),
    authoritative=st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_not_the_source_is_refused_unless_marked_non_authoritative(
    writer: str, items: list[str], authoritative: bool
) -> None:
    """GM 22 one number one source; S 20: a non-source may only send a report."""
    world = make_world_cached()
    agency = f"{writer}-{world.suffix}"
    values = {
        i: ("1949-12-31" if i == "birth_date" else "3" if i == "household_size" else "值")
        for i in items
    }
    got = admit(
        world.catalog, agency, world.person, ProposedChange(ZHANG, values, authoritative), NOW
    )
    foreign = [i for i in items if ITEM_SOURCES[i] != writer]
    if authoritative and foreign:
        assert isinstance(got, Refusal)
        assert got.reason is ReasonCode.NOT_THE_SOURCE
        assert got.field in foreign and got.article == "GM 22; S 20"
    else:
        assert not isinstance(got, Refusal), got


@given(
    born=st.dates(date(1900, 1, 1), date(1999, 12, 31)),
    seq=st.integers(0, 999),
)
@settings(max_examples=60, deadline=None)
def test_legacy_and_current_id_forms_share_the_message_key(born: date, seq: int) -> None:
    """GM 18 ¶2: one person, one key, whichever form the agency holds."""
    world = make_world_cached()
    short, full = legacy_id("110105", born, seq), resident_id("110105", born, seq)
    keys = {
        admit(world.catalog, world.psb, world.person, ProposedChange(n, {"name": "甲"}), NOW)
        for n in (short, full)
    }
    assert {k.canonical_subject for k in keys if not isinstance(k, Refusal)} == {
        f"resident_id:{full}"
    }


def test_admission_needs_an_aware_time(world: World) -> None:
    with pytest.raises(PolicyError):
        admit(
            world.catalog,
            world.psb,
            world.person,
            ProposedChange(ZHANG, {"name": "甲"}),
            datetime(2025, 1, 1),
        )


# -- input rows (no broker) ------------------------------------------------------------
cjk_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda t: t.strip() != "")


@given(values=st.dictionaries(st.sampled_from(["name", "marital_status"]), cjk_text, min_size=1))
@settings(max_examples=60, deadline=None)
def test_jsonl_and_csv_rows_carry_text_unchanged(values: dict[str, str]) -> None:
    """Chinese (any UTF-8) text reaches the draft unchanged from JSONL and from CSV."""
    directory = Path(tempfile.mkdtemp())
    jsonl = directory / "rows.jsonl"
    row = {"subject_key": ZHANG, "operation": "update", "items": values}
    jsonl.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subject_key", "operation", *values])
    writer.writerow([ZHANG, "update", *values.values()])
    csv_file = directory / "rows.csv"
    csv_file.write_text(out.getvalue(), encoding="utf-8")
    for path, fmt in ((jsonl, InputFormat.JSONL), (csv_file, InputFormat.CSV)):
        rows = read_rows(path, fmt, agency_id="a", entry_id="e")
        assert len(rows) == 1 and rows[0].draft is not None, rows
        expected = {k: v for k, v in values.items() if fmt is InputFormat.JSONL or v.strip()}
        assert dict(rows[0].draft.items) == expected


def test_rows_get_stable_derived_event_ids_and_bad_rows_their_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"subject_key": ZHANG, "operation": "update", "items": {"name": "甲"}}),
                "",
                "{not json",
                json.dumps({"subject_key": ZHANG, "operation": "update", "items": {"name": "甲"}}),
                json.dumps({"subject_key": ZHANG, "operation": "update", "item": {}}),
                json.dumps(
                    {
                        "subject_key": LI,
                        "operation": "create",
                        "items": {"household_size": 3},
                        "authoritative": False,
                    }
                ),
            ]
        ),
        encoding="utf-8",
    )
    first = read_rows(path, InputFormat.JSONL, agency_id="a", entry_id="e")
    again = read_rows(path, InputFormat.JSONL, agency_id="a", entry_id="e")
    other_entry = read_rows(path, InputFormat.JSONL, agency_id="a", entry_id="f")
    assert [r.line for r in first] == [1, 3, 4, 5, 6]
    bad = {r.line: r.refusal.reason for r in first if r.refusal is not None}
    assert bad == {3: ReasonCode.BAD_ROW, 5: ReasonCode.BAD_ROW}
    ids = [r.draft.event_id for r in first if r.draft is not None]
    assert ids == [r.draft.event_id for r in again if r.draft is not None]
    assert len(set(ids)) == 3  # same content on another line is another event
    assert not set(ids) & {r.draft.event_id for r in other_entry if r.draft is not None}
    last = first[-1].draft
    assert last is not None and last.items == {"household_size": "3"} and not last.authoritative


# -- journal (no broker) -----------------------------------------------------------------
def test_journal_drops_a_torn_last_line_and_refuses_a_second_user(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "psb")
    ack = Ack(str(uuid.uuid4()), "e", "t", 0, 7, "户籍系统", 42)
    journal.record_ack(ack)
    with pytest.raises(PublishError) as locked:
        Journal(tmp_path, "psb").open()
    assert locked.value.code == "state_dir_locked"
    journal.close()
    path = tmp_path / "psb" / ACKS_FILE
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"event_id": "torn')  # a crash in the middle of a write
    reopened = Journal(tmp_path, "psb")
    assert reopened.acknowledged(ack.event_id) == ack
    assert reopened.next_sequence("户籍系统", 0) == 43
    reopened.close()
    assert path.read_text(encoding="utf-8").endswith("}\n")
