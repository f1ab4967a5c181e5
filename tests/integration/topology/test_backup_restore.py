"""Backup and restore end to end (issue 18 item 3; GM 28, GM 29, S 45, J 17): a backup of a
working bus checks out offline, a changed audit record in it is found and named, and a
restore into a new, empty broker and database brings back a bus whose audit verifies with
the same chain heads and whose store holds the same catalog."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from base.errors import GovbusError
from base.settings import Settings
from consumers.reader import read_labelled
from exchange.catalog_loader import check_catalog_text
from operations.broker.local import LocalBroker
from schemas.audit import verify
from schemas.topics import TopicKind, topic_name
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from tests.support.broker import RedactedConfig
from tests.support.processor import Bus, publish_names, running_processor
from tests.support.scenario import read_topic
from topology import backup
from topology.reference_service import ReferenceService

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _local_broker(state_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A local broker of its own, new and empty: (bootstrap, admin client config)."""
    settings = Settings.load()
    local = LocalBroker(settings.home, settings.kafka_version, "384m", state_dir=state_dir)
    status = local.start()
    try:
        config = local.admin_config()
        config.pop("bootstrap.servers", None)
        yield str(status.bootstrap), RedactedConfig(config)
    finally:
        local.stop()


@pytest.fixture(scope="module")
def source_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str]]]:
    """The bus backed up: a broker of this module's own. A backup takes the whole broker, and
    the session broker holds every other test's topics, some tampered with on purpose (the
    audit tamper tests write forged records to ``govbus.audit``)."""
    yield from _local_broker(tmp_path_factory.mktemp("source-broker"))


@pytest.fixture(scope="module")
def bootstrap(source_broker: tuple[str, dict[str, str]]) -> str:
    return source_broker[0]


@pytest.fixture(scope="module")
def kafka_config(source_broker: tuple[str, dict[str, str]]) -> dict[str, str]:
    return source_broker[1]


@pytest.fixture
def empty_broker(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A second local broker, new and empty: where a restore goes."""
    yield from _local_broker(tmp_path / "restored-broker")


def _store(url: str) -> ReferenceStore:
    migrate.upgrade(url)
    return ReferenceStore(make_engine(url))


def test_backup_checks_out_and_a_restore_brings_the_bus_back(
    bus: Bus, tmp_path: Path, empty_broker: tuple[str, dict[str, str]]
) -> None:
    # A working bus: a catalog in SQL and the state topics, decisions in the audit chains.
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    checked = check_catalog_text(bus.names.catalog_text())
    ReferenceService(_store(source_url), bus.bootstrap, extra_config=bus.config).import_catalog(
        checked
    )
    bus.publish_names("张三", "张叁")
    assert len(bus.receipts("city-psb", until=2)) == 2
    audit_topic = topic_name(TopicKind.AUDIT)
    live = verify(read_labelled(bus.bootstrap, audit_topic, extra_config=bus.config))
    assert live.ok

    folder = tmp_path / "backup"
    source = backup.Target(bus.bootstrap, source_url, bus.config)
    report = backup.take(source, folder, NOW)
    assert report.ok, report.problems
    assert report.topics[audit_topic] >= live.records
    assert report.audit[audit_topic]["chains"] >= len(live.heads)
    assert report.tables["catalog_entries"] == len(
        checked.catalog.entries if checked.catalog else ()
    )
    assert not list(folder.glob("store/tokens.json"))  # login sessions are not kept
    with pytest.raises(GovbusError, match="not empty"):
        backup.take(source, folder, NOW)  # never over an earlier backup

    # Restore into a new broker and a new database.
    bootstrap, config = empty_broker
    target_url = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = backup.restore(folder, backup.Target(bootstrap, target_url, config))
    assert restored.ok
    after = verify(read_labelled(bootstrap, audit_topic, extra_config=config))
    assert after.ok and after.records == report.audit[audit_topic]["records"]
    assert {c: h.to_dict() for c, h in after.heads.items()} == report.audit[audit_topic]["heads"]
    entries = {row.id for row in ReferenceStore(make_engine(target_url)).list_entries()}
    assert checked.catalog is not None and entries == {e.id for e in checked.catalog.entries}
    # The restored bus works: a processor there continues the restored chains (their
    # heads come back with the changelogs) and the one-source state (GM 22).
    with running_processor(bootstrap, config, bus.loaded):
        publish_names(bootstrap, config, bus.names, "李四")
        receipts = topic_name(TopicKind.RECEIPTS, bus.names.agency("city-psb"))
        (receipt,) = read_topic(bootstrap, receipts, config=config, until=1, record="Receipt")
        assert receipt["outcome"] == "accepted"
    continued = verify(read_labelled(bootstrap, audit_topic, extra_config=config))
    assert continued.ok and continued.records > after.records
    assert len(continued.heads) == len(after.heads)  # the same chains, longer: no fork
    with pytest.raises(GovbusError, match=r"not empty|exists already"):
        backup.restore(folder, backup.Target(bootstrap, target_url, config))  # never over data


def test_a_changed_backup_is_refused_and_the_changed_record_named(bus: Bus, tmp_path: Path) -> None:
    bus.publish_names("张三")
    assert bus.receipts("city-psb", until=1)
    url = f"sqlite:///{tmp_path / 'source.db'}"
    _store(url)
    folder = tmp_path / "backup"
    assert backup.take(backup.Target(bus.bootstrap, url, bus.config), folder, NOW).ok
    audit_file = folder / "topics" / f"{topic_name(TopicKind.AUDIT)}.jsonl"
    lines = audit_file.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    # A file changed after the backup: its digest no longer matches.
    first["timestamp_ms"] += 1
    audit_file.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    report = backup.check(folder)
    assert not report.ok and any("SHA-256" in p for p in report.problems)
    # A record changed and the digest forged too: the hash chain names the record.
    value = bytearray(base64.b64decode(first["value"]))
    value[-1] ^= 0x01
    first["value"] = base64.b64encode(bytes(value)).decode()
    data = ("\n".join([json.dumps(first), *lines[1:]]) + "\n").encode()
    audit_file.write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][f"topics/{audit_file.name}"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    report = backup.check(folder)
    where = f"{first['partition']}/{first['offset']}"
    assert not report.ok and any(where in p for p in report.problems), report.problems
    with pytest.raises(GovbusError, match="does not check out"):
        backup.restore(folder, backup.Target(bus.bootstrap, f"sqlite:///{tmp_path}/x.db", {}))
