"""One processor group owns an ingest topic, and a second one on the same input is found
(issue 14 item 7; GM 22: one decision per change; S 42: the audit is tamper-evident).

On the real broker: group A processes a catalog's input. ``govbus run`` refuses to start
another group on it (``--group`` another, or ``--namespace NS`` after ``catalog import
--namespace NS`` over the same entries), in one line naming the owner and the fix, exit 2.
A second group started around the check (here: in-process, as a careless operator with
his own tooling would) decides the input again; ``govbus audit verify`` reports it as
*replayed* at once, and as *forked* at the first record where the two groups' chains
collide.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from base.errors import KafkaError
from consumers.reader import read_labelled
from exchange.catalog_loader import LoadedCatalog, check_catalog_text
from govbus.cli.main import app
from kafkaclient import Admin, Producer
from schemas import decode, encode
from schemas.audit import FORKED, REPLAYED, AuditReport, of_entries, verify
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import DEMO, SEQUENCES
from topology.ownership import check_input
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference

pytestmark = pytest.mark.broker

PERSON = "11010519491231002X"
KEY = f"resident_id:{PERSON}".encode()
WAIT_S = 90.0
CLI_TIMEOUT_S = 120.0


def _catalog_text(sfx: str) -> str:
    """The demo catalog with agency and entry ids of this test only."""
    text = DEMO.read_text(encoding="utf-8")
    text = re.sub(r"\bcity-(psb|amr|mca|hc|bdb)\b", lambda m: f"{m.group(0)}-{sfx}", text)
    return re.sub(
        r"(?<![\w.-])((?:psb|amr)\.[a-z_0-9]+(?:\.[a-z_0-9]+)*)",
        lambda m: f"t{sfx}.{m.group(1)}",
        text,
    )


def _event(entry: str, provider: str, name: str) -> bytes:
    return encode(
        "ChangeEvent",
        {
            "event_id": str(uuid.uuid4()),
            "entry": entry,
            "provider": provider,
            "subject_key": PERSON,
            "subject_kind": "resident_id",
            "operation": "update",
            "authoritative": True,
            "items": [{"name": "name", "before": None, "after": name}],
            "source_system": "test",
            "event_time": datetime.now(UTC),
            "source_sequence": next(SEQUENCES),
            "trace_id": None,
            "legal_basis": None,
        },
    )


def _until(what: str, probe: Callable[[], Any]) -> Any:
    """``probe()`` once truthy. A topic created moments ago may answer NOT_LEADER for a
    while (consumers.reader does not retry that yet): asked again."""
    deadline = time.monotonic() + WAIT_S
    last: KafkaError | None = None
    while time.monotonic() < deadline:
        try:
            found = probe()
        except KafkaError as exc:
            found, last = None, exc
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {WAIT_S}s: {what} (last error: {last})")


class Input:
    def __init__(self, bootstrap: str, config: dict[str, str], tmp_path: Path) -> None:
        self.bootstrap, self.config = bootstrap, config
        self.sfx = uuid.uuid4().hex[:10]
        self.catalog_file = tmp_path / "catalog.yaml"
        self.catalog_file.write_text(_catalog_text(self.sfx), encoding="utf-8")
        checked = check_catalog_text(self.catalog_file.read_text(encoding="utf-8"))
        assert checked.catalog is not None, checked.issues
        self.loaded = LoadedCatalog(checked.catalog, checked.grants)
        self.entry = f"t{self.sfx}.psb.person.basic"
        self.provider = f"city-psb-{self.sfx}"
        self.ingest = topic_name(TopicKind.INGEST, self.entry)
        self.threads: list[tuple[threading.Event, threading.Thread]] = []

    def start(self, group: str) -> None:
        processor = Processor(
            ProcessorConfig(
                self.bootstrap, group_id=group, commit_interval_s=0.1, extra_config=self.config
            ),
            StaticReference(self.loaded.catalog, self.loaded.grants),
        )
        stop = threading.Event()
        thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
        thread.start()
        self.threads.append((stop, thread))

    def stop(self) -> None:
        for stop, _ in self.threads:
            stop.set()
        for _, thread in self.threads:
            thread.join(timeout=60)

    def publish(self, *values: bytes) -> None:
        with Producer(self.bootstrap, extra_config=self.config) as producer:
            for value in values:
                producer.produce(self.ingest, value, key=KEY)

    def audit(self) -> AuditReport:
        messages = read_labelled(
            self.bootstrap, topic_name(TopicKind.AUDIT), extra_config=self.config
        )
        return verify(messages, include=of_entries([self.entry]))

    def receipts(self) -> list[dict[str, Any]]:
        messages = read_labelled(
            self.bootstrap, topic_name(TopicKind.RECEIPTS, self.provider), extra_config=self.config
        )
        return [decode("Receipt", m) for _, m in messages]


@pytest.fixture
def bus(bootstrap: str, kafka_config: dict[str, str], tmp_path: Path) -> Iterator[Input]:
    made = Input(bootstrap, kafka_config, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def _govbus(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``govbus`` in its own process, as an operator runs it (a run that is not refused
    would not return: the timeout fails the test)."""
    return subprocess.run(
        [sys.executable, "-m", "govbus", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], owner: str, prefix: str) -> None:
    """Exit 2, one error naming an ingest topic of this catalog, its owner and the fix."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    text = " ".join(done.stderr.split())  # rich wraps at the terminal's width
    assert text.count("error:") == 1
    assert re.search(rf"ingest topic {re.escape(prefix)}\S+ and \d+ more ingest topic", text), text
    assert f"processed by group {owner}" in text and f"run with --group {owner}" in text


def test_a_second_group_is_refused_and_a_fork_is_found_where_it_starts(
    bus: Input, tmp_path: Path
) -> None:
    owner = f"govbus-own-a-{bus.sfx}"
    bus.start(owner)
    _until(
        "the bus topics",
        lambda: bus.ingest in Admin(bus.bootstrap, extra_config=bus.config).topics(),
    )
    # An undecodable message first (dead letter), then a valid change (accepted, GM 22).
    bus.publish(b"\x00 not an event", _event(bus.entry, bus.provider, "张三"))
    _until("the receipt", bus.receipts)
    before = _until("group A's audit records", lambda: bus.audit().heads or None)
    assert _until("the audit report", bus.audit).ok
    ((chain, head),) = before.items()

    # The same group may start (it owns the input); another is refused, in one line.
    assert bus.ingest in check_input(
        bus.bootstrap, owner, catalog=bus.catalog_file, extra_config=bus.config
    )
    other = f"govbus-own-b-{bus.sfx}"
    run = ["run", "--bootstrap", bus.bootstrap, "--catalog", str(bus.catalog_file)]
    mine = topic_name(TopicKind.INGEST, f"t{bus.sfx}.")
    _refused(_govbus(*run, "--group", other), owner, mine)

    # The namespace route to the same input: a catalog imported into namespace NS over the
    # same entries, then `govbus run --namespace NS` (the default group).
    namespace = f"ns-{bus.sfx}"
    env = {
        "GOVBUS_HOME": str(tmp_path / "home"),
        "GOVBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'govbus.db'}",
        "GOVBUS_BOOTSTRAP": bus.bootstrap,
        "GOVBUS_PROFILE": "shenyang-2019",  # the profile the demo catalog is written for
        "GOVBUS_CONFIG": "",
    }
    imported = CliRunner().invoke(
        app,
        ["catalog", "import", str(bus.catalog_file), "--namespace", namespace, "--json"],
        env=env,
    )
    assert imported.exit_code == 0, imported.output
    _refused(_govbus("run", "--namespace", namespace, env=env), owner, mine)

    # A second group that got past the check decides the input again: found at its first
    # record, though every link of the chain still holds (issue 14: "intact at first").
    bus.start(other)
    replayed = _until(
        "group B's replayed decisions",
        lambda: [f for f in bus.audit().findings if f.kind == REPLAYED],
    )
    assert [(f.chain, f.seq) for f in replayed] == [(chain, head.seq + 1)]
    assert not [f for f in _until("the audit report", bus.audit).findings if f.kind == FORKED]

    # A new change reaches both groups: each extends the chain from its own head.
    bus.publish(_event(bus.entry, bus.provider, "张叁"))
    forked = _until("the fork", lambda: [f for f in bus.audit().findings if f.kind == FORKED])
    messages = _until(
        "the audit records",
        lambda: read_labelled(bus.bootstrap, topic_name(TopicKind.AUDIT), extra_config=bus.config),
    )
    claims: dict[int, set[bytes]] = {}
    for _, message in messages:
        record = decode("Decision", message)
        if record["chain"] == chain:
            claims.setdefault(record["seq"], set()).add(record["record_hash"])
    first_forked = min(seq for seq, hashes in claims.items() if len(hashes) > 1)
    assert first_forked == head.seq + 1
    assert [(f.chain, f.seq) for f in forked] == [(chain, first_forked)]

    # What the operator sees.
    done = CliRunner().invoke(
        app, ["audit", "verify", "--entry", bus.entry, "--bootstrap", bus.bootstrap, "--json"]
    )
    assert done.exit_code == 1, done.output
    found = {(f["kind"], f["seq"]) for f in json.loads(done.stdout)["findings"]}
    assert {(FORKED, first_forked), (REPLAYED, head.seq + 1)} <= found
