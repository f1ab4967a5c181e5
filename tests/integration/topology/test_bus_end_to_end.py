"""Reference data through the SQL store and the state topics to a running `govbus run`:
a grant added applies from the next event, a revoked one stops delivery from the next
event, without restart (G 14, G 15, S 22, S 25); `feed tail` reads as the agency;
`conflicts list` shows what the bureau must coordinate (GM 19)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govbus.cli.main import app
from schemas.topics import TopicKind, topic_name
from tests.support.processes import start_module
from tests.support.processor import PERSON, PERSON_KEY
from tests.support.scenario import Names, event, publish_events, read_topic, wait_receipt

RECEIPT_TIMEOUT_S = 60.0


@pytest.fixture
def env(bootstrap: str, tmp_path: Path) -> dict[str, str]:
    return {
        "GOVBUS_HOME": str(tmp_path / "home"),
        "GOVBUS_BOOTSTRAP": bootstrap,
        "GOVBUS_STATE_NAMESPACE": f"t{uuid.uuid4().hex[:10]}",
        "GOVBUS_PROFILE": "shenyang-2019",  # the profile the demo catalog is written for
    }


@pytest.fixture
def running(env: dict[str, str], tmp_path: Path) -> Iterator[Names]:
    names = Names()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    imported = CliRunner().invoke(app, ["catalog", "import", str(catalog), "--json"], env=env)
    assert imported.exit_code == 0, imported.output
    args = ["run", "--group", f"g-{uuid.uuid4().hex}", "--commit-interval", "0.1"]
    proc = start_module("govbus", args, tmp_path / "run.log", env={**os.environ, **env})
    try:
        yield names
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_grant_and_revoke_apply_from_the_next_event(
    running: Names, env: dict[str, str], bootstrap: str, kafka_config: dict[str, str]
) -> None:
    n, cli = running, CliRunner()
    contact, psb, hc, mca = (
        n.entry("psb.person.contact"),
        n.agency("city-psb"),
        n.agency("city-hc"),
        n.agency("city-mca"),
    )

    def send(phone: str) -> str:
        e = event(contact, psb, PERSON, {"phone": phone})
        publish_events(bootstrap, [(PERSON_KEY, e)], config=kafka_config)
        event_id = str(e["event_id"])
        receipt = wait_receipt(
            bootstrap, psb, event_id, config=kafka_config, timeout_s=RECEIPT_TIMEOUT_S
        )
        assert receipt["outcome"] == "accepted"
        return event_id

    def feed(agency: str) -> list[str]:
        return [
            str(r["event_id"])
            for r in read_topic(
                bootstrap,
                topic_name(TopicKind.FEED, agency),
                config=kafka_config,
                record="FeedRecord",
            )
        ]

    first = send("13800000001")  # 市卫健委's grant in the catalog expired in 2025
    granted = cli.invoke(
        app,
        [
            "grant",
            "add",
            "--agency",
            hc,
            "--entry",
            contact,
            "--items",
            "phone",
            "--purpose",
            "流行病学调查",
            "--basis",
            "传染病防治法",
            "--json",
        ],
        env=env,
    )
    assert granted.exit_code == 0, granted.output
    grant_id = json.loads(granted.output)["grant"]["id"]
    second = send("13800000002")
    revoked = cli.invoke(app, ["grant", "revoke", grant_id, "--json"], env=env)
    assert revoked.exit_code == 0, revoked.output
    third = send("13800000003")
    assert feed(hc) == [second]
    assert feed(mca) == [first, second, third]  # 市民政局's grant holds until revoked
    tailed = cli.invoke(app, ["feed", "tail", "--agency", hc, "--json"], env=env)
    assert tailed.exit_code == 0, tailed.output
    records = json.loads(tailed.output)["records"]
    assert [r["event_id"] for r in records] == [second]
    assert records[0]["grant_id"] == grant_id
    assert [i["name"] for i in records[0]["items"]] == ["phone"]
    # The agency's reader has now seen it: a second tail returns nothing new.
    again = json.loads(cli.invoke(app, ["feed", "tail", "--agency", hc, "--json"], env=env).output)
    assert again["records"] == []


def test_conflicts_list_shows_both_values(
    running: Names, env: dict[str, str], bootstrap: str, kafka_config: dict[str, str]
) -> None:
    n = running
    basic, psb, hc = n.entry("psb.person.basic"), n.agency("city-psb"), n.agency("city-hc")
    source = event(basic, psb, PERSON, {"name": "张三"})
    report = event(basic, hc, PERSON, {"name": "张叁"}, authoritative=False)
    publish_events(bootstrap, [(PERSON_KEY, source), (PERSON_KEY, report)], config=kafka_config)
    receipt = wait_receipt(
        bootstrap, hc, report["event_id"], config=kafka_config, timeout_s=RECEIPT_TIMEOUT_S
    )
    assert receipt["outcome"] == "conflict"
    listed = CliRunner().invoke(app, ["conflicts", "list", "--entry", basic, "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (c,) = json.loads(listed.output)["conflicts"]
    assert (c["authoritative_value"], c["authoritative_provider"]) == ("张三", psb)
    assert (c["reported_value"], c["reported_provider"]) == ("张叁", hc)
    assert c["article"] == "GM 19"
