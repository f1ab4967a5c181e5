"""Whether a record fits its Avro schema, and which field does not.

fastavro's writer rejects most misfits but does not say which field, and it lets two
misfits through silently: any truthy value for a ``boolean`` (``"false"`` is written as
true) and any text for a ``uuid`` string. This module

* names the offending field of a record that failed to encode (:func:`find_misfit`, a
  full check in Python, run only after a failure), and
* compiles, once per schema, a cheap guard for exactly those two gaps and for naive
  datetimes, which fastavro would silently take as UTC (:func:`compile_guard`, run
  before every write).

Both work on the schema as written in the ``.avsc`` file (JSON), not on fastavro's
parsed form. A misfit is ``(path, problem)``, e.g. ``("items[2].after", "expected
string, got int")``.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import UnionType
from typing import Any

Misfit = tuple[str, str]
Guard = Callable[[Any], Misfit | None]

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_NAMED = frozenset({"record", "error", "enum", "fixed"})
_TIMESTAMPS = frozenset({"timestamp-millis", "timestamp-micros"})


def join(prefix: str, sub: str) -> str:
    """Join a field path: ``join("items", "[2]") == "items[2]"``."""
    if not sub:
        return prefix
    if not prefix or sub.startswith("["):
        return prefix + sub
    return f"{prefix}.{sub}"


def _kind(value: Any) -> str:
    return type(value).__name__


def _fullname(schema: Mapping[str, Any], namespace: str) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    space = str(schema.get("namespace", namespace))
    return f"{space}.{name}" if space else name


def _inner_namespace(schema: Mapping[str, Any], namespace: str) -> str:
    return _fullname(schema, namespace).rpartition(".")[0]


# --- full check (cold path) ---------------------------------------------------------


def _enum(schema: Mapping[str, Any], value: Any, path: str) -> Misfit | None:
    if value in schema["symbols"]:
        return None
    return path, f"{value!r} is not one of {schema['symbols']}"


def find_misfit(schema: Any, value: Any) -> Misfit | None:
    """Return where ``value`` first fails ``schema`` (JSON form), or None if it fits."""
    return _Checker().check(schema, value, "", "")


class _Checker:
    def __init__(self) -> None:
        self.names: dict[str, Any] = {}

    def check(self, schema: Any, value: Any, path: str, ns: str) -> Misfit | None:
        if isinstance(schema, list):
            return self._union(schema, value, path, ns)
        if isinstance(schema, str):
            return self._reference(schema, value, path, ns)
        kind = schema["type"]
        if kind in _NAMED:
            self.names[_fullname(schema, ns)] = schema
            ns = _inner_namespace(schema, ns)
        if kind in ("record", "error"):
            return self._record(schema, value, path, ns)
        if kind == "enum":
            return _enum(schema, value, path)
        if kind == "array":
            return self._array(schema, value, path, ns)
        if kind == "map":
            return self._map(schema, value, path, ns)
        if kind == "fixed":
            ok = isinstance(value, bytes) and len(value) == schema["size"]
            return None if ok else (path, f"expected {schema['size']} bytes")
        return _primitive(kind, schema.get("logicalType"), value, path)

    def _reference(self, name: str, value: Any, path: str, ns: str) -> Misfit | None:
        """A named type seen before (by full or short name), else a primitive type."""
        named = self.names.get(name) or self.names.get(f"{ns}.{name}")
        if named is not None:
            return self.check(named, value, path, ns)
        return _primitive(name, None, value, path)

    def _array(self, schema: Mapping[str, Any], value: Any, path: str, ns: str) -> Misfit | None:
        if not isinstance(value, list | tuple):
            return path, f"expected array, got {_kind(value)}"
        for index, item in enumerate(value):
            found = self.check(schema["items"], item, f"{path}[{index}]", ns)
            if found is not None:
                return found
        return None

    def _map(self, schema: Mapping[str, Any], value: Any, path: str, ns: str) -> Misfit | None:
        if not isinstance(value, Mapping):
            return path, f"expected map, got {_kind(value)}"
        for key, item in value.items():
            if not isinstance(key, str):
                return path, f"map key {key!r} is not a string"
            found = self.check(schema["values"], item, f"{path}[{key!r}]", ns)
            if found is not None:
                return found
        return None

    def _record(self, schema: Mapping[str, Any], value: Any, path: str, ns: str) -> Misfit | None:
        if not isinstance(value, Mapping):
            return path or "(record)", f"expected record {schema['name']}, got {_kind(value)}"
        fields = schema["fields"]
        extra = sorted(set(value) - {f["name"] for f in fields}, key=str)
        if extra:
            return join(path, str(extra[0])), "not a field of " + str(schema["name"])
        for f in fields:
            where = join(path, f["name"])
            if f["name"] not in value:
                if "default" in f:
                    continue
                return where, "missing (no default)"
            found = self.check(f["type"], value[f["name"]], where, ns)
            if found is not None:
                return found
        return None

    def _union(self, branches: list[Any], value: Any, path: str, ns: str) -> Misfit | None:
        misfits = [self.check(branch, value, path, ns) for branch in branches]
        if any(m is None for m in misfits):
            return None
        others = [m for b, m in zip(branches, misfits, strict=True) if b != "null"]
        if value is not None and len(others) == 1:
            return others[0]
        return path, f"{_kind(value)} matches no branch of {branches}"


def _primitive(kind: str, logical: Any, value: Any, path: str) -> Misfit | None:
    ok: bool
    if kind == "null":
        ok = value is None
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("int", "long"):
        if logical in _TIMESTAMPS and isinstance(value, datetime.datetime):
            found = _aware(value)
            return None if found is None else (path, found[1])
        low, high = INT_RANGE if kind == "int" else LONG_RANGE
        if isinstance(value, int) and not isinstance(value, bool):
            ok = low <= value <= high
            if not ok:
                return path, f"{value} is outside the {kind} range"
        else:
            ok = False
    elif kind in ("float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "bytes":
        ok = isinstance(value, bytes | bytearray)
    elif kind == "string":
        return _string(logical, value, path)
    else:
        return path, f"unknown type {kind!r}"
    wanted = kind if logical is None else f"{kind} ({logical})"
    return None if ok else (path, f"expected {wanted}, got {_kind(value)}")


def _string(logical: Any, value: Any, path: str) -> Misfit | None:
    if logical == "uuid":
        found = _uuid(value)
        return None if found is None else (path, found[1])
    if not isinstance(value, str):
        return path, f"expected string, got {_kind(value)}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return path, f"not encodable as UTF-8 ({exc.reason} at {exc.start})"
    return None


# --- guard (hot path) ---------------------------------------------------------------


def _uuid(value: Any) -> Misfit | None:
    if isinstance(value, uuid.UUID):
        return None
    if isinstance(value, str) and UUID_TEXT.fullmatch(value):
        return None
    return "", f"expected a UUID (RFC 4122 text form), got {value!r:.60}"


def _aware(value: Any) -> Misfit | None:
    if isinstance(value, datetime.datetime) and value.utcoffset() is None:
        return "", "naive datetime: give a timezone-aware one (legal time is Asia/Shanghai)"
    return None


def _boolean(value: Any) -> Misfit | None:
    if value is True or value is False:
        return None
    return "", f"expected boolean, got {_kind(value)}"


def compile_guard(schema: Any) -> Guard | None:
    """Compile a check for the misfits fastavro's writer lets through, or None if none apply.

    Only booleans, uuid strings and timestamp datetimes (must be timezone-aware) are
    checked, wherever they sit in records, arrays, maps and ``["null", X]`` unions;
    everything else is left to fastavro's writer.
    """
    return _compile(schema)


def _compile(schema: Any) -> Guard | None:
    if isinstance(schema, str):
        return _boolean if schema == "boolean" else None
    if isinstance(schema, list):
        return _compile_union(schema)
    kind = schema["type"]
    if kind == "boolean":
        return _boolean
    if kind == "string" and schema.get("logicalType") == "uuid":
        return _uuid
    if kind == "long" and schema.get("logicalType") in _TIMESTAMPS:
        return _aware
    if kind in ("record", "error"):
        return _compile_record(schema)
    if kind == "array":
        return _compile_sequence(_compile(schema["items"]))
    if kind == "map":
        return _compile_map(_compile(schema["values"]))
    return None


def _compile_union(branches: list[Any]) -> Guard | None:
    others = [b for b in branches if b != "null"]
    if len(others) != 1:
        return None  # fastavro picks the branch of a wider union by type
    inner = _compile(others[0])
    if inner is None:
        return None

    def guard(value: Any) -> Misfit | None:
        return None if value is None else inner(value)

    return guard


def _compile_record(schema: Mapping[str, Any]) -> Guard | None:
    checks: list[tuple[str, Guard]] = []
    for f in schema["fields"]:
        inner = _compile(f["type"])
        if inner is not None:
            checks.append((f["name"], inner))
    if not checks:
        return None

    def guard(value: Any) -> Misfit | None:
        if not isinstance(value, Mapping):
            return None  # fastavro rejects it; find_misfit names it
        for name, check in checks:
            if name in value:
                found = check(value[name])
                if found is not None:
                    return join(name, found[0]), found[1]
        return None

    return guard


def _compile_sequence(inner: Guard | None) -> Guard | None:
    return _compile_each(inner, list | tuple, enumerate, "[{}]")


def _compile_map(inner: Guard | None) -> Guard | None:
    return _compile_each(inner, Mapping, _map_items, "[{!r}]")


def _map_items(value: Mapping[Any, Any]) -> Iterable[tuple[Any, Any]]:
    return value.items()


def _compile_each(
    inner: Guard | None,
    kind: type[Any] | UnionType,
    entries: Callable[[Any], Iterable[tuple[Any, Any]]],
    label: str,
) -> Guard | None:
    """A guard checking each of the ``entries`` (key, item) of a ``kind`` value (an array
    or a map) with ``inner``; a misfit's place is its key formatted by ``label``."""
    if inner is None:
        return None

    def guard(value: Any) -> Misfit | None:
        if not isinstance(value, kind):
            return None
        for key, item in entries(value):
            found = inner(item)
            if found is not None:
                return join(label.format(key), found[0]), found[1]
        return None

    return guard
