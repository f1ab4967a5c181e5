"""Chinese statutory working days (Decision D1), as an immutable :class:`WorkCalendar`.

The calendar is built from the ``chinese_calendar`` package's State Council arrangements
plus optional per-year data files, so an operator can add a newly announced year (or
correct one) without upgrading anything. Nothing here keeps mutable module state: build a
calendar once with :func:`load_work_calendar` and pass it to the pure functions of
:mod:`exchange.deadlines`.

A year file (YAML or JSON; ``*.yaml``, ``*.yml`` or ``*.json`` in a directory)::

    year: 2027
    source: "国办发明电〔2026〕N号"          # optional, free text
    holidays:                               # rest days: statutory holidays and in-lieu days
      - 2027-01-01
      - {from: 2027-02-06, to: 2027-02-13}  # inclusive range
    workdays:                               # adjusted working days (调休) on weekends
      - 2027-02-20

Every date must fall in ``year``: a file describes one calendar year completely, and it
replaces the library's arrangement for that year if the library has one (a correction).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from base.errors import CalendarError

LEGAL_TIMEZONE = ZoneInfo("Asia/Shanghai")
"""Legal time of every text (D1)."""

HOLIDAYS_DIR_ENV = "GOVBUS_HOLIDAYS_DIR"
"""Environment variable naming extra year-file directories (``os.pathsep``-separated)."""

PACKAGED_HOLIDAYS_DIR = Path(__file__).with_name("holidays")
YEAR_FILE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_DAYS_SCANNED = 400
"""No arrangement has more than a few weeks of consecutive rest days; a longer scan is a bug."""

_YEAR_FILE_KEYS = frozenset({"year", "source", "holidays", "workdays"})
_RANGE_KEYS = frozenset({"from", "to"})
_SATURDAY = 5


@dataclass(frozen=True)
class YearArrangement:
    """One year's rest and adjusted working days."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str


@dataclass(frozen=True)
class WorkCalendar:
    """The statutory working days of the years it knows; other years are an error (D1)."""

    arrangements: tuple[YearArrangement, ...]

    @property
    def years(self) -> frozenset[int]:
        return frozenset(a.year for a in self.arrangements)

    def arrangement(self, year: int) -> YearArrangement:
        for item in self.arrangements:
            if item.year == year:
                return item
        known = sorted(self.years)
        span = f"{known[0]}-{known[-1]}" if known else "none"
        raise CalendarError(
            f"no holiday arrangement loaded for {year} (known years: {span}); add a year file "
            f"to ${HOLIDAYS_DIR_ENV}",
            code="unknown_year",
            article="D1",
        )

    def is_workday(self, day: date) -> bool:
        """True on a statutory working day; raises CalendarError for an unknown year."""
        year = self.arrangement(day.year)
        if day in year.workdays:
            return True
        if day in year.holidays:
            return False
        return day.weekday() < _SATURDAY

    def next_workday_on_or_after(self, day: date) -> date:
        for candidate in _days_from(day):
            if self.is_workday(candidate):
                return candidate
        raise CalendarError(f"no working day near {day}", code="no_workday", article="D1")

    def nth_workday_after(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself is not counted)."""
        seen = 0
        for candidate in _days_from(day + timedelta(days=1), limit=MAX_DAYS_SCANNED * count):
            if self.is_workday(candidate):
                seen += 1
                if seen == count:
                    return candidate
        raise CalendarError(f"no working day near {day}", code="no_workday", article="D1")


def _days_from(day: date, *, limit: int = MAX_DAYS_SCANNED) -> Iterator[date]:
    for offset in range(limit):
        yield day + timedelta(days=offset)


def library_arrangements() -> tuple[YearArrangement, ...]:
    """The arrangements shipped in ``chinese_calendar`` (copied into immutable sets)."""
    from chinese_calendar import constants  # local: keep the third-party tables out of scope

    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in constants.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in constants.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return tuple(
        YearArrangement(
            year=year,
            holidays=frozenset(holidays.get(year, set())),
            workdays=frozenset(workdays.get(year, set())),
            source="chinese_calendar",
        )
        for year in range(min(holidays), max(holidays) + 1)
    )


def load_work_calendar(extra_dirs: Sequence[Path] = ()) -> WorkCalendar:
    """Library years, then the packaged year files, then each of ``extra_dirs`` in order.

    A later file for a year replaces the earlier arrangement of that year.
    """
    by_year = {a.year: a for a in library_arrangements()}
    for directory in (PACKAGED_HOLIDAYS_DIR, *extra_dirs):
        for arrangement in load_year_files(directory):
            by_year[arrangement.year] = arrangement
    return WorkCalendar(tuple(by_year[y] for y in sorted(by_year)))


def holiday_dirs_from_env(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """Directories named by ``GOVBUS_HOLIDAYS_DIR`` in ``environ`` (may be empty)."""
    raw = environ.get(HOLIDAYS_DIR_ENV, "")
    return tuple(Path(part) for part in raw.split(os.pathsep) if part.strip())


def load_year_files(directory: Path) -> tuple[YearArrangement, ...]:
    """Every year file in ``directory`` (none if it does not exist); duplicates are an error."""
    if not directory.is_dir():
        return ()
    files = sorted(p for p in directory.iterdir() if p.suffix in YEAR_FILE_SUFFIXES)
    result: dict[int, YearArrangement] = {}
    for path in files:
        arrangement = load_year_file(path)
        if arrangement.year in result:
            raise _file_error(path, f"year {arrangement.year} is defined twice in {directory}")
        result[arrangement.year] = arrangement
    return tuple(result.values())


def load_year_file(path: Path) -> YearArrangement:
    """Read and strictly validate one year file."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise _file_error(path, f"cannot read: {exc}") from exc
    return parse_year_arrangement(data, str(path))


def parse_year_arrangement(data: object, source: str) -> YearArrangement:
    """Validate a decoded year file (``source`` names it in errors)."""
    if not isinstance(data, dict):
        raise _file_error(source, "expected a mapping")
    unknown = sorted(set(map(str, data)) - _YEAR_FILE_KEYS)
    if unknown:
        raise _file_error(source, f"unknown key {unknown[0]!r}")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise _file_error(source, "'year' must be an integer")
    holidays = frozenset(_dates(data.get("holidays", []), "holidays", year, source))
    workdays = frozenset(_dates(data.get("workdays", []), "workdays", year, source))
    both = sorted(holidays & workdays)
    if both:
        raise _file_error(source, f"{both[0]} is both a holiday and a working day")
    weekday_workdays = sorted(d for d in workdays if d.weekday() < _SATURDAY)
    if weekday_workdays:
        raise _file_error(
            source, f"{weekday_workdays[0]} is a weekday; 'workdays' lists weekend days only"
        )
    label = data.get("source", source)
    return YearArrangement(year, holidays, workdays, str(label))


def _dates(items: object, key: str, year: int, source: str) -> Iterable[date]:
    if not isinstance(items, list):
        raise _file_error(source, f"'{key}' must be a list")
    for item in items:
        if isinstance(item, dict):
            unknown = sorted(set(map(str, item)) - _RANGE_KEYS)
            if unknown or len(item) != len(_RANGE_KEYS):
                raise _file_error(source, f"a range in '{key}' needs exactly 'from' and 'to'")
            first = _one_date(item["from"], key, year, source)
            last = _one_date(item["to"], key, year, source)
            if last < first:
                raise _file_error(source, f"range {first}..{last} in '{key}' is reversed")
            yield from (first + timedelta(days=n) for n in range((last - first).days + 1))
        else:
            yield _one_date(item, key, year, source)


def _one_date(value: Any, key: str, year: int, source: str) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise _file_error(source, f"bad date {value!r} in '{key}'") from exc
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _file_error(source, f"bad date {value!r} in '{key}'")
    if value.year != year:
        raise _file_error(source, f"{value} in '{key}' is outside year {year}")
    return value


def _file_error(source: str | Path, message: str) -> CalendarError:
    return CalendarError(f"{source}: {message}", code="year_file", article="D1")
