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
from typing import Any

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
    return _STRING_BRANCH + _long(len(data)) + data


def _long(n: int) -> bytes:
    """Avro ``long``: zig-zag, then base-128 varint, least significant group first."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)
