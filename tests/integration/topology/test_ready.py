"""A worker is ready at once, whatever the catalog's size (issue 19 item 2): the catalog
import makes every topic a worker needs (changelogs included), so a worker's start makes
none; entries that are not published cost a start nothing, yet every submission to them
is answered; a changelog partition that has no leader yet is waited for, not fatal."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from base.errors import KafkaTimeoutError
from exchange.catalog import Lifecycle, LifecycleState, Withdrawal
from exchange.catalog_loader import CheckResult, LoadedCatalog, check_catalog_text
from kafkaclient import Admin, transient
from schemas import encode
from schemas.topics import POLICIES, TopicKind, topic_name
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from tests.support.processor import running_processor
from tests.support.scenario import Names, Reader, event, publish, publish_events
from topology import state as state_module
from topology.processor import Processor
from topology.reference_service import ImportReport, ReferenceService
from topology.state import OneSourceState, changelog_topic
from topology.topics import ensure_catalog_topics, published_entries

PARTITIONS = POLICIES[TopicKind.INGEST].partitions
READY_WAIT_S = 120.0
WITHDRAWN = Lifecycle(
    LifecycleState.WITHDRAWN,
    Withdrawal("merged into another entry", date(2024, 1, 1), date(2024, 2, 1)),
)


def _ready(processor: Processor, catalog: LoadedCatalog) -> None:
    """Wait until the published entries' partitions are restored."""
    total = len(published_entries(catalog.catalog)) * PARTITIONS
    deadline = time.monotonic() + READY_WAIT_S
    while processor.restored_partitions < total:
        assert time.monotonic() < deadline, "the processor did not become ready"
        time.sleep(0.1)


def _receipts(bootstrap: str, config: dict[str, str], agency: str, n: int) -> list[dict[str, Any]]:
    topic = topic_name(TopicKind.RECEIPTS, agency)
    return Reader(bootstrap, config).records(topic, "Receipt", until=n)


def _store(tmp_path: Path) -> str:
    """A migrated SQLite store of its own."""
    url = f"sqlite:///{tmp_path / 'govbus.db'}"
    migrate.upgrade(url)
    return url


def _import(url: str, bootstrap: str, config: dict[str, str], checked: CheckResult) -> ImportReport:
    """``govbus catalog import``'s reference step, into the store at ``url``."""
    service = ReferenceService(
        ReferenceStore(make_engine(url)),
        bootstrap,
        namespace=f"test-{uuid.uuid4().hex[:10]}",
        extra_config=config,
    )
    return service.import_catalog(checked)


def test_a_start_on_an_imported_catalog_creates_no_topics(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    url = _store(tmp_path)
    names = Names()
    checked = check_catalog_text(names.catalog_text())
    assert checked.catalog is not None
    report = _import(url, bootstrap, kafka_config, checked)
    basic = names.entry("psb.person.basic")
    assert changelog_topic(topic_name(TopicKind.INGEST, basic)) in report.topics_created
    loaded = LoadedCatalog(checked.catalog, checked.grants)
    with running_processor(bootstrap, kafka_config, loaded) as processor:
        _ready(processor, loaded)
        assert processor.created_topics == []
        # The withdrawn entry has no topics, yet a late submission to it is answered.
        withdrawn = names.entry("amr.company.annual_report_2019")
        assert (
            topic_name(TopicKind.INGEST, withdrawn)
            not in Admin(bootstrap, extra_config=kafka_config).topics()
        )
        amr = names.agency("city-amr")
        late = event(withdrawn, amr, "x", {"annual_report_2019_submitted": "true"})
        publish(
            bootstrap,
            [(topic_name(TopicKind.SUBMIT, amr), None, encode("ChangeEvent", late))],
            config=kafka_config,
        )
        (receipt,) = _receipts(bootstrap, kafka_config, amr, 1)
        assert (receipt["outcome"], receipt["reason_code"]) == ("rejected", "entry_withdrawn")


def test_an_entry_whose_withdrawal_is_still_ahead_gets_its_topics_s_27(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    """A withdrawal is filed in advance (S 27 ¶2): until its effective day the entry is in
    force, so a catalog imported with it withdrawn still makes its topics, and a worker
    accepts and delivers its events."""
    url = _store(tmp_path)
    names = Names()
    checked = check_catalog_text(names.catalog_text())
    assert checked.catalog is not None
    basic = names.entry("psb.person.basic")
    ahead = Lifecycle(
        LifecycleState.WITHDRAWN,
        Withdrawal("merged into another entry", date(2026, 1, 1), date(2099, 1, 1)),
    )
    entries = tuple(
        replace(e, lifecycle=ahead) if e.id == basic else e for e in checked.catalog.entries
    )
    catalog = replace(checked.catalog, entries=entries)
    checked = replace(checked, catalog=catalog)
    report = _import(url, bootstrap, kafka_config, checked)
    ingest = topic_name(TopicKind.INGEST, basic)
    assert basic not in report.published_entries
    assert {ingest, changelog_topic(ingest)} <= set(report.topics_created)
    loaded = LoadedCatalog(catalog, checked.grants)
    psb = names.agency("city-psb")
    person = "11010519491231002X"
    with running_processor(bootstrap, kafka_config, loaded) as processor:
        _ready(processor, loaded)
        assert processor.created_topics == []
        publish_events(
            bootstrap,
            [(f"resident_id:{person}", event(basic, psb, person, {"name": "张三"}))],
            config=kafka_config,
        )
        (receipt,) = _receipts(bootstrap, kafka_config, psb, 1)
        assert receipt["outcome"] == "accepted"


def test_a_withdrawn_entrys_partitions_are_restored_only_on_a_message(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    names = Names()
    loaded = names.load()
    basic = names.entry("psb.person.basic")
    psb = names.agency("city-psb")
    ingest = topic_name(TopicKind.INGEST, basic)
    group = f"govbus-test-{uuid.uuid4().hex}"
    person = "11010519491231002X"
    with running_processor(bootstrap, kafka_config, loaded, group) as processor:
        _ready(processor, loaded)
        publish_events(
            bootstrap,
            [(f"resident_id:{person}", event(basic, psb, person, {"name": "张三"}))],
            config=kafka_config,
        )
        assert _receipts(bootstrap, kafka_config, psb, 1)[0]["outcome"] == "accepted"
    # The entry is withdrawn: its topics stay (its data is kept), its state is not restored.
    entries = tuple(
        replace(e, lifecycle=WITHDRAWN) if e.id == basic else e for e in loaded.catalog.entries
    )
    withdrawn = LoadedCatalog(replace(loaded.catalog, entries=entries), loaded.grants)
    with running_processor(bootstrap, kafka_config, withdrawn, group) as processor:
        _ready(processor, withdrawn)
        assert not any(processor.restored(ingest, p) for p in range(PARTITIONS))
        late = event(basic, psb, person, {"name": "张叁"})
        publish_events(bootstrap, [(f"resident_id:{person}", late)], config=kafka_config)
        receipts = _receipts(bootstrap, kafka_config, psb, 2)
        assert (receipts[1]["outcome"], receipts[1]["reason_code"]) == (
            "rejected",
            "entry_withdrawn",
        )
        # Its partition was restored for the message, and it continued the audit chain.
        assert sum(processor.restored(ingest, p) for p in range(PARTITIONS)) == 1


def test_a_restore_waits_for_a_changelog_that_is_not_there_yet(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    entry = f"t{uuid.uuid4().hex[:10]}.ready"
    ingest = topic_name(TopicKind.INGEST, entry)
    restore = OneSourceState(bootstrap, kafka_config)
    # The restore asks before the topics exist (UNKNOWN_TOPIC_OR_PART, then a partition
    # without a leader for a moment): it asks again until they are there.
    creator = threading.Timer(
        2.0,
        lambda: ensure_catalog_topics(Admin(bootstrap, extra_config=kafka_config), [entry], []),
    )
    creator.start()
    try:
        assert restore.restore_many([(ingest, p) for p in range(PARTITIONS)]) == 0
    finally:
        creator.join()
    assert all(restore.owns(ingest, p) for p in range(PARTITIONS))


def test_a_changelog_that_never_comes_is_a_retriable_error(
    bootstrap: str, kafka_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "WATERMARK_TIMEOUT_S", 2.0)
    ingest = topic_name(TopicKind.INGEST, f"t{uuid.uuid4().hex[:10]}.never")
    with pytest.raises(KafkaTimeoutError) as raised:
        OneSourceState(bootstrap, kafka_config).restore(ingest, 0)
    assert transient(raised.value)  # the worker is restarted, not crashed (topology.run)
