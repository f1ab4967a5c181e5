"""Where a bench run leaves its results: one JSON file per run, named by the bench and the
time of writing (``bench/results/<name>-<stamp>.json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_results(out: Path, name: str, report: dict[str, Any]) -> Path:
    """Write ``report`` to ``out/<name>-<UTC stamp>.json`` (``out`` made if missing) and
    return that path."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{name}-{stamp}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
