"""A compiled Avro writer for the records the bus builds itself: fastavro's bytes, faster.

The processor encodes four to fifty records per event (receipt, canonical change, a feed
record per grant class, the audit record), and fastavro's generic writer resolves the
schema's types, unions and logical types again for every record (a FeedRecord of four
items: 36-47 µs; bench/README.md, "a compiled Avro writer for the records the bus
builds"). :func:`compile_writer` resolves them once, into Python source with every
field's write inlined (one function per named record, compiled on a schema version's first
write, as :mod:`dataclasses` compiles its methods), for the types our schemas use:

* ``null``, ``boolean``, ``int``, ``long``, ``string``, ``bytes``, ``enum``, ``array``,
  ``map``, ``record`` (fields in order; a missing field with a default written as its
  default), named references;
* unions of ``null`` and one other type (the optional fields);
* ``long`` / ``timestamp-millis`` (an aware datetime, as fastavro converts it, or an int)
  and ``string`` / ``uuid`` (a ``uuid.UUID`` or a string).

A schema with anything else (float, fixed, a union of two non-null types) compiles to
``None`` and is written by fastavro. A value the compiled writer does not take exactly
(a bool where an int is due, a naive datetime, a field the schema does not have, a number
out of range) raises :class:`Unfit`, and the caller writes that record with fastavro,
which then writes it or names the misfit as before: the compiled writer never writes
what fastavro would refuse, and writes the same bytes for everything else
(tests/unit/schemas/test_writer.py: every schema, generated records, byte for byte).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import count
from typing import Any

from schemas.tail import avro_long

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Unfit(Exception):
    """The value is not one the compiled writer takes exactly: write it with fastavro.
    (A signal inside :mod:`schemas`, never raised to a caller of the codec, so not a
    :class:`~base.errors.GovbusError`.)"""


class Unsupported(Exception):
    """The schema uses a type the compiled writer does not write (inside
    :func:`compile_writer` only)."""


def compile_writer(definition: Mapping[str, Any]) -> Callable[[Any], bytes] | None:
    """A function writing a record of ``definition`` (its Avro body, no header), or None
    for a schema that uses a type not compiled here."""
    source = _Source()
    try:
        entry = source.record(definition, str(definition.get("namespace", "")))
    except Unsupported:
        return None
    scope = dict(source.constants)
    exec(compile("\n".join(source.lines), f"<avro writer {entry}>", "exec"), scope)  # noqa: S102
    write = scope[entry]

    def encode(record: Any) -> bytes:
        out = bytearray()
        try:
            write(out, record)
        except (UnicodeEncodeError, OverflowError, TypeError, ValueError) as exc:
            raise Unfit from exc  # a lone surrogate, a key that is not a string: fastavro's call
        return bytes(out)

    return encode


_MISSING = object()
#: Each statement list below writes the value in the variable ``v`` (the placeholder {v}).
_SIZED = [
    "n = len({v})",
    "if n < 64: out.append(n << 1)",
    "else: out += avro_long(n)",
    "out += {v}",
]
_INTEGER = [
    "if type({v}) is not int or not {low} <= {v} <= {high}: raise Unfit",
    "if 0 <= {v} < 64: out.append({v} << 1)",
    "else: out += avro_long({v})",
]
_PRIMITIVE = {
    "null": ["if {v} is not None: raise Unfit"],
    "boolean": [
        "if {v} is True: out.append(1)",
        "elif {v} is False: out.append(0)",
        "else: raise Unfit",
    ],
    "int": [
        line.replace("{low}", "-2147483648").replace("{high}", "2147483647") for line in _INTEGER
    ],
    "long": [
        line.replace("{low}", "-9223372036854775808").replace("{high}", "9223372036854775807")
        for line in _INTEGER
    ],
    "string": ["if type({v}) is not str: raise Unfit", "{v} = {v}.encode()", *_SIZED],
    "bytes": ["if type({v}) is not bytes: raise Unfit", *_SIZED],
}
_LOGICAL = {
    ("long", "timestamp-millis"): [
        "if type({v}) is datetime and {v}.tzinfo is not None:",
        "    d = {v} - _EPOCH",
        "    {v} = (d.days * 86400 + d.seconds) * 1000 + int(d.microseconds / 1000)",
        *_PRIMITIVE["long"],
    ],
    ("string", "uuid"): ["if isinstance({v}, UUID): {v} = str({v})", *_PRIMITIVE["string"]],
}


class _Source:
    """The writer's source: one function per named record; statements per type."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {
            "Unfit": Unfit,
            "avro_long": avro_long,
            "_EPOCH": _EPOCH,
            "_MISSING": _MISSING,
            "datetime": datetime,
            "UUID": uuid.UUID,
        }
        self.functions: dict[str, str] = {}  # full record or enum name -> its function
        self._ids: Iterator[int] = count()

    def constant(self, value: Any) -> str:
        name = f"c{next(self._ids)}"
        self.constants[name] = value
        return name

    def record(self, avro: Mapping[str, Any], namespace: str) -> str:
        """Define the function writing ``avro`` (and the records it names); its name."""
        full = _full_name(avro, namespace)
        ns = full.rsplit(".", 1)[0] if "." in full else ""
        function = f"w{next(self._ids)}"
        self.functions[full] = function  # before the fields: a field may name this record
        names = self.constant(frozenset(f["name"] for f in avro["fields"]))
        body = [f"if type(v) is not dict or not v.keys() <= {names}: raise Unfit", "x = v.get"]
        for f in avro["fields"]:
            body.append(f"f = x({f['name']!r}, _MISSING)")
            if "default" in f:
                body.append(f"if f is _MISSING: f = {self.constant(f['default'])}")
            else:
                body.append("if f is _MISSING: raise Unfit")
            body += self.statements(f["type"], "f", ns)
        self.lines += [f"def {function}(out, v):", *("    " + line for line in body), ""]
        return function

    def statements(self, avro: Any, v: str, namespace: str) -> list[str]:
        """Statements writing the variable ``v`` of type ``avro``."""
        if isinstance(avro, str):
            return self.named(avro, v, namespace)
        if isinstance(avro, list):
            if len(avro) != 2 or avro[0] != "null":
                raise Unsupported(avro)
            inner = self.statements(avro[1], v, namespace)
            return [f"if {v} is None: out.append(0)", "else:", "    out.append(2)"] + [
                "    " + line for line in inner
            ]
        kind, logical = avro.get("type"), avro.get("logicalType")
        if logical is not None and (kind, logical) in _LOGICAL:
            return [line.replace("{v}", v) for line in _LOGICAL[(kind, logical)]]
        if kind == "record":
            return [f"{self.record(avro, namespace)}(out, {v})"]
        if kind == "enum":
            return self.enum(avro, v, namespace)
        if kind in ("array", "map"):
            return self.repeated(avro, v, namespace)
        if isinstance(kind, str) and kind in _PRIMITIVE and logical is None:
            return self.statements(kind, v, namespace)
        raise Unsupported(kind)

    def named(self, avro: str, v: str, namespace: str) -> list[str]:
        """A primitive type, or a call of a named type's function."""
        if avro in _PRIMITIVE:
            return [line.replace("{v}", v) for line in _PRIMITIVE[avro]]
        full = avro if "." in avro else f"{namespace}.{avro}" if namespace else avro
        if full not in self.functions:
            raise Unsupported(avro)
        return [f"{self.functions[full]}(out, {v})"]

    def enum(self, avro: Mapping[str, Any], v: str, namespace: str) -> list[str]:
        full = _full_name(avro, namespace)
        function = f"w{next(self._ids)}"
        self.functions[full] = function
        index = self.constant({s: i for i, s in enumerate(avro["symbols"])})
        self.lines += [
            f"def {function}(out, v):",
            f"    i = {index}.get(v) if type(v) is str else None",
            "    if i is None: raise Unfit",
            "    out += avro_long(i)",
            "",
        ]
        return [f"{function}(out, {v})"]

    def repeated(self, avro: Mapping[str, Any], v: str, namespace: str) -> list[str]:
        """An array or a map: one block (its count, the items), then 0."""
        e = f"e{next(self._ids)}"
        if avro["type"] == "array":
            check = f"if type({v}) is not list and type({v}) is not tuple: raise Unfit"
            loop = [f"    for {e} in {v}:"]
            loop += ["        " + line for line in self.statements(avro["items"], e, namespace)]
        else:
            k = f"k{next(self._ids)}"
            check = f"if type({v}) is not dict: raise Unfit"
            loop = [f"    for {k}, {e} in {v}.items():"]
            loop += ["        " + line for line in self.statements("string", k, namespace)]
            loop += ["        " + line for line in self.statements(avro["values"], e, namespace)]
        return [check, f"if {v}:", f"    out += avro_long(len({v}))", *loop, "out.append(0)"]


def _full_name(avro: Mapping[str, Any], namespace: str) -> str:
    name = str(avro["name"])
    ns = str(avro.get("namespace", namespace))
    return name if "." in name else f"{ns}.{name}" if ns else name
