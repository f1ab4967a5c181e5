"""Timers are due rows in SQL, taken under a lease: a deadline that fell while no service
ran is acted on when one comes back, and once, however many instances run (S 25 ¶3 deemed
consent; G 30, S 47 overdue answers). SQLite and PostgreSQL, the real broker, real uvicorn
servers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
import uvicorn

from govbus.http.app import create_app
from tests.support.workflow import PASSWORD, OpenWorkflows, WorkflowEnv, valid_until
from topology.workflows.context import Workflows

WAIT_S = 60.0


class Served:
    """One `govbus serve` instance: the app on a real uvicorn server, in a thread."""

    def __init__(self, flows: Workflows) -> None:
        self.flows = flows
        config = uvicorn.Config(
            create_app(flows, on_close=flows.close),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + WAIT_S
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def http(self, user: str) -> httpx.Client:
        token = httpx.post(
            f"{self.url}/v1/auth/token", json={"username": user, "password": PASSWORD}
        ).json()["access_token"]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=WAIT_S)
        assert not self.thread.is_alive()


@pytest.fixture
def shenyang(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("shenyang-2019")


def _apply(served: Served, env: WorkflowEnv) -> str:
    with served.http("hc-clerk") as hc:
        got = hc.post(
            "/v1/applications",
            json={
                "entry": env.entry("psb.person.contact"),
                "items": ["phone"],
                "purpose": "流行病学调查",
                "legal_basis": "传染病防治法",
                "valid_until": valid_until(),
            },
        )
    assert got.status_code == 201, got.text
    return str(got.json()["id"])


def test_a_deadline_that_fell_while_the_service_was_down_fires_once_on_restart(
    shenyang: WorkflowEnv,
) -> None:
    env = shenyang
    with Served(env.instance(owner="before")) as first:
        case = _apply(first, env)
    # The service is down; the deadline (24:00 of 06-08) passes.
    env.clock.set(env.clock.now() + timedelta(days=20))
    with Served(env.instance(owner="after-1")) as one, Served(env.instance(owner="after-2")) as two:
        with one.http("bureau") as bureau:
            deadline = time.monotonic() + WAIT_S
            while bureau.get(f"/v1/applications/{case}").json()["state"] != "deemed_approved":
                assert time.monotonic() < deadline, "the deadline was not acted on"
                time.sleep(0.2)
            time.sleep(2.5)  # both instances have polled again since
            history = bureau.get(f"/v1/applications/{case}/transitions").json()["transitions"]
        deems = [t for t in history if t["action"] == "deem"]
        assert len(deems) == 1 and deems[0]["actor"] == "govbus"
        assert one.flows.run_once() == 0 and two.flows.run_once() == 0
    timers = env.flows.store.timers_of(case)
    deadlines = [t for t in timers if t.kind == "deadline"]
    assert len(deadlines) == 1 and deadlines[0].outcome == "deem"
    assert deadlines[0].lease_owner in {"after-1", "after-2"}
    grants = env.flows.applications.reference.store.list_grants(agency_id=env.agency("city-hc"))
    assert [g.id for g in grants if g.id.startswith(f"grant-{case}")] == [f"grant-{case}-1"]


def test_racing_workers_act_on_a_due_deadline_exactly_once(shenyang: WorkflowEnv) -> None:
    env = shenyang
    cases = [env.apply().json()["id"] for _ in range(3)]
    env.clock.set(env.clock.now() + timedelta(days=20))
    workers = [env.instance(owner=f"racer-{i}") for i in range(6)]
    barrier = threading.Barrier(len(workers))
    acted: list[int] = []

    def race(flows: Workflows) -> None:
        barrier.wait()
        acted.append(flows.worker.run_due())

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=WAIT_S)
        for case in cases:
            history = env.flows.store.transitions_of("share_application", case)
            assert [t.action for t in history].count("deem") == 1, case
            assert env.flows.applications.load(case).state.value == "deemed_approved"
        assert sum(acted) >= len(cases)  # deadlines (and reminders), each by one worker
    finally:
        for w in workers:
            w.close()
