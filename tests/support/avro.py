"""Shared test support (moved from tests/test_schemas.py); not a test module."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

import schemas
import schemas.codec
from schemas import default_registry

AVRO_DIR = Path(schemas.__file__).parent / "avro"


RECORDS = (
    "ChangeEvent",
    "Conflict",
    "ConflictResolution",
    "DeadLetter",
    "Decision",
    "FeedRecord",
    "Receipt",
    "WorkflowEvent",
)


UTC = datetime.UTC


SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def schema_files() -> dict[str, bytes]:
    return {
        p.relative_to(AVRO_DIR).as_posix(): p.read_bytes()
        for p in sorted(AVRO_DIR.rglob("*"))
        if p.is_file() and p.suffix == ".avsc"
    }


def released_files() -> dict[tuple[str, int], bytes]:
    found = {}
    for rel, data in schema_files().items():
        m = re.fullmatch(r"released/(\w+)/v(\d+)\.avsc", rel)
        if m:
            found[(m.group(1), int(m.group(2)))] = data
    return found


CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return table


CRC64_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """The spec's Rabin fingerprint, written from the spec's pseudo-code."""
    fp = CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ CRC64_TABLE[(fp ^ byte) & 0xFF]
    return fp


def _full(name: str, ns: str) -> str:
    return name if "." in name or not ns else f"{ns}.{name}"


def canonical_form(schema: Any, ns: str = "") -> str:
    """Parsing Canonical Form per the spec's rules (PRIMITIVES, FULLNAMES, STRIP, ORDER)."""
    if isinstance(schema, str):
        return json.dumps(schema if schema in PRIMITIVES else _full(schema, ns))
    if isinstance(schema, list):
        return "[" + ",".join(canonical_form(b, ns) for b in schema) + "]"
    kind = schema["type"]
    if kind in PRIMITIVES:
        return json.dumps(kind)
    if kind == "array":
        return '{"type":"array","items":' + canonical_form(schema["items"], ns) + "}"
    if kind == "map":
        return '{"type":"map","values":' + canonical_form(schema["values"], ns) + "}"
    full = _full(schema["name"], schema.get("namespace", ns))
    head = '{"name":' + json.dumps(full) + ',"type":' + json.dumps(kind)
    if kind == "enum":
        return head + ',"symbols":' + json.dumps(schema["symbols"], separators=(",", ":")) + "}"
    if kind == "fixed":
        return head + ',"size":' + str(schema["size"]) + "}"
    inner = full.rpartition(".")[0]
    fields = ",".join(
        '{"name":' + json.dumps(f["name"]) + ',"type":' + canonical_form(f["type"], inner) + "}"
        for f in schema["fields"]
    )
    return head + ',"fields":[' + fields + "]}"


CHINESE = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


CHINESE_EXT_B = st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF)


ANY_CHAR = st.characters(exclude_categories=["Cs"])  # lone surrogates are not UTF-8


TEXT = st.one_of(
    st.text(alphabet=st.one_of(CHINESE, CHINESE_EXT_B, ANY_CHAR), max_size=24),
    st.sampled_from(
        ["", "贵阳市大数据发展管理局", "云岩区中华北路１号", "𠮷", "a\x00b", "٣\u200d"]
    ),
)


TIMESTAMP_EDGES = [
    datetime.datetime(1970, 1, 1, tzinfo=UTC),
    datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime.datetime(1, 1, 1, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
]


TIMESTAMPS = st.one_of(
    st.sampled_from(TIMESTAMP_EDGES),
    st.datetimes(
        min_value=datetime.datetime(1, 1, 2),
        max_value=datetime.datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, SHANGHAI]),
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
)


UUIDS = st.uuids().flatmap(lambda u: st.sampled_from([u, str(u), str(u).upper()]))


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([low, high, 0, -1, 1]), st.integers(low, high))


#: Strategies of the named records met so far, by full name (a later field may refer to
#: a record by its name, as Decision's ``deliveries`` refers to GrantUse and MaskedItem).
_NAMED: dict[str, st.SearchStrategy[Any]] = {}


def strategy_for(schema: Any, ns: str = "") -> st.SearchStrategy[Any]:
    """Values that fit ``schema`` (the JSON of an .avsc), edge values included."""
    if isinstance(schema, list):
        return st.one_of([strategy_for(b, ns) for b in schema])
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = None if isinstance(schema, str) else schema.get("logicalType")
    simple: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": _integers(INT_MIN, INT_MAX),
        "long": TIMESTAMPS if logical == "timestamp-millis" else _integers(LONG_MIN, LONG_MAX),
        "bytes": st.binary(max_size=48),
        "string": UUIDS if logical == "uuid" else TEXT,
    }
    if kind in simple:
        return simple[kind]
    if isinstance(schema, str):  # a named type defined earlier in the schema
        return _NAMED[_full(schema, ns)]
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(strategy_for(schema["items"], ns), max_size=4)
    if kind == "record":
        inner = _full(schema["name"], schema.get("namespace", ns)).rpartition(".")[0]
        required = {f["name"]: strategy_for(f["type"], inner) for f in schema["fields"]}
        optional = {
            n: required.pop(n) for n in [f["name"] for f in schema["fields"] if "default" in f]
        }
        made = st.fixed_dictionaries(required, optional=optional)
        _NAMED[_full(schema["name"], schema.get("namespace", ns))] = made
        return made
    raise NotImplementedError(kind)  # a new type in a schema needs a strategy here


def expected(schema: Any, value: Any) -> Any:
    """What decoding returns for ``value`` written with ``schema``."""
    if isinstance(schema, list):
        if value is None:
            return None
        (branch,) = [b for b in schema if b != "null"]
        return expected(branch, value)
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = None if isinstance(schema, str) else schema.get("logicalType")
    if logical == "uuid":
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    if logical == "timestamp-millis":
        return value.astimezone(UTC)
    if kind == "array":
        return [expected(schema["items"], v) for v in value]
    if kind == "record":
        return {
            f["name"]: expected(f["type"], value[f["name"]] if f["name"] in value else f["default"])
            for f in schema["fields"]
        }
    return value


def definition(record: str, version: int | None = None) -> Any:
    reg = default_registry()
    v = reg.current(record) if version is None else reg.version(record, version)
    return json.loads(v.source)


T0 = datetime.datetime(2024, 4, 3, 9, 30, tzinfo=SHANGHAI)


EVENT_ID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")


OTHER_ID = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


SAMPLES: dict[str, dict[str, Any]] = {
    "ChangeEvent": {
        "event_id": str(EVENT_ID),
        "entry": "GY-RK-0001",
        "provider": "贵阳市公安局",
        "subject_key": "11010519491231002x",
        "subject_kind": "resident_id",
        "operation": "update",
        "authoritative": True,
        "items": [{"name": "住址", "before": "贵阳市云岩区", "after": "贵阳市观山湖区"}],
        "source_system": "人口基础信息库",
        "event_time": T0,
        "source_sequence": 42,
        "trace_id": None,
    },
    "Receipt": {
        "event_id": EVENT_ID,
        "entry": "GY-RK-0001",
        "provider": "贵阳市公安局",
        "outcome": "conflict",
        "reason_code": "value_differs",
        "reason_text": "与权威来源不一致",
        "article": "GM 19",
        "decided_at": T0,
        "audit_position": {"topic": "govbus.audit", "partition": 3, "offset": 1024},
        "canonical_subject": "resident_id:11010519491231002X",
    },
    "DeadLetter": {
        "event_id": None,
        "source_topic": "govbus.ingest.GY-RK-0001",
        "source_partition": 0,
        "source_offset": 7,
        "original_key": None,
        "original_value": "贵阳".encode("gbk") + b"\xc3\x01\xff",
        "reason_code": "unknown_fingerprint",
        "reason_text": "无法解码",
        "stage": "decode",
        "failed_at": T0,
        "original_value_size": 1_048_000,
        "original_value_sha256": bytes(range(32)),
        "original_key_size": None,
        "original_key_sha256": None,
    },
    "Conflict": {
        "conflict_id": OTHER_ID,
        "entry": "GY-RK-0001",
        "canonical_subject": "resident_id:11010519491231002X",
        "item": "住址",
        "authoritative_value": "贵阳市观山湖区",
        "authoritative_provider": "贵阳市公安局",
        "authoritative_event_id": EVENT_ID,
        "reported_value": "贵阳市南明区",
        "reported_provider": "贵阳市民政局",
        "reported_event_id": OTHER_ID,
        "detected_at": T0,
        "article": "GM 19",
    },
    "ConflictResolution": {
        "conflict_id": OTHER_ID,
        "entry": "GY-RK-0001",
        "canonical_subject": "resident_id:11010519491231002X",
        "item": "住址",
        "resolution": "authoritative_confirmed",
        "resolved_by": "贵阳市大数据发展管理局",
        "note": "经协调核实，以市公安局登记为准",
        "resolved_at": T0 + datetime.timedelta(days=2),
        "article": "GM 19",
    },
    "Decision": {
        "audit_id": OTHER_ID,
        "kind": "delivery",
        "event_id": EVENT_ID,
        "entry": "GY-RK-0001",
        "provider": "贵阳市公安局",
        "canonical_subject": "resident_id:11010519491231002X",
        "reason_code": None,
        "article": "G 15",
        "recipient": "贵阳市人力资源和社会保障局",
        "grant_id": "grant-2024-017",
        "purpose": "社会保险待遇资格认证",
        "grants": [
            {"grant_id": "grant-2024-017", "purpose": "社会保险待遇资格认证", "items": ["住址"]}
        ],
        "items_delivered": ["姓名", "住址"],
        "masked_items": [{"name": "住址", "rule": "keep_district"}],
        "deliveries": [
            {
                "recipient": "贵阳市人力资源和社会保障局",
                "topic": "govbus.feed.贵阳市人力资源和社会保障局",
                "items": ["姓名", "住址"],
                "masked_items": [{"name": "住址", "rule": "keep_district"}],
                "subject_rule": None,
                "grants": [
                    {
                        "grant_id": "grant-2024-017",
                        "purpose": "社会保险待遇资格认证",
                        "items": ["住址"],
                    }
                ],
            }
        ],
        "occurred_at": T0,
        "chain": None,
        "seq": None,
        "prev_hash": None,
        "record_hash": None,
    },
    "FeedRecord": {
        "event_id": EVENT_ID,
        "entry": "GY-RK-0001",
        "canonical_subject": "resident_id:11010519491231002X",
        "operation": "update",
        "items": [
            {"name": "姓名", "value": "张三", "masked": False, "mask_rule": None},
            {
                "name": "住址",
                "value": "贵阳市观山湖区***",
                "masked": True,
                "mask_rule": "keep_district",
            },
        ],
        "provider": "贵阳市公安局",
        "event_time": T0,
        "delivered_at": T0 + datetime.timedelta(milliseconds=250),
        "grant_id": "grant-2024-017",
        "purpose": "社会保险待遇资格认证",
        "grants": [
            {"grant_id": "grant-2024-017", "purpose": "社会保险待遇资格认证", "items": ["住址"]}
        ],
    },
    "WorkflowEvent": {
        "transition_id": 42,
        "subject_kind": "share_application",
        "subject_id": "app-2026-0001",
        "action": "deem",
        "from_state": "submitted",
        "to_state": "deemed_approved",
        "actor": "govbus",
        "actor_role": "system",
        "actor_agency": None,
        "occurred_at": T0,
        "reason": "逾期未答复，视为同意共享",
        "article": "S 25 ¶3",
        "details": '{"grant_id": "grant-app-2026-0001-1"}',
        "chain": "workflows",
        "seq": 7,
        "prev_hash": None,
        "record_hash": None,
    },
}
