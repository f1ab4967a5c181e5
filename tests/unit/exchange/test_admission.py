"""One admission rule set for the agency publisher and the gate (exchange.admission).

GM 21: data is structured per item, as the catalog declares it (type, length); a value
that does not read as its item's type is refused by the publisher and rejected by the gate
with the same reason code, naming the item and the type. S 20: no item beyond the entry.
GM 18 ¶2: identity keys. GM 14, S 27 ¶2: only entries in force.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from exchange.admission import Refusal, check_entry, check_items
from exchange.catalog import Catalog, CatalogEntry, ItemType, Lifecycle, LifecycleState
from exchange.catalog_loader import check_catalog_text, load_catalog
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.ingest_checks import ProposedChange, admit
from exchange.outcomes import Outcome, ReasonCode
from tests.support.scenario import DEMO

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PERSON = "11010519491231002X"
COMPANY = "91110000600037341L"
BASIC, COMPANY_ENTRY = "psb.person.basic", "amr.company.registration"


def _catalog() -> Catalog:
    return load_catalog(DEMO).catalog


def _entry(entry_id: str = BASIC) -> CatalogEntry:
    entry = _catalog().entry(entry_id)
    assert entry is not None
    return entry


def _record(entry: str, items: list[tuple[str, str | None]], **over: Any) -> dict[str, Any]:
    person = entry == BASIC
    return {
        "event_id": str(uuid.uuid4()),
        "entry": entry,
        "provider": "city-psb" if person else "city-amr",
        "subject_key": PERSON if person else COMPANY,
        "subject_kind": "resident_id" if person else "credit_code",
        "operation": "update",
        "authoritative": True,
        "items": [{"name": n, "before": None, "after": v} for n, v in items],
        "source_system": "test",
        "event_time": NOW,
        "source_sequence": 1,
        "trace_id": None,
        "legal_basis": None,
        **over,
    }


def _gate(record: dict[str, Any], catalog: Catalog | None = None) -> GateResult:
    key = f"{record['subject_kind']}:{record['subject_key']}".encode()
    event = IncomingEvent.from_record(record, key)
    return decide(event, record["entry"], catalog or _catalog(), (), {}, NOW)


def _publisher(entry: str, items: dict[str, str | None]) -> Refusal | None:
    agency = "city-psb" if entry == BASIC else "city-amr"
    subject = PERSON if entry == BASIC else COMPANY
    result = admit(_catalog(), agency, entry, ProposedChange(subject, items), NOW)
    return result if isinstance(result, Refusal) else None


BAD_VALUES = [
    # (entry, item, value, code, the type named in the message)
    (BASIC, "birth_date", "garbage", ReasonCode.ITEM_TYPE_MISMATCH, "date"),
    (BASIC, "birth_date", "1949-13-31", ReasonCode.ITEM_TYPE_MISMATCH, "date"),
    (BASIC, "id_number", PERSON + "0", ReasonCode.ITEM_TOO_LONG, "string"),
    (COMPANY_ENTRY, "registered_capital", "一百万", ReasonCode.ITEM_TYPE_MISMATCH, "decimal"),
    (COMPANY_ENTRY, "registered_capital", "NaN", ReasonCode.ITEM_TYPE_MISMATCH, "decimal"),
    (COMPANY_ENTRY, "company_name", "公" * 101, ReasonCode.ITEM_TOO_LONG, "string"),
]


@pytest.mark.parametrize(("entry", "item", "value", "code", "type_name"), BAD_VALUES)
def test_a_bad_value_is_refused_by_the_publisher_and_rejected_by_the_gate_alike_gm_21(
    entry: str, item: str, value: str, code: ReasonCode, type_name: str
) -> None:
    refusal = _publisher(entry, {item: value})
    assert refusal is not None
    assert (refusal.reason, refusal.article, refusal.field) == (code, "GM 21", item)
    result = _gate(_record(entry, [(item, value)]))
    assert result.rejected and result.outcome is Outcome.REJECTED
    assert (result.reason_code, result.article) == (code, "GM 21")
    assert item in result.reason_text and type_name in result.reason_text
    assert result.reason_text == refusal.message  # one rule, one sentence
    assert result.new_states == {} and result.accepted == {} and result.deliveries == ()


def test_a_good_value_of_each_type_passes_and_null_has_every_type_gm_21() -> None:
    company = _entry(COMPANY_ENTRY)
    assert check_items(company, [("registered_capital", "100.5")]) is None
    assert check_items(company, [("registered_capital", None)]) is None
    assert check_items(_entry(), [("birth_date", "1949-12-31"), ("name", "张" * 50)]) is None
    result = _gate(_record(BASIC, [("birth_date", "1949-12-31"), ("name", "张三")]))
    assert result.outcome is Outcome.ACCEPTED


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (ItemType.INTEGER, "-42", "4.2"),
        (ItemType.BOOLEAN, "true", "yes"),
        (ItemType.DATETIME, "2026-06-01T08:00:00+08:00", "2026-06-01T08:00:00"),
    ],
)
def test_every_declared_type_has_its_reading_gm_21(kind: ItemType, good: str, bad: str) -> None:
    entry = _entry()
    entry = replace(entry, items=(replace(entry.items[1], type=kind, length=None),))
    name = entry.items[0].name
    assert check_items(entry, [(name, good)]) is None
    refusal = check_items(entry, [(name, bad)])
    assert refusal is not None and refusal.reason is ReasonCode.ITEM_TYPE_MISMATCH


def test_an_event_naming_an_item_twice_is_rejected_not_the_last_kept_gm_21() -> None:
    record = _record(BASIC, [("name", "张三"), ("name", "李四")])
    result = _gate(record)
    assert result.rejected and result.reason_code is ReasonCode.DUPLICATE_ITEM
    assert "'name'" in result.reason_text and result.article == "GM 21"


def test_an_item_the_entry_does_not_have_is_rejected_at_the_gate_s_20() -> None:
    result = _gate(_record(BASIC, [("name", "张三"), ("salary", "1")]))
    assert result.rejected and result.reason_code is ReasonCode.ITEM_NOT_IN_CATALOG
    assert result.article == "S 20" and "salary" in result.reason_text
    refusal = _publisher(BASIC, {"name": "张三", "salary": "1"})
    assert refusal is not None and refusal.reason is ReasonCode.ITEM_NOT_IN_CATALOG


def test_an_event_with_no_item_is_rejected_gm_21() -> None:
    result = _gate(_record(BASIC, []))
    assert result.rejected and result.reason_code is ReasonCode.EMPTY_CHANGE


def test_entries_not_in_force_have_one_code_on_both_sides_gm_14_s_27() -> None:
    catalog = _catalog()
    basic = _entry()
    drafts = replace(basic, lifecycle=Lifecycle(LifecycleState.APPROVED))
    refused = check_entry(replace(catalog, entries=(drafts,)), BASIC, NOW)
    assert isinstance(refused, Refusal) and refused.reason is ReasonCode.ENTRY_NOT_PUBLISHED
    assert refused.article == "G 11; GM 14; S 18"
    gone = check_entry(replace(catalog, entries=()), BASIC, NOW)
    assert isinstance(gone, Refusal) and gone.reason is ReasonCode.UNKNOWN_ENTRY
    result = _gate(_record(BASIC, [("name", "张三")]), replace(catalog, entries=(drafts,)))
    assert result.rejected and result.reason_code is ReasonCode.ENTRY_NOT_PUBLISHED


def test_an_invalid_identity_key_has_the_gates_code_on_both_sides_gm_18() -> None:
    bad = PERSON[:-1] + "0"
    result = admit(_catalog(), "city-psb", BASIC, ProposedChange(bad, {"name": "张三"}), NOW)
    assert isinstance(result, Refusal)
    assert (result.reason, result.article) == (ReasonCode.IDENTITY_CHECKSUM, "GM 18 ¶2")
    gate = _gate(_record(BASIC, [("name", "张三")], subject_key=bad))
    assert gate.rejected and gate.reason_code is ReasonCode.IDENTITY_CHECKSUM


def test_the_declared_length_is_read_from_the_catalog_and_checked_gm_11() -> None:
    assert _entry().item("id_number") is not None
    assert _entry().item("id_number").length == 18  # type: ignore[union-attr]
    assert _entry().item("name").length is None  # type: ignore[union-attr]
    text = DEMO.read_text(encoding="utf-8").replace("length: 18", "length: 0")
    result = check_catalog_text(text)
    assert result.catalog is None
    assert any("'length'" in i.message for i in result.issues)
