"""Subscriptions to unconditional entries through the HTTP API (G 15 ¶1, S 25 ¶1): an
agency user subscribes its own agency with a stated purpose, without approval; what cannot
be subscribed to is refused with its article; every change is stamped who/when/why, sealed
into the workflow audit chain, and its agency's record reaches the state topic."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from producers.workflow_audit import workflow_audit_topic
from schemas.audit import verify
from schemas.state import state_topics
from tests.support.scenario import read_topic
from tests.support.workflow import WorkflowEnv, workflow_env


@pytest.fixture
def env(database_url: str, bootstrap: str, kafka_config: dict[str, str]) -> Iterator[WorkflowEnv]:
    with workflow_env(database_url, bootstrap, kafka_config) as made:
        yield made


def _state(env: WorkflowEnv, agency: str) -> dict[str, object]:
    """The agency's latest record on the namespace's subscriptions state topic."""
    topic = state_topics(env.namespace).subscriptions
    found = [
        json.loads(value)
        for key, value in read_topic(env.bootstrap, topic, config=env.config)
        if key == env.agency(agency).encode() and value is not None
    ]
    assert found, f"no subscriptions record of {agency}"
    latest: dict[str, object] = found[-1]
    return latest


def test_subscribe_list_cancel_with_who_when_why_G15_S25(env: WorkflowEnv) -> None:
    made = env.subscribe("hc-clerk", "psb.person.basic", "传染病密切接触者核查")
    assert made.status_code == 201, made.text
    sub = made.json()
    assert (sub["agency"], sub["entry"], sub["state"]) == (
        env.agency("city-hc"),
        env.entry("psb.person.basic"),
        "active",
    )
    assert sub["subscribed_by"] == "hc-clerk" and sub["purpose"] == "传染病密切接触者核查"
    record = _state(env, "city-hc")
    assert record["legacy_unconditional"] is False
    assert [s["id"] for s in record["subscriptions"]] == [sub["id"]]  # type: ignore[attr-defined]
    # Once is enough: a second subscription to the same entry is a conflict.
    again = env.subscribe("hc-clerk", "psb.person.basic")
    assert again.status_code == 409 and again.json()["code"] == "already_subscribed"
    # Each agency sees its own; the bureau and the auditor see all; the public nothing.
    assert [
        s["id"] for s in env.call("GET", "/v1/subscriptions", "hc-clerk").json()["subscriptions"]
    ] == [sub["id"]]
    assert env.call("GET", "/v1/subscriptions", "mca-clerk").json() == {"subscriptions": []}
    assert sub["id"] in {
        s["id"] for s in env.call("GET", "/v1/subscriptions", "auditor").json()["subscriptions"]
    }
    assert env.call("GET", "/v1/subscriptions", "citizen").status_code == 403
    assert env.call("GET", f"/v1/subscriptions/{sub['id']}", "mca-clerk").status_code == 403
    # Only the subscriber cancels, and says why.
    url = f"/v1/subscriptions/{sub['id']}/cancel"
    assert env.call("POST", url, "mca-clerk", json={"reason": "x"}).status_code == 403
    assert env.call("POST", url, "hc-clerk", json={"reason": ""}).status_code == 422
    cancelled = env.call("POST", url, "hc-clerk", json={"reason": "核查结束"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "核查结束"
    assert env.call("POST", url, "hc-clerk", json={"reason": "again"}).status_code == 409
    assert _state(env, "city-hc")["subscriptions"] == []
    # Who, when, why, on which article; sealed into the workflow audit chain (S 42).
    assert env.flows.relay is not None
    env.flows.relay.run_once()
    history = env.call("GET", f"/v1/subscriptions/{sub['id']}/transitions", "bureau").json()
    steps = history["transitions"]
    assert [(t["action"], t["actor"], t["reason"]) for t in steps] == [
        ("subscribe", "hc-clerk", "传染病密切接触者核查"),
        ("cancel", "hc-clerk", "核查结束"),
    ]
    assert all(t["article"] == "G 15 ¶1; S 25 ¶1" and t["audit_seq"] for t in steps)
    messages = read_topic(
        env.bootstrap, workflow_audit_topic(env.namespace), config=env.config, settle_s=1.0
    )
    report = verify(
        ((str(i), value) for i, (_key, value) in enumerate(messages)), record_name="WorkflowEvent"
    )
    assert report.ok, report.findings


@pytest.mark.parametrize(
    ("user", "entry", "code"),
    [
        ("hc-clerk", "psb.person.contact", "subscription_on_conditional"),  # G 15 ¶2: apply
        ("hc-clerk", "psb.person.watchlist", "subscription_on_not_shared"),  # GM 9
        ("psb-clerk", "psb.person.basic", "subscription_by_provider"),
    ],
)
def test_what_cannot_be_subscribed_to_is_422_with_its_article(
    env: WorkflowEnv, user: str, entry: str, code: str
) -> None:
    got = env.subscribe(user, entry)
    assert got.status_code == 422, got.text
    assert got.json()["code"] == code and got.json()["article"]


def test_an_unknown_entry_is_404_and_a_missing_purpose_422(env: WorkflowEnv) -> None:
    assert env.subscribe("hc-clerk", "psb.person.none").status_code == 404
    assert env.subscribe("hc-clerk", "psb.person.basic", purpose="").status_code == 422
