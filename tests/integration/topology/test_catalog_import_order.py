"""A catalog import that fails half-way leaves nothing half-applied (issue 19 item 1): the
topics come first, so a broker that refuses them leaves the SQL store as it was, and the
same import run again completes (every step is idempotent)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from base.errors import GovbusError
from exchange.catalog_loader import check_catalog_text
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from tests.support.scenario import Names
from topology.reference_service import ReferenceService


def test_a_refused_topic_creation_writes_nothing_and_a_rerun_resumes(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'govbus.db'}"
    migrate.upgrade(url)
    store = ReferenceStore(make_engine(url))
    names = Names()
    checked = check_catalog_text(names.catalog_text())
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    # The broker refuses this client (a wrong password): no topic can be created.
    refused = {**kafka_config, "sasl.password": "not-the-password"}
    with pytest.raises(GovbusError):
        ReferenceService(
            store, bootstrap, namespace=namespace, extra_config=refused
        ).import_catalog(checked)
    assert store.list_entries() == [] and store.list_agencies() == []
    service = ReferenceService(store, bootstrap, namespace=namespace, extra_config=kafka_config)
    report = service.import_catalog(checked)
    assert checked.catalog is not None
    assert {row.id for row in store.list_entries()} == {e.id for e in checked.catalog.entries}
    assert report.topics_created  # ... and the topics, which the first attempt could not make
    again = service.import_catalog(checked)  # resumable: running it again changes nothing
    assert again.topics_created == () and len(store.list_entries()) == len(checked.catalog.entries)
