"""Setting a record's trailing optional strings without encoding the record again.

Avro's binary encoding of a record is its fields' encodings in field order, and the
single-object header goes before the body. So a record whose last fields are
``["null", "string"]`` unions, written with those fields null, ends with one zero byte per
field (the union index of ``null``). Replacing those bytes with the fields' other
encodings (index 1, then the string's length and UTF-8 bytes) yields exactly the bytes a
full encode of the changed record gives. The processor writes a feed record once per grant
class and sets each conditional grant's id and purpose this way (G 14; S 22).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_writer

from base.errors import EncodingError, SchemaError

_NULL_BRANCH = b"\x00"
_STRING_BRANCH = b"\x02"  # union index 1, zig-zag encoded
OPTIONAL_STRING = ["null", "string"]


def check_tail(
    definition: Mapping[str, Any], names: Sequence[str], *, union: Sequence[str] = OPTIONAL_STRING
) -> None:
    """Refuse unless ``names`` are the record's last fields, each of type ``union``
    (``["null", "string"]``, or ``["null", "bytes"]``, which is written alike)."""
    fields = definition.get("fields", [])
    last = fields[len(fields) - len(names) :] if names else []
    if [f["name"] for f in last] != list(names) or any(f["type"] != list(union) for f in last):
        raise SchemaError(
            f"{definition.get('name')}: {list(names)} are not its last fields, each {list(union)}",
            code="bad_tail",
        )


def set_tail(encoded: bytes, values: Sequence[str | bytes | None]) -> bytes:
    """``encoded`` (written with its last ``len(values)`` fields null) with those fields set.

    The caller guarantees the precondition; the check of the last bytes catches a message
    written with values there, not every misuse (an empty string before a null also ends
    in zero bytes)."""
    n = len(values)
    if n == 0:
        return encoded
    if encoded[-n:] != _NULL_BRANCH * n:
        raise EncodingError(
            f"the message does not end with {n} null field(s)", code="tail_not_null"
        )
    return encoded[:-n] + b"".join(optional_value(v) for v in values)


def optional_value(value: str | bytes | None) -> bytes:
    """The encoding of ``value`` in a ``["null", "string"]`` or ``["null", "bytes"]`` union
    (Avro writes strings and bytes alike: length, then the bytes)."""
    if value is None:
        return _NULL_BRANCH
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _STRING_BRANCH + avro_long(len(data)) + data


def avro_long(n: int) -> bytes:
    """Avro ``long``: zig-zag, then base-128 varint, least significant group first."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def fields_record(
    definition: Mapping[str, Any], suffix: str, fields: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A record of some of ``definition``'s fields, in the same namespace: the encoding of
    a run of a record's fields is the encoding of such a record."""
    return {
        "type": "record",
        "name": f"{definition.get('name')}{suffix}",
        "namespace": definition.get("namespace"),
        "fields": list(fields),
    }


class TailWriter:
    """Sets a record's last fields, of any type, on a message written with their defaults.

    The generalisation of :func:`set_tail` for tails that are not only optional strings
    (FeedRecord v2's ``grant_id``, ``purpose`` and ``grants``): the encoding of the last
    fields is the encoding of a record of just those fields, so the default tail's bytes
    are computed once and replaced by the encoding of the values given.
    """

    def __init__(self, definition: Mapping[str, Any], names: Sequence[str]) -> None:
        fields = list(definition.get("fields", []))
        last = fields[len(fields) - len(names) :] if names else []
        if (
            not names
            or [f["name"] for f in last] != list(names)
            or any("default" not in f for f in last)
        ):
            raise SchemaError(
                f"{definition.get('name')}: {list(names)} are not its last fields, each with a"
                " default",
                code="bad_tail",
            )
        self._schema = parse_schema(fields_record(definition, "Tail", last))
        self._names = tuple(names)
        self._defaults = {f["name"]: f["default"] for f in last}
        self.default_tail = self._body(self._defaults)

    def _body(self, values: Mapping[str, Any]) -> bytes:
        out = BytesIO()
        schemaless_writer(out, self._schema, dict(values))
        return out.getvalue()

    def encode_tail(self, values: Mapping[str, Any]) -> bytes:
        """The bytes of the tail fields set to ``values`` (fields not named: their default);
        a caller that sets the same values often keeps these and :meth:`splice` s them."""
        return self._body({**self._defaults, **values})

    def splice(self, encoded: bytes, tail: bytes) -> bytes:
        """``encoded`` (written with the tail at its defaults) ending in ``tail`` instead."""
        if not encoded.endswith(self.default_tail):
            raise EncodingError(
                f"the message does not end with {list(self._names)} at their defaults",
                code="tail_not_default",
            )
        return encoded[: len(encoded) - len(self.default_tail)] + tail

    def __call__(self, encoded: bytes, values: Mapping[str, Any]) -> bytes:
        """``encoded`` (written with the tail at its defaults) with the tail ``values``
        (fields not named keep their default)."""
        return self.splice(encoded, self.encode_tail(values))
