"""Input files of ``govbus publish``: JSON Lines and CSV rows -> drafts (UTF-8, any text).

JSON Lines, one change per line (blank lines skipped)::

    {"subject_key": "11010519491231002X", "operation": "update",
     "items": {"name": "张三"}, "before": {"name": "张叁"}, "authoritative": true,
     "event_id": "…uuid…", "event_time": "2025-03-01T09:30:00+08:00",
     "source_system": "户籍系统", "source_sequence": 42, "trace_id": "…",
     "legal_basis": "…", "provider": "city-psb"}

``subject_key``, ``operation`` (create / update / delete) and ``items`` (data item ->
new value; for delete the value withdrawn) are required; numbers and booleans are
carried as text, ``null`` means no value. Everything else is optional.

CSV (header row; a UTF-8 byte-order mark is allowed): ``subject_key``, ``operation``,
optionally the columns ``authoritative`` (true/false, 1/0, yes/no, 是/否; empty = true),
``event_id``, ``event_time``, ``source_system``, ``source_sequence``, ``trace_id``,
``legal_basis``, ``provider``; every other column is a data item, and an empty cell
means the item is not changed.

A row without ``event_id`` gets one derived from the agency, entry, file name, line
number and the row's content (UUID v5), so publishing the same file again is recognised
as the same events and nothing acknowledged is sent twice. A row that cannot be read
becomes a ``bad_row`` refusal with its line number; the rest of the file still goes.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from exchange.admission import Refusal
from exchange.outcomes import ReasonCode
from producers.model import Draft

#: Namespace of derived event ids (UUID v5).
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:govbus:publisher:row")
TEXT_FIELDS = ("event_id", "source_system", "trace_id", "legal_basis", "provider")
META_COLUMNS = frozenset(
    {"subject_key", "operation", "authoritative", "event_time", "source_sequence", *TEXT_FIELDS}
)
JSON_FIELDS = META_COLUMNS | {"items", "before"}
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "是"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "否"})


class InputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


SUFFIXES: Mapping[str, InputFormat] = {
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
}


class InputFileError(ValueError):
    """The file as a whole cannot be read (unknown format, bad CSV header, not UTF-8)."""


@dataclass(frozen=True)
class Row:
    """One input row: a draft, or the refusal of a row that cannot be read."""

    line: int
    draft: Draft | None = None
    refusal: Refusal | None = None


class _BadRow(ValueError):
    pass


def format_of(path: Path, explicit: str | None = None) -> InputFormat:
    """The input format: ``explicit`` (jsonl / csv), else from the file suffix."""
    if explicit:
        try:
            return InputFormat(explicit.lower())
        except ValueError:
            raise InputFileError(f"unknown format {explicit!r} (jsonl or csv)") from None
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InputFileError(
            f"cannot tell the format of {path.name} from its suffix; use .jsonl or .csv, "
            "or pass --format"
        )
    return found


def read_rows(path: Path, fmt: InputFormat, *, agency_id: str, entry_id: str) -> list[Row]:
    """Every row of the file, in order, with its line number."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path.name} is not UTF-8: {exc}") from exc
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc
    origin = (agency_id, entry_id, path.name)
    reader = _jsonl_rows if fmt is InputFormat.JSONL else _csv_rows
    return list(reader(text, origin))


def derived_event_id(origin: tuple[str, str, str], line: int, content: Mapping[str, Any]) -> str:
    """UUID v5 of agency, entry, file name, line and the row's content."""
    body = json.dumps([*origin, line, content], ensure_ascii=False, sort_keys=True, default=str)
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, body))


def _refusal(line: int, message: str) -> Row:
    return Row(line, refusal=Refusal.of(ReasonCode.BAD_ROW, message))


# -- JSON Lines ------------------------------------------------------------------------
def _jsonl_rows(text: str, origin: tuple[str, str, str]) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield _refusal(number, f"not JSON: {exc.msg} at column {exc.colno}")
            continue
        try:
            yield Row(number, draft=_json_draft(raw, origin, number))
        except _BadRow as exc:
            yield _refusal(number, str(exc))


def _text_value(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    raise _BadRow(f"{where} must be text, a number, a boolean or null, not {type(value).__name__}")


def _values(raw: Any, key: str) -> dict[str, str | None]:
    if not isinstance(raw, dict):
        raise _BadRow(f"{key!r} must be an object of data item -> value")
    return {str(name): _text_value(value, f"{key}.{name}") for name, value in raw.items()}


def _optional_text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise _BadRow(f"{key!r} must be text")
    return value


def _event_time(text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise _BadRow(f"event_time {text!r} is not an ISO 8601 date-time") from None


def _json_draft(raw: Any, origin: tuple[str, str, str], line: int) -> Draft:
    if not isinstance(raw, dict):
        raise _BadRow("a row must be a JSON object")
    unknown = sorted(set(raw) - JSON_FIELDS)
    if unknown:
        raise _BadRow(f"unknown field(s): {', '.join(unknown)}")
    for key in ("subject_key", "operation", "items"):
        if key not in raw:
            raise _BadRow(f"missing {key!r}")
    subject, operation = raw["subject_key"], raw["operation"]
    if not isinstance(subject, str) or not isinstance(operation, str):
        raise _BadRow("'subject_key' and 'operation' must be text")
    authoritative = raw.get("authoritative", True)
    if not isinstance(authoritative, bool):
        raise _BadRow("'authoritative' must be true or false")
    sequence = raw.get("source_sequence")
    if sequence is not None and (isinstance(sequence, bool) or not isinstance(sequence, int)):
        raise _BadRow("'source_sequence' must be an integer")
    texts = {key: _optional_text(raw, key) for key in TEXT_FIELDS}
    return Draft(
        subject_key=subject,
        operation=operation,
        items=_values(raw["items"], "items"),
        authoritative=authoritative,
        before=_values(raw.get("before", {}), "before"),
        event_id=texts["event_id"] or derived_event_id(origin, line, raw),
        event_time=_event_time(_optional_text(raw, "event_time")),
        source_system=texts["source_system"],
        source_sequence=sequence,
        trace_id=texts["trace_id"],
        legal_basis=texts["legal_basis"],
        provider=texts["provider"],
    )


# -- CSV -------------------------------------------------------------------------------
def _csv_rows(text: str, origin: tuple[str, str, str]) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputFileError(f"CSV header cannot be read: {exc}") from exc
    columns = [c.strip() for c in header]
    _check_header(columns)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _refusal(start, f"CSV row cannot be read: {exc}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            yield _refusal(line, f"{len(cells)} cells for {len(columns)} columns")
            continue
        try:
            yield Row(line, draft=_csv_draft(dict(zip(columns, cells, strict=True)), origin, line))
        except _BadRow as exc:
            yield _refusal(line, str(exc))


def _check_header(columns: list[str]) -> None:
    missing = [c for c in ("subject_key", "operation") if c not in columns]
    if missing:
        raise InputFileError(f"CSV header lacks column(s): {', '.join(missing)}")
    if "" in columns:
        raise InputFileError("CSV header has an empty column name")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise InputFileError(f"CSV header repeats column(s): {', '.join(repeated)}")


def _csv_bool(text: str) -> bool:
    word = text.strip().lower()
    if not word or word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _BadRow(f"authoritative {text!r} is not true or false")


def _csv_draft(cells: dict[str, str], origin: tuple[str, str, str], line: int) -> Draft:
    def meta(key: str) -> str | None:
        value = cells.get(key, "").strip()
        return value or None

    sequence_text = meta("source_sequence")
    try:
        sequence = None if sequence_text is None else int(sequence_text)
    except ValueError:
        raise _BadRow(f"source_sequence {sequence_text!r} is not an integer") from None
    items = {k: v for k, v in cells.items() if k not in META_COLUMNS and v.strip()}
    return Draft(
        subject_key=cells["subject_key"].strip(),
        operation=cells["operation"].strip(),
        items=items,
        authoritative=_csv_bool(cells.get("authoritative", "")),
        event_id=meta("event_id") or derived_event_id(origin, line, cells),
        event_time=_event_time(meta("event_time")),
        source_system=meta("source_system"),
        source_sequence=sequence,
        trace_id=meta("trace_id"),
        legal_basis=meta("legal_basis"),
        provider=meta("provider"),
    )
