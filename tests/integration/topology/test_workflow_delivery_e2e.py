"""End to end on the real broker: sharing applications answered through the HTTP API (or
not answered at all) change what a running `govbus run` delivers, from the next event
(G 15 ¶2, S 25 ¶3; G 30, S 47).

Each test runs its own processor on its own state-topic namespace and database; the
workflows' clock is a hand-moved one, so a deadline falls without waiting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from govbus.http.app import create_app
from tests.support.workflow import OpenWorkflows, WorkflowEnv, feed_of, running_bus, send_accepted


@pytest.fixture
def running(open_workflows: OpenWorkflows, tmp_path: Path) -> Iterator[WorkflowEnv]:
    """The demo catalog imported by the workflows' store, a `govbus run` reading its
    namespace."""
    env = open_workflows("guiyang-2021")
    with running_bus(env, tmp_path):
        yield env


def _send(env: WorkflowEnv, phone: str) -> str:
    return send_accepted(env, "psb.person.contact", {"phone": phone})


def test_an_approval_through_the_api_delivers_from_the_next_event_and_a_revocation_stops_it(
    running: WorkflowEnv,
) -> None:
    env = running
    before = _send(env, "13800000001")  # 市卫健委's grant from the catalog expired in 2025
    case = env.apply().json()["id"]
    approved = env.call("POST", f"/v1/applications/{case}/approve", "psb-clerk", json={})
    assert approved.status_code == 200, approved.text
    grant_id = approved.json()["grant_id"]
    granted = _send(env, "13800000002")
    env.clock.advance(timedelta(hours=1))
    revoked = env.call(
        "POST", f"/v1/applications/{case}/revoke", "psb-clerk", json={"reason": "调查结束"}
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    after = _send(env, "13800000003")
    feed = feed_of(env, "city-hc")
    assert [str(r["event_id"]) for r in feed] == [granted], (before, after)
    assert feed[0]["grant_id"] == grant_id and feed[0]["purpose"] == "流行病学调查"
    assert [i["name"] for i in feed[0]["items"]] == ["phone"]


def test_shenyang_silence_is_consent_at_the_deadline_guiyang_silence_only_overdue(
    running: WorkflowEnv,
) -> None:
    """S 25 ¶3 `逾期未答复的，视为同意共享`: the bus grants at 24:00 of the last day and the
    next event is delivered. The same silence under guiyang-2021 is overdue (G 30) and
    delivers nothing."""
    env = running
    shenyang = env.instance("shenyang-2019")
    try:
        with TestClient(create_app(shenyang, background=False)) as sy_client:
            deemed_case = env.apply("hc-clerk", client=sy_client).json()
            overdue_case = env.apply("amr-clerk").json()  # guiyang-2021, the first service's
            assert deemed_case["profile"] == "shenyang-2019", deemed_case
            assert overdue_case["profile"] == "guiyang-2021", overdue_case
            # Shenyang: 5 working days from receipt (06-01) end with 06-08; Guiyang: 10 days.
            assert deemed_case["due_by"].startswith("2026-06-09T00:00:00")
            env.clock.set(env.clock.now() + timedelta(days=30))  # both deadlines have passed
            # Either service acts on any due row, under the case's own profile, once.
            assert shenyang.run_once() >= 2
            assert env.flows.run_once() == 0
            env.login()  # a month later: yesterday's tokens have expired
            deemed = sy_client.get(
                f"/v1/applications/{deemed_case['id']}", headers=env.headers("bureau")
            ).json()
            assert deemed["state"] == "deemed_approved" and deemed["answer"]["deemed"]
            # From 24:00 of the last day (Asia/Shanghai), not from when the bus acted.
            assert datetime.fromisoformat(deemed["grant_from"]) == datetime.fromisoformat(
                "2026-06-09T00:00:00+08:00"
            )
            overdue = env.call("GET", f"/v1/applications/{overdue_case['id']}", "bureau").json()
            assert overdue["state"] == "submitted" and overdue["overdue"]
            assert overdue["grant_id"] is None
            history = env.call(
                "GET", f"/v1/applications/{deemed_case['id']}/transitions", "auditor"
            ).json()["transitions"]
            assert [(t["action"], t["actor"], t["article"]) for t in history][-1] == (
                "deem",
                "govbus",
                "S 25 ¶3",
            )
    finally:
        shenyang.close()
    delivered = _send(env, "13800000009")
    hc = feed_of(env, "city-hc")
    assert [str(r["event_id"]) for r in hc] == [delivered]
    assert hc[0]["grant_id"] == deemed["grant_id"]
    assert feed_of(env, "city-amr") == []
