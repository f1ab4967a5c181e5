"""Helpers for tests of the workflows through their HTTP API: a copy of the demo catalog
with unique ids in its own database and state-topic namespace, one user per role, a hand-
moved clock (deadlines run without waiting)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from exchange.catalog import LEGAL_TZ
from exchange.catalog_loader import check_catalog_text
from govbus.http.app import create_app
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import Names, event, publish_events, read_topic, wait_receipt
from topology.workflows.clock import ManualClock
from topology.workflows.context import WorkflowOptions, Workflows

#: A working day well inside a year the holiday calendar knows (2026-06-01 is a Monday).
MONDAY = datetime(2026, 6, 1, 10, 0, tzinfo=LEGAL_TZ)
PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters: the tests create many accounts (production keeps the defaults).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

#: user -> (role, agency base name or None)
USERS: Mapping[str, tuple[str, str | None]] = {
    "hc-clerk": ("agency", "city-hc"),  # applicant: 市卫健委
    "psb-clerk": ("agency", "city-psb"),  # provider of psb.person.contact: 市公安局
    "mca-clerk": ("agency", "city-mca"),  # a third agency, party to nothing
    "amr-clerk": ("agency", "city-amr"),  # holds no grant of psb.person.contact
    "bureau": ("bureau", None),
    "gov": ("government", None),
    "auditor": ("auditor", None),
    "citizen": ("public", None),
}


def valid_until() -> str:
    """A validity that outlives the test whatever the real date (the processors check
    grants against the wall clock)."""
    return (datetime.now(UTC) + timedelta(days=400)).isoformat()


class Response(Protocol):
    """What the tests read of an HTTP response (the TestClient's, or httpx's)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Site:
    """Where a test's workflows run: its database, broker, state-topic namespace and clock
    (every instance of one test shares them)."""

    database_url: str
    bootstrap: str
    config: Mapping[str, str]
    namespace: str
    clock: ManualClock


def open_flows(site: Site, profile: str, *, owner: str | None = None) -> Workflows:
    """One instance of the workflows at ``site`` under ``profile`` (``owner``: its timer
    worker's lease owner)."""
    options = WorkflowOptions(
        profile_id=profile,
        extra_config=site.config,
        namespace=site.namespace,
        clock=site.clock,
        worker_owner=owner,
    )
    flows = Workflows.open(site.database_url, site.bootstrap, options)
    flows.accounts.hasher = FAST_HASHER
    return flows


@dataclass
class WorkflowEnv:
    names: Names
    site: Site
    profile: str
    flows: Workflows
    http: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.site.namespace

    @property
    def database_url(self) -> str:
        return self.site.database_url

    @property
    def bootstrap(self) -> str:
        return self.site.bootstrap

    @property
    def config(self) -> Mapping[str, str]:
        return self.site.config

    @property
    def clock(self) -> ManualClock:
        return self.site.clock

    def instance(self, profile: str | None = None, *, owner: str | None = None) -> Workflows:
        """Another instance of the workflows on this test's site (the caller closes it)."""
        return open_flows(self.site, profile or self.profile, owner=owner)

    def agency(self, base: str) -> str:
        return self.names.agency(base)

    def entry(self, base: str) -> str:
        return self.names.entry(base)

    def login(self) -> None:
        """Fresh tokens for every user (tokens expire when the clock moves far)."""
        for user in USERS:
            got = self.http.post("/v1/auth/token", json={"username": user, "password": PASSWORD})
            assert got.status_code == 200, got.text
            self.tokens[user] = got.json()["access_token"]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(self, method: str, path: str, user: str | None, **kwargs: Any) -> Response:
        headers = self.headers(user) if user else {}
        return self.http.request(method, path, headers=headers, **kwargs)

    def apply(
        self,
        user: str = "hc-clerk",
        items: tuple[str, ...] = ("phone",),
        client: TestClient | None = None,
    ) -> Response:
        """``user`` applies for ``items`` of 居民联系方式 (through ``client``: another
        instance's)."""
        return (client or self.http).request(
            "POST",
            "/v1/applications",
            headers=self.headers(user),
            json={
                "entry": self.entry("psb.person.contact"),
                "items": list(items),
                "purpose": "流行病学调查",
                "legal_basis": "《中华人民共和国传染病防治法》第十二条",
                "valid_until": valid_until(),
            },
        )

    def subscribe(self, user: str, entry: str, purpose: str = "履职所需") -> Response:
        """``user`` subscribes its agency to the unconditional entry ``entry`` (base name)."""
        body = {"entry": self.entry(entry), "purpose": purpose}
        return self.call("POST", "/v1/subscriptions", user, json=body)

    def new_entry(self, base: str = "psb.person.photo", **changes: Any) -> dict[str, Any]:
        """A catalog entry of 市公安局 that the demo catalog lacks, as the API takes it:
        unconditionally shared, not opened (privacy), with ``changes`` applied."""
        document: dict[str, Any] = {
            "id": self.entry(base),
            "title": "Resident photo reference",
            "title_zh": "居民证件照片编号",
            "provider": self.agency("city-psb"),
            "source_business": "户籍管理",
            "category": "人口基础信息",
            "key_kind": "resident_id",
            "sensitivity": "internal",
            "share_type": "unconditional",
            "open_type": "not_open",
            "open_basis": "涉及个人隐私（条例第十八条第一款第三项）",
            "update_cycle": "daily",
            "items": [
                {"name": "photo_ref", "label_zh": "证件照片编号", "type": "string", "tag": "free"}
            ],
        }
        return {**document, **changes}

    def submit_entry(
        self, document: dict[str, Any], user: str = "psb-clerk", reason: str = ""
    ) -> Response:
        """``user`` submits ``document`` as a new entry or a change."""
        return self.call(
            "POST", "/v1/catalog/changes", user, json={"entry": document, "reason": reason}
        )


#: The ``open_workflows`` fixture (tests/conftest.py): a workflow service under a profile.
OpenWorkflows = Callable[[str], WorkflowEnv]


@contextmanager
def workflow_env(
    database_url: str,
    bootstrap: str,
    config: Mapping[str, str],
    *,
    profile: str = "guiyang-2021",
    start: datetime = MONDAY,
    background: bool = False,
) -> Iterator[WorkflowEnv]:
    """The demo catalog imported (SQL + state topics), users made, a client logged in."""
    names = Names()
    site = Site(
        database_url, bootstrap, dict(config), f"wf-{uuid.uuid4().hex[:10]}", ManualClock(start)
    )
    flows = open_flows(site, profile)
    result = check_catalog_text(names.catalog_text())
    assert result.valid, result.issues
    flows.applications.reference.import_catalog(result)
    for user, (role, agency) in USERS.items():
        flows.accounts.add_user(
            user, role, PASSWORD, agency=None if agency is None else names.agency(agency)
        )
    app = create_app(flows, background=background)
    try:
        with TestClient(app) as client:
            env = WorkflowEnv(names, site, profile, flows, client)
            env.login()
            yield env
    finally:
        flows.close()


@contextmanager
def running_bus(env: WorkflowEnv, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`govbus run` (a group of its own, committing every 0.1 s) reading the state topics
    of ``env``'s namespace, as the administrator, its log in ``workdir/run.log``."""
    with (workdir / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "govbus",
                "run",
                "--group",
                f"g-{uuid.uuid4().hex}",
                "--commit-interval",
                "0.1",
            ],
            env={
                **os.environ,
                "GOVBUS_HOME": str(workdir / "home"),
                "GOVBUS_BOOTSTRAP": env.bootstrap,
                "GOVBUS_STATE_NAMESPACE": env.namespace,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=60)


#: The person the delivery tests publish about, and the message key the bus expects.
DELIVERY_PERSON = "11010519491231002X"
DELIVERY_KEY = f"resident_id:{DELIVERY_PERSON}"
RECEIPT_TIMEOUT_S = 60.0


def send_accepted(env: WorkflowEnv, entry: str, items: dict[str, str | None]) -> str:
    """Publish a change of ``entry`` (base name) as its provider 市公安局 and wait for its
    ``accepted`` receipt; returns the event id."""
    psb = env.agency("city-psb")
    e = event(env.entry(entry), psb, DELIVERY_PERSON, items)
    publish_events(env.bootstrap, [(DELIVERY_KEY, e)], config=env.config)
    receipt = receipt_of(env, psb, str(e["event_id"]))
    assert receipt["outcome"] == "accepted", receipt
    return str(e["event_id"])


def receipt_of(
    env: WorkflowEnv, agency: str, event_id: str, timeout_s: float = RECEIPT_TIMEOUT_S
) -> dict[str, Any]:
    """The receipt of ``event_id`` in ``agency``'s (full id) receipts topic, waiting up to
    ``timeout_s``."""
    return wait_receipt(env.bootstrap, agency, event_id, config=env.config, timeout_s=timeout_s)


def feed_of(env: WorkflowEnv, agency: str) -> list[dict[str, Any]]:
    """The committed records of ``agency``'s (base name) feed."""
    return read_topic(
        env.bootstrap,
        topic_name(TopicKind.FEED, env.agency(agency)),
        config=env.config,
        record="FeedRecord",
    )
