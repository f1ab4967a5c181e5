"""A Decision's deliveries written by hand are the bytes fastavro writes (G 17, S 29, S 43).

The processor lists every delivery of an accepted change in its audit record and seals
those bytes (S 42): a byte of difference would be a record no reader decodes, or a hash
over other bytes than a full encode's. So the property is equality with fastavro, for any
record the schema allows.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from base.errors import EncodingError, SchemaError
from schemas import default_registry
from schemas.listing import DeliveriesWriter
from tests.support.avro import strategy_for

REGISTRY = default_registry()
DEFINITION = REGISTRY.current("Decision").definition
WRITER = DeliveriesWriter(DEFINITION)


def _built(record: Mapping[str, Any]) -> bytes:
    return REGISTRY.encode_built("Decision", record)


def _entries(deliveries: list[dict[str, Any]]) -> list[bytes]:
    return [
        WRITER.entry(
            d["recipient"],
            d["topic"],
            WRITER.shared(
                d["items"],
                [(m["name"], m["rule"]) for m in d["masked_items"]],
                d.get("subject_rule"),
            ),
            WRITER.grants([(g["grant_id"], g["purpose"], g["items"]) for g in d["grants"]]),
        )
        for d in deliveries
    ]


#: Decisions as sealed (record_hash null) that list deliveries; any other field as drawn.
DECISIONS = (
    strategy_for(DEFINITION)
    .filter(lambda r: r.get("deliveries"))
    .map(lambda r: {**r, "record_hash": None})
)
SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(record=DECISIONS)
def test_hand_written_deliveries_are_the_bytes_of_a_full_encode(record: dict[str, Any]) -> None:
    assert WRITER.encode(_built, record, _entries(record["deliveries"])) == _built(record)


@settings(max_examples=5, deadline=None, suppress_health_check=SLOW)
@given(record=DECISIONS)
def test_fifty_recipients_with_chinese_text_and_several_grants(record: dict[str, Any]) -> None:
    """The processor's case at 50 consuming agencies: one shared part, repeated grants."""
    deliveries = [
        {
            "recipient": f"agency-{n}",
            "topic": f"govbus.feed.agency-{n}.psb.person.basic",
            "items": ["name", "地址"],
            "masked_items": [{"name": "地址", "rule": "address_district"}],
            "subject_rule": "resident_id_mask" if n % 2 else None,
            "grants": [
                {"grant_id": f"g-{n}", "purpose": "办理社会保障业务", "items": ["name", "地址"]}
            ]
            * (n % 3),
        }
        for n in range(50)
    ]
    record = {**record, "deliveries": deliveries}
    assert WRITER.encode(_built, record, _entries(deliveries)) == _built(record)


@settings(max_examples=5, deadline=None, suppress_health_check=SLOW)
@given(record=DECISIONS)
def test_a_message_whose_last_fields_are_not_the_records_is_refused(
    record: dict[str, Any],
) -> None:
    """The splice checks what follows the list: a message of another record is refused."""
    other = {**record, "chain": f"{record.get('chain')}-other"}
    message = _built({**record, "deliveries": []})
    with pytest.raises(EncodingError, match="empty 'deliveries'"):
        WRITER.splice(message, other, _entries(record["deliveries"]))


def test_a_schema_whose_delivery_differs_is_refused_at_construction() -> None:
    changed = copy.deepcopy(DEFINITION)
    for field in changed["fields"]:
        if field["name"] == "deliveries":
            field["type"]["items"]["fields"].reverse()
    with pytest.raises(SchemaError, match=r"not the one schemas\.listing writes"):
        DeliveriesWriter(changed)


def _delivery() -> dict[str, Any]:
    return {
        "recipient": "city-hc",
        "topic": "govbus.feed.city-hc.psb.person.basic",
        "items": ["name"],
        "masked_items": [],
        "subject_rule": None,
        "grants": [],
    }
