"""govbus monitor on the real broker: lag and overdue figures from scenarios with known
offsets and record times (GM 11, G 13, GM 19; liabilities G 30, S 47).

Records are written with explicit timestamps and the monitor's clock is fixed, so every
figure is exact.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from exchange.catalog import Catalog
from govbus.cli.main import app
from kafkaclient import Admin, Consumer, Producer, TopicPartition, TopicSpec
from monitoring.exporter import MonitorMetrics
from monitoring.monitor import Monitor, MonitorConfig
from monitoring.snapshot import LagRow, Snapshot
from schemas import encode
from schemas.topics import TopicKind, bus_topics, entry_headers, topic_name
from tests.support.scenario import Names, dead_letter_value, event

DAY = 86400.0


@dataclass
class Scene:
    bootstrap: str
    config: dict[str, str]  # the administrator's client settings (kafka_config)
    names: Names
    catalog: Catalog
    now: float  # the monitor's clock, seconds
    clock: list[float]

    def ms_ago(self, seconds: float) -> int:
        return round((self.now - seconds) * 1000)

    def produce(
        self, topic: str, records: list[tuple[int, int, bytes]], *, entry: str | None = None
    ) -> None:
        """(partition, timestamp ms, value) records, acknowledged, in order; with ``entry``,
        each carries its header (as the processor writes the topics shared by every entry)."""
        headers = entry_headers(entry) if entry is not None else None
        with Producer(self.bootstrap, extra_config=self.config) as producer:
            for partition, ts, value in records:
                producer.produce(
                    topic, value, b"k", headers=headers, partition=partition, timestamp_ms=ts
                )
                producer.poll(0)

    def commit(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        with Consumer(self.bootstrap, group, extra_config=self.config) as consumer:
            consumer.commit([TopicPartition(topic, p, o) for p, o in offsets.items()])

    def monitor(self, metrics: MonitorMetrics | None = None, lookback: int = 1000) -> Monitor:
        cfg = MonitorConfig(
            self.bootstrap,
            group_pattern=self.names.sfx,
            lookback=lookback,
            extra_config=self.config,
        )
        return Monitor(cfg, lambda: self.catalog, metrics=metrics, clock=lambda: self.clock[0])

    def feed(self, agency: str) -> str:
        return topic_name(TopicKind.FEED, self.names.agency(agency))

    def partitions(self, topic: str) -> int:
        return Admin(self.bootstrap, extra_config=self.config).topics()[topic]


@pytest.fixture
def scene(bootstrap: str, kafka_config: dict[str, str]) -> Iterator[Scene]:
    names = Names()
    catalog = names.load().catalog
    defs = bus_topics([e.id for e in catalog.entries], [a.id for a in catalog.agencies])
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec.of(d) for d in defs])
    # Whole milliseconds: record timestamps carry no more.
    now = round(datetime.now(UTC).timestamp(), 3)
    yield Scene(bootstrap, kafka_config, names, catalog, now, [now])


def _lag(snap: Snapshot, group: str, topic: str) -> LagRow:
    return next(r for r in snap.lags if r.group == group and r.topic == topic)


def _status(snap: Snapshot, group: str) -> str:
    return next(g.status for g in snap.groups if g.group == group)


def test_lag_in_records_and_seconds_from_known_offsets(scene: Scene) -> None:
    mca = scene.feed("city-mca")
    scene.produce(
        mca,
        [(0, scene.ms_ago(100 - i), b"r") for i in range(10)]
        + [(1, scene.ms_ago(50 - i), b"r") for i in range(4)],
    )
    behind, caught_up = f"{scene.names.sfx}-mca-reader", f"{scene.names.sfx}-mca-archive"
    scene.commit(behind, mca, {0: 4, 1: 4})
    scene.commit(caught_up, mca, {0: 10, 1: 4})
    hc = scene.feed("city-hc")
    scene.produce(hc, [(0, scene.ms_ago(3600), b"r"), (0, scene.ms_ago(60), b"r")])
    registry = CollectorRegistry()
    mon = scene.monitor(MonitorMetrics.create(registry))
    try:
        snap = mon.refresh()
    finally:
        mon.close()
    row = _lag(snap, behind, mca)
    # Partition 0: offsets 4..9 wait; the oldest (offset 4) was written 96 s before now.
    assert (row.lag_messages, row.partitions, row.committed) == (6, 2, 8)
    assert row.lag_seconds == pytest.approx(96.0, abs=0.002)
    assert (row.kind, row.agency) == ("feed", scene.names.agency("city-mca"))
    assert _lag(snap, caught_up, mca).lag_messages == 0
    assert _lag(snap, caught_up, mca).lag_seconds == 0.0
    # Nobody is a member of these groups: records wait for one of them, so it has stopped.
    assert _status(snap, behind) == "stopped"
    assert _status(snap, caught_up) == "ok"
    feeds = {f.agency: f for f in snap.feeds}
    assert feeds[scene.names.agency("city-mca")].groups == tuple(sorted((behind, caught_up)))
    assert feeds[scene.names.agency("city-mca")].unread_seconds == 0.0
    # 市卫健委 reads nothing: its oldest record has waited an hour.
    assert feeds[scene.names.agency("city-hc")].groups == ()
    assert feeds[scene.names.agency("city-hc")].unread_seconds == pytest.approx(3600, abs=0.002)
    labels = {"group": behind, "topic": mca, "kind": "feed", "agency": row.agency}
    assert registry.get_sample_value("govbus_consumer_lag_messages", labels) == 6
    assert (
        registry.get_sample_value(
            "govbus_consumer_group_status", {"group": behind, "status": "stopped"}
        )
        == 1
    )
    agency = scene.names.agency("city-hc")
    assert registry.get_sample_value("govbus_feed_groups", {"agency": agency}) == 0


def test_transaction_markers_are_not_lag(scene: Scene) -> None:
    """A reader that consumed every record of a transactional feed sits one offset short
    of the end (the commit marker); that is no lag."""
    topic = scene.feed("city-amr")
    producer = Producer(
        scene.bootstrap, extra_config=scene.config, transactional_id=f"test-{uuid.uuid4().hex}"
    )
    producer.init_transactions()
    producer.begin_transaction()
    for _ in range(3):
        producer.produce(topic, b"r", key=b"k", partition=2)
    producer.commit_transaction()
    producer.close()
    group = f"{scene.names.sfx}-amr-reader"
    scene.commit(group, topic, {2: 3})  # after the last record; the marker is at 3
    mon = scene.monitor()
    try:
        snap = mon.refresh()
    finally:
        mon.close()
    assert _lag(snap, group, topic).lag_messages == 0
    assert _status(snap, group) == "ok"


def test_a_transaction_left_open_holds_its_partition_until_it_ends(scene: Scene) -> None:
    """A writer that began a transaction and went silent (a hung processor, G 12: real
    time): the partition's last stable offset stays behind its high watermark and the
    monitor says for how long, until the transaction ends."""
    topic = scene.feed("city-bdb")
    producer = Producer(
        scene.bootstrap, extra_config=scene.config, transactional_id=f"test-{uuid.uuid4().hex}"
    )
    producer.init_transactions()
    scene.produce(topic, [(1, scene.ms_ago(5), b"before")])  # committed before: no hold
    producer.begin_transaction()
    for _ in range(2):
        producer.produce(topic, b"open", key=b"k", partition=1)
    producer.flush()
    registry = CollectorRegistry()
    mon = scene.monitor(MonitorMetrics.create(registry))
    try:
        first = mon.refresh()
        scene.clock[0] += 400.0  # the LSO has not moved in 400 s
        held = mon.refresh()
        exposed = registry.get_sample_value(
            "govbus_open_transaction_held_seconds", {"topic": topic}
        )
        producer.abort_transaction()
        # The coordinator writes the abort marker after it answers: a few rounds at most.
        for _ in range(50):
            scene.clock[0] += 15.0
            after = mon.refresh()
            if not [r for r in after.open_transactions if r.topic == topic]:
                break
            time.sleep(0.2)
    finally:
        mon.close()
        producer.close()
    rows = [r for r in held.open_transactions if r.topic == topic]
    assert [(r.partition, r.stable_offset, r.high_watermark) for r in rows] == [(1, 1, 3)]
    assert rows[0].held_seconds == pytest.approx(400.0)
    assert [r.held_seconds for r in first.open_transactions if r.topic == topic] == [0.0]
    assert exposed == pytest.approx(400.0)
    # Aborted: the marker is written, the LSO reaches the high watermark, nothing held.
    assert [r for r in after.open_transactions if r.topic == topic] == []
    assert registry.get_sample_value("govbus_open_transaction_partitions") == len(
        after.open_transactions
    )


def _accepted(entry: str, provider: str) -> bytes:
    return encode("ChangeEvent", event(entry, provider, "11010519491231002X", {"name": "张三"}))


def test_update_cycle_overdue_figures(scene: Scene) -> None:
    """GM 11 / G 13: a daily entry last changed 3 days ago is overdue, a weekly one is not;
    a realtime entry is never overdue; an entry never updated is overdue once a full cycle
    passed since the monitor began watching it."""
    n = scene.names
    amr, psb, mca = n.agency("city-amr"), n.agency("city-psb"), n.agency("city-mca")
    reg, biz = n.entry("amr.company.registration"), n.entry("amr.individual.business")
    basic, contact = n.entry("psb.person.basic"), n.entry("psb.person.contact")
    withdrawn = n.entry("amr.company.annual_report_2019")
    # govbus.accepted is shared by every entry (and every test of the session); the monitor
    # reads the last 2 records (the lookback) of each partition. Two old changes of the
    # withdrawn entry, which is not watched, end every partition first: what is read is
    # this test's, and every partition's first record read is older than 2 days.
    accepted = topic_name(TopicKind.ACCEPTED)
    partitions = scene.partitions(accepted)
    assert partitions >= 4
    scene.produce(
        accepted,
        [(p, scene.ms_ago(6 * DAY), _accepted(withdrawn, amr)) for p in range(partitions)] * 2,
        entry=withdrawn,
    )
    # 市市场监管局's older registration change carries no entry header: its event names it.
    scene.produce(accepted, [(1, scene.ms_ago(5 * DAY), _accepted(reg, amr))])
    scene.produce(accepted, [(3, scene.ms_ago(3 * DAY), _accepted(reg, amr))], entry=reg)
    scene.produce(accepted, [(2, scene.ms_ago(3 * DAY), _accepted(biz, amr))], entry=biz)
    # psb.person.basic: 市民政局 (marital status) wrote first, then 市公安局 twice; with a
    # lookback of 2 records only the two psb records of partition 0 are read.
    scene.produce(
        accepted,
        [
            (0, scene.ms_ago(5 * DAY), _accepted(basic, mca)),
            (0, scene.ms_ago(2 * DAY), _accepted(basic, psb)),
            (0, scene.ms_ago(1 * DAY), _accepted(basic, psb)),
        ],
        entry=basic,
    )
    registry = CollectorRegistry()
    mon = scene.monitor(MonitorMetrics.create(registry), lookback=2)
    try:
        snap = mon.refresh()
        rows = {(e.entry, e.provider): e for e in snap.entries}
        r = rows[(reg, amr)]
        assert r.overdue and r.last_change == pytest.approx(scene.now - 3 * DAY, abs=0.002)
        assert r.silence_seconds == pytest.approx(3 * DAY, abs=0.002) and r.cycle == "daily"
        assert not rows[(biz, amr)].overdue
        assert rows[(biz, amr)].silence_seconds == pytest.approx(3 * DAY, abs=0.002)
        b = rows[(basic, psb)]
        assert not b.overdue and not b.assessable and b.period_seconds == 0
        assert b.last_change == pytest.approx(scene.now - DAY, abs=0.002)
        # mca's record lies before the records read: silence counts from the first read.
        m = rows[(basic, mca)]
        assert m.last_change is None
        assert m.silence_seconds == pytest.approx(2 * DAY, abs=0.002)
        c = rows[(contact, psb)]
        assert c.last_change is None and c.silence_seconds == 0 and not c.overdue
        # The withdrawn entry (S 27 ¶2) is not assessed at all.
        assert not any(e.endswith("annual_report_2019") for e, _ in rows)
        assert snap.overdue_by_provider() == {amr: 1, psb: 0, mca: 0}
        assert registry.get_sample_value("govbus_entries_overdue", {"provider": amr}) == 1
        assert (
            registry.get_sample_value("govbus_entry_overdue", {"entry": reg, "provider": amr}) == 1
        )
        # Two days later nothing new came: psb.person.contact was never updated for a full
        # daily cycle since the monitor began watching it.
        scene.clock[0] = scene.now + 2 * DAY
        later = {(e.entry, e.provider): e for e in mon.refresh().entries}
        assert later[(contact, psb)].overdue
        assert later[(contact, psb)].silence_seconds == pytest.approx(2 * DAY, abs=0.002)
        assert not later[(biz, amr)].overdue  # 5 days of a weekly cycle
    finally:
        mon.close()


def test_open_conflicts_and_dead_letters(scene: Scene) -> None:
    """GM 19 coordination cases and their age; dead letters per entry and reason."""
    n = scene.names
    basic, contact = n.entry("psb.person.basic"), n.entry("psb.person.contact")
    stranger = Names().entry("psb.person.basic")  # another catalog's
    hc, psb = n.agency("city-hc"), n.agency("city-psb")

    def conflict(subject: str, item: str, ago: float) -> tuple[int, int, bytes]:
        record = {
            "conflict_id": str(uuid.uuid4()),
            "entry": basic,
            "canonical_subject": subject,
            "item": item,
            "authoritative_value": "张三",
            "authoritative_provider": psb,
            "authoritative_event_id": str(uuid.uuid4()),
            "reported_value": "李三",
            "reported_provider": hc,
            "reported_event_id": str(uuid.uuid4()),
            "detected_at": datetime.fromtimestamp(scene.now - ago, UTC),
            "article": "GM 19",
        }
        return 0, scene.ms_ago(ago), encode("Conflict", record)

    scene.produce(
        topic_name(TopicKind.CONFLICTS),
        [
            conflict("resident_id:1", "name", 7200),
            conflict("resident_id:2", "name", 3600),
            conflict("resident_id:1", "name", 1800),  # the same case raised again
        ],
    )

    def dead(reason: str, entry: str = basic, partition: int = 0) -> tuple[int, int, bytes]:
        at = datetime.fromtimestamp(scene.now, UTC)
        value = dead_letter_value(topic_name(TopicKind.INGEST, entry), reason, at)
        return partition, scene.ms_ago(1), value

    # govbus.dlq is shared by every entry: each dead letter counts for the entry its header
    # names, or, without the header, for the entry of its ingest topic.
    dlq = topic_name(TopicKind.DLQ)
    scene.produce(dlq, [dead("undecodable"), dead("identity_checksum", partition=1)], entry=basic)
    scene.produce(dlq, [dead("undecodable", partition=2)])
    scene.produce(dlq, [dead("undecodable", contact, partition=1)], entry=contact)
    scene.produce(dlq, [dead("undecodable", stranger)], entry=stranger)
    mon = scene.monitor()
    try:
        snap = mon.refresh()
    finally:
        mon.close()
    cases = [c for c in snap.cases if c.entry == basic]
    assert len(cases) == 1
    assert (cases[0].provider, cases[0].open) == (hc, 2)
    assert cases[0].oldest_age_seconds == pytest.approx(7200, abs=0.002)
    assert {(d.reason, d.records) for d in snap.dead_letters if d.entry == basic} == {
        ("undecodable", 2),
        ("identity_checksum", 1),
    }
    assert {(d.reason, d.records) for d in snap.dead_letters if d.entry == contact} == {
        ("undecodable", 1),
    }
    # Other catalogs' entries share the topic; only this catalog's are reported.
    assert {d.entry for d in snap.dead_letters} <= {e.id for e in scene.catalog.entries}


def test_cli_monitor_once_json(scene: Scene, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(scene.names.catalog_text(), encoding="utf-8")
    mca = scene.feed("city-mca")
    scene.produce(mca, [(0, scene.ms_ago(30), b"r"), (0, scene.ms_ago(20), b"r")])
    group = f"{scene.names.sfx}-cli-reader"
    scene.commit(group, mca, {0: 1})
    args = ["monitor", "--once", "--json", "--bootstrap", scene.bootstrap]
    args += ["--catalog", str(catalog), "--groups", scene.names.sfx]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [lag] = [r for r in doc["lags"] if r["group"] == group]
    assert (lag["topic"], lag["lag_messages"]) == (mca, 1)
    assert lag["lag_seconds"] >= 20
    assert {g["group"]: g["status"] for g in doc["groups"]} == {group: "stopped"}
    assert set(doc["entries_overdue"]) == {
        scene.names.agency(a) for a in ("city-psb", "city-amr", "city-mca")
    }
    # The brokers' health (issue 18 item 4): all there, a controller, nothing offline.
    cluster = doc["cluster"]
    assert cluster["brokers"] >= 1 and cluster["partitions"] > 0
    assert cluster["offline"] == cluster["under_replicated"] == cluster["under_min_isr"] == 0
    assert cluster["controller"] != -1


def test_cli_monitor_refuses_a_missing_catalog(bootstrap: str, tmp_path: Path) -> None:
    args = ["monitor", "--once", "--json", "--bootstrap", bootstrap]
    result = CliRunner().invoke(app, [*args, "--catalog", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert "no such file" in json.loads(result.stdout)["error"]
