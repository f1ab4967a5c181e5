"""Avro single-object encoding: the bytes of every govbus message.

Layout (Avro specification, "Single-object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema, 8 bytes little-endian | body

The fingerprint is the Rabin CRC-64-AVRO of the schema's Parsing Canonical Form, so
each message names its writer schema without an external registry. The body is plain
Avro binary. Everything per schema (parsing, fingerprint, 10-byte header, guard) is
done once in :func:`load_version`; :func:`encode_with` and :func:`decode_with` only
write and read. :func:`encode_built` writes without the pre-encode guard, for records the
bus builds itself from values that are already typed (see there). Both write with the
version's compiled writer (:mod:`schemas.writer`, the same bytes) where it takes the
record, and with fastavro otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from base.errors import EncodingError, SchemaError
from schemas.fit import Guard, compile_guard, find_misfit
from schemas.writer import Unfit, compile_writer

MARKER = b"\xc3\x01"
FINGERPRINT_SIZE = 8
HEADER_SIZE = len(MARKER) + FINGERPRINT_SIZE
FINGERPRINT_ALGORITHM = "CRC-64-AVRO"
NAMESPACE = "govbus.v1"
PREVIEW_CHARS = 200  # how much of a third-party error message to quote


#: Compiled writers by writer-schema fingerprint (one schema, one writer).
_COMPILED: dict[bytes, Callable[[Any], bytes] | None] = {}


@dataclass(frozen=True)
class SchemaVersion:
    """One released version of one record schema, ready to write and read.

    ``fingerprint`` is stored as on the wire: the 8 bytes of the CRC-64-AVRO value,
    little-endian. ``parsed`` is fastavro's parsed form (parsed once, here).
    """

    record_name: str
    version: int
    fingerprint: bytes
    canonical_form: str = field(repr=False)
    source: bytes = field(repr=False)
    header: bytes = field(repr=False)
    definition: Any = field(repr=False, compare=False)
    parsed: Any = field(repr=False, compare=False)
    guard: Guard | None = field(repr=False, compare=False)

    @property
    def compiled(self) -> Callable[[Any], bytes] | None:
        """The compiled writer of the body (:mod:`schemas.writer`), made on the version's
        first write (a registry loads every released version; most are only read); None:
        fastavro writes every record."""
        try:
            return _COMPILED[self.fingerprint]
        except KeyError:
            writer = _COMPILED[self.fingerprint] = compile_writer(self.definition)
            return writer

    @property
    def label(self) -> str:
        """``"ChangeEvent v2"``."""
        return f"{self.record_name} v{self.version}"

    @property
    def fingerprint_value(self) -> int:
        """The CRC-64-AVRO fingerprint as an unsigned integer."""
        return int.from_bytes(self.fingerprint, "little")


def load_version(record_name: str, version: int, source: bytes) -> SchemaVersion:
    """Parse one ``.avsc`` file (once) and precompute everything its messages need."""
    where = f"{record_name} v{version}"
    try:
        definition = json.loads(source.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"{where}: not JSON: {exc}", code="invalid_json") from exc
    if not isinstance(definition, dict) or definition.get("type") != "record":
        raise SchemaError(f"{where}: not a record schema", code="not_a_record")
    if definition.get("name") != record_name or definition.get("namespace") != NAMESPACE:
        raise SchemaError(
            f"{where}: file declares {definition.get('namespace')}.{definition.get('name')}, "
            f"expected {NAMESPACE}.{record_name}",
            code="name_mismatch",
        )
    try:
        parsed = parse_schema(definition)
        canonical = to_parsing_canonical_form(parsed)
        digest = bytes.fromhex(fingerprint(canonical, FINGERPRINT_ALGORITHM))
    except Exception as exc:  # fastavro raises several unrelated types
        raise SchemaError(f"{where}: invalid Avro schema: {exc}", code="invalid_schema") from exc
    return SchemaVersion(
        record_name=record_name,
        version=version,
        fingerprint=digest,
        canonical_form=canonical,
        source=source,
        header=MARKER + digest,
        definition=definition,
        parsed=parsed,
        guard=compile_guard(definition),
    )


def read_fingerprint(data: bytes) -> bytes:
    """Check the marker and return the 8 fingerprint bytes of a single-object message."""
    if len(data) < HEADER_SIZE:
        raise EncodingError(
            f"message of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header",
            code="truncated_header",
        )
    if data[:2] != MARKER:
        raise EncodingError(
            f"message starts with {data[:2].hex()}, not the single-object marker c301",
            code="bad_marker",
        )
    return data[2:HEADER_SIZE]


def encode_with(version: SchemaVersion, record: Mapping[str, Any]) -> bytes:
    """Write ``record`` as a single-object message of ``version``."""
    if version.guard is not None:
        misfit = version.guard(record)
        if misfit is not None:
            raise _misfit_error(version, misfit)
    return encode_built(version, record)


def encode_built(version: SchemaVersion, record: Mapping[str, Any]) -> bytes:
    """Write ``record`` as :func:`encode_with` does, without the pre-encode guard.

    Only for a record the bus built itself, whose booleans are ``bool``, whose uuid
    strings are decoded or derived ids and whose timestamps are a decoded message's or an
    aware clock's (the processor checks its clock once per message): the three misfits the
    guard exists for (``schemas.fit``) cannot occur there. fastavro's writer still refuses
    every other misfit, and a refusal still names the field.
    """
    compiled = version.compiled
    if compiled is not None:
        try:
            return version.header + compiled(record)
        except Unfit:
            pass  # fastavro writes it, or names the misfit
    out = BytesIO()
    out.write(version.header)
    try:
        schemaless_writer(out, version.parsed, record, strict_allow_default=True)
    except Exception as exc:  # fastavro raises ValueError, TypeError, OverflowError, ...
        misfit = find_misfit(version.definition, record)
        if misfit is None:
            misfit = ("", str(exc)[:PREVIEW_CHARS])
        raise _misfit_error(version, misfit) from exc
    return out.getvalue()


def decode_with(writer: SchemaVersion, reader: SchemaVersion, data: bytes) -> dict[str, Any]:
    """Read a message written with ``writer`` as the ``reader`` version (schema resolution)."""
    stream = BytesIO(data)
    stream.seek(HEADER_SIZE)
    try:
        value = schemaless_reader(
            stream, writer.parsed, None if reader is writer else reader.parsed
        )
    except Exception as exc:  # truncated or corrupt bodies raise many fastavro/builtin types
        raise EncodingError(
            f"{writer.label} body does not decode: {type(exc).__name__}: "
            f"{str(exc)[:PREVIEW_CHARS]}",
            code="undecodable_body",
        ) from exc
    if stream.tell() != len(data):
        raise EncodingError(
            f"{writer.label} body has {len(data) - stream.tell()} trailing bytes",
            code="trailing_bytes",
        )
    if not isinstance(value, dict):
        raise EncodingError(f"{writer.label} body is not a record", code="not_a_record")
    return value


def _misfit_error(version: SchemaVersion, misfit: tuple[str, str]) -> EncodingError:
    path, problem = misfit
    where = f"field {path!r}" if path else "record"
    return EncodingError(
        f"{version.label}: {where} does not fit: {problem}", code="record_does_not_fit", field=path
    )
