"""``govbus catalog import``, ``govbus agency ...``, ``govbus grant ...`` on the real broker
and a SQLite file (G 11, G 14, G 15, GM 9, GM 14, S 18, S 22, S 25, S 27 ¶2).

Each test gets its own database, state-topic namespace and uniquely suffixed demo ids.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from consumers.reference import ReferenceView
from exchange.catalog import LEGAL_TZ
from govbus.cli.main import app
from kafkaclient import Admin
from tests.support.scenario import DEMO

REFRESH_S = 30.0


runner = CliRunner()


@dataclass
class Cli:
    """``env`` overlays os.environ (CliRunner): the session's GOVBUS_CREDENTIALS_FILE, the
    administrator's, still reaches the commands. ``config``: the kafka_config fixture's."""

    env: dict[str, str]
    suffix: str
    catalog: Path
    bootstrap: str
    config: dict[str, str]

    def run(self, *args: str) -> tuple[int, Any]:
        result = runner.invoke(app, [*args, "--json"], env=self.env)
        try:
            payload = json.loads(result.stdout)
        except json.JSONDecodeError:
            payload = result.stdout + result.stderr
        return result.exit_code, payload

    def agency(self, base: str) -> str:
        return f"city-{base}-{self.suffix}"

    def entry(self, base: str) -> str:
        return f"t{self.suffix}.{base}"


@pytest.fixture
def cli(bootstrap: str, kafka_config: dict[str, str], tmp_path: Path) -> Cli:
    suffix = uuid.uuid4().hex[:10]
    text = DEMO.read_text(encoding="utf-8")
    text = re.sub(r"\bcity-(psb|amr|mca|hc|bdb)\b", lambda m: f"{m.group(0)}-{suffix}", text)
    text = re.sub(
        r"(?<![\w.-])((?:psb|amr)\.[a-z_0-9]+(?:\.[a-z_0-9]+)*)",
        lambda m: f"t{suffix}.{m.group(1)}",
        text,
    )
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(text, encoding="utf-8")
    env = {
        "GOVBUS_HOME": str(tmp_path / "home"),
        "GOVBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'govbus.db'}",
        "GOVBUS_BOOTSTRAP": bootstrap,
        "GOVBUS_STATE_NAMESPACE": f"test-{suffix}",
        "GOVBUS_CONFIG": "",
        "GOVBUS_PROFILE": "shenyang-2019",  # the profile the demo catalog is written for
    }
    return Cli(env, suffix, catalog, bootstrap, kafka_config)


def _view(cli: Cli) -> ReferenceView:
    return ReferenceView(
        cli.bootstrap, namespace=cli.env["GOVBUS_STATE_NAMESPACE"], extra_config=cli.config
    )


def test_catalog_import_stores_publishes_and_creates_topics(cli: Cli) -> None:
    """Publishing an entry creates its topics (GM 14, S 18); a withdrawn one gets none."""
    code, out = cli.run("catalog", "import", str(cli.catalog))
    assert code == 0, out
    assert set(out) == {
        "entries",
        "agencies",
        "grants",
        "topics_created",
        "published_entries",
        "change_requests",
    }
    assert out["change_requests"] == []  # nothing was published before
    assert (out["entries"], out["agencies"], out["grants"]) == (6, 5, 2)
    published = {
        cli.entry(e)
        for e in (
            "psb.person.basic",
            "psb.person.contact",
            "psb.person.watchlist",
            "amr.company.registration",
            "amr.individual.business",
        )
    }
    assert set(out["published_entries"]) == published
    created = set(out["topics_created"])
    for entry in published:
        assert f"govbus.ingest.{entry}" in created
    # Every entry shares one canonical stream, one dead-letter topic and one open feed.
    existing = Admin(cli.bootstrap, extra_config=cli.config).topics()
    assert {"govbus.accepted", "govbus.dlq", "govbus.open"} <= set(existing)
    withdrawn = cli.entry("amr.company.annual_report_2019")
    assert not any(withdrawn in t for t in created)
    for agency in ("psb", "amr", "mca", "hc", "bdb"):
        assert f"govbus.feed.{cli.agency(agency)}" in created
    assert created <= set(existing)
    namespace = cli.env["GOVBUS_STATE_NAMESPACE"]
    assert f"govbus.state.{namespace}.grants" in created

    with _view(cli) as view:
        snap = view.refresh(REFRESH_S)
    assert len(snap.catalog.entries) == 6 and len(snap.grants) == 2 and snap.problems == ()

    again_code, again = cli.run("catalog", "import", str(cli.catalog))
    assert again_code == 0 and again["topics_created"] == []


def test_an_invalid_catalog_is_refused_with_every_issue_and_nothing_is_stored(cli: Cli) -> None:
    text = cli.catalog.read_text(encoding="utf-8")
    broken = text.replace("share_type: unconditional", "share_type: sometimes", 1).replace(
        "sensitivity: secret", "sensitivity: public", 1
    )
    cli.catalog.write_text(broken, encoding="utf-8")
    code, out = cli.run("catalog", "import", str(cli.catalog))
    assert code == 1
    codes = {e["code"] for e in out["errors"]}
    assert "invalid_value" in codes and "public_data_restricted" in codes  # GM 9
    assert "nothing imported" in out["error"]
    code, listed = cli.run("agency", "list")
    assert code == 0 and listed == {"agencies": []}


def test_import_of_a_missing_file_is_a_usage_error(cli: Cli) -> None:
    code, out = cli.run("catalog", "import", str(cli.catalog.with_name("nope.yaml")))
    assert code == 2 and "no such file" in out["error"]


def test_agency_add_list_and_revoke(cli: Cli) -> None:
    name = f"tax-{cli.suffix}"
    code, out = cli.run("agency", "add", name, "--name-zh", "市税务局", "--full-name", "Tax Bureau")
    assert code == 0, out
    assert out["agency"]["id"] == name and out["agency"]["name_zh"] == "市税务局"
    assert out["agency"]["kind"] == "administrative_agency" and out["agency"]["revoked_at"] is None
    assert {f"govbus.feed.{name}", f"govbus.receipts.{name}"} <= set(out["topics_created"])

    code, out = cli.run("agency", "add", name)
    # An id is registered once; the person is told what does what they wanted (exit 2).
    assert code == 2 and out["kind"] == "DuplicateError"
    assert f"govbus agency rotate-password {name}" in out["error"]

    code, out = cli.run("agency", "add", f"u-{cli.suffix}", "--kind", "public_service_enterprise")
    assert code == 0 and out["agency"]["kind"] == "public_service_enterprise"
    code, out = cli.run("agency", "add", f"v-{cli.suffix}", "--kind", "club")
    assert code == 2 and "club" in out["error"]
    code, out = cli.run("agency", "add", "no spaces allowed")
    assert code == 1 and out["kind"] == "SchemaError"

    code, listed = cli.run("agency", "list")
    assert [a["id"] for a in listed["agencies"]] == sorted([name, f"u-{cli.suffix}"])

    code, out = cli.run("agency", "revoke", name)
    assert code == 0 and out["agency"]["revoked_at"] is not None
    code, listed = cli.run("agency", "list")
    assert [a["id"] for a in listed["agencies"]] == [f"u-{cli.suffix}"]
    code, listed = cli.run("agency", "list", "--all")
    assert len(listed["agencies"]) == 2

    with _view(cli) as view:
        snap = view.refresh(REFRESH_S)
    assert [a.id for a in snap.catalog.agencies] == [f"u-{cli.suffix}"]


def test_revoking_a_provider_is_refused_citing_the_withdrawal_rule(cli: Cli) -> None:
    cli.run("catalog", "import", str(cli.catalog))
    code, out = cli.run("agency", "revoke", cli.agency("psb"))
    assert code == 1 and out["reason"] == "agency_still_provides" and "S 27" in out["article"]
    code, out = cli.run("agency", "revoke", cli.agency("psb"), "--force")
    assert code == 0 and out["agency"]["revoked_at"] is not None


def test_grant_add_revoke_and_list_reach_the_view(cli: Cli) -> None:
    """A grant applies from the next refresh; a revoked one shows revoked_at (G 15, S 25)."""
    cli.run("catalog", "import", str(cli.catalog))
    with _view(cli) as view:
        first = view.refresh(REFRESH_S)
        code, out = cli.run(
            "grant", "add",
            "--agency", cli.agency("hc"),
            "--entry", cli.entry("psb.person.contact"),
            "--items", "household_address, phone",
            "--purpose", "家庭医生签约服务",
            "--basis", "《基本医疗卫生与健康促进法》",
            "--from", "2026-01-01",
            "--until", "2026-12-31",
        )  # fmt: skip
        assert code == 0, out
        grant = out["grant"]
        assert grant["granted_by"] == cli.agency("psb")  # the entry's provider
        assert grant["items"] == ["household_address", "phone"]
        # Dates are legal time (D1): from 00:00 Beijing time, through 24:00 of the last day.
        assert datetime.fromisoformat(grant["valid_from"]) == datetime(2026, 1, 1, tzinfo=LEGAL_TZ)
        assert datetime.fromisoformat(grant["valid_until"]) == datetime(2027, 1, 1, tzinfo=LEGAL_TZ)
        assert grant["revoked_at"] is None
        second = view.refresh(REFRESH_S)
        assert second.version == first.version + 1
        assert grant["id"] in {g.id for g in second.grants}

        code, out = cli.run("grant", "revoke", grant["id"])
        assert code == 0 and out["grant"]["revoked_at"] is not None
        assert out["grant"]["active"] is False
        third = view.refresh(REFRESH_S)
        got = next(g for g in third.grants if g.id == grant["id"])
        assert (
            got.revoked_at is not None and got.revoked_at.isoformat() == out["grant"]["revoked_at"]
        )

    code, listed = cli.run("grant", "list", "--agency", cli.agency("hc"))
    assert code == 0
    assert {g["id"] for g in listed["grants"]} == {"grant-2024-0002", grant["id"]}
    code, listed = cli.run("grant", "list")
    assert len(listed["grants"]) == 3


@pytest.mark.parametrize(
    ("entry", "items", "granted_by", "reason", "article"),
    [
        ("psb.person.basic", "name", None, "grant_on_unconditional", "G 15 ¶1; S 25 ¶1"),
        ("psb.person.watchlist", "watch_category", None, "grant_on_not_shared", "GM 9; S 22"),
        ("psb.person.contact", "salary", None, "grant_item_not_in_entry", "S 22"),
        ("psb.person.contact", "phone", "amr", "grant_not_by_provider", "G 15; S 25"),
        ("no.such.entry", "phone", None, "grant_unknown_entry", "G 15"),
    ],
)
def test_grant_add_refusals_cite_the_article(
    cli: Cli, entry: str, items: str, granted_by: str | None, reason: str, article: str
) -> None:
    cli.run("catalog", "import", str(cli.catalog))
    extra = ["--granted-by", cli.agency(granted_by)] if granted_by else []
    code, out = cli.run(
        "grant", "add",
        "--agency", cli.agency("hc"),
        "--entry", cli.entry(entry) if entry != "no.such.entry" else entry,
        "--items", items,
        "--purpose", "p",
        "--basis", "b",
        *extra,
    )  # fmt: skip
    assert code == 1
    assert out["reason"] == reason and out["article"] == article
    assert article in out["error"]
    code, listed = cli.run("grant", "list", "--agency", cli.agency("hc"))
    assert [g["id"] for g in listed["grants"]] == ["grant-2024-0002"]


def test_grant_add_with_a_bad_date_is_a_usage_error(cli: Cli) -> None:
    code, out = cli.run(
        "grant", "add", "--agency", "a", "--entry", "e", "--items", "x",
        "--purpose", "p", "--basis", "b", "--from", "next tuesday",
    )  # fmt: skip
    assert code == 2 and "--from" in out["error"]


def test_revoking_an_unknown_grant_fails(cli: Cli) -> None:
    code, out = cli.run("grant", "revoke", "grant-nope")
    assert code == 1 and out["reason"] == "grant_unknown"


def test_text_output_names_the_grant(cli: Cli) -> None:
    cli.run("catalog", "import", str(cli.catalog))
    result = runner.invoke(app, ["grant", "list", "--agency", cli.agency("mca")], env=cli.env)
    assert result.exit_code == 0
    assert "grant-2024-0001" in result.stdout and cli.entry("psb.person.contact") in result.stdout


def test_subscription_add_cancel_list_reach_the_processors_view_G15_S25(cli: Cli) -> None:
    """`govbus subscription` subscribes an agency at its request (the same application
    layer as the HTTP API): the processors' view has it at once; a cancellation removes it;
    an agency imported after migration 0004 is not legacy."""
    code, out = cli.run("catalog", "import", str(cli.catalog))
    assert code == 0, out
    hc, basic = cli.agency("hc"), cli.entry("psb.person.basic")
    code, out = cli.run(
        "subscription", "add", "--agency", hc, "--entry", basic, "--purpose", "传染病防控核查"
    )
    assert code == 0, out
    sub = out["subscription"]
    assert (sub["agency"], sub["entry"], sub["state"]) == (hc, basic, "active")
    with _view(cli) as view:
        state = view.refresh().subscriptions
        assert {(s.agency, s.entry_id) for s in state.subscriptions} == {(hc, basic)}
        assert hc not in state.legacy and cli.agency("mca") not in state.legacy
        code, out = cli.run("subscription", "cancel", sub["id"], "--reason", "核查结束")
        assert code == 0 and out["subscription"]["state"] == "cancelled", out
        assert view.refresh().subscriptions.subscriptions == ()
    code, out = cli.run("subscription", "list", "--agency", hc, "--all")
    assert code == 0 and [s["cancel_reason"] for s in out["subscriptions"]] == ["核查结束"]
    # A conditional entry is applied for, never subscribed to (G 15 ¶2): one line, its article.
    contact = cli.entry("psb.person.contact")
    code, out = cli.run("subscription", "add", "--agency", hc, "--entry", contact, "--purpose", "x")
    assert code != 0 and out["reason"] == "subscription_on_conditional", out
