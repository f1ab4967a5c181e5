"""Catalog update obligations through the HTTP API, per role, on SQLite and PostgreSQL:
the day a law or circumstance changed is recorded, the deadline is the profile's (G 13 ¶2,
GM 15 ¶2-3; none in Shenyang), the bus marks the case overdue at the deadline and the
metrics show it (G 30, S 47); each agency's yearly full maintenance (GM 15 ¶1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.workflow import OpenWorkflows, WorkflowEnv, workflow_env

OBLIGATIONS = "/v1/catalog/obligations"


@pytest.fixture
def env(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("guiyang-2021")


def _notice(env: WorkflowEnv, **changes: Any) -> dict[str, Any]:
    return {
        "obligation": "catalog_update_circumstances",
        "agency": env.agency("city-psb"),
        "arose_on": "2026-06-01",
        "description": "户籍管理职能调整",
        "entry_id": env.entry("psb.person.contact"),
        "matter": "catalog",
        **changes,
    }


def test_the_bureau_or_the_agency_records_the_day_and_the_bus_tracks_the_deadline_gm15(
    env: WorkflowEnv,
) -> None:
    # An agency records for itself only; the government does not record.
    assert env.call("POST", OBLIGATIONS, "hc-clerk", json=_notice(env)).status_code == 403
    assert env.call("POST", OBLIGATIONS, "gov", json=_notice(env)).status_code == 403
    mine = env.call("POST", OBLIGATIONS, "psb-clerk", json=_notice(env))
    assert mine.status_code == 201, mine.text
    # 2 working days from Monday 06-01 (GM 15 ¶3): Tuesday, Wednesday; due 24:00 06-03.
    ob = mine.json()
    assert ob["due_basis"] == "GM 15 ¶3" and ob["state"] == "open"
    assert datetime.fromisoformat(ob["due_by"]) == datetime.fromisoformat(
        "2026-06-04T00:00:00+08:00"
    )
    law = env.call(
        "POST",
        OBLIGATIONS,
        "bureau",
        json=_notice(env, obligation="catalog_update_law_change", entry_id=None),
    )
    assert law.status_code == 201 and law.json()["due_basis"] == "G 13 ¶2; GM 15 ¶2"
    wrong = env.call(
        "POST",
        OBLIGATIONS,
        "bureau",
        json=_notice(env, entry_id=env.entry("amr.company.registration")),
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "not_the_provider")
    # The deadline passes unreported: overdue (G 30), once, and in the metrics.
    env.clock.set(env.clock.now() + timedelta(days=3))
    env.login()
    assert env.flows.run_once() >= 1
    overdue = env.call("GET", f"{OBLIGATIONS}/{ob['id']}", "psb-clerk").json()
    assert overdue["overdue"] and overdue["state"] == "open"
    history = env.call("GET", f"{OBLIGATIONS}/{ob['id']}/transitions", "auditor").json()
    actions = [(t["action"], t["actor"], t["article"]) for t in history["transitions"]]
    assert actions[0] == ("record_obligation", "psb-clerk", "GM 15 ¶3")
    assert actions.count(("miss_deadline", "govbus", "GM 15 ¶3")) == 1
    metrics = env.call("GET", "/metrics", "auditor").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    key = (
        ("agency", env.agency("city-psb")),
        ("obligation", "catalog_update_circumstances"),
        ("profile", "guiyang-2021"),
    )
    assert samples[("govbus_workflow_cases_overdue", key)] == 1
    # The agency reports the update, late.
    assert (
        env.call(
            "POST", f"{OBLIGATIONS}/{ob['id']}/fulfil", "hc-clerk", json={"reason": "x"}
        ).status_code
        == 403
    )
    done = env.call(
        "POST",
        f"{OBLIGATIONS}/{ob['id']}/fulfil",
        "psb-clerk",
        json={"reason": "已更新联系方式目录"},
    )
    assert done.status_code == 200 and done.json()["state"] == "fulfilled" and done.json()["late"]
    listed = env.call("GET", OBLIGATIONS, "hc-clerk").json()["obligations"]
    assert listed == []  # another agency's


def test_shenyang_sets_no_catalog_update_period(
    database_url: str, bootstrap: str, kafka_config: dict[str, str]
) -> None:
    with workflow_env(database_url, bootstrap, kafka_config, profile="shenyang-2019") as sy:
        refused = sy.call("POST", OBLIGATIONS, "bureau", json=_notice(sy))
        assert (refused.status_code, refused.json()["code"]) == (422, "no_such_obligation")
        none = sy.call("POST", "/v1/catalog/maintenance", "bureau", json={"year": 2026})
        assert (none.status_code, none.json()["code"]) == (422, "no_full_maintenance")


def test_the_bureau_opens_each_agencys_yearly_full_maintenance_once_gm15(
    env: WorkflowEnv,
) -> None:
    assert (
        env.call("POST", "/v1/catalog/maintenance", "psb-clerk", json={"year": 2026}).status_code
        == 403
    )
    opened = env.call("POST", "/v1/catalog/maintenance", "bureau", json={"year": 2026})
    assert opened.status_code == 200, opened.text
    cases = opened.json()["obligations"]
    # Every agency that provides a published entry (市民政局 provides marital status).
    assert {c["agency"] for c in cases} == {
        env.agency("city-psb"),
        env.agency("city-amr"),
        env.agency("city-mca"),
    }
    assert {c["due_basis"] for c in cases} == {"GM 15 ¶1"}
    assert {c["due_by"] for c in cases} == {"2027-01-01T00:00:00+08:00"}
    again = env.call("POST", "/v1/catalog/maintenance", "bureau", json={"year": 2026}).json()
    assert sorted(c["id"] for c in again["obligations"]) == sorted(c["id"] for c in cases)
