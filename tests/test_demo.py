"""`govbus demo` tells its story on the real broker and a SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DEMO_TIMEOUT_S = 300


def test_demo_publishes_refuses_and_reads_back(bootstrap: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVBUS_")}
    env |= {"GOVBUS_BOOTSTRAP": bootstrap, "GOVBUS_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "govbus", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEMO_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["broker_started_here"] is False  # it used the broker it was given
    assert report["database"] == f"sqlite:///{tmp_path / 'govbus.db'}"
    assert (tmp_path / "govbus.db").is_file()
    # The bad check digit is refused before sending (GM 18), the rest arrive and read back.
    assert [r["reason"] for r in report["refused"]] == ["checksum"]
    assert len(report["published"]) == 3
    assert sorted(r["event_id"] for r in report["read_back"]) == sorted(
        p["event_id"] for p in report["published"]
    )
    # The 15-digit legacy number travels under its 18-digit canonical key.
    subjects = {r["subject"] for r in report["read_back"]}
    assert "resident_id:320311197707060018" in subjects
    names = {r["name"] for r in report["read_back"]}
    assert names == {"张三", "李四", "王五"}
