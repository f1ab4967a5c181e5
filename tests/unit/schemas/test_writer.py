"""The compiled writer writes fastavro's bytes, and leaves to fastavro what it does not
take exactly (schemas.writer): every released version of every schema, generated records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.errors import EncodingError
from schemas import default_registry
from schemas.codec import SchemaVersion, encode_built
from schemas.writer import Unfit, compile_writer
from tests.support.avro import strategy_for

REGISTRY = default_registry()
VERSIONS = [v for name in sorted(REGISTRY.record_names) for v in REGISTRY.versions(name)]


def _fastavro(version: SchemaVersion, record: Any) -> bytes:
    out = BytesIO()
    schemaless_writer(out, version.parsed, record, strict_allow_default=True)
    return out.getvalue()


def test_every_current_schema_compiles() -> None:
    """The processor's records are all written by the compiled writer."""
    assert all(REGISTRY.current(n).compiled is not None for n in REGISTRY.record_names)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.label)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_records_are_written_as_fastavro_writes_them(
    version: SchemaVersion, data: st.DataObject
) -> None:
    record = data.draw(strategy_for(version.definition))
    assert version.compiled is not None
    try:
        body = version.compiled(record)
    except Unfit:
        return  # written by fastavro (encode_built): nothing of the compiled writer's to check
    assert body == _fastavro(version, record)


FEED = REGISTRY.current("FeedRecord")


def _feed(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "entry": "psb.person.basic",
        "canonical_subject": "resident_id:52010219900101001X",
        "operation": "update",
        "items": [{"name": "姓名", "value": "张三", "masked": False, "mask_rule": None}],
        "provider": "city-psb",
        "event_time": datetime(2026, 12, 7, 8, 0, 0, 123456, tzinfo=UTC),
        "delivered_at": datetime(2026, 12, 7, 16, 0, tzinfo=timezone(timedelta(hours=8))),
        "grant_id": None,
        "purpose": None,
        "grants": [],
    }
    return {**record, **changes}


def test_a_typical_feed_record_is_compiled_and_byte_identical() -> None:
    record = _feed()
    assert FEED.compiled is not None
    assert FEED.compiled(record) == _fastavro(FEED, record)
    assert encode_built(FEED, record) == FEED.header + _fastavro(FEED, record)


@pytest.mark.parametrize(
    "change",
    [
        {"event_time": datetime(2026, 12, 7, 8, 0)},  # naive: fastavro converts by local time
        {"items": [{"name": "x", "value": None, "masked": 1, "mask_rule": None}]},  # int as bool
        {"extra": "a field the schema does not have"},
        {"event_id": uuid.UUID(int=7)},  # taken: written as its string
    ],
    ids=["naive-datetime", "int-as-boolean", "extra-field", "uuid-object"],
)
def test_what_it_does_not_take_exactly_is_left_to_fastavro(change: dict[str, Any]) -> None:
    """Unfit, then encode_built's bytes or error are fastavro's."""
    record = _feed(**change)
    assert FEED.compiled is not None
    try:
        compiled: bytes | None = FEED.compiled(record)
    except Unfit:
        compiled = None
    try:
        expected: bytes | None = FEED.header + _fastavro(FEED, record)
    except (ValueError, TypeError):  # fastavro refuses: encode_built names the misfit
        expected = None
    if expected is None:
        assert compiled is None
        with pytest.raises(EncodingError):
            encode_built(FEED, record)
    else:
        assert encode_built(FEED, record) == expected
        assert compiled in (None, expected[len(FEED.header) :])


def test_a_schema_with_a_type_it_does_not_write_is_left_to_fastavro() -> None:
    definition = {
        "type": "record",
        "name": "R",
        "namespace": "govbus.v1",
        "fields": [{"name": "x", "type": "double"}],
    }
    assert compile_writer(definition) is None
