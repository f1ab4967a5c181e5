"""Shared output helpers: JSON for scripts, rich text for people, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from base.errors import PERSON_ERRORS, GovbusError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def emit_json(payload: Any) -> None:
    """Print one JSON document (UTF-8, Chinese text unescaped) on stdout."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str) + "\n")


def emit(as_json: bool, payload: Any, line: str) -> None:
    """Report one result: its JSON document with ``--json``, else one line of plain text
    (printed as written: no rich markup)."""
    if as_json:
        emit_json(payload)
    else:
        console.print(line, markup=False)


def emit_rows(
    as_json: bool,
    key: str,
    rows: Sequence[T],
    document: Callable[[T], Any],
    line: Callable[[T], str],
) -> None:
    """Report a list: ``{key: [document(row), ...]}`` with ``--json``, else one plain-text
    ``line`` a row (printed as written: no rich markup)."""
    if as_json:
        emit_json({key: [document(r) for r in rows]})
        return
    for row in rows:
        console.print(line(row), markup=False)


def fail(
    message: str, *, as_json: bool = False, code: int = EXIT_FAILURE, **extra: Any
) -> NoReturn:
    """Report an error (JSON on stdout when asked, text on stderr) and exit."""
    if as_json:
        emit_json({"error": message, **extra})
    else:
        # One line, as written: no wrapping at the terminal's width, no markup in it.
        err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def iso(moment: date | None) -> str | None:
    """A date or datetime in ``--json`` output: ISO 8601, or None."""
    return None if moment is None else moment.isoformat()


def plain(value: Any) -> Any:
    """Avro values (UUID, datetime, bytes) as JSON-friendly values."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def exit_code(exc: GovbusError) -> int:
    """2 for what a person must fix (:data:`base.errors.PERSON_ERRORS`), else 1."""
    return EXIT_USAGE if isinstance(exc, PERSON_ERRORS) else EXIT_FAILURE


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def failed(exc: GovbusError, *, as_json: bool = False, **extra: Any) -> NoReturn:
    """Report a govbus error in one line (its message names the cause and the fix) and
    exit with :func:`exit_code`."""
    fail(one_line(exc), as_json=as_json, code=exit_code(exc), kind=type(exc).__name__, **extra)


class ReportingGroup(typer.core.TyperGroup):
    """The command group that turns any govbus error a command did not report itself into
    one line and its exit code: never a traceback for an expected failure."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except GovbusError as exc:
            # ctx.args: what follows the command's name, the command's own options too.
            failed(exc, as_json="--json" in ctx.args)
