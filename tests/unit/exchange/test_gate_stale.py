"""The gate judges a change older than the authoritative record stale (GM 22 `一数一源`;
S 20 `动态更新`: the source's latest state is the one number; G 13: accurate data).

The order is the provider's source sequence (same provider, same source system), else
the event time; the ChangeEvent carries both, and the gate passes them to one number, one
source (exchange.onesource). A stale change is answered (outcome ``stale``), never
applied, never fanned out, however long ago the record's event was first seen.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.catalog_loader import load_catalog
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.onesource import SEEN_EVENTS_LIMIT, AuthoritativeRecord, SourceOrder
from exchange.outcomes import Outcome, ReasonCode
from tests.support.scenario import DEMO

LOADED = load_catalog(DEMO)
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PERSON = "11010519491231002X"
KEY = f"resident_id:{PERSON}".encode()
BASIC = "psb.person.basic"


def _record(
    name: str, sequence: int, event_time: datetime = NOW, system: str = "户籍系统"
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "entry": BASIC,
        "provider": "city-psb",
        "subject_key": PERSON,
        "subject_kind": "resident_id",
        "operation": "update",
        "authoritative": True,
        "items": [{"name": "name", "before": None, "after": name}],
        "source_system": system,
        "event_time": event_time,
        "source_sequence": sequence,
        "trace_id": None,
        "legal_basis": None,
    }


class Gate:
    """The gate over one subject's records, kept as the processor keeps them."""

    def __init__(self) -> None:
        self.records: dict[str, AuthoritativeRecord] = {}

    def send(self, record: dict[str, Any]) -> GateResult:
        event = IncomingEvent.from_record(record, KEY)
        result = decide(event, BASIC, LOADED.catalog, LOADED.grants, self.records, NOW)
        self.records.update({**result.refreshed, **result.new_states})
        return result


def test_the_event_carries_its_source_order() -> None:
    event = IncomingEvent.from_record(_record("张三", 7), KEY)
    assert event.order == SourceOrder("户籍系统", 7, NOW)


def test_a_lower_source_sequence_after_a_higher_one_is_stale_gm_22_s_20() -> None:
    gate = Gate()
    assert gate.send(_record("张三", 8)).outcome is Outcome.ACCEPTED
    old = gate.send(_record("张叁", 7, NOW + timedelta(minutes=1)))
    assert old.outcome is Outcome.STALE and not old.rejected
    assert old.reason_code is ReasonCode.SOURCE_SEQUENCE_NOT_NEWER
    assert old.article == "GM 22; S 20" and "not applied" in old.reason_text
    assert old.new_states == {} and old.accepted == {} and old.deliveries == ()
    assert gate.records["name"].value == "张三"
    assert gate.records["name"].order == SourceOrder("户籍系统", 8, NOW)


def test_an_older_event_time_from_another_source_system_is_stale_g_13() -> None:
    gate = Gate()
    gate.send(_record("张三", 8))
    old = gate.send(_record("张叁", 900, NOW - timedelta(days=1), system="旧系统"))
    assert (old.outcome, old.reason_code) == (Outcome.STALE, ReasonCode.EVENT_TIME_OLDER)
    assert gate.records["name"].value == "张三"


def test_a_newer_change_is_accepted_and_keeps_its_order_gm_22() -> None:
    gate = Gate()
    gate.send(_record("张三", 8))
    newer = gate.send(_record("张叁", 9))
    assert newer.outcome is Outcome.ACCEPTED and newer.accepted == {"name": "张叁"}
    assert newer.new_states["name"].order == SourceOrder("户籍系统", 9, NOW)


def test_stale_however_long_ago_the_record_was_first_seen_gm_22() -> None:
    """The seen-events window forgets old event ids; the order does not."""
    gate = Gate()
    first = _record("张三", 1)
    gate.send(first)
    for n in range(2, SEEN_EVENTS_LIMIT + 10):
        gate.send(_record(f"张{n}", n))
    assert first["event_id"] not in gate.records["name"].seen_event_ids
    resent = gate.send(first)  # the resend, older than the window
    assert resent.outcome is Outcome.STALE
    assert gate.records["name"].value == f"张{SEEN_EVENTS_LIMIT + 9}"


def test_an_unordered_record_accepts_as_before_and_is_ordered_from_then_on() -> None:
    gate = Gate()
    gate.records["name"] = AuthoritativeRecord(
        f"resident_id:{PERSON}", "name", "旧名", "city-psb", "e0", ("e0",)
    )
    assert gate.send(_record("张三", 5)).outcome is Outcome.ACCEPTED
    assert gate.send(_record("张叁", 4)).outcome is Outcome.STALE
