"""``govbus demo``: the whole story on embedded defaults (local broker + SQLite).

1. Start the local broker if none runs; migrate the SQLite store; import the demo catalog
   (SQL store, state topics, bus topics).
2. Run the gate and fan-out processor in this process (reference data from state topics).
3. The public security bureau (市公安局) publishes person data through the agency
   publisher: one ID number is refused locally (GM 18), a 15-digit legacy number is
   normalised; the market regulation bureau (市市场监管局) publishes a company. Every
   agency publishes as itself: fresh credentials (:meth:`operations.access.AccessControl.issue`)
   on the SASL_SSL agency listener, to its own submission topic ``govbus.submit.<agency>``
   (the repartition stage runs beside the processor). Without an agency listener (a broker
   without one) they publish through the administrator's connection, and the report says
   so (``published_as``).
4. A duplicate, a non-authoritative write, a confirmation and a conflict (GM 22, S 20,
   GM 19), which the big data bureau then resolves (GM 19); a malformed message (dead
   letter).
5. A conditional grant to the health commission (市卫健委) is given, then revoked (G 14,
   S 22): one change reaches it, the next does not.
6. A table of what each agency (and the open feed) received, and why.

The demo city is the one :data:`DEMO_PROFILE` governs (the demo catalog uses conditional
sharing and a 涉密 entry, which that profile admits): its catalog is checked under that
profile, and every run makes new people and a new company of that city
(:mod:`topology.demo_city`), so the demo can run again on the same broker and store. What
people read is Chinese; the ``--json`` report keeps the wire codes beside it.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from base.errors import GovbusError
from base.settings import Settings
from consumers.reader import read_labelled, read_to_end
from consumers.reference import ReferenceView
from exchange.catalog_loader import admission, check_catalog_file
from exchange.coordination import Resolution
from exchange.identity import IdentityKind, Subject
from exchange.profiles import load_profiles
from exchange.workflows.roles import OPERATOR
from kafkaclient import Producer
from operations.access import AccessControl
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
from topology.access import agency_listener
from topology.connection import connected
from topology.coordination import CoordinationDesk
from topology.demo_city import DemoCity, Names, outcome_zh
from topology.processor import Processor, ProcessorConfig
from topology.reference_service import GrantTerms, ReferenceService
from topology.repartitioner import Repartitioner, repartition_config, run_beside
from topology.workflows.clock import SystemClock
from topology.workflows.subscriptions import Subscriptions

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "catalog-demo.yaml"
PSB, AMR, MCA, HC, BDB = "city-psb", "city-amr", "city-mca", "city-hc", "city-bdb"
BASIC, CONTACT, COMPANY = "psb.person.basic", "psb.person.contact", "amr.company.registration"
#: Each step waits for its receipts; the processor commits every 0.2 s.
RECEIPT_TIMEOUT_S = 60.0
COMMIT_INTERVAL_S = 0.2
#: Names of the demo's second person, one per run.
GIVEN_NAMES = ("王五", "李四", "赵六", "孙七", "周八", "吴九", "郑十", "陈一")
#: How long the demo's grant to 市卫健委 runs from today (it is revoked within the run).
GRANT_VALIDITY = timedelta(days=90)
#: The jurisdiction profile the demo catalog is written for (its city, its admission rules).
DEMO_PROFILE = "shenyang-2019"
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
    #: "agencies" (each with its own credentials) or "administrator" (no agency listener).
    published_as: str = ""


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
        #: Each agency's own client settings (empty: the administrator's connection).
        self.clients: dict[str, dict[str, Any]] = {}

    def step(self, what: str, outcome: str, why: str) -> None:
        """One line of the story: ``outcome`` is a wire code (the JSON keeps it), people
        read its Chinese word."""
        shown = outcome_zh(outcome)
        self.report.steps.append(
            {"step": what, "outcome": outcome, "outcome_zh": shown, "why": why}
        )
        self.say(f"{what}：[bold]{shown}[/]（{why}）")

    def tell(self) -> None:
        url = self.settings.effective_database_url
        migrate.upgrade(url)
        self.report.database = url
        profile = load_profiles().get(DEMO_PROFILE)
        checked = check_catalog_file(self.catalog_file, admission(profile))
        if checked.catalog is None:
            raise GovbusError(
                f"演示目录无效 (demo catalog invalid under {DEMO_PROFILE}): "
                f"{checked.issues[0].message}"
            )
        self.catalog = checked.catalog
        self.names = Names(checked.catalog)
        if profile.city is None:
            raise GovbusError(f"profile {DEMO_PROFILE} names no city; add `city:` to it")
        self.city = DemoCity(profile.city, self.rng)
        service = ReferenceService(
            ReferenceStore(make_engine(url)), self.bootstrap, extra_config=self.settings.kafka
        )
        self.service = service
        imported = service.import_catalog(checked)
        self.say(
            f"{self.city.city.name_zh}（{DEMO_PROFILE}）目录已导入："
            f"{imported.entries} 个目录条目，{imported.agencies} 个部门"
        )
        self._subscribe(service)
        self._credentials()
        stop = threading.Event()
        config = ProcessorConfig(
            self.bootstrap,
            group_id="govbus-demo",
            commit_interval_s=COMMIT_INTERVAL_S,
            max_future_skew_s=self.settings.max_future_skew_s,
            dead_letter_value_bytes=self.settings.dead_letter_value_bytes,
            extra_config=dict(self.settings.kafka),
        )
        processor = Processor(
            config, ReferenceView(self.bootstrap, extra_config=self.settings.kafka)
        )
        # The repartition stage beside it, as `govbus run` runs them: agencies submit to
        # their own topics; the bus moves each event to its entry's ingest topic.
        repartitioner = Repartitioner(
            repartition_config(config),
            ReferenceView(self.bootstrap, extra_config=self.settings.kafka),
        )
        failures: list[BaseException] = []

        def work() -> None:
            try:
                run_beside(processor, repartitioner, stop)
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
        kept = len(DEMO_SUBSCRIPTIONS) - made
        self.say(f"各部门订阅无条件共享目录：新订阅 {made} 项，已有 {kept} 项（G 15；S 25）")

    # -- the events --------------------------------------------------------------------
    def _credentials(self) -> None:
        """Each demo agency's client settings: its own principal on the agency listener."""
        listener = agency_listener(self.settings)
        if listener is None:
            self.report.published_as = "administrator"
            self.say("没有部门接入监听器：各部门经管理员连接发布 (no agency listener)")
            return
        access = AccessControl(self.bootstrap, extra_config=self.settings.kafka, listener=listener)
        for agency in (PSB, MCA, HC, AMR):
            self.clients[agency] = access.issue(agency, [])
        self.report.published_as = "agencies"
        self.say(
            f"各部门以本部门身份（各自的凭据，SASL_SSL {listener.bootstrap}）发布到本部门的提交主题"
        )

    def _client(self, agency: str) -> tuple[str, dict[str, Any]]:
        """(bootstrap, settings) an agency connects with."""
        own = self.clients.get(agency)
        if own is None:
            return self.bootstrap, dict(self.settings.kafka)
        return str(own["bootstrap.servers"]), own

    def _publisher(self, agency: str) -> AgencyPublisher:
        bootstrap, config = self._client(agency)
        return AgencyPublisher(
            bootstrap,
            agency,
            self.catalog,
            extra_config=config,
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
        who = f"{self.names.agency(pub.agency_id)} → {self.names.entry(entry)}"
        if result.refusal is not None:
            self.step(who, "refused locally", result.refusal.reason)
            return None
        self.mine.add(result.event_id)
        receipt = pub.wait_receipts([result.event_id], RECEIPT_TIMEOUT_S).get(result.event_id)
        outcome = receipt.outcome if receipt else "no receipt yet"
        why = f"{receipt.reason_code}, {receipt.article}" if receipt else "等待超时"
        self.step(f"{who}【{self.names.items(entry, draft.items)}】", outcome, why)
        return result.event_id

    def _events(self, stop: threading.Event) -> None:
        self.stop = stop
        person = self.city.person().resident_id
        legacy = self.city.person().legacy_id  # 15 digits: normalised to 18 by the gate
        company = self.city.credit_code()
        city = self.city.city.name_zh.removesuffix("市")
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
            self._send(psb, BASIC, Draft(legacy, "update", {"name": self.rng.choice(GIVEN_NAMES)}))
            self._send(
                amr,
                COMPANY,
                Draft(company, "update", {"company_name": f"{city}示范科技有限公司"}),
            )
            self._raw(
                psb,
                BASIC,
                person,
                {"name": "张三", "gender": "男"},
                event_id=first,
                what=f"{self.names.agency(PSB)}重发事件 {str(first)[:8]}",
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
                    valid_until=datetime.now(UTC) + GRANT_VALIDITY,
                )
            )
            self.step(
                f"{self.names.agency(PSB)}授权{self.names.agency(HC)}（{grant.id}）",
                "granted",
                "有条件共享 G 14; S 22",
            )
            self._send(psb, CONTACT, Draft(person, "update", {"phone": "13985012345"}))
            self.service.revoke_grant(grant.id)
            self.step(
                f"撤销对{self.names.agency(HC)}的授权（{grant.id}）",
                "revoked",
                "自下一条事件起生效 G 15",
            )
            self._send(psb, CONTACT, Draft(person, "update", {"phone": "13985067890"}))

    def _resolve(self, report: str | None) -> None:
        """The bureau checks the conflict raised by ``report`` and confirms the
        authoritative value (GM 19: 协调核实); the case closes."""
        desk = CoordinationDesk(self.bootstrap, extra_config=self.settings.kafka)
        raised = [c for c in desk.cases().conflicts if str(c["reported_event_id"]) == str(report)]
        if not raised:
            self.step(f"{self.names.agency(BDB)}协调冲突", "no conflict found", "GM 19")
            return
        record = desk.resolve(
            str(raised[0]["conflict_id"]),
            resolution=Resolution.AUTHORITATIVE_CONFIRMED,
            resolved_by=BDB,
            note="核实：以市公安局登记为准",
        )
        self.step(
            f"{self.names.agency(BDB)}协调冲突 {record['conflict_id'][:8]}",
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
            # The source system's order (GM 22: an older change would be stale).
            "source_sequence": time.time_ns() // 1000,
            "trace_id": None,
            "legal_basis": None,
        }
        bootstrap, config = self._client(pub.agency_id)
        with Producer(bootstrap, extra_config=config) as producer:
            producer.produce(
                topic_name(TopicKind.SUBMIT, pub.agency_id),
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
        why = f"{receipt['reason_code']}, {receipt['article']}" if receipt else "等待超时"
        self.step(
            what
            or (
                f"{self.names.agency(pub.agency_id)} → {self.names.entry(entry)}"
                f"【{self.names.items(entry, items)}】（绕过发布端校验）"
            ),
            outcome,
            why,
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
        bootstrap, config = self._client(PSB)
        with Producer(bootstrap, extra_config=config) as producer:
            producer.produce(topic_name(TopicKind.SUBMIT, PSB), bad, key=b"?")
        dlq = topic_name(TopicKind.SUBMIT_DLQ, PSB)
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
                        "格式错误的消息",
                        "dead letter",
                        f"{r.value['reason_code']}，原始字节保存在 {dlq}",
                    )
                    return
        self.step("格式错误的消息", "no dead letter yet", "等待超时")

    # -- the audit stream ------------------------------------------------------------------
    def _audited(self) -> None:
        """Every decision above is in govbus.audit, sealed into hash chains (S 42)."""
        messages = read_labelled(
            self.bootstrap, topic_name(TopicKind.AUDIT), extra_config=self.settings.kafka
        )
        # The demo's own chains: other users of the same broker may have their own.
        report = verify(messages, include=of_entries(e.id for e in self.catalog.entries))
        self.step(
            "审计链校验 govbus audit verify",
            "intact" if report.ok else f"NOT intact ({len(report.findings)} findings)",
            f"{len(report.heads)} 条哈希链共 {report.records} 条审计记录，S 42",
        )

    # -- what each agency received ----------------------------------------------------------
    def _received(self) -> None:
        """Per recipient: what it received of this run and why. ``recipient``, ``entry``,
        ``items`` keep the wire names (JSON); ``*_zh`` fields are what people read."""
        recipients: list[tuple[str, str, str | None]] = [
            (a, topic_name(TopicKind.FEED, a), None) for a in (MCA, HC, AMR, BDB, PSB)
        ]
        # The open feed is one topic for every entry; each record names its entry.
        opened = topic_name(TopicKind.OPEN)
        recipients += [(f"open:{e}", opened, e) for e in (BASIC, COMPANY)]
        for who, topic, entry in recipients:
            label = (
                f"开放数据：{self.names.entry(who[5:])}"
                if who.startswith("open:")
                else self.names.agency(who)
            )
            mine = [
                r
                for r in self._read(topic, "FeedRecord")
                if str(r["event_id"]) in self.mine and entry in (None, r["entry"])
            ]
            for r in mine:
                self.report.received.append({**self._row(who, r), "recipient_zh": label})
            if not mine:
                self.report.received.append(
                    {
                        "recipient": who,
                        "recipient_zh": label,
                        "entry": "-",
                        "entry_zh": "-",
                        "subject": "-",
                        "items": "nothing",
                        "items_zh": "无",
                        "why": _nothing_why(who),
                    }
                )

    def _row(self, who: str, r: dict[str, Any]) -> dict[str, str]:
        def shown(i: dict[str, Any], name: str) -> str:
            return f"{name}={i['value']}" + (f" [{i['mask_rule']}]" if i["masked"] else "")

        entry = self.catalog.entry(r["entry"])
        labels = {i.name: i.label_zh for i in entry.items} if entry else {}
        if who.startswith("open:"):
            why = "开放数据，已脱敏（GM 9; G 18）"
        elif r["grant_id"]:
            why = f"授权 {r['grant_id']}：{r['purpose']}（G 14; S 22）"
        else:
            why = "无条件共享（G 15; S 25）"
        return {
            "recipient": who,
            "entry": r["entry"],
            "entry_zh": self.names.entry(r["entry"]),
            "subject": r["canonical_subject"],
            "items": ", ".join(shown(i, i["name"]) for i in r["items"]),
            "items_zh": "，".join(shown(i, labels.get(i["name"], i["name"])) for i in r["items"]),
            "why": why,
        }


def _nothing_why(who: str) -> str:
    if who == PSB:
        return "提供部门不接收自己的数据"
    return "本次演示中没有它有权接收的已接受变更"
