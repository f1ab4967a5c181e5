"""Shared output helpers: JSON for scripts, rich text for people, exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)


def emit_json(payload: Any) -> None:
    """Print one JSON document (UTF-8, Chinese text unescaped) on stdout."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str) + "\n")


def fail(
    message: str, *, as_json: bool = False, code: int = EXIT_FAILURE, **extra: Any
) -> NoReturn:
    """Report an error (JSON on stdout when asked, text on stderr) and exit."""
    if as_json:
        emit_json({"error": message, **extra})
    else:
        err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def plain(value: Any) -> Any:
    """Avro values (UUID, datetime, bytes) as JSON-friendly values."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))
