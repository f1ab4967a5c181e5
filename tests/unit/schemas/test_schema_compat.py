"""Schema versions: every release is kept and stays readable by the current reader.

A released ``.avsc`` never changes (its SHA-256 is pinned in test_schemas.py); a change
is a new ``released/<Record>/v<N+1>.avsc`` that the current file copies byte for byte.
ChangeEvent v2 (adds ``legal_basis``, default null) proves schema resolution works.
ConflictResolution v1 (GM 19) closes a Conflict; its golden message is pinned like the others.
Decision v2 adds the audit hash chain's `chain` and `seq` (S 42), default null.
DeadLetter v2 adds the size and SHA-256 of a value or key stored truncated, default null.
Receipt v2 (``outcome``) and Decision v3 (``kind``) add the enum symbol ``stale`` (GM 22:
an older change is recorded, never applied) at the end, with an enum default, so a reader
of these versions reads a symbol added later as its default.
FeedRecord v2 and Decision v4 add ``grants`` (each grant a delivery rests on, its purpose and
items; G 17, S 29), default empty. Decision v5 adds ``deliveries`` (one audit record per
event, listing every delivery: recipient, topic, items, masking, grants), default empty.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.errors import SchemaError
from schemas import SchemaRegistry, decode, default_registry, encode
from tests.support.avro import (
    AVRO_DIR,
    RECORDS,
    SAMPLES,
    expected,
    released_files,
    strategy_for,
)

RELEASES = sorted(released_files())


# Messages written once with each released version (from test_schemas.SAMPLES, cut to
# that version's fields). They must decode for as long as the version is released.
GOLDEN_HEX = {
    ("ChangeEvent", 1): """
        c301dfde0af84a2cb3814830663866616435622d643963622d343639662d613136352d373038363737323839
        3530651447592d524b2d3030303124e8b4b5e998b3e5b882e585ace5ae89e5b1802431313031303531393439
        3132333130303278000201020ce4bd8fe59d800224e8b4b5e998b3e5b882e4ba91e5b2a9e58cba022ae8b4b5
        e998b3e5b882e8a782e5b1b1e6b996e58cba002ae4babae58fa3e59fbae7a180e4bfa1e681afe5ba9380979e
        99d4635400
    """,
    ("ChangeEvent", 2): """
        c30126c3a48e27bd64344830663866616435622d643963622d343639662d613136352d373038363737323839
        3530651447592d524b2d3030303124e8b4b5e998b3e5b882e585ace5ae89e5b1802431313031303531393439
        3132333130303278000201020ce4bd8fe59d800224e8b4b5e998b3e5b882e4ba91e5b2a9e58cba022ae8b4b5
        e998b3e5b882e8a782e5b1b1e6b996e58cba002ae4babae58fa3e59fbae7a180e4bfa1e681afe5ba9380979e
        99d463540000
    """,
    ("Conflict", 1): """
        c301e9faf19bfa8ea1744837633965363637392d373432352d343064652d393434622d653037666331663930
        6165371447592d524b2d303030313c7265736964656e745f69643a3131303130353139343931323331303032
        580ce4bd8fe59d80022ae8b4b5e998b3e5b882e8a782e5b1b1e6b996e58cba24e8b4b5e998b3e5b882e585ac
        e5ae89e5b1804830663866616435622d643963622d343639662d613136352d37303836373732383935306502
        24e8b4b5e998b3e5b882e58d97e6988ee58cba24e8b4b5e998b3e5b882e6b091e694bfe5b180483763396536
        3637392d373432352d343064652d393434622d65303766633166393061653780979e99d4630a474d203139
    """,
    ("ConflictResolution", 1): """
        c301d4839981f39231424837633965363637392d373432352d343064652d393434622d653037666331663930
        6165371447592d524b2d303030313c7265736964656e745f69643a3131303130353139343931323331303032
        580ce4bd8fe59d800042e8b4b5e998b3e5b882e5a4a7e695b0e68daee58f91e5b195e7aea1e79086e5b18002
        5ae7bb8fe58d8fe8b083e6a0b8e5ae9eefbc8ce4bba5e5b882e585ace5ae89e5b180e799bbe8aeb0e4b8bae5
        878680f783bed5630a474d203139
    """,
    ("DeadLetter", 1): """
        c3017209b9ff892453300030676f766275732e696e676573742e47592d524b2d30303031000e000eb9f3d1f4
        c301ff26756e6b6e6f776e5f66696e6765727072696e7418e697a0e6b395e8a7a3e7a0810080979e99d463
    """,
    ("DeadLetter", 2): """
        c3018691ab6d212603c00030676f766275732e696e676573742e47592d524b2d30303031000e000eb9f3d1f4
        c301ff26756e6b6e6f776e5f66696e6765727072696e7418e697a0e6b395e8a7a3e7a0810080979e99d46302
        80f77f0240000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0000
    """,
    ("Decision", 1): """
        c301fa14b773c34013524837633965363637392d373432352d343064652d393434622d653037666331663930
        61653710024830663866616435622d643963622d343639662d613136352d3730383637373238393530651447
        592d524b2d303030310224e8b4b5e998b3e5b882e585ace5ae89e5b180023c7265736964656e745f69643a31
        313031303531393439313233313030325800020847203135024ee8b4b5e998b3e5b882e4babae58a9be8b584
        e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b180021c6772616e742d323032342d303137023ce7a4bee4bc
        9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81040ce5a793e5908d0ce4bd8fe59d8000020ce4
        bd8fe59d801a6b6565705f64697374726963740080979e99d4630000
    """,
    ("Decision", 3): """
        c301337263cd3d3fb0444837633965363637392d373432352d343064652d393434622d653037666331663930
        61653710024830663866616435622d643963622d343639662d613136352d3730383637373238393530651447
        592d524b2d303030310224e8b4b5e998b3e5b882e585ace5ae89e5b180023c7265736964656e745f69643a31
        313031303531393439313233313030325800020847203135024ee8b4b5e998b3e5b882e4babae58a9be8b584
        e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b180021c6772616e742d323032342d303137023ce7a4bee4bc
        9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81040ce5a793e5908d0ce4bd8fe59d8000020ce4
        bd8fe59d801a6b6565705f64697374726963740080979e99d46300000000
    """,
    ("Decision", 2): """
        c3015016c594ec0751fb4837633965363637392d373432352d343064652d393434622d653037666331663930
        61653710024830663866616435622d643963622d343639662d613136352d3730383637373238393530651447
        592d524b2d303030310224e8b4b5e998b3e5b882e585ace5ae89e5b180023c7265736964656e745f69643a31
        313031303531393439313233313030325800020847203135024ee8b4b5e998b3e5b882e4babae58a9be8b584
        e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b180021c6772616e742d323032342d303137023ce7a4bee4bc
        9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81040ce5a793e5908d0ce4bd8fe59d8000020ce4
        bd8fe59d801a6b6565705f64697374726963740080979e99d46300000000
    """,
    ("Decision", 4): """
        c301fefbeb63777acc574837633965363637392d373432352d343064652d393434622d653037666331663930
        61653710024830663866616435622d643963622d343639662d613136352d3730383637373238393530651447
        592d524b2d303030310224e8b4b5e998b3e5b882e585ace5ae89e5b180023c7265736964656e745f69643a31
        313031303531393439313233313030325800020847203135024ee8b4b5e998b3e5b882e4babae58a9be8b584
        e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b180021c6772616e742d323032342d303137023ce7a4bee4bc
        9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81021c6772616e742d323032342d3031373ce7a4
        bee4bc9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81020ce4bd8fe59d800000040ce5a793e5
        908d0ce4bd8fe59d8000020ce4bd8fe59d801a6b6565705f64697374726963740080979e99d46300000000
    """,
    ("Decision", 5): """
        c30149f32a95c3c1aa5f4837633965363637392d373432352d343064652d393434622d653037666331663930
        61653710024830663866616435622d643963622d343639662d613136352d3730383637373238393530651447
        592d524b2d303030310224e8b4b5e998b3e5b882e585ace5ae89e5b180023c7265736964656e745f69643a31
        313031303531393439313233313030325800020847203135024ee8b4b5e998b3e5b882e4babae58a9be8b584
        e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b180021c6772616e742d323032342d303137023ce7a4bee4bc
        9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81021c6772616e742d323032342d3031373ce7a4
        bee4bc9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81020ce4bd8fe59d800000040ce5a793e5
        908d0ce4bd8fe59d8000020ce4bd8fe59d801a6b6565705f646973747269637400024ee8b4b5e998b3e5b882
        e4babae58a9be8b584e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b18066676f766275732e666565642ee8
        b4b5e998b3e5b882e4babae58a9be8b584e6ba90e5928ce7a4bee4bc9ae4bf9de99a9ce5b180040ce5a793e5
        908d0ce4bd8fe59d8000020ce4bd8fe59d801a6b6565705f64697374726963740000021c6772616e742d3230
        32342d3031373ce7a4bee4bc9ae4bf9de999a9e5be85e98187e8b584e6a0bce8aea4e8af81020ce4bd8fe59d
        8000000080979e99d46300000000
    """,
    ("FeedRecord", 1): """
        c3014d7f71bf5b97b0524830663866616435622d643963622d343639662d613136352d373038363737323839
        3530651447592d524b2d303030313c7265736964656e745f69643a3131303130353139343931323331303032
        5802040ce5a793e5908d020ce5bca0e4b88900000ce4bd8fe59d800230e8b4b5e998b3e5b882e8a782e5b1b1
        e6b996e58cba2a2a2a01021a6b6565705f64697374726963740024e8b4b5e998b3e5b882e585ace5ae89e5b1
        8080979e99d463f49a9e99d463021c6772616e742d323032342d303137023ce7a4bee4bc9ae4bf9de999a9e5
        be85e98187e8b584e6a0bce8aea4e8af81
    """,
    ("FeedRecord", 2): """
        c3011e2a79306c4277464830663866616435622d643963622d343639662d613136352d373038363737323839
        3530651447592d524b2d303030313c7265736964656e745f69643a3131303130353139343931323331303032
        5802040ce5a793e5908d020ce5bca0e4b88900000ce4bd8fe59d800230e8b4b5e998b3e5b882e8a782e5b1b1
        e6b996e58cba2a2a2a01021a6b6565705f64697374726963740024e8b4b5e998b3e5b882e585ace5ae89e5b1
        8080979e99d463f49a9e99d463021c6772616e742d323032342d303137023ce7a4bee4bc9ae4bf9de999a9e5
        be85e98187e8b584e6a0bce8aea4e8af81021c6772616e742d323032342d3031373ce7a4bee4bc9ae4bf9de9
        99a9e5be85e98187e8b584e6a0bce8aea4e8af81020ce4bd8fe59d800000
    """,
    ("Receipt", 1): """
        c301dc061aee90d550f94830663866616435622d643963622d343639662d613136352d373038363737323839
        3530651447592d524b2d3030303124e8b4b5e998b3e5b882e585ace5ae89e5b180081a76616c75655f646966
        6665727330e4b88ee69d83e5a881e69da5e6ba90e4b88de4b880e887b4020a474d20313980979e99d4630218
        676f766275732e6175646974068010023c7265736964656e745f69643a313130313035313934393132333130
        303258
    """,
    ("Receipt", 2): """
        c30171eaee438b0bd63e4830663866616435622d643963622d343639662d613136352d373038363737323839
        3530651447592d524b2d3030303124e8b4b5e998b3e5b882e585ace5ae89e5b180081a76616c75655f646966
        6665727330e4b88ee69d83e5a881e69da5e6ba90e4b88de4b880e887b4020a474d20313980979e99d4630218
        676f766275732e6175646974068010023c7265736964656e745f69643a313130313035313934393132333130
        303258
    """,
    ("WorkflowEvent", 1): """
        c301043d6a3343cb857f542273686172655f6170706c69636174696f6e1a6170702d323032362d3030303108
        6465656d02127375626d6974746564021e6465656d65645f617070726f7665640c676f766275730c73797374
        656d0080979e99d4630248e980bee69c9fe69caae7ad94e5a48defbc8ce8a786e4b8bae5908ce6848fe585b1
        e4baab02105320323520c2b6334a7b226772616e745f6964223a20226772616e742d6170702d323032362d30
        3030312d31227d12776f726b666c6f77730e0000
    """,
}


def _fields(schema: Any) -> list[dict[str, Any]]:
    return list(schema["fields"])


def _without_docs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_docs(v) for k, v in schema.items() if k != "doc"}
    if isinstance(schema, list):
        return [_without_docs(v) for v in schema]
    return schema


def _evolved(old: Any, new: Any) -> bool:
    """``new`` is ``old``, or ``old``'s enum with symbols added at the end and a default."""
    old, new = _without_docs(old), _without_docs(new)
    if old == new:
        return True
    if not (isinstance(old, dict) and isinstance(new, dict) and old.get("type") == "enum"):
        return False
    symbols = list(old["symbols"])
    return (
        new["symbols"][: len(symbols)] == symbols
        and new.get("default") in new["symbols"]
        and {k: v for k, v in new.items() if k not in ("symbols", "default")}
        == {k: v for k, v in old.items() if k not in ("symbols", "default")}
    )


def resolved(writer: Any, reader: Any, value: dict[str, Any]) -> dict[str, Any]:
    """What the reader gets for a top-level record written with ``writer`` (Avro resolution)."""
    written = expected(writer, value)
    return {
        f["name"]: written[f["name"]] if f["name"] in written else expected(f["type"], f["default"])
        for f in _fields(reader)
    }


def test_every_release_is_loaded_and_versions_have_no_gaps() -> None:
    reg = default_registry()
    loaded = sorted((v.record_name, v.version) for r in RECORDS for v in reg.versions(r))
    assert loaded == RELEASES
    for record in RECORDS:
        assert [v.version for v in reg.versions(record)] == list(
            range(1, len(reg.versions(record)) + 1)
        )


def test_golden_messages_cover_every_release() -> None:
    assert sorted(GOLDEN_HEX) == RELEASES


@pytest.mark.parametrize("record", RECORDS)
def test_current_file_equals_newest_release_byte_for_byte(record: str) -> None:
    newest = max(n for r, n in RELEASES if r == record)
    current = (AVRO_DIR / f"{record}.avsc").read_bytes()
    assert current == (AVRO_DIR / "released" / record / f"v{newest}.avsc").read_bytes()
    assert default_registry().current(record).version == newest


def test_change_event_v2_is_a_real_release_with_a_new_field() -> None:
    reg = default_registry()
    v1, v2 = reg.versions("ChangeEvent")[:2]
    assert v1.fingerprint != v2.fingerprint
    added = {f["name"] for f in _fields(v2.definition)} - {
        f["name"] for f in _fields(v1.definition)
    }
    assert added == {"legal_basis"}


@pytest.mark.parametrize(("record", "version"), RELEASES)
def test_later_fields_have_defaults_and_shared_fields_keep_their_type(
    record: str, version: int
) -> None:
    reg = default_registry()
    old = {f["name"]: f for f in _fields(reg.version(record, version).definition)}
    for f in _fields(reg.current(record).definition):
        if f["name"] in old:
            assert _evolved(old[f["name"]]["type"], f["type"]), f["name"]
        else:
            assert "default" in f, f"{record}.{f['name']} was added without a default"


@pytest.mark.parametrize(("record", "version"), RELEASES)
def test_golden_message_of_every_release_decodes_as_current(record: str, version: int) -> None:
    reg = default_registry()
    golden = bytes.fromhex(GOLDEN_HEX[(record, version)])
    writer = reg.version(record, version)
    assert reg.writer_of(golden) == writer
    sample = {
        k: v
        for k, v in SAMPLES[record].items()
        if k in {f["name"] for f in _fields(writer.definition)}
    }
    assert reg.encode(record, sample, version=version) == golden  # the writer is stable too
    assert decode(record, golden) == resolved(
        writer.definition, reg.current(record).definition, sample
    )


def test_change_event_v1_message_reads_with_legal_basis_null() -> None:
    golden = bytes.fromhex(GOLDEN_HEX[("ChangeEvent", 1)])
    event = decode("ChangeEvent", golden)
    assert event["legal_basis"] is None
    assert event["items"][0]["after"] == "贵阳市观山湖区"
    assert default_registry().writer_of(golden).version == 1


@pytest.mark.parametrize(("record", "version"), RELEASES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_records_of_every_release_read_as_current(
    record: str, version: int, data: st.DataObject
) -> None:
    reg = default_registry()
    writer = reg.version(record, version).definition
    value = data.draw(strategy_for(writer))
    message = reg.encode(record, value, version=version)
    assert decode(record, message) == resolved(writer, reg.current(record).definition, value)


def test_current_writer_never_writes_an_old_version() -> None:
    reg = default_registry()
    for record in RECORDS:
        assert encode(record, SAMPLES[record])[:10] == reg.current(record).header


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, root)
    return root


def _load_error(root: Path) -> SchemaError:
    with pytest.raises(SchemaError) as err:
        SchemaRegistry.load(root)
    return err.value


def test_copy_of_the_tree_loads(tree: Path) -> None:
    assert SchemaRegistry.load(tree).record_names == RECORDS


def test_edited_current_file_is_refused(tree: Path) -> None:
    path = tree / "Receipt.avsc"
    schema = json.loads(path.read_text("utf-8"))
    schema["fields"].append(
        {"name": "note", "type": ["null", "string"], "default": None, "doc": "x"}
    )
    path.write_text(json.dumps(schema), "utf-8")
    assert _load_error(tree).code == "current_not_released"


def test_version_gap_is_refused(tree: Path) -> None:
    (tree / "released/ChangeEvent/v2.avsc").rename(tree / "released/ChangeEvent/v3.avsc")
    assert _load_error(tree).code == "version_gap"


def test_badly_named_release_file_is_refused(tree: Path) -> None:
    shutil.copy(tree / "released/Receipt/v1.avsc", tree / "released/Receipt/latest.avsc")
    assert _load_error(tree).code == "bad_file_name"


def test_current_file_without_release_is_refused(tree: Path) -> None:
    shutil.copy(tree / "Receipt.avsc", tree / "Notice.avsc")
    assert _load_error(tree).code == "unreleased_current"


def test_release_declaring_another_record_is_refused(tree: Path) -> None:
    (tree / "released/Notice").mkdir()
    shutil.copy(tree / "released/Receipt/v1.avsc", tree / "released/Notice/v1.avsc")
    shutil.copy(tree / "Receipt.avsc", tree / "Notice.avsc")
    assert _load_error(tree).code == "name_mismatch"


def test_doc_only_release_shares_the_fingerprint_and_reads_old_bytes(tree: Path) -> None:
    """PCF strips docs: v2 and a docs-only v3 share a fingerprint; the header names v3."""
    schema = json.loads((tree / "ChangeEvent.avsc").read_text("utf-8"))
    schema["doc"] += " Clarified."
    text = (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    (tree / "released/ChangeEvent/v3.avsc").write_bytes(text)
    (tree / "ChangeEvent.avsc").write_bytes(text)
    reg = SchemaRegistry.load(tree)
    golden = bytes.fromhex(GOLDEN_HEX[("ChangeEvent", 2)])
    assert reg.writer_of(golden).version == 3
    assert reg.decode("ChangeEvent", golden) == decode("ChangeEvent", golden)
    old = bytes.fromhex(GOLDEN_HEX[("ChangeEvent", 1)])
    assert reg.decode("ChangeEvent", old) == decode("ChangeEvent", old)


def test_same_fingerprint_in_two_records_is_refused() -> None:
    reg = default_registry()
    receipt, conflict = reg.current("Receipt"), reg.current("Conflict")
    clash = dataclasses.replace(conflict, fingerprint=receipt.fingerprint)
    with pytest.raises(SchemaError) as err:
        SchemaRegistry([receipt, clash])
    assert err.value.code == "fingerprint_collision"


@pytest.mark.parametrize(
    ("record", "field", "default"),
    [("Receipt", "outcome", "stopped"), ("Decision", "kind", "event")],
)
def test_stale_is_written_and_a_later_symbol_reads_as_the_enum_default(
    record: str, field: str, default: str
) -> None:
    """GM 22: a stale outcome is on the wire (Receipt v2, Decision v3); a symbol a later
    version adds reads as the enum's default for readers of these versions."""
    reg = default_registry()
    current = reg.current(record).definition
    stale = {**SAMPLES[record], field: "stale"}
    assert decode(record, encode(record, stale))[field] == "stale"
    later = json.loads(json.dumps(current))
    [spec] = [f for f in later["fields"] if f["name"] == field]
    spec["type"]["symbols"].append("a_later_outcome")
    buffer = BytesIO()
    schemaless_writer(buffer, parse_schema(later), {**SAMPLES[record], field: "a_later_outcome"})
    buffer.seek(0)
    read = schemaless_reader(buffer, parse_schema(later), parse_schema(current))
    assert isinstance(read, dict) and read[field] == default
