"""Writing a Decision's ``deliveries`` without fastavro: the same bytes, each part once.

An accepted change's audit record lists every delivery it caused (Decision v5,
``deliveries``: recipient, topic, items, masked items, subject rule, grants; G 17, S 29,
S 43). At 50 recipients that list is most of a 7.8 KB record, and fastavro's writer spent
about 6.5 µs per entry on it (bench/README.md, "the per-recipient cost of fan-out"),
although the entries of one grant class share their items, masking and subject rule and an
agency's grants repeat from event to event. So the list is written here, by hand:

1. A delivery's shared part (``items``, ``masked_items``, ``subject_rule``) is encoded
   once (:meth:`DeliveriesWriter.shared`); a recipient's ``grants`` once per attribution
   (:meth:`DeliveriesWriter.grants`); the caller keeps both, as they repeat from event to
   event.
2. An entry is ``recipient`` and ``topic`` (Avro strings: length, UTF-8 bytes;
   :meth:`DeliveriesWriter.head`, kept by the caller too), the shared part, then the grants
   (:meth:`DeliveriesWriter.entry`): the Delivery record's fields in order, as Avro writes
   a record.
3. The record is encoded by fastavro with ``deliveries`` empty. Avro writes an array as a
   block count, its items and a 0 after the last block, so an empty one is the byte 0, and
   the fields after it (``occurred_at``, ``chain``, ``seq``, ``prev_hash``,
   ``record_hash``) follow. :meth:`DeliveriesWriter.splice` checks that the message ends
   with 0 and those fields' encoding, and puts ``count + entries + 0`` in place of the 0:
   exactly the bytes a full encode gives (tests/unit/schemas/test_listing.py checks it for
   random records).

The writer checks at construction that the schema's Delivery, MaskedItem and GrantUse are
the records written here (field names and types, in order); another schema is a
:class:`~base.errors.SchemaError` at the processor's start, not a wrong byte later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_writer

from base.errors import EncodingError, SchemaError
from schemas.tail import avro_long, fields_record, optional_value
from schemas.writer import Unfit, compile_writer

FIELD = "deliveries"
_STRINGS = {"type": "array", "items": "string"}
_MASKED = {
    "type": "record",
    "name": "MaskedItem",
    "fields": [("name", "string"), ("rule", "string")],
}
_GRANT_USE = {
    "type": "record",
    "name": "GrantUse",
    "fields": [("grant_id", "string"), ("purpose", "string"), ("items", _STRINGS)],
}
#: The Delivery record as written here; the schema's must have this shape (docs aside).
DELIVERY_SHAPE = (
    ("recipient", "string"),
    ("topic", "string"),
    ("items", _STRINGS),
    ("masked_items", {"type": "array", "items": _MASKED}),
    ("subject_rule", ["null", "string"]),
    ("grants", {"type": "array", "items": _GRANT_USE}),
)
_END = b"\x00"  # the end of an array: a block of no items


def text(value: str) -> bytes:
    """Avro ``string``: the length, then the UTF-8 bytes."""
    data = value.encode("utf-8")
    return avro_long(len(data)) + data


def array(parts: Sequence[bytes]) -> bytes:
    """Avro array of the encoded ``parts``: one block (its count, the items), then 0."""
    if not parts:
        return _END
    return avro_long(len(parts)) + b"".join(parts) + _END


class DeliveriesWriter:
    """Writes the ``deliveries`` of one version of the Decision record (module docstring)."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        fields = list(definition.get("fields", []))
        names = [f["name"] for f in fields]
        if FIELD not in names:
            raise SchemaError(f"{definition.get('name')} has no {FIELD!r} field", code="bad_tail")
        at = names.index(FIELD)
        item = fields[at]["type"]
        if not (isinstance(item, dict) and item.get("type") == "array"):
            raise SchemaError(f"{FIELD!r} is not an array", code="bad_tail")
        named = _named(definition)
        if _shape(item["items"], named) != _shape_of_fields(DELIVERY_SHAPE, "Delivery"):
            raise SchemaError(
                f"{definition.get('name')}.{FIELD}: the Delivery record is not the one "
                "schemas.listing writes; change DELIVERY_SHAPE with the schema",
                code="bad_tail",
            )
        after = fields_record(definition, "AfterDeliveries", fields[at + 1 :])
        self._after = parse_schema(after)
        self._after_compiled = compile_writer(after)
        self._after_names = tuple(f["name"] for f in fields[at + 1 :])

    # Step 1
    @staticmethod
    def shared(items: Sequence[str], masked: Sequence[tuple[str, str]], rule: str | None) -> bytes:
        """A delivery's ``items``, ``masked_items`` ((name, rule) pairs) and
        ``subject_rule``, encoded once for all its recipients."""
        return (
            array([text(i) for i in items])
            + array([text(name) + text(how) for name, how in masked])
            + optional_value(rule)
        )

    @staticmethod
    def grants(grants: Sequence[tuple[str, str, Sequence[str]]]) -> bytes:
        """A recipient's ``grants``: (grant id, purpose, items) each."""
        return array(
            [text(g) + text(p) + array([text(i) for i in items]) for g, p, items in grants]
        )

    # Step 2
    @staticmethod
    def head(recipient: str, topic: str) -> bytes:
        """The start of a Delivery: its ``recipient`` and ``topic`` (a caller keeps them)."""
        return text(recipient) + text(topic)

    @classmethod
    def entry(cls, recipient: str, topic: str, shared: bytes, grants: bytes) -> bytes:
        """One Delivery: what ``recipient`` received on ``topic``."""
        return cls.head(recipient, topic) + shared + grants

    # Step 3
    def splice(self, encoded: bytes, record: Mapping[str, Any], entries: Sequence[bytes]) -> bytes:
        """``encoded`` (``record`` written with ``deliveries`` empty) with ``entries`` listed."""
        after = self._after_fields(record)
        if not encoded.endswith(_END + after):
            raise EncodingError(
                f"the message does not end with an empty {FIELD!r} and the fields after it",
                code="tail_not_default",
            )
        return encoded[: len(encoded) - len(after) - 1] + array(entries) + after

    def encode(
        self,
        encode: Callable[[Mapping[str, Any]], bytes],
        record: Mapping[str, Any],
        entries: Sequence[bytes],
    ) -> bytes:
        """``record`` with ``entries`` as its deliveries: encoded by ``encode`` with the list
        empty, then spliced."""
        return self.splice(encode({**record, FIELD: []}), record, entries)

    def _after_fields(self, record: Mapping[str, Any]) -> bytes:
        values = {n: record.get(n) for n in self._after_names}
        if self._after_compiled is not None:
            try:
                return self._after_compiled(values)
            except Unfit:
                pass  # fastavro writes it, or refuses it as the full encode would
        out = BytesIO()
        schemaless_writer(out, self._after, values)
        return out.getvalue()


def _named(avro: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every record defined in ``avro``, by its name (short: the schemas share a namespace)."""
    found = {} if found is None else found
    if isinstance(avro, list):
        for t in avro:
            _named(t, found)
    elif isinstance(avro, dict):
        if avro.get("type") == "record":
            found[str(avro["name"]).rsplit(".", 1)[-1]] = avro
            for f in avro.get("fields", []):
                _named(f["type"], found)
        elif avro.get("type") == "array":
            _named(avro["items"], found)
    return found


def _shape(avro: Any, named: Mapping[str, Any] | None = None) -> Any:
    """A type with its docs, defaults and aliases left out, named records resolved;
    records as (name, fields)."""
    named = named or {}
    if isinstance(avro, str) and avro.rsplit(".", 1)[-1] in named:
        return _shape(named[avro.rsplit(".", 1)[-1]], named)
    if isinstance(avro, list):
        return tuple(_shape(t, named) for t in avro)
    if isinstance(avro, dict):
        kind = avro.get("type")
        if kind == "record":
            fields = tuple((f["name"], _shape(f["type"], named)) for f in avro.get("fields", []))
            return ("record", str(avro.get("name")).rsplit(".", 1)[-1], fields)
        if kind == "array":
            return ("array", _shape(avro["items"], named))
        return _shape(kind, named)
    return avro


def _shape_of_fields(fields: Sequence[tuple[str, Any]], name: str) -> Any:
    return _shape(
        {
            "type": "record",
            "name": name,
            "fields": [{"name": n, "type": _expand(t)} for n, t in fields],
        }
    )


def _expand(avro: Any) -> Any:
    """DELIVERY_SHAPE's (name, type) pairs as Avro field lists."""
    if isinstance(avro, dict) and avro.get("type") == "record":
        return {**avro, "fields": [{"name": n, "type": _expand(t)} for n, t in avro["fields"]]}
    if isinstance(avro, dict) and avro.get("type") == "array":
        return {**avro, "items": _expand(avro["items"])}
    return avro
