"""Topic conventions and `govbus topics ensure` on the real broker."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from govbus.cli.main import app
from kafkaclient import Admin
from tests.support.scenario import DEMO


def test_topics_ensure_creates_then_reports_existing(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    runner = CliRunner()
    args = ["topics", "ensure", "--catalog", str(DEMO), "--bootstrap", bootstrap, "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    names = {t["name"] for t in out["topics"]}
    assert "govbus.ingest.psb.person.basic" in names and "govbus.feed.city-hc" in names
    on_broker = Admin(bootstrap, extra_config=kafka_config).topics()
    assert names <= set(on_broker)
    assert on_broker["govbus.ingest.psb.person.basic"] == 3
    second = json.loads(runner.invoke(app, args).output)
    assert second["created"] == 0 and second["existing"] == len(names)
