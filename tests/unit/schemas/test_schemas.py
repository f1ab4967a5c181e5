"""The Avro contract (schemas/): files, wire format, fingerprints, round trips, errors.

The helpers at the top (strategies derived from a schema, the expected value after a
round trip, an independent CRC-64-AVRO and Parsing Canonical Form) are also used by
test_schema_compat.py.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from typing import Any

import fastavro
import fastavro.schema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
import schemas.codec
from base.errors import EncodingError, SchemaError, UnknownSchemaError
from schemas import SchemaRegistry, decode, default_registry, encode
from tests.support.avro import (
    AVRO_DIR,
    RECORDS,
    SAMPLES,
    UTC,
    canonical_form,
    crc64_avro,
    definition,
    expected,
    released_files,
    schema_files,
    strategy_for,
)

PINNED_SHA256: dict[str, str] = {
    rel: digest
    for digest, rel in (
        line.split()
        for line in """
e08af16cd94221e2753b4c0f91910131b0380262e5d2e4436be6e71bf2f08845  ChangeEvent.avsc
ff16b24471cf5e307481be73c9d46057534254e168cd358bb22a767d22059580  Conflict.avsc
13d9c49e4b92c2c274f2852d8256fb0b68bb0fcfc90be911ad33a93fde539422  ConflictResolution.avsc
eceeb3a0518b8bdab1438e0ff143d7cf1375b7d838d9660da17535dd59c9a5a2  DeadLetter.avsc
daee6f77aaa6116db1e0c561ba67ea5f36ded914103a05e0f885893a52a1282f  Decision.avsc
284e98f18b380e7d88048054af1981194137af3691b0b3804e0da991901fd1ce  FeedRecord.avsc
053cf003b9f4bbdd65eea8c7aad681cae1358acb10e5f196babe663a21bf3bbb  Receipt.avsc
3d0b11d61bb2e24d71f608f3bc972db99dfd7785676a2747550b0624104c7ed6  WorkflowEvent.avsc
1040a7b225ca5706aded57c6cac7a0048b4c9ed6e90538706b2c4348cff82701  released/ChangeEvent/v1.avsc
e08af16cd94221e2753b4c0f91910131b0380262e5d2e4436be6e71bf2f08845  released/ChangeEvent/v2.avsc
ff16b24471cf5e307481be73c9d46057534254e168cd358bb22a767d22059580  released/Conflict/v1.avsc
13d9c49e4b92c2c274f2852d8256fb0b68bb0fcfc90be911ad33a93fde539422  released/ConflictResolution/v1.avsc
2673e9cecff0b259b2a63c76f826cf6881825bfcc8a139dc953c0bdd2a8416bd  released/DeadLetter/v1.avsc
eceeb3a0518b8bdab1438e0ff143d7cf1375b7d838d9660da17535dd59c9a5a2  released/DeadLetter/v2.avsc
958c1f497fec0f5b3231c0cb441e490c92626b379c11ecb0261288d5948b39df  released/Decision/v1.avsc
17f3b7efee02763b3446102b7547e1c1d9896743fa41d3ad08bcfedfc895ff49  released/Decision/v2.avsc
0757123cb55e731899f33be4d5d712ceed7d61a373c6316ddd58b5b1d6cadee5  released/Decision/v3.avsc
f6bedfceda3d2a3fb8fb528d1ea4f47cb01ca9e7536b611791b7a3da8c3166ee  released/Decision/v4.avsc
daee6f77aaa6116db1e0c561ba67ea5f36ded914103a05e0f885893a52a1282f  released/Decision/v5.avsc
c906873356406c51a7fca04aa12545499fb84fa9640e875220738e09da6c58b7  released/FeedRecord/v1.avsc
284e98f18b380e7d88048054af1981194137af3691b0b3804e0da991901fd1ce  released/FeedRecord/v2.avsc
a8276d4a71508d56779a75645d6188af258b2e742d4723609bd4bbceef556d08  released/Receipt/v1.avsc
053cf003b9f4bbdd65eea8c7aad681cae1358acb10e5f196babe663a21bf3bbb  released/Receipt/v2.avsc
3d0b11d61bb2e24d71f608f3bc972db99dfd7785676a2747550b0624104c7ed6  released/WorkflowEvent/v1.avsc
""".strip().splitlines()  # noqa: E501 (a path longer than the others)
    )
}


def test_schema_files_are_pinned_a_change_must_be_a_new_version() -> None:
    files = schema_files()
    assert sorted(files) == sorted(PINNED_SHA256)
    changed = [
        rel for rel, data in files.items() if hashlib.sha256(data).hexdigest() != PINNED_SHA256[rel]
    ]
    assert changed == [], f"released schema files changed: {changed}; release a new version"


def test_one_current_file_per_record() -> None:
    assert default_registry().record_names == RECORDS
    assert sorted(p.stem for p in AVRO_DIR.glob("*.avsc")) == sorted(RECORDS)


def _named_types(schema: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(schema, list):
        for b in schema:
            _named_types(b, found)
    elif isinstance(schema, dict):
        if schema["type"] in ("record", "enum", "fixed"):
            found.append(schema)
        for f in schema.get("fields", []):
            _named_types(f["type"], found)
        for key in ("items", "values"):
            if key in schema:
                _named_types(schema[key], found)


@pytest.mark.parametrize("rel", sorted(PINNED_SHA256))
def test_schema_is_utf8_json_in_govbus_namespace_with_english_docs(rel: str) -> None:
    text = (AVRO_DIR / rel).read_bytes().decode("utf-8")
    schema = json.loads(text)
    assert schema["namespace"] == schemas.NAMESPACE
    named: list[dict[str, Any]] = []
    _named_types(schema, named)
    for t in named:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", t["name"]), t["name"]
        assert t.get("doc", "").isascii() and len(t["doc"]) > 10, t["name"]
        for f in t.get("fields", []):
            assert re.fullmatch(r"[a-z][a-z0-9_]*", f["name"]), f["name"]
            assert f.get("doc", "").isascii() and len(f["doc"]) > 10, (t["name"], f["name"])


def test_named_types_shared_by_files_are_identical() -> None:
    by_name: dict[str, dict[str, Any]] = {}
    for record in RECORDS:
        named: list[dict[str, Any]] = []
        _named_types(definition(record), named)
        for t in named[1:]:
            if t["name"] in by_name:
                assert by_name[t["name"]] == t, t["name"]
            by_name[t["name"]] = t
    assert "Operation" in by_name  # ChangeEvent and FeedRecord share it


def test_nullable_fields_default_to_null() -> None:
    for record in RECORDS:
        named: list[dict[str, Any]] = []
        _named_types(definition(record), named)
        for t in named:
            for f in t.get("fields", []):
                if isinstance(f["type"], list):
                    assert f["type"][0] == "null" and f.get("default", "x") is None, f["name"]


# From Apache Avro, share/test/data/schema-tests.txt: (canonical form, fingerprint as
# Java's signed long), cross-checked there against Java's direct implementation.
AVRO_SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"string"', -8142146995180207161),
    ("[]", -1241056759729112623),
    ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ('{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245),
    ('{"type":"array","items":"null"}', -589620603366471059),
]


@pytest.mark.parametrize(("canonical", "signed"), AVRO_SPEC_VECTORS)
def test_crc64_avro_matches_the_avro_project_vectors(canonical: str, signed: int) -> None:
    assert crc64_avro(canonical.encode()) == signed % 2**64
    fastavro_le = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    assert int.from_bytes(fastavro_le, "little") == signed % 2**64


def test_every_header_is_marker_plus_little_endian_crc64_of_canonical_form() -> None:
    reg = default_registry()
    for record in RECORDS:
        for v in reg.versions(record):
            pcf = canonical_form(json.loads(v.source))
            assert v.canonical_form == pcf
            value = crc64_avro(pcf.encode("utf-8"))
            assert v.header == b"\xc3\x01" + value.to_bytes(8, "little")
            assert v.fingerprint_value == value
        assert encode(record, SAMPLES[record])[:10] == reg.current(record).header


@pytest.mark.parametrize("record", RECORDS)
def test_sample_round_trips(record: str) -> None:
    data = encode(record, SAMPLES[record])
    assert decode(record, data) == expected(definition(record), SAMPLES[record])


@pytest.mark.parametrize("record", RECORDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_records_round_trip(record: str, data: st.DataObject) -> None:
    schema = definition(record)
    value = data.draw(strategy_for(schema))
    decoded = decode(record, encode(record, value))
    assert decoded == expected(schema, value)
    for name, v in decoded.items():
        if isinstance(v, datetime.datetime):
            assert v.tzinfo == UTC, name


def test_chinese_text_travels_as_utf8_bytes_unchanged() -> None:
    data = encode("ChangeEvent", SAMPLES["ChangeEvent"])
    for text in ("贵阳市公安局", "贵阳市观山湖区", "人口基础信息库"):
        assert text.encode("utf-8") in data
    assert decode("ChangeEvent", data)["items"][0]["after"] == "贵阳市观山湖区"


@given(value=st.binary(max_size=256), key=st.none() | st.binary(max_size=32))
def test_dead_letter_keeps_original_bytes_intact(value: bytes, key: bytes | None) -> None:
    record = dict(SAMPLES["DeadLetter"], original_value=value, original_key=key)
    decoded = decode("DeadLetter", encode("DeadLetter", record))
    assert decoded["original_value"] == value and decoded["original_key"] == key


def test_non_authoritative_flag_survives_S20() -> None:
    record = dict(SAMPLES["ChangeEvent"], authoritative=False)
    assert decode("ChangeEvent", encode("ChangeEvent", record))["authoritative"] is False


def test_fields_with_defaults_may_be_left_out() -> None:
    record = {k: v for k, v in SAMPLES["Decision"].items() if k not in {"masked_items", "purpose"}}
    decoded = decode("Decision", encode("Decision", record))
    assert decoded["masked_items"] == [] and decoded["purpose"] is None


def _message(record: str = "ChangeEvent") -> bytes:
    return encode(record, SAMPLES[record])


def test_wrong_marker_is_an_encoding_error() -> None:
    data = b"\x00\x01" + _message()[2:]
    with pytest.raises(EncodingError) as err:
        decode("ChangeEvent", data)
    assert err.value.code == "bad_marker"


@pytest.mark.parametrize("size", [0, 1, 2, 9])
def test_message_shorter_than_the_header_is_an_encoding_error(size: int) -> None:
    with pytest.raises(EncodingError) as err:
        decode("ChangeEvent", _message()[:size])
    assert err.value.code == "truncated_header"


def test_unknown_fingerprint_is_an_unknown_schema_error() -> None:
    data = bytearray(_message())
    data[2] ^= 0xFF
    with pytest.raises(UnknownSchemaError) as err:
        decode("ChangeEvent", bytes(data))
    assert err.value.code == "unknown_fingerprint"


def test_message_of_another_record_is_an_unknown_schema_error() -> None:
    with pytest.raises(UnknownSchemaError) as err:
        decode("ChangeEvent", _message("Receipt"))
    assert err.value.code == "other_record"


@pytest.mark.parametrize("record", RECORDS)
def test_every_truncated_body_is_an_encoding_error(record: str) -> None:
    data = _message(record)
    for cut in range(10, len(data)):
        with pytest.raises(EncodingError) as err:
            decode(record, data[:cut])
        assert err.value.code == "undecodable_body"
        assert err.value.__cause__ is not None


def test_trailing_bytes_are_an_encoding_error() -> None:
    with pytest.raises(EncodingError) as err:
        decode("Receipt", _message("Receipt") + b"\x00")
    assert err.value.code == "trailing_bytes"


@settings(max_examples=300)
@given(record=st.sampled_from(RECORDS), body=st.binary(max_size=200))
def test_garbage_body_decodes_or_raises_encoding_error(record: str, body: bytes) -> None:
    data = default_registry().current(record).header + body
    try:
        value = decode(record, data)
    except EncodingError:
        return
    assert set(value) == {f["name"] for f in definition(record)["fields"]}


def test_unknown_record_name_is_a_schema_error() -> None:
    with pytest.raises(SchemaError) as err:
        encode("Nope", {})
    assert err.value.code == "unknown_record"


MISFITS = [
    ("ChangeEvent", {"authoritative": "false"}, "authoritative"),
    ("ChangeEvent", {"event_id": "not-a-uuid"}, "event_id"),
    ("ChangeEvent", {"subject_kind": "passport"}, "subject_kind"),
    ("ChangeEvent", {"source_sequence": 2**63}, "source_sequence"),
    ("ChangeEvent", {"source_sequence": "42"}, "source_sequence"),
    ("ChangeEvent", {"event_time": datetime.datetime(2024, 4, 3, 9, 30)}, "event_time"),
    ("ChangeEvent", {"items": [{"name": "住址", "before": 1, "after": None}]}, "items[0].before"),
    ("ChangeEvent", {"items": [{"before": None, "after": "x"}]}, "items[0].name"),
    (
        "ChangeEvent",
        {"items": [{"name": "住址", "before": None, "after": "\ud800"}]},
        "items[0].after",
    ),
    ("ChangeEvent", {"entry": None}, "entry"),
    ("ChangeEvent", {"legal_bassis": "typo"}, "legal_bassis"),
    ("FeedRecord", {"items": [{"name": "a", "value": None, "masked": 1}]}, "items[0].masked"),
    (
        "Receipt",
        {"audit_position": {"topic": "t", "partition": 2**31, "offset": 0}},
        "audit_position.partition",
    ),
    ("DeadLetter", {"original_value": "text"}, "original_value"),
    ("ConflictResolution", {"resolution": "AGREED"}, "resolution"),
    ("ConflictResolution", {"note": 19}, "note"),
    ("Decision", {"masked_items": [{"name": "住址"}]}, "masked_items[0].rule"),
]


@pytest.mark.parametrize(("record", "change", "field"), MISFITS)
def test_record_that_does_not_fit_names_the_field(
    record: str, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(EncodingError) as err:
        encode(record, {**SAMPLES[record], **change})
    assert err.value.code == "record_does_not_fit"
    assert err.value.field == field
    assert repr(field) in str(err.value)


@pytest.mark.parametrize("record", RECORDS)
def test_the_unguarded_encode_gives_the_same_bytes(record: str) -> None:
    registry = default_registry()
    assert registry.encode_built(record, SAMPLES[record]) == encode(record, SAMPLES[record])


def test_the_unguarded_encode_still_names_what_the_writer_refuses() -> None:
    bad = {**SAMPLES["ChangeEvent"], "items": [{"name": "住址", "before": 1, "after": None}]}
    with pytest.raises(EncodingError) as err:
        default_registry().encode_built("ChangeEvent", bad)
    assert err.value.code == "record_does_not_fit"
    assert err.value.field == "items[0].before"


def test_missing_required_field_is_named() -> None:
    record = {k: v for k, v in SAMPLES["Conflict"].items() if k != "article"}
    with pytest.raises(EncodingError) as err:
        encode("Conflict", record)
    assert err.value.field == "article"


def test_schemas_are_parsed_once_per_released_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts every parse_schema call made through any name the code could use.

    (fastavro's own reader re-enters its compiled parse_schema with the parsed schema,
    which returns at once; that internal call is not ours and not counted.)
    """
    calls: list[str] = []
    real = fastavro.schema.parse_schema

    def counting(schema: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(schema.get("name", "?") if isinstance(schema, dict) else str(schema))
        return real(schema, *args, **kwargs)

    for module in (schemas.codec, fastavro, fastavro.schema):
        monkeypatch.setattr(module, "parse_schema", counting)
    registry = SchemaRegistry.load()
    assert sorted(calls) == sorted(name for name, _ in released_files())
    for _ in range(20):
        for record in RECORDS:
            for v in registry.versions(record):
                sample = {k: x for k, x in SAMPLES[record].items() if k in _field_names(v)}
                registry.decode(record, registry.encode(record, sample, version=v.version))
    assert len(calls) == len(released_files())


def _field_names(v: schemas.SchemaVersion) -> set[str]:
    return {f["name"] for f in v.definition["fields"]}


def test_default_registry_is_built_once() -> None:
    assert default_registry() is default_registry()
