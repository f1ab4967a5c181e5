"""``govbus demo`` at the foundation stage, on embedded defaults (local broker + SQLite).

It starts the local broker if none runs, migrates the SQLite store, registers the demo
catalog's agencies, creates the bus topics, publishes a few Avro change events of
the public security bureau (one refused locally for a bad ID number), reads them back with
a read_committed consumer and stops the broker if it started it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from exchange.catalog import LifecycleState
from exchange.catalog_loader import load_catalog
from exchange.identity import IdentityKind, check
from govbus.broker.local import LocalBroker
from govbus.kafka import Admin, Consumer, Producer, TopicSpec
from govbus.settings import Settings
from schemas import decode, encode
from schemas.topics import TopicKind, bus_topics, topic_name
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "catalog-demo.yaml"
DEMO_ENTRY = "psb.person.basic"
DEMO_PROVIDER = "city-psb"
#: Reading back a handful of events from a local broker takes well under this.
READ_BACK_TIMEOUT_S = 30.0

# (subject key as the agency system holds it, name) — the last ID has a wrong check digit.
DEMO_PEOPLE = (
    ("11010519491231002X", "张三"),
    ("440524188001010014", "李四"),
    ("320311770706001", "王五"),  # a 15-digit legacy number: normalised to 18 digits
    ("110105194912310021", "赵六"),
)


@dataclass
class DemoReport:
    bootstrap: str = ""
    broker_started_here: bool = False
    database: str = ""
    agencies: list[str] = field(default_factory=list)
    topics_created: int = 0
    published: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    read_back: list[dict[str, str]] = field(default_factory=list)


def run_demo(
    settings: Settings, say: Callable[[str], None], catalog: Path = DEMO_CATALOG
) -> DemoReport:
    report = DemoReport()
    broker = LocalBroker(settings.home, settings.kafka_version, settings.broker_heap)
    if settings.bootstrap:
        report.bootstrap = settings.bootstrap
    else:
        status = broker.start()
        report.bootstrap = str(status.bootstrap)
        report.broker_started_here = not status.already_running
        say(f"broker {report.bootstrap} ({'started' if report.broker_started_here else 'running'})")
    try:
        _story(settings, report, say, catalog)
    finally:
        if report.broker_started_here:
            broker.stop()
            say("broker stopped")
    return report


def _story(
    settings: Settings, report: DemoReport, say: Callable[[str], None], catalog_file: Path
) -> None:
    url = settings.effective_database_url
    migrate.upgrade(url)
    report.database = url
    catalog = load_catalog(catalog_file).catalog
    store = ReferenceStore(make_engine(url))
    for agency in catalog.agencies:
        if store.get_agency(agency.id) is None:
            store.add_agency(agency.id, agency.name_zh or agency.name)
        report.agencies.append(agency.id)
    say(f"SQL store {url}: {len(report.agencies)} agencies registered")

    published = [e.id for e in catalog.entries if e.lifecycle.state is LifecycleState.PUBLISHED]
    defs = bus_topics(published, report.agencies)
    admin = Admin(report.bootstrap, extra_config=settings.kafka)
    report.topics_created = len(
        admin.ensure_topics([TopicSpec(d.name, d.partitions, 1, d.config) for d in defs])
    )
    say(f"topics: {len(defs)} ensured, {report.topics_created} created")

    ingest = topic_name(TopicKind.INGEST, DEMO_ENTRY)
    run_id = uuid.uuid4().hex[:8]
    with Producer(report.bootstrap, extra_config=settings.kafka) as producer:
        for seq, (number, name) in enumerate(DEMO_PEOPLE, start=1):
            result = check(number, IdentityKind.RESIDENT_ID)
            if not result.valid:
                report.refused.append({"subject_key": number, "reason": str(result.reason)})
                say(f"refused locally: {number} ({result.reason})")
                continue
            event_id = str(uuid.uuid4())
            canonical = f"resident_id:{result.normalized}"
            value = encode("ChangeEvent", _event(event_id, number, name, seq, run_id))
            producer.produce(ingest, value, key=canonical.encode())
            report.published.append({"event_id": event_id, "subject": canonical, "name": name})
    say(f"published {len(report.published)} change events to {ingest}")

    wanted = {p["event_id"] for p in report.published}
    with Consumer(report.bootstrap, f"govbus-demo-{run_id}", extra_config=settings.kafka) as c:
        c.subscribe([ingest])
        deadline = datetime.now(UTC).timestamp() + READ_BACK_TIMEOUT_S
        while wanted and datetime.now(UTC).timestamp() < deadline:
            for msg in c.consume(100, timeout_s=0.5):
                event = decode("ChangeEvent", msg.value() or b"")
                event_id = str(event["event_id"])  # the uuid logical type decodes to UUID
                if event_id in wanted:
                    wanted.discard(event_id)
                    items = {i["name"]: i["after"] for i in event["items"]}
                    report.read_back.append(
                        {
                            "event_id": event_id,
                            "subject": (msg.key() or b"").decode(),
                            "name": str(items.get("name")),
                            "partition": str(msg.partition()),
                            "offset": str(msg.offset()),
                        }
                    )
    say(f"read back {len(report.read_back)} of {len(report.published)} events (read_committed)")


def _event(event_id: str, number: str, name: str, seq: int, run_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "entry": DEMO_ENTRY,
        "provider": DEMO_PROVIDER,
        "subject_key": number,
        "subject_kind": "resident_id",
        "operation": "create",
        "authoritative": True,
        "items": [{"name": "name", "before": None, "after": name}],
        "source_system": f"psb-household-demo-{run_id}",
        "event_time": datetime.now(UTC),
        "source_sequence": seq,
        "trace_id": None,
    }
