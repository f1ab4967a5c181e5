"""End to end on the real broker: subscriptions made and cancelled through the HTTP API
change what a running `govbus run` delivers of an unconditional entry, from the next event
(G 15 ¶1, S 25 ¶1: an agency takes unconditional data by subscribing to what its duties
need); an agency registered before subscriptions existed (legacy, migration 0004) keeps
receiving every unconditional entry until it subscribes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from exchange.workflows.roles import OPERATOR
from storage.tables import agencies
from tests.support.workflow import OpenWorkflows, WorkflowEnv, feed_of, running_bus, send_accepted


@pytest.fixture
def running(open_workflows: OpenWorkflows, tmp_path: Path) -> Iterator[WorkflowEnv]:
    """The demo catalog imported after migration 0004 (no agency is legacy) except 市大数据局,
    marked legacy as the migration marks every agency registered before it; a `govbus run`
    reading the namespace."""
    env = open_workflows("guiyang-2021")
    reference = env.flows.subscriptions.reference
    with reference.store.engine.begin() as conn:
        conn.execute(
            update(agencies)
            .where(agencies.c.id == env.agency("city-bdb"))
            .values(legacy_unconditional=True)
        )
    reference.publish_all()
    with running_bus(env, tmp_path):
        yield env


def _send(env: WorkflowEnv, name: str) -> str:
    return send_accepted(env, "psb.person.basic", {"name": name})


def _events(env: WorkflowEnv, agency: str) -> list[str]:
    return [str(r["event_id"]) for r in feed_of(env, agency)]


def test_subscribing_delivers_from_the_next_event_and_cancelling_stops_it_G15_S25(
    running: WorkflowEnv,
) -> None:
    env = running
    before = _send(env, "张一")  # nobody subscribed yet: only the legacy agency receives it
    made = env.subscribe("hc-clerk", "psb.person.basic", "传染病防控人员核查")
    assert made.status_code == 201, made.text
    subscribed = _send(env, "张二")
    cancelled = env.call(
        "POST",
        f"/v1/subscriptions/{made.json()['id']}/cancel",
        "hc-clerk",
        json={"reason": "核查工作结束"},
    )
    assert cancelled.status_code == 200, cancelled.text
    after = _send(env, "张三")
    # 市卫健委 subscribed: it receives the event after its subscription, not the others.
    hc = feed_of(env, "city-hc")
    assert [str(r["event_id"]) for r in hc] == [subscribed]
    assert {i["name"]: i["value"] for i in hc[0]["items"]} == {"name": "张二"}
    # 市民政局 and 市市场监管局 never subscribed: nothing, though the entry is unconditional.
    assert _events(env, "city-mca") == []
    assert _events(env, "city-amr") == []
    # 市大数据局 is a legacy agency: it still receives every unconditional entry.
    assert _events(env, "city-bdb") == [before, subscribed, after]


def test_a_legacy_agencys_first_subscription_limits_it_to_what_it_subscribed_to_S25(
    running: WorkflowEnv,
) -> None:
    env = running
    before = _send(env, "李一")
    # 市大数据局 subscribes (through the operator, as `govbus subscription add` does) to
    # another entry: from now on it takes only that one.
    env.flows.subscriptions.subscribe(
        OPERATOR, env.entry("amr.company.registration"), "法人库比对", agency=env.agency("city-bdb")
    )
    after = _send(env, "李二")
    assert before in _events(env, "city-bdb")
    assert after not in _events(env, "city-bdb")
