"""Storage contract: written once, run against every adapter (SQLite always, PostgreSQL in CI)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from base.errors import DuplicateError, StorageError
from exchange.catalog import Agency, AgencyKind
from exchange.catalog_loader import load_catalog
from exchange.grants import Grant
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from tests.support.scenario import DEMO

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _grant(
    consumer: str,
    entry: str,
    *items: str,
    purpose: str = "p",
    valid_from: datetime = T0,
    valid_until: datetime | None = None,
) -> Grant:
    """A grant with a new id and no provider named (as rows from revision 0001 have)."""
    return Grant(
        id=uuid.uuid4().hex,
        consumer=consumer,
        entry_id=entry,
        items=frozenset(items),
        granted_by="",
        purpose=purpose,
        basis="",
        valid_from=valid_from,
        valid_until=valid_until,
    )


@pytest.fixture
def store(database_url: str) -> ReferenceStore:
    assert migrate.upgrade(database_url) == migrate.head()
    return ReferenceStore(make_engine(database_url))


def test_migrations_create_the_tables_and_are_idempotent(database_url: str) -> None:
    assert migrate.current(database_url) is None
    assert migrate.upgrade(database_url) == migrate.head()
    assert migrate.upgrade(database_url) == migrate.head()  # a second upgrade is a no-op
    names = set(inspect(make_engine(database_url)).get_table_names())
    assert {"agencies", "catalog_entries", "grants", "alembic_version"} <= names


def test_downgrade_to_base_and_back(database_url: str) -> None:
    from alembic import command

    migrate.upgrade(database_url)
    command.downgrade(migrate.alembic_config(database_url), "base")
    assert migrate.current(database_url) is None
    assert migrate.upgrade(database_url) == migrate.head()


def test_agencies_keep_chinese_names_and_refuse_duplicates(store: ReferenceStore) -> None:
    store.add_agency("psb", "市公安局")
    store.add_agency("civil", "市民政局")
    assert [a.name for a in store.list_agencies()] == ["市民政局", "市公安局"]
    with pytest.raises(DuplicateError, match="already registered") as exists:
        store.add_agency("psb", "again")
    assert exists.value.code == "agency_exists"
    assert store.revoke_agency("psb") is True
    assert store.revoke_agency("psb") is False
    assert [a.id for a in store.list_agencies()] == ["civil"]
    revoked = store.get_agency("psb")
    assert revoked is not None and revoked.revoked_at is not None
    with pytest.raises(DuplicateError, match="never given out again") as refused:
        store.add_agency("psb", "again")
    assert refused.value.code == "agency_revoked"


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
        _grant(
            "health",
            "person.basic",
            "name",
            "birth_date",
            purpose="疫苗接种核验",
            valid_from=t0,
            valid_until=t0 + timedelta(days=30),
        )
    )
    assert store.active_grants(t0 - timedelta(seconds=1)) == []
    active = store.active_grants(t0 + timedelta(days=1))
    assert [x.id for x in active] == [g.id] and active[0].items == ("birth_date", "name")
    assert store.active_grants(t0 + timedelta(days=30)) == []  # valid_until is exclusive
    store.revoke_grant(g.id, at=t0 + timedelta(days=2))
    assert [x.id for x in store.active_grants(t0 + timedelta(days=1))] == [g.id]
    assert store.active_grants(t0 + timedelta(days=3)) == []


def test_times_in_other_zones_are_stored_as_utc(store: ReferenceStore) -> None:
    store.add_agency("health", "市卫健委")
    store.put_entry("e", "E", "published", {})
    shanghai = timezone(timedelta(hours=8))
    g = store.add_grant(
        _grant("health", "e", "a", valid_from=datetime(2026, 3, 1, 8, 0, tzinfo=shanghai))
    )
    assert g.valid_from == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert store.active_grants(datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC))[0].id == g.id
    assert store.active_grants(datetime(2026, 2, 29 - 1, 23, 59, tzinfo=UTC)) == []
    with pytest.raises(StorageError, match="naive"):
        store.add_grant(_grant("health", "e", "a", valid_from=datetime(2026, 3, 1)))


def test_grant_for_unknown_agency_is_refused(store: ReferenceStore) -> None:
    store.put_entry("e", "E", "published", {})
    with pytest.raises(StorageError):
        store.add_grant(_grant("nobody", "e", "a"))


# -- revision 0002: grants name their provider and basis; agencies a kind and name_zh ---------


def test_0002_adds_the_new_columns(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0002") == "0002"
    inspector = inspect(make_engine(database_url))
    assert {"granted_by", "basis"} <= {c["name"] for c in inspector.get_columns("grants")}
    assert "name_zh" in {c["name"] for c in inspector.get_columns("agencies")}


def test_0002_upgrades_rows_written_under_0001(database_url: str) -> None:
    """Old rows keep their data: kind 'agency' becomes administrative_agency (G 32, S 3);
    a grant without granted_by maps to a domain grant naming no provider."""
    assert migrate.upgrade(database_url, "0001") == "0001"
    engine = make_engine(database_url)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agencies (id, name, kind, created_at)"
                " VALUES ('hc', '市卫健委', 'agency', :t)"
            ),
            {"t": t0},
        )
        conn.execute(
            text(
                "INSERT INTO catalog_entries (id, title, state, document, version, updated_at)"
                " VALUES ('e', 'E', 'published', '{}', 1, :t)"
            ),
            {"t": t0},
        )
        conn.execute(
            text(
                "INSERT INTO grants (id, agency_id, entry_id, items, purpose, valid_from)"
                " VALUES ('g1', 'hc', 'e', '[\"phone\"]', 'p', :t)"
            ),
            {"t": t0},
        )
    assert migrate.upgrade(database_url, "0002") == "0002"
    # Read through today's store, which needs the later revisions' columns (0004 adds
    # agencies.legacy_unconditional); they change none of the data checked here.
    assert migrate.upgrade(database_url) == migrate.head()
    store = ReferenceStore(engine)
    agency = store.get_agency("hc")
    assert agency is not None and agency.kind == AgencyKind.ADMINISTRATIVE_AGENCY.value
    assert agency.agency() == Agency("hc", "市卫健委", "市卫健委", AgencyKind.ADMINISTRATIVE_AGENCY)
    grant = store.get_grant("g1")
    assert grant is not None and grant.granted_by is None and grant.basis is None
    assert grant.grant().granted_by == "" and grant.grant().items == frozenset({"phone"})
    assert store.add_agency("new", "New").kind == AgencyKind.ADMINISTRATIVE_AGENCY.value
    assert [a.kind for a in store.list_agencies()] == [AgencyKind.ADMINISTRATIVE_AGENCY.value] * 2


@pytest.mark.parametrize("kind", list(AgencyKind))
def test_every_domain_agency_kind_is_stored(store: ReferenceStore, kind: AgencyKind) -> None:
    """The table admits exactly the kinds of exchange.catalog.AgencyKind (G 32, S 3, J 3(一))."""
    row = store.add_agency("a", "Agency", kind.value, name_zh="机关")
    assert store.get_agency("a") == row
    assert row.agency() == Agency("a", "Agency", "机关", kind)


def test_unknown_agency_kind_is_refused_by_store_and_table(store: ReferenceStore) -> None:
    with pytest.raises(StorageError, match="kind 'agency' unknown"):
        store.add_agency("a", "Agency", "agency")
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO agencies (id, name, kind, created_at) VALUES ('b', 'B', 'club', :t)"),
            {"t": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    assert store.list_agencies(include_revoked=True) == []


def test_put_agency_updates_and_registers_a_revoked_agency_again(store: ReferenceStore) -> None:
    store.add_agency("hc", "Health", name_zh="卫健委")
    store.revoke_agency("hc")
    again = store.put_agency(
        Agency("hc", "Health Commission", "市卫健委", AgencyKind.ADMINISTRATIVE_AGENCY)
    )
    assert again.revoked_at is None and again.name_zh == "市卫健委"
    assert [a.id for a in store.list_agencies()] == ["hc"]


def test_grants_record_who_granted_and_on_what_basis(store: ReferenceStore) -> None:
    """A grant is the provider's decision (G 15 ¶2, S 25 ¶3) on a stated basis."""
    store.add_agency("psb", "市公安局")
    store.add_agency("hc", "市卫健委")
    store.put_entry("person.contact", "联系方式", "published", {})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    grant = Grant(
        "g-1",
        "hc",
        "person.contact",
        frozenset({"phone"}),
        "psb",
        "流行病学调查",
        "《传染病防治法》",
        t0,
    )
    row = store.add_grant(grant)
    got = store.get_grant("g-1")
    assert got == row and got.granted_by == "psb" and got.basis == "《传染病防治法》"
    assert got.grant() == grant
    with pytest.raises(DuplicateError, match="exists already"):  # the id is taken
        store.add_grant(grant)
    with pytest.raises(StorageError):
        store.add_grant(replace(grant, id="g-2", granted_by="nobody"))


def test_put_grant_upserts_by_id_with_revocation(store: ReferenceStore) -> None:
    store.add_agency("psb", "市公安局")
    store.add_agency("hc", "市卫健委")
    store.add_agency("mca", "市民政局")
    store.put_entry("c", "C", "published", {})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    grant = Grant("g-9", "hc", "c", frozenset({"phone"}), "psb", "p", "b", t0)
    store.put_grant(grant)
    revoked = replace(grant, revoked_at=t0 + timedelta(days=3))
    store.put_grant(revoked)
    store.put_grant(Grant("g-10", "mca", "c", frozenset({"phone"}), "psb", "p", "b", t0))
    assert [g.grant() for g in store.list_grants(agency_id="hc")] == [revoked]
    assert [g.id for g in store.list_grants()] == ["g-9", "g-10"]
    assert [g.id for g in store.list_grants(entry_id="c", agency_id="mca")] == ["g-10"]


def test_import_catalog_round_trips_the_demo_catalog(store: ReferenceStore) -> None:
    """Agencies, entries (as catalog-YAML documents) and grants come back as equal domain
    objects; a second import of the same file changes no entry version (GM 13)."""
    loaded = load_catalog(DEMO)
    store.import_catalog(loaded.catalog, loaded.grants)
    agencies = [a.agency() for a in store.list_agencies()]
    assert sorted(agencies, key=lambda a: a.id) == sorted(
        loaded.catalog.agencies, key=lambda a: a.id
    )
    entries = {r.id: r.entry(agencies) for r in store.list_entries()}
    assert entries == {e.id: e for e in loaded.catalog.entries}
    assert {g.grant() for g in store.list_grants()} == set(loaded.grants)
    versions = {r.id: r.version for r in store.list_entries()}
    store.import_catalog(loaded.catalog, loaded.grants)
    assert {r.id: r.version for r in store.list_entries()} == versions


def test_import_catalog_is_one_transaction(store: ReferenceStore) -> None:
    """A catalog whose grant breaks a constraint leaves nothing behind."""
    loaded = load_catalog(DEMO)
    bad = replace(loaded.grants[0], consumer="not-registered")
    with pytest.raises(StorageError):
        store.import_catalog(loaded.catalog, (*loaded.grants, bad))
    assert store.list_agencies(include_revoked=True) == []
    assert store.list_entries() == []


def test_a_stored_entry_document_that_is_not_an_entry_is_reported(store: ReferenceStore) -> None:
    store.add_agency("psb", "市公安局")
    row = store.put_entry("e", "E", "published", {"id": "e", "title": "E"})
    with pytest.raises(StorageError, match="missing_field"):
        row.entry([a.agency() for a in store.list_agencies()])
