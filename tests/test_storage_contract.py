"""Storage contract: written once, run against every adapter (SQLite always, PostgreSQL in CI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from govbus.errors import StorageError
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore


@pytest.fixture
def store(database_url: str) -> ReferenceStore:
    assert migrate.upgrade(database_url) == migrate.head()
    return ReferenceStore(make_engine(database_url))


def test_migrations_create_the_tables_and_are_idempotent(database_url: str) -> None:
    assert migrate.current(database_url) is None
    assert migrate.upgrade(database_url) == "0001"
    assert migrate.upgrade(database_url) == "0001"  # a second upgrade is a no-op
    names = set(inspect(make_engine(database_url)).get_table_names())
    assert {"agencies", "catalog_entries", "grants", "alembic_version"} <= names


def test_downgrade_to_base_and_back(database_url: str) -> None:
    from alembic import command

    migrate.upgrade(database_url)
    command.downgrade(migrate.alembic_config(database_url), "base")
    assert migrate.current(database_url) is None
    assert migrate.upgrade(database_url) == "0001"


def test_agencies_keep_chinese_names_and_refuse_duplicates(store: ReferenceStore) -> None:
    store.add_agency("psb", "市公安局")
    store.add_agency("civil", "市民政局")
    assert [a.name for a in store.list_agencies()] == ["市民政局", "市公安局"]
    with pytest.raises(StorageError, match="conflicts"):
        store.add_agency("psb", "again")
    assert store.revoke_agency("psb") is True
    assert store.revoke_agency("psb") is False
    assert [a.id for a in store.list_agencies()] == ["civil"]
    assert store.get_agency("psb") is not None and store.get_agency("psb").revoked_at is not None


def test_entries_are_versioned(store: ReferenceStore) -> None:
    store.put_entry("person.basic", "人口基础信息", "draft", {"items": ["name"]})
    second = store.put_entry(
        "person.basic", "人口基础信息", "published", {"items": ["name", "phone"]}
    )
    assert second.version == 2
    got = store.get_entry("person.basic")
    assert (
        got is not None and got.state == "published" and got.document["items"] == ["name", "phone"]
    )


def test_grants_active_window_and_revocation(store: ReferenceStore) -> None:
    store.add_agency("health", "市卫健委")
    store.put_entry("person.basic", "人口基础信息", "published", {})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    g = store.add_grant(
        "health",
        "person.basic",
        ["name", "birth_date"],
        "疫苗接种核验",
        valid_from=t0,
        valid_until=t0 + timedelta(days=30),
    )
    assert store.active_grants(t0 - timedelta(seconds=1)) == []
    active = store.active_grants(t0 + timedelta(days=1))
    assert [x.id for x in active] == [g.id] and active[0].items == ("name", "birth_date")
    assert store.active_grants(t0 + timedelta(days=30)) == []  # valid_until is exclusive
    store.revoke_grant(g.id, at=t0 + timedelta(days=2))
    assert [x.id for x in store.active_grants(t0 + timedelta(days=1))] == [g.id]
    assert store.active_grants(t0 + timedelta(days=3)) == []


def test_times_in_other_zones_are_stored_as_utc(store: ReferenceStore) -> None:
    store.add_agency("health", "市卫健委")
    store.put_entry("e", "E", "published", {})
    shanghai = timezone(timedelta(hours=8))
    g = store.add_grant(
        "health", "e", ["a"], "p", valid_from=datetime(2026, 3, 1, 8, 0, tzinfo=shanghai)
    )
    assert g.valid_from == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert store.active_grants(datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC))[0].id == g.id
    assert store.active_grants(datetime(2026, 2, 29 - 1, 23, 59, tzinfo=UTC)) == []
    with pytest.raises(StorageError, match="naive"):
        store.add_grant("health", "e", ["a"], "p", valid_from=datetime(2026, 3, 1))


def test_grant_for_unknown_agency_is_refused(store: ReferenceStore) -> None:
    store.put_entry("e", "E", "published", {})
    with pytest.raises(StorageError):
        store.add_grant("nobody", "e", ["a"], "p")
