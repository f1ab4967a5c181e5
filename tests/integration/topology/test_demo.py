"""`govbus demo` tells the whole story on the real broker and a SQLite store (issue 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DEMO_TIMEOUT_S = 600


def _keep(name: str) -> bool:
    """Environment the demo inherits: none of the session's GOVBUS_* settings except how
    to log in (the local broker admits only its administrator: GOVBUS_CREDENTIALS_FILE)."""
    return (
        not name.startswith("GOVBUS_")
        or name == "GOVBUS_CREDENTIALS_FILE"
        or name.startswith("GOVBUS_KAFKA__")
    )


def test_demo_story(bootstrap: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if _keep(k)}
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
    assert (tmp_path / "govbus.db").is_file()
    outcomes = [s["outcome"] for s in report["steps"]]
    assert outcomes == [
        "refused locally",  # bad check digit, refused before sending (GM 18)
        "accepted",
        "accepted",
        "accepted",
        "duplicate",  # the same event id again (GM 22)
        "refused locally",  # 市民政局 writing 市公安局's item, refused by its publisher
        "stopped",  # ... and by the gate when it bypasses the publisher (GM 22; S 20)
        "confirmation",  # S 20 multi-source verification
        "conflict",  # GM 19
        "resolved",  # ... and the bureau closes the case (GM 19)
        "dead letter",
        "granted",
        "accepted",
        "revoked",
        "accepted",
        "intact",  # every decision sealed into the audit hash chains (S 42)
    ], report["steps"]
    received = report["received"]
    # What a city's staff read (issue 15 item 7): Chinese names, no Python reprs, people and
    # companies of the demo profile's city (沈阳市和平区 210102), new on every run.
    assert all(s["outcome_zh"] and "{" not in s["step"] for s in report["steps"]), report["steps"]
    assert {r["recipient_zh"] for r in received} >= {"市民政局", "市卫健委", "市市场监管局"}
    subjects = {r["subject"] for r in received if not r["recipient"].startswith("open:")}
    people = {s for s in subjects if s.startswith("resident_id:")}
    companies = {s for s in subjects if s.startswith("credit_code:")}
    assert people and all(s.removeprefix("resident_id:")[:6] == "210102" for s in people)
    assert companies and all(s.removeprefix("credit_code:")[2:8] == "210102" for s in companies)

    def rows(who: str, entry: str) -> list[dict[str, Any]]:
        return [r for r in received if r["recipient"] == who and r["entry"] == entry]

    # The grant applied to exactly the one change between grant and revoke (G 14; S 22).
    hc_contact = rows("city-hc", "psb.person.contact")
    assert len(hc_contact) == 1 and hc_contact[0]["items"] == "phone=13985012345"
    assert len(rows("city-mca", "psb.person.contact")) == 2
    # Unconditional person data reaches every other agency; the open feed is masked.
    assert len(rows("city-amr", "psb.person.basic")) == 2
    assert not [
        r for r in received if r["recipient"] == "city-psb" and r["entry"].startswith("psb")
    ]
    opened = rows("open:psb.person.basic", "psb.person.basic")
    assert opened and all("[surname_only]" in r["items"] for r in opened)
    assert all(r["subject"].startswith("resident_id:") and "*" in r["subject"] for r in opened)
