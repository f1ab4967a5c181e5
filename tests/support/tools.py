"""External programs a test needs (Debian packages): found, or the test fails saying which."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def required_tool(name: str, package: str) -> str:
    """The path of the program ``name``; the test fails (never skips) when it is missing."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        pytest.fail(f"{name} not found: install Debian's `{package}` package", pytrace=False)
    return found
