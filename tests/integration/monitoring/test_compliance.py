"""govbus compliance report: the assessment view per agency (G 27-28, GM 30) of the duties
whose breach G 30 / S 47 make liabilities: update cycles (GM 11, G 13), one source
(GM 22, S 20), conflicts (GM 19), rejected events, feeds not consumed.

The broker test publishes a known scenario through the real processor and checks that the
report's figures are exactly what was published.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consumers.reader import read_to_end
from exchange.catalog import LEGAL_TZ
from govbus.cli.main import app
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.processor import running_processor
from tests.support.scenario import Names, event, publish, publish_events, read_topic, resident_id


def _at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LEGAL_TZ)


# -- on the broker -----------------------------------------------------------------------
@pytest.fixture
def scenario(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Names, Path]]:
    names = Names()
    loaded = names.load()
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(names.catalog_text(), encoding="utf-8")
    with running_processor(bootstrap, kafka_config, loaded):
        yield names, catalog_file


def _decision(kind: str, entry: str, provider: str, at: datetime) -> bytes:
    return encode(
        "Decision",
        {
            "audit_id": str(uuid.uuid4()),
            "kind": kind,
            "event_id": str(uuid.uuid4()),
            "entry": entry,
            "provider": provider,
            "canonical_subject": None,
            "reason_code": None,
            "article": None,
            "recipient": None,
            "grant_id": None,
            "purpose": None,
            "items_delivered": [],
            "masked_items": [],
            "occurred_at": at,
            "prev_hash": None,
            "record_hash": None,
        },
    )


def test_report_figures_match_the_published_events(
    bootstrap: str, kafka_config: dict[str, str], scenario: tuple[Names, Path]
) -> None:
    names, catalog_file = scenario
    n = names
    basic = n.entry("psb.person.basic")
    psb, mca, hc, amr = (n.agency(a) for a in ("city-psb", "city-mca", "city-hc", "city-amr"))
    people = [resident_id(i) for i in range(1, 4)]
    key = [f"resident_id:{p}" for p in people]
    first = event(basic, psb, people[0], {"name": "张三"}, operation="create")
    publish_events(
        bootstrap,
        [
            (key[0], first),
            (key[1], event(basic, psb, people[1], {"name": "李四"}, operation="create")),
            (key[2], event(basic, psb, people[2], {"name": "王五"}, operation="create")),
            (key[0], first),  # duplicate (GM 22)
            # 市民政局 sends a value of an item 市公安局 answers for: stopped (GM 22, S 20).
            (key[1], event(basic, mca, people[1], {"name": "李肆"})),
            (key[2], event(basic, mca, people[2], {"name": "王伍"})),
            # 市卫健委 reports a different value as not authoritative: a conflict (GM 19).
            (key[0], event(basic, hc, people[0], {"name": "张叁"}, authoritative=False)),
        ],
        config=kafka_config,
    )
    bad = event(basic, psb, "110105194912310021", {"name": "赵六"})  # wrong check digit
    publish_events(bootstrap, [("resident_id:110105194912310021", bad)], config=kafka_config)
    receipts = {
        a: read_topic(
            bootstrap,
            topic_name(TopicKind.RECEIPTS, a),
            config=kafka_config,
            until=k,
            record="Receipt",
        )
        for a, k in ((psb, 5), (mca, 2), (hc, 1))
    }
    outcomes = sorted(r["outcome"] for r in receipts[psb])
    assert outcomes == ["accepted", "accepted", "accepted", "duplicate", "rejected"]
    assert [r["outcome"] for r in receipts[mca]] == ["stopped", "stopped"]
    assert [r["outcome"] for r in receipts[hc]] == ["conflict"]
    # 市民政局 reads its whole feed (three accepted changes); 市卫健委 reads nothing.
    reader = f"{mca}.tail"
    feed = topic_name(TopicKind.FEED, mca)
    read = read_to_end(bootstrap, feed, bytes, group_id=reader, extra_config=kafka_config)
    assert len(list(read)) == 3
    # Backdated accepted changes of a daily entry of 市市场监管局 (GM 11): three cycles
    # missed in the assessed days (see below).
    today = datetime.now(LEGAL_TZ).date()
    d = [today - timedelta(days=k) for k in range(8)]
    reg = n.entry("amr.company.registration")
    publish(
        bootstrap,
        [
            (topic_name(TopicKind.AUDIT), b"x", _decision("accepted", reg, amr, _at(d[5], 12))),
            (topic_name(TopicKind.AUDIT), b"x", _decision("accepted", reg, amr, _at(d[3], 12))),
        ],
        config=kafka_config,
    )
    base = ["compliance", "report", "--bootstrap", bootstrap, "--catalog", str(catalog_file)]
    base += ["--groups", n.sfx]
    runner = CliRunner()
    result = runner.invoke(app, [*base, "--json", "--from", str(d[1]), "--to", str(today)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    by = {a["agency"]: a for a in doc["agencies"]}
    assert (by[psb]["events_accepted"], by[psb]["events_duplicate"]) == (3, 1)
    assert (by[psb]["events_rejected"], by[psb]["events_stopped"]) == (1, 0)
    assert (by[mca]["events_stopped"], by[mca]["events_accepted"]) == (2, 0)
    assert (by[hc]["conflicts_caused"], by[psb]["conflicts_caused"]) == (1, 0)
    assert by[mca]["feed_groups"] == [reader]
    assert (by[mca]["feed_unread"], by[mca]["feed_not_consumed"]) == (0, False)
    assert (by[hc]["feed_groups"], by[hc]["feed_unread"]) == ([], 3)
    assert by[hc]["feed_not_consumed"] is True
    assert by[amr]["events_accepted"] == 0  # the backdated changes lie before the window
    # Days d6..d2: window 00:00 of d6 to 24:00 of d2; updates at 12:00 of d5 and d3.
    # Deadlines missed: 00:00 d5 (from the window start), 12:00 d4, 12:00 d2.
    result = runner.invoke(
        app, [*base, "--json", "--agency", amr, "--from", str(d[6]), "--to", str(d[2])]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["agencies"]
    overdue = {f["entry"]: f for f in row["overdue_entries"]}
    assert row["entries_overdue"] == 1 and set(overdue) == {reg}
    assert (overdue[reg]["updates"], overdue[reg]["missed_cycles"]) == (2, 3)
    assert overdue[reg]["longest_gap_seconds"] == 2 * 86400
    assert overdue[reg]["last_update"] == _at(d[3], 12).isoformat()
    # The same figures as CSV for a spreadsheet, and as a table.
    result = runner.invoke(app, [*base, "--csv", "--from", str(d[1]), "--to", str(today)])
    assert result.exit_code == 0, result.output
    rows = {r["agency"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows[mca]["events_stopped"] == "2" and rows[hc]["feed_not_consumed"] == "true"
    assert rows[psb]["name_zh"] == "市公安局"
    table = runner.invoke(app, [*base, "--agency", hc])
    assert table.exit_code == 0, table.output
    assert "assessment" in table.stdout and "not consumed" in table.stdout


def test_report_refuses_bad_arguments(bootstrap: str, tmp_path: Path) -> None:
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(Names().catalog_text(), encoding="utf-8")
    base = ["compliance", "report", "--json", "--bootstrap", bootstrap]
    base += ["--catalog", str(catalog_file)]
    runner = CliRunner()
    for extra, message in (
        (["--from", "2025-13-01"], "--from must be a date"),
        (["--from", "2025-03-02", "--to", "2025-03-01"], "--to is before --from"),
        (["--agency", "nobody"], "unknown agency"),
        (["--csv"], "exclude each other"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in json.loads(result.stdout)["error"]
