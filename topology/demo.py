"""``govbus demo``: the whole story on embedded defaults (local broker + SQLite).

1. Start the local broker if none runs; migrate the SQLite store; import the demo catalog
   (SQL store, state topics, bus topics).
2. Run the gate and fan-out processor in this process (reference data from state topics).
3. The public security bureau (市公安局) publishes person data through the agency
   publisher: one ID number is refused locally (GM 18), a 15-digit legacy number is
   normalised; the market regulation bureau (市市场监管局) publishes a company.
4. A duplicate, a non-authoritative write, a confirmation and a conflict (GM 22, S 20,
   GM 19), which the big data bureau then resolves (GM 19); a malformed message (dead
   letter).
5. A conditional grant to the health commission (市卫健委) is given, then revoked (G 14,
   S 22): one change reaches it, the next does not.
6. A table of what each agency (and the open feed) received, and why.

Subjects are new on every run, so the demo can run again on the same broker and store.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from stdnum.iso7064 import mod_11_2

from base.errors import GovbusError
from base.settings import Settings
from consumers.reader import read_labelled, read_to_end
from consumers.reference import ReferenceView
from exchange.catalog_loader import check_catalog_file
from exchange.coordination import Resolution
from exchange.identity import IdentityKind, Subject
from exchange.workflows.roles import OPERATOR
from kafkaclient import Producer
from operations.broker.local import LocalBroker
from producers import AgencyPublisher, PublisherOptions
from producers.model import Draft
from schemas import decode, encode
from schemas.audit import of_entries, verify
from schemas.topics import TopicKind, topic_name
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from storage.subscriptions import SubscriptionStore
from storage.workflows import WorkflowStore
from topology.connection import connected
from topology.coordination import CoordinationDesk
from topology.processor import Processor, ProcessorConfig
from topology.reference_service import GrantTerms, ReferenceService
from topology.workflows.clock import SystemClock
from topology.workflows.subscriptions import Subscriptions

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "catalog-demo.yaml"
PSB, AMR, MCA, HC, BDB = "city-psb", "city-amr", "city-mca", "city-hc", "city-bdb"
BASIC, CONTACT, COMPANY = "psb.person.basic", "psb.person.contact", "amr.company.registration"
#: Each step waits for its receipts; the processor commits every 0.2 s.
RECEIPT_TIMEOUT_S = 60.0
COMMIT_INTERVAL_S = 0.2
DEMO_COMPANY = "91350100M000100Y43"
#: (agency, unconditional entry) the demo's consuming agencies subscribe to (G 15; S 25).
DEMO_SUBSCRIPTIONS = tuple(
    (agency, entry)
    for entry, provider in ((BASIC, PSB), (COMPANY, AMR))
    for agency in (PSB, AMR, MCA, HC, BDB)
    if agency != provider
)


@dataclass
class DemoReport:
    bootstrap: str = ""
    broker_started_here: bool = False
    database: str = ""
    steps: list[dict[str, str]] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)


def new_person_id(rng: random.Random, region: str = "520102") -> str:
    """A valid 18-digit resident ID (GB 11643) of a random person from 贵阳市南明区."""
    body = f"{region}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + mod_11_2.calc_check_digit(body)


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
        # The local broker admits its administrator only: the story is told as it.
        settings = connected(settings)
    try:
        _Story(settings, report, say, catalog).tell()
    finally:
        if report.broker_started_here:
            broker.stop()
            say("broker stopped")
    return report


class _Story:
    def __init__(
        self, settings: Settings, report: DemoReport, say: Callable[[str], None], catalog: Path
    ) -> None:
        self.settings, self.report, self.say, self.catalog_file = settings, report, say, catalog
        self.bootstrap = report.bootstrap
        self.rng = random.Random()  # noqa: S311 - demo subjects, not secrets
        self.run = uuid.uuid4().hex[:8]
        self.mine: set[str] = set()  # event ids of this run

    def step(self, what: str, outcome: str, why: str) -> None:
        self.report.steps.append({"step": what, "outcome": outcome, "why": why})
        self.say(f"{what}: [bold]{outcome}[/] ({why})")

    def tell(self) -> None:
        url = self.settings.effective_database_url
        migrate.upgrade(url)
        self.report.database = url
        checked = check_catalog_file(self.catalog_file)
        if checked.catalog is None:
            raise GovbusError(f"demo catalog invalid: {checked.issues[0].message}")
        self.catalog = checked.catalog
        service = ReferenceService(
            ReferenceStore(make_engine(url)), self.bootstrap, extra_config=self.settings.kafka
        )
        self.service = service
        imported = service.import_catalog(checked)
        self.say(f"catalog imported: {imported.entries} entries, {imported.agencies} agencies")
        self._subscribe(service)
        stop = threading.Event()
        processor = Processor(
            ProcessorConfig(
                self.bootstrap,
                group_id="govbus-demo",
                commit_interval_s=COMMIT_INTERVAL_S,
                max_future_skew_s=self.settings.max_future_skew_s,
                dead_letter_value_bytes=self.settings.dead_letter_value_bytes,
                extra_config=dict(self.settings.kafka),
            ),
            ReferenceView(self.bootstrap, extra_config=self.settings.kafka),
        )
        failures: list[BaseException] = []

        def work() -> None:
            try:
                processor.run(stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, re-raised there
                failures.append(exc)
                stop.set()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            self._events(stop)
        except GovbusError:
            if not failures:
                raise
        finally:
            stop.set()
            worker.join(timeout=60)
        if failures:
            raise GovbusError(f"the processor failed: {failures[0]!r}") from failures[0]
        self._audited()
        self._received()

    def _subscribe(self, service: ReferenceService) -> None:
        """Every consuming agency subscribes to the unconditional entries its duties need
        (G 15 ¶1, S 25 ¶1), as the operator at its request; kept from an earlier run."""
        flows = Subscriptions(
            SubscriptionStore(service.store.engine),
            WorkflowStore(service.store.engine),
            service,
            SystemClock(),
        )
        made = 0
        for agency, entry in DEMO_SUBSCRIPTIONS:
            if any(r.entry_id == entry for r in flows.store.list_subscriptions(agency)):
                continue
            flows.subscribe(OPERATOR, entry, f"演示：{agency} 履职所需", agency=agency)
            made += 1
        self.say(f"subscriptions: {made} made, {len(DEMO_SUBSCRIPTIONS) - made} kept (G 15; S 25)")

    # -- the events --------------------------------------------------------------------
    def _publisher(self, agency: str) -> AgencyPublisher:
        return AgencyPublisher(
            self.bootstrap,
            agency,
            self.catalog,
            extra_config=self.settings.kafka,
            state_dir=self.settings.home / "demo-publisher",
            options=PublisherOptions(source_system=f"demo-{self.run}"),
        )

    def _alive(self) -> None:
        if self.stop.is_set():
            raise GovbusError("the processor stopped")

    def _send(self, pub: AgencyPublisher, entry: str, draft: Draft) -> str | None:
        self._alive()
        result = pub.publish(entry, draft)
        pub.flush()
        if result.refusal is not None:
            self.step(f"{pub.agency_id} → {entry}", "refused locally", result.refusal.reason)
            return None
        self.mine.add(result.event_id)
        receipt = pub.wait_receipts([result.event_id], RECEIPT_TIMEOUT_S).get(result.event_id)
        outcome = receipt.outcome if receipt else "no receipt yet"
        why = f"{receipt.reason_code}, {receipt.article}" if receipt else "timeout"
        self.step(f"{pub.agency_id} → {entry} {dict(draft.items)}", outcome, why)
        return result.event_id

    def _events(self, stop: threading.Event) -> None:
        self.stop = stop
        person = new_person_id(self.rng)
        legacy = "320311770706001"  # 15 digits: becomes 320311197707060018
        with (
            self._publisher(PSB) as psb,
            self._publisher(MCA) as mca,
            self._publisher(HC) as hc,
            self._publisher(AMR) as amr,
        ):
            wrong = person[:-1] + ("0" if person[-1] != "0" else "1")  # a bad check digit
            self._send(psb, BASIC, Draft(wrong, "create", {"name": "错号"}))
            first = self._send(
                psb, BASIC, Draft(person, "create", {"name": "张三", "gender": "男"})
            )
            self._send(psb, BASIC, Draft(legacy, "update", {"name": f"王五{self.run[:2]}"}))
            self._send(
                amr,
                COMPANY,
                Draft(
                    DEMO_COMPANY, "update", {"company_name": f"贵阳示范科技有限公司{self.run[:4]}"}
                ),
            )
            self._raw(
                psb,
                BASIC,
                person,
                {"name": "张三", "gender": "男"},
                event_id=first,
                what=f"{PSB} resends its event {str(first)[:8]}",
            )
            self._send(mca, BASIC, Draft(person, "update", {"name": "张叁"}))
            self._raw(mca, BASIC, person, {"name": "张叁"})
            self._send(mca, BASIC, Draft(person, "update", {"name": "张三"}, authoritative=False))
            report = self._send(
                hc, BASIC, Draft(person, "update", {"name": "章三"}, authoritative=False)
            )
            self._resolve(report)
            self._malformed()
            grant = self.service.add_grant(
                GrantTerms(
                    consumer=HC,
                    entry_id=CONTACT,
                    items=["phone"],
                    purpose="传染病密切接触者流行病学调查",
                    basis="《中华人民共和国传染病防治法》",
                )
            )
            self.step(f"grant {grant.id[:8]} to {HC}", "granted", "conditional sharing, G 14; S 22")
            self._send(psb, CONTACT, Draft(person, "update", {"phone": "13985012345"}))
            self.service.revoke_grant(grant.id)
            self.step(f"grant {grant.id[:8]} to {HC}", "revoked", "from the next event, G 15")
            self._send(psb, CONTACT, Draft(person, "update", {"phone": "13985067890"}))

    def _resolve(self, report: str | None) -> None:
        """The bureau checks the conflict raised by ``report`` and confirms the
        authoritative value (GM 19: 协调核实); the case closes."""
        desk = CoordinationDesk(self.bootstrap, extra_config=self.settings.kafka)
        raised = [c for c in desk.cases().conflicts if str(c["reported_event_id"]) == str(report)]
        if not raised:
            self.step(f"{BDB} resolves the conflict", "no conflict found", "GM 19")
            return
        record = desk.resolve(
            str(raised[0]["conflict_id"]),
            resolution=Resolution.AUTHORITATIVE_CONFIRMED,
            resolved_by=BDB,
            note="核实：以市公安局登记为准",
        )
        self.step(
            f"{BDB} resolves conflict {record['conflict_id'][:8]}",
            "resolved",
            f"{record['resolution']}, {record['article']}",
        )

    def _raw(
        self,
        pub: AgencyPublisher,
        entry: str,
        person: str,
        items: dict[str, str],
        *,
        event_id: str | None = None,
        what: str = "",
    ) -> None:
        """Send without the publisher's checks, as an agency system that bypasses it
        would: the gate decides anyway (a resend: duplicate, GM 22; another agency's
        write: stopped, GM 22; S 20)."""
        self._alive()
        event_id = event_id or str(uuid.uuid4())
        before = len(self._receipts(pub.agency_id, event_id))
        record = {
            "event_id": event_id,
            "entry": entry,
            "provider": pub.agency_id,
            "subject_key": person,
            "subject_kind": "resident_id",
            "operation": "update",
            "authoritative": True,
            "items": [{"name": k, "before": None, "after": v} for k, v in items.items()],
            "source_system": f"demo-{self.run}",
            "event_time": datetime.now(UTC),
            "source_sequence": 0,
            "trace_id": None,
            "legal_basis": None,
        }
        with Producer(self.bootstrap, extra_config=self.settings.kafka) as producer:
            producer.produce(
                topic_name(TopicKind.INGEST, entry),
                encode("ChangeEvent", record),
                key=Subject(IdentityKind.RESIDENT_ID, person).key,
            )
        self.mine.add(event_id)
        # Not the publisher's journal: it remembers the first answer to this event id.
        receipt: dict[str, Any] | None = None
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while receipt is None and time.monotonic() < deadline:
            found = self._receipts(pub.agency_id, event_id)
            receipt = found[-1] if len(found) > before else None
        outcome = receipt["outcome"] if receipt else "no receipt yet"
        why = f"{receipt['reason_code']}, {receipt['article']}" if receipt else "timeout"
        self.step(
            what or f"{pub.agency_id} → {entry} {items} (bypassing the publisher)", outcome, why
        )

    def _receipts(self, agency: str, event_id: str) -> list[dict[str, Any]]:
        receipts = self._read(topic_name(TopicKind.RECEIPTS, agency), "Receipt")
        return [r for r in receipts if str(r["event_id"]) == event_id]

    def _read(self, topic: str, record: str) -> list[dict[str, Any]]:
        """The committed records of ``topic``, decoded as ``record``."""
        kafka = self.settings.kafka
        return [
            r.value
            for r in read_to_end(self.bootstrap, topic, partial(decode, record), extra_config=kafka)
        ]

    def _malformed(self) -> None:
        bad = f"not avro {self.run}".encode()
        with Producer(self.bootstrap, extra_config=self.settings.kafka) as producer:
            producer.produce(topic_name(TopicKind.INGEST, BASIC), bad, key=b"?")
        dlq = topic_name(TopicKind.DLQ, BASIC)
        deadline = datetime.now(UTC).timestamp() + RECEIPT_TIMEOUT_S
        while datetime.now(UTC).timestamp() < deadline:
            for r in read_to_end(
                self.bootstrap,
                dlq,
                lambda b: decode("DeadLetter", b),
                extra_config=self.settings.kafka,
            ):
                if r.value["original_value"] == bad:
                    self.step(
                        "malformed message",
                        "dead letter",
                        f"{r.value['reason_code']}, bytes kept in {dlq}",
                    )
                    return
        self.step("malformed message", "no dead letter yet", "timeout")

    # -- the audit stream ------------------------------------------------------------------
    def _audited(self) -> None:
        """Every decision above is in govbus.audit, sealed into hash chains (S 42)."""
        messages = read_labelled(
            self.bootstrap, topic_name(TopicKind.AUDIT), extra_config=self.settings.kafka
        )
        # The demo's own chains: other users of the same broker may have their own.
        report = verify(messages, include=of_entries(e.id for e in self.catalog.entries))
        self.step(
            "govbus audit verify",
            "intact" if report.ok else f"NOT intact ({len(report.findings)} findings)",
            f"{report.records} records in {len(report.heads)} hash chains, S 42",
        )

    # -- what each agency received ----------------------------------------------------------
    def _received(self) -> None:
        recipients = [(a, topic_name(TopicKind.FEED, a)) for a in (MCA, HC, AMR, BDB, PSB)]
        recipients += [(f"open:{e}", topic_name(TopicKind.OPEN, e)) for e in (BASIC, COMPANY)]
        for who, topic in recipients:
            mine = [r for r in self._read(topic, "FeedRecord") if str(r["event_id"]) in self.mine]
            for r in mine:
                self.report.received.append(_row(who, r))
            if not mine:
                self.report.received.append(
                    {
                        "recipient": who,
                        "entry": "-",
                        "subject": "-",
                        "items": "nothing",
                        "why": _nothing_why(who),
                    }
                )


def _row(who: str, r: dict[str, Any]) -> dict[str, str]:
    items = ", ".join(
        f"{i['name']}={i['value']}" + (f" [{i['mask_rule']}]" if i["masked"] else "")
        for i in r["items"]
    )
    if who.startswith("open:"):
        why = "open feed, desensitised (GM 9; G 18)"
    elif r["grant_id"]:
        why = f"grant {str(r['grant_id'])[:8]}: {r['purpose']} (G 14; S 22)"
    else:
        why = "unconditional sharing (G 15; S 25)"
    return {
        "recipient": who,
        "entry": r["entry"],
        "subject": r["canonical_subject"],
        "items": items,
        "why": why,
    }


def _nothing_why(who: str) -> str:
    if who == PSB:
        return "the provider is not sent its own data"
    return "no accepted change it is entitled to in this run"
