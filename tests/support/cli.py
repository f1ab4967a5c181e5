"""Running ``govbus`` from a test: in process (typer's runner) and reading its JSON answer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from typer.testing import CliRunner

from govbus.cli.main import app

runner = CliRunner()


def json_object(text: str) -> dict[str, Any]:
    """``text`` parsed as one JSON object (a command's ``--json`` answer)."""
    doc = json.loads(text)
    assert isinstance(doc, dict), text
    return doc


def invoke_json(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """``govbus ARGS --json`` in process: the exit code and the parsed answer, or the raw
    output when the command did not answer JSON (a usage error, say)."""
    result = runner.invoke(app, [*args, "--json"], env=env)
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.stdout + result.stderr
