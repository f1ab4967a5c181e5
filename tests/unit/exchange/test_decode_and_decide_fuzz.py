"""Fuzzing the decode-and-decide path (issue 14 item 9): bytes off an ingest topic are
decoded as a ChangeEvent (schemas) and decided by the gate (exchange.gate) against the
demo catalog, its grants and the authoritative records earlier events left.

Whatever arrives (arbitrary bytes, mutated valid events, Unicode in every text field and
in the message key, values up to the size an agency may send), the path returns a
decision or raises an error of the project's tree (base.errors.GovbusError), which the
processor turns into a dead letter (GM 21: data is structured; GM 18 ¶2: identity keys;
GM 22: one number, one source). Nothing else may escape: an unexpected exception stops a
worker, and the message that caused it is lost (issue 14).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum.iso7064 import mod_11_10

from base.errors import GovbusError
from exchange.catalog import CatalogEntry, ItemType, KeyKind, LifecycleState, in_force
from exchange.catalog_loader import check_catalog_file
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.identity import IdentityKind, check
from exchange.onesource import AuthoritativeRecord
from schemas import HEADER_SIZE, decode, encode
from tests.support.scenario import DEMO

_LOADED = check_catalog_file(DEMO)
assert _LOADED.catalog is not None, _LOADED.issues
CATALOG = _LOADED.catalog
GRANTS = _LOADED.grants
AT = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)
#: The processor producer's message limit (librdkafka message.max.bytes default): no value
#: an agency can get onto an ingest topic is larger.
MESSAGE_LIMIT = 1_000_000
OUTCOMES = {"accepted", "duplicate", "stopped", "confirmation", "conflict", "rejected", "stale"}
SUBJECTS = {
    KeyKind.RESIDENT_ID: ("resident_id", "11010519491231002X"),
    KeyKind.CREDIT_CODE: ("credit_code", "91110000600037341L"),
    KeyKind.BUSINESS_LICENCE: (
        "business_licence",
        "52010099912345" + mod_11_10.calc_check_digit("52010099912345"),
    ),
}
ENTRIES = [e for e in CATALOG.entries if e.lifecycle.state is not LifecycleState.DRAFT]
IN_FORCE = [e for e in ENTRIES if in_force(e, AT)]

#: Any character UTF-8 can carry (an Avro string is UTF-8: no lone surrogates on the wire).
any_char = st.characters(codec="utf-8", exclude_categories=())
#: Text as a producer may send it: anything, or something close to what the gate expects.
texts = st.one_of(
    st.text(any_char, max_size=24),
    st.sampled_from([a.id for a in CATALOG.agencies] + [e.id for e in CATALOG.entries]),
    st.sampled_from(sorted({i.name for e in CATALOG.entries for i in e.items})),
)
values = st.one_of(
    st.none(),
    st.text(any_char, max_size=40),
    st.sampled_from(["", "2000-02-30", "garbage", "张三", "欧阳", "贵阳市观山湖区长岭北路"]),
)


def _record(
    entry: CatalogEntry, items: Mapping[str, str | None], **overrides: Any
) -> dict[str, Any]:
    kind, key = SUBJECTS[entry.key_kind]
    return {
        "event_id": str(uuid.uuid4()),
        "entry": entry.id,
        "provider": entry.provider,
        "subject_key": key,
        "subject_kind": kind,
        "operation": "update",
        "authoritative": True,
        "items": [{"name": n, "before": None, "after": v} for n, v in items.items()],
        "source_system": "fuzz",
        "event_time": AT,
        "source_sequence": 1,
        "trace_id": None,
        "legal_basis": None,
        **overrides,
    }


#: Values each item type admits (GM 21: exchange.admission), within any declared length.
TYPED: Mapping[ItemType, st.SearchStrategy[str]] = {
    ItemType.STRING: st.text(any_char, max_size=18),
    ItemType.INTEGER: st.integers().map(str),
    ItemType.DECIMAL: st.decimals(allow_nan=False, allow_infinity=False).map(str),
    ItemType.BOOLEAN: st.sampled_from(["true", "false"]),
    ItemType.DATE: st.dates().map(lambda d: d.isoformat()),
    ItemType.DATETIME: st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
}


@st.composite
def valid_records(draw: st.DrawFn, entries: list[CatalogEntry] = ENTRIES) -> dict[str, Any]:
    entry = draw(st.sampled_from(entries))
    items = draw(st.lists(st.sampled_from(entry.items), min_size=1, unique=True))
    return _record(entry, {i.name: draw(st.none() | TYPED[i.type]) for i in items})


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    """Every field a producer fills, drawn from anything the schema lets through."""
    base = draw(valid_records())
    names = draw(st.lists(texts, max_size=4))
    subject_kind = draw(st.sampled_from(["resident_id", "credit_code", "business_licence"]))
    return {
        **base,
        "entry": draw(st.one_of(st.just(base["entry"]), texts)),
        "provider": draw(st.one_of(st.just(base["provider"]), texts)),
        "subject_key": draw(st.one_of(st.just(base["subject_key"]), texts)),
        "subject_kind": subject_kind,
        "operation": draw(st.sampled_from(["create", "update", "delete"])),
        "authoritative": draw(st.booleans()),
        "items": base["items"]
        + [{"name": n, "before": draw(values), "after": draw(values)} for n in names],
        "event_time": draw(
            st.datetimes(
                min_value=datetime(1970, 1, 2),
                max_value=datetime(2200, 1, 1),
                timezones=st.just(UTC),
            )
        ),
        "source_sequence": draw(st.integers(-(2**63), 2**63 - 1)),
    }


def _keys(record: Mapping[str, Any]) -> st.SearchStrategy[bytes | None]:
    """The message key: the canonical subject, or anything (invalid UTF-8 included)."""
    result = check(str(record["subject_key"]))
    canonical = f"{record['subject_kind']}:{result.normalized}".encode("utf-8", "surrogatepass")
    return st.one_of(
        st.just(canonical),
        st.none(),
        st.binary(max_size=40),
        st.text(any_char, max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


class Table:
    """The authoritative records the processor keeps, keyed like its state (by message key)."""

    def __init__(self) -> None:
        self.records: dict[bytes | None, dict[str, AuthoritativeRecord]] = {}

    def decide(self, data: bytes, key: bytes | None, topic_entry: str) -> GateResult | None:
        """Decode and decide as the processor does; None when decoding refused the bytes."""
        try:
            raw = decode("ChangeEvent", data)
        except GovbusError:
            return None
        event = IncomingEvent.from_record(raw, key)
        try:
            result = decide(event, topic_entry, CATALOG, GRANTS, self.records.get(key, {}), AT)
        except GovbusError:
            return None
        _check(result, event, topic_entry)
        if result.new_states or result.refreshed:
            self.records.setdefault(key, {}).update({**result.refreshed, **result.new_states})
        return result


def _check(result: GateResult, event: IncomingEvent, topic_entry: str) -> None:
    """What every decision must satisfy, whatever the input."""
    assert result.outcome in OUTCOMES
    assert result.reason_code and result.article
    if result.rejected:
        assert not result.new_states and not result.deliveries
        return
    # Anything not rejected went through every admission step.
    assert event.entry == topic_entry and CATALOG.entry(event.entry) is not None
    assert CATALOG.agency(event.provider) is not None
    assert result.canonical_subject is not None
    assert event.message_key == result.canonical_subject.encode("utf-8")
    kind, _, number = result.canonical_subject.partition(":")
    assert check(number, IdentityKind(kind)).valid
    for item, state in result.new_states.items():
        assert state.provider == event.provider and state.item == item
        assert state.subject == result.canonical_subject
    # Only accepted items travel (siblings stopped or in conflict do not hold them back).
    assert set(result.accepted) == set(result.new_states)
    for delivery in result.deliveries:
        assert set(delivery.items) <= set(result.accepted)


def _entry_of(record: Mapping[str, Any]) -> str:
    entry = record["entry"]
    return entry if isinstance(entry, str) and CATALOG.entry(entry) else ENTRIES[0].id


# -- properties -----------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300), key=st.one_of(st.none(), st.binary(max_size=40)))
def test_arbitrary_bytes_are_refused_by_decoding_or_decided(data: bytes, key: bytes | None) -> None:
    Table().decide(data, key, ENTRIES[0].id)


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=300), key=st.one_of(st.none(), st.binary(max_size=40)))
def test_arbitrary_bodies_behind_a_valid_header(body: bytes, key: bytes | None) -> None:
    """The header names ChangeEvent v2, so fastavro reads the body: every failure converts."""
    header = encode("ChangeEvent", _record(ENTRIES[0], {"name": "x"}))[:HEADER_SIZE]
    Table().decide(header + body, key, ENTRIES[0].id)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(encode("ChangeEvent", draw(valid_records())))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


@settings(max_examples=600, deadline=None)
@given(data=mutated(), key=st.one_of(st.none(), st.binary(max_size=40)))
def test_mutated_valid_events(data: bytes, key: bytes | None) -> None:
    Table().decide(data, key, ENTRIES[0].id)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), records=st.lists(hostile_records(), min_size=1, max_size=6))
@example(
    data=None,
    records=[
        _record(
            CATALOG.entry("psb.person.basic"),  # type: ignore[arg-type]
            {"name": "张三"},
            subject_key="11010580010100\u19da",
        )
    ],
)
def test_hostile_field_values_and_unicode_keys_in_sequence(
    data: st.DataObject | None, records: list[dict[str, Any]]
) -> None:
    """A run of events over one table: later events are decided against what earlier ones
    left (states, seen event ids), with any text in every field and any message key."""
    table = Table()
    for record in records:
        message = encode("ChangeEvent", record)
        key = data.draw(_keys(record)) if data is not None else b"resident_id:x"
        table.decide(message, key, _entry_of(record))


@settings(max_examples=200, deadline=None)
@given(records=st.lists(valid_records(IN_FORCE), min_size=1, max_size=8), data=st.data())
def test_valid_events_repeated_and_reordered(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Valid events for entries in force, some sent twice, some as reports from other
    agencies: each is decided (never rejected: the keys are canonical), and the resend of
    an event every item of which was accepted is a duplicate (GM 22)."""
    table = Table()
    sent: list[dict[str, Any]] = []
    accepted: set[str] = set()
    for record in records:
        repeat: bool = data.draw(st.booleans())
        if sent and repeat:
            record = data.draw(st.sampled_from(sent))
        elif data.draw(st.booleans()):
            other = data.draw(st.sampled_from([a.id for a in CATALOG.agencies]))
            record = {**record, "provider": other, "authoritative": False}
        key = f"{record['subject_kind']}:{check(record['subject_key']).normalized}".encode()
        result = table.decide(encode("ChangeEvent", record), key, record["entry"])
        assert result is not None and not result.rejected, result
        if record["event_id"] in accepted:
            assert result.outcome == "duplicate", result
        if set(result.accepted) == {i["name"] for i in record["items"]}:
            # Every item took it: each item's record remembers the id. (An item the event
            # left unchanged does not; its resend is judged by source sequence, onesource.)
            accepted.add(record["event_id"])
        sent.append(record)


SIZES = st.integers(0, MESSAGE_LIMIT - 2_000)
FILL = st.sampled_from(["a", "7", "贵", "😀", "\u19da", "\x00"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=SIZES, fill=FILL, where=st.sampled_from(["value", "subject_key", "name", "provider"]))
@example(size=MESSAGE_LIMIT - 2_000, fill="贵", where="value")
@example(size=MESSAGE_LIMIT - 2_000, fill="7", where="subject_key")
def test_sizes_up_to_the_message_limit(size: int, fill: str, where: str) -> None:
    """One field holding up to the whole message (in UTF-8 bytes) is decided like any other."""
    text = fill * (size // len(fill.encode("utf-8")))
    entry = CATALOG.entry("psb.person.basic")
    assert entry is not None
    record = _record(entry, {"name": text if where == "value" else "张三"})
    if where == "subject_key":
        record["subject_key"] = text
    elif where == "name":
        record["items"].append({"name": text, "before": None, "after": "x"})
    elif where == "provider":
        record["provider"] = text
    message = encode("ChangeEvent", record)
    assert len(message) <= MESSAGE_LIMIT
    result = Table().decide(message, b"resident_id:11010519491231002X", entry.id)
    assert result is not None
    # An item the entry does not have is refused too (S 20: exchange.admission).
    assert result.rejected == (where in ("subject_key", "provider", "name")), result
