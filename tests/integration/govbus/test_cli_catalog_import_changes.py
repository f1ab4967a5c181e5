"""``govbus catalog import`` never changes a published entry silently: a file that changes
one opens a change request, which goes through the profile's reviews (S 18) before the
entry changes; a withdrawal in the file is filed as of the import (S 27 ¶2). On the real
broker and SQLite or PostgreSQL, the workflows' HTTP API reviewing what the CLI opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import invoke_json
from tests.support.workflow import OpenWorkflows, WorkflowEnv


@pytest.fixture
def env(open_workflows: OpenWorkflows) -> WorkflowEnv:
    # The demo catalog is written for Shenyang (conditional opening, 涉密 entries).
    return open_workflows("shenyang-2019")


def _import(env: WorkflowEnv, catalog: Path, home: Path) -> tuple[int, object]:
    return invoke_json(
        ["catalog", "import", str(catalog)],
        env={
            "GOVBUS_HOME": str(home),
            "GOVBUS_DATABASE_URL": env.database_url,
            "GOVBUS_BOOTSTRAP": env.bootstrap,
            "GOVBUS_STATE_NAMESPACE": env.namespace,
            "GOVBUS_PROFILE": env.profile,
            "GOVBUS_CONFIG": "",
        },
    )


def test_an_import_that_changes_a_published_entry_opens_a_change_request_s18(
    env: WorkflowEnv, tmp_path: Path
) -> None:
    contact = env.entry("psb.person.contact")
    before = env.flows.applications.reference.store.get_entry(contact)
    assert before is not None and before.document["update_cycle"] == "daily"
    text = env.names.catalog_text()
    marker = "    share_type: conditional\n"
    start = text.index(f"id: {contact}")
    cycle = text.index("    update_cycle: daily\n", start)
    assert marker in text[start:cycle]
    changed = (
        text[:cycle]
        + "    update_cycle: weekly\n"
        + text[cycle + len("    update_cycle: daily\n") :]
    )
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(changed, encoding="utf-8")
    code, out = _import(env, catalog, tmp_path / "home")
    assert code == 0, out
    assert isinstance(out, dict)
    requests = out["change_requests"]
    assert [(r["entry"], r["change"], r["state"]) for r in requests] == [
        (contact, "amendment", "submitted")
    ]
    # Nothing changed silently: the published entry is as it was until it is reviewed.
    stored = env.flows.applications.reference.store.get_entry(contact)
    assert stored is not None and stored.document["update_cycle"] == "daily"
    # While the change is open, importing the file again is refused, nothing written.
    code, again = _import(env, catalog, tmp_path / "home")
    assert code == 1 and isinstance(again, dict) and again["reason"] == "change_open"
    case = requests[0]["id"]
    history = env.call("GET", f"/v1/catalog/changes/{case}/transitions", "bureau").json()
    first = history["transitions"][0]
    assert (first["action"], first["actor"], first["actor_role"]) == (
        "submit_change",
        "operator",
        "operator",
    )
    published = env.call("POST", f"/v1/catalog/changes/{case}/review", "bureau", json={})
    assert published.status_code == 200 and published.json()["state"] == "published"
    stored = env.flows.applications.reference.store.get_entry(contact)
    assert stored is not None and stored.document["update_cycle"] == "weekly"
    # The same file once more: nothing left to change.
    code, done = _import(env, catalog, tmp_path / "home")
    assert code == 0 and isinstance(done, dict) and done["change_requests"] == []
