"""Reference data from the SQL store to the processors through compacted state topics
(G 14, G 15, S 22, S 25, GM 9, GM 13, GM 22).

Each test imports a copy of the demo catalog whose agency and entry ids carry a unique
suffix, into its own SQLite file and its own state-topic namespace, on the real broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

# Public API (confluent-kafka's docs), re-exported without __all__, so mypy does not see it.
from base.errors import CatalogError, GrantError
from consumers.reference import ReferenceSnapshot, ReferenceView
from exchange.catalog import LEGAL_TZ, Agency, CatalogEntry, ShareType
from exchange.catalog_loader import check_catalog_text
from exchange.grants import entitlement
from kafkaclient import Admin, Producer
from schemas.state import encode, grant_document
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from tests.support.scenario import Names
from topology.reference_service import GrantTerms, ReferenceService

REFRESH_S = 30.0


@dataclass
class Env:
    suffix: str
    namespace: str
    service: ReferenceService
    view: ReferenceView
    bootstrap: str
    config: dict[str, str]  # the client's settings: the kafka_config fixture's

    def agency(self, base: str) -> str:
        return Names(self.suffix).agency(f"city-{base}")

    def entry(self, base: str) -> str:
        return Names(self.suffix).entry(base)

    def terms(
        self,
        entry_id: str,
        items: list[str],
        *,
        consumer: str | None = None,
        granted_by: str | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> GrantTerms:
        """Terms of a grant of ``items`` of ``entry_id`` to 市卫健委 (or ``consumer``) whose
        purpose and basis do not matter to the test."""
        return GrantTerms(
            consumer=consumer or self.agency("hc"),
            entry_id=entry_id,
            items=items,
            purpose="p",
            basis="b",
            granted_by=granted_by,
            valid_from=valid_from,
            valid_until=valid_until,
        )

    def contact_and(self, snap: ReferenceSnapshot, consumer: str) -> tuple[CatalogEntry, Agency]:
        """The demo's contact entry (conditional, G 14) and the agency ``consumer`` in
        ``snap``."""
        contact = snap.catalog.entry(self.entry("psb.person.contact"))
        agency = snap.catalog.agency(self.agency(consumer))
        assert contact is not None and agency is not None
        return contact, agency


@pytest.fixture
def env(bootstrap: str, kafka_config: dict[str, str], tmp_path: Path) -> Iterator[Env]:
    suffix = uuid.uuid4().hex[:10]
    namespace = f"test-{suffix}"
    url = f"sqlite:///{tmp_path / 'govbus.db'}"
    migrate.upgrade(url)
    service = ReferenceService(
        ReferenceStore(make_engine(url)), bootstrap, namespace=namespace, extra_config=kafka_config
    )
    with ReferenceView(bootstrap, namespace=namespace, extra_config=kafka_config) as view:
        yield Env(suffix, namespace, service, view, bootstrap, kafka_config)


def _imported(env: Env) -> None:
    result = check_catalog_text(Names(env.suffix).catalog_text())
    assert result.valid, result.issues
    env.service.import_catalog(result)


def test_state_topics_are_compacted_on_the_broker(env: Env) -> None:
    env.view.refresh(REFRESH_S)  # creates them
    admin = Admin(env.bootstrap, extra_config=env.config)
    for topic in env.view.topics.names:
        assert admin.topic_config(topic, REFRESH_S)["cleanup.policy"] == "compact", topic


# -- the view ---------------------------------------------------------------------------------
def test_import_reaches_the_view_with_every_agency_entry_and_grant(env: Env) -> None:
    """Catalog, agencies and grants live in SQL and reach processors via state topics."""
    assert env.view.snapshot.version == 0
    _imported(env)
    snap = env.view.refresh(REFRESH_S)
    expected = check_catalog_text(Names(env.suffix).catalog_text())
    assert expected.catalog is not None
    assert snap.problems == ()
    assert set(snap.catalog.agencies) == set(expected.catalog.agencies)
    assert set(snap.catalog.entries) == set(expected.catalog.entries)  # withdrawn one too
    assert set(snap.grants) == set(expected.grants)
    assert snap.version == 1


def test_refresh_without_change_does_not_rebuild(env: Env) -> None:
    _imported(env)
    first = env.view.refresh(REFRESH_S)
    again = env.view.refresh(REFRESH_S)
    assert again is first and again.version == first.version
    env.service.publish_all()  # the same records once more: values unchanged
    assert env.view.refresh(REFRESH_S) is first


def test_a_new_grant_applies_from_the_next_refresh(env: Env) -> None:
    """G 14 / S 22: the health commission gets the address only once granted."""
    _imported(env)
    before = env.view.refresh(REFRESH_S)
    contact, hc = env.contact_and(before, "hc")
    assert "household_address" not in (
        entitlement(contact, hc, before.grants, datetime.now(UTC)) or set()
    )
    grant = env.service.add_grant(
        GrantTerms(
            consumer=hc.id,
            entry_id=contact.id,
            items=["household_address"],
            purpose="家庭医生签约核验",
            basis="《基本医疗卫生与健康促进法》",
        )
    )
    after = env.view.refresh(REFRESH_S)
    assert after.version == before.version + 1
    assert grant in after.grants and grant.granted_by == env.agency("psb")
    assert "household_address" in (
        entitlement(contact, hc, after.grants, datetime.now(UTC)) or set()
    )


def test_a_revoked_grant_shows_revoked_at_and_stops_entitlement(env: Env) -> None:
    _imported(env)
    snap = env.view.refresh(REFRESH_S)
    contact, mca = env.contact_and(snap, "mca")
    demo_grant = "grant-2024-0001"
    at = datetime(2026, 3, 2, 9, 0, tzinfo=LEGAL_TZ)
    assert entitlement(contact, mca, snap.grants, at) == frozenset({"household_address", "phone"})
    revoked = env.service.revoke_grant(demo_grant, at=at)
    after = env.view.refresh(REFRESH_S)
    got = next(g for g in after.grants if g.id == demo_grant)
    assert got == revoked and got.revoked_at == at
    assert entitlement(contact, mca, after.grants, at - timedelta(seconds=1)) is not None
    assert entitlement(contact, mca, after.grants, at) is None


def test_revoking_an_agency_removes_it_and_its_deliveries(env: Env) -> None:
    _imported(env)
    before = env.view.refresh(REFRESH_S)
    hc = before.catalog.agency(env.agency("hc"))
    basic = before.catalog.entry(env.entry("psb.person.basic"))
    assert hc is not None and basic is not None
    env.service.revoke_agency(hc.id)
    snap = env.view.refresh(REFRESH_S)
    assert snap.version == before.version + 1
    assert snap.catalog.agency(hc.id) is None
    assert {a.id for a in snap.catalog.agencies} == {
        env.agency(a) for a in ("psb", "amr", "mca", "bdb")
    }
    # Its grants stay in the record, but no longer name a registered consumer.
    assert any(g.consumer == hc.id for g in snap.grants)
    assert snap.problems == ()
    revoked = env.service.store.get_agency(hc.id)
    assert revoked is not None and revoked.revoked_at is not None


def test_revoking_a_provider_is_refused_while_its_entries_are_served(env: Env) -> None:
    """Stopping a resource needs a withdrawal filed first (S 27 ¶2): civil affairs is the
    source of marital_status in the published person entry (GM 22)."""
    _imported(env)
    with pytest.raises(CatalogError) as caught:
        env.service.revoke_agency(env.agency("mca"))
    assert caught.value.code == "agency_still_provides"
    assert env.entry("psb.person.basic") in str(caught.value)
    kept = env.service.store.get_agency(env.agency("mca"))
    assert kept is not None and kept.revoked_at is None
    # amr's withdrawn 2019 entry stopped in 2024: it does not count, the others do.
    provided = env.service.provided_entries(env.agency("amr"), datetime.now(UTC))
    assert env.entry("amr.company.annual_report_2019") not in provided
    assert env.entry("amr.company.registration") in provided
    at_2024 = datetime(2024, 3, 31, 12, tzinfo=LEGAL_TZ)  # before the stop took effect
    assert env.entry("amr.company.annual_report_2019") in env.service.provided_entries(
        env.agency("amr"), at_2024
    )


def test_a_forced_provider_revocation_drops_its_entries_as_problems(env: Env) -> None:
    """An entry whose provider is no longer registered cannot be served (GM 22)."""
    _imported(env)
    env.service.revoke_agency(env.agency("amr"), force=True)
    snap = env.view.refresh(REFRESH_S)
    assert all(not e.id.startswith(env.entry("amr.")) for e in snap.catalog.entries)
    assert {p.key for p in snap.problems if p.code == "unknown_provider"} == {
        env.entry("amr.company.registration"),
        env.entry("amr.individual.business"),
        env.entry("amr.company.annual_report_2019"),
    }


def test_a_new_view_reads_the_same_state_from_the_beginning(env: Env) -> None:
    _imported(env)
    env.service.add_agency(f"extra-{env.suffix}", "Tax Bureau", name_zh="市税务局")
    first = env.view.refresh(REFRESH_S)
    with ReferenceView(env.bootstrap, namespace=env.namespace, extra_config=env.config) as other:
        second = other.refresh(REFRESH_S)
    assert set(second.catalog.agencies) == set(first.catalog.agencies)
    assert set(second.catalog.entries) == set(first.catalog.entries)
    assert set(second.grants) == set(first.grants)


def test_namespaces_are_isolated(env: Env) -> None:
    _imported(env)
    with ReferenceView(
        env.bootstrap, namespace=f"{env.namespace}-other", extra_config=env.config
    ) as other:
        snap = other.refresh(REFRESH_S)
    assert snap.version == 0 and snap.catalog.entries == () and snap.grants == ()


def test_invalid_records_are_skipped_and_reported_not_raised(env: Env) -> None:
    """A broken state record never stops a processor; the rest of the snapshot stands."""
    _imported(env)
    good = env.view.refresh(REFRESH_S)
    topics = env.view.topics
    contact = env.entry("psb.person.contact")
    bad_grant = {
        **grant_document(good.grants[0]),
        "id": "g-bad-item",
        "items": ["no_such_item"],
    }
    foreign = {  # marital_status is provided by civil affairs, not the granting PSB
        **grant_document(good.grants[0]),
        "id": "g-foreign",
        "entry": env.entry("psb.person.basic"),
        "items": ["marital_status"],
    }
    with Producer(env.bootstrap, extra_config=env.config) as producer:
        producer.produce(topics.agencies, b"{not json", b"broken-agency")
        producer.produce(topics.agencies, encode({"id": "other"}), b"mismatch")
        producer.produce(topics.catalog, encode({"id": "e-bad", "title": "x"}), b"e-bad")
        producer.produce(topics.grants, encode(bad_grant), b"g-bad-item")
        producer.produce(topics.grants, encode(foreign), b"g-foreign")
        producer.produce(topics.grants, encode({**bad_grant, "id": "g-x", "entry": "nope"}), b"g-x")
    snap = env.view.refresh(REFRESH_S)
    codes = {(p.key, p.code) for p in snap.problems}
    assert ("broken-agency", "state_record_not_json") in codes
    assert ("mismatch", "state_key_mismatch") in codes
    assert ("e-bad", "missing_field") in codes
    assert ("g-bad-item", "grant_item_not_in_entry") in codes
    assert ("g-foreign", "grant_not_by_provider") in codes
    assert ("g-x", "grant_unknown_entry") in codes
    assert snap.version == good.version + 1
    assert snap.catalog == good.catalog and set(snap.grants) == set(good.grants)
    assert contact in {e.id for e in snap.catalog.entries}
    # Whatever the view serves, entitlement() accepts: no GrantError reaches a processor.
    at = datetime.now(UTC)
    for entry in snap.catalog.entries:
        for agency in snap.catalog.agencies:
            entitlement(entry, agency, snap.grants, at)


def test_a_tombstone_removes_a_record_and_bumps_the_version(env: Env) -> None:
    _imported(env)
    before = env.view.refresh(REFRESH_S)
    with Producer(env.bootstrap, extra_config=env.config) as producer:
        producer.produce(env.view.topics.grants, None, b"grant-2024-0002")
    after = env.view.refresh(REFRESH_S)
    assert after.version == before.version + 1
    assert {g.id for g in before.grants} - {g.id for g in after.grants} == {"grant-2024-0002"}


# -- the service refuses what the regulations refuse --------------------------------------------
def test_grant_on_an_unconditional_entry_is_refused(env: Env) -> None:
    """G 15 ¶1, S 25 ¶1: unconditional data is taken directly; no grant exists for it."""
    _imported(env)
    with pytest.raises(GrantError) as caught:
        env.service.add_grant(env.terms(env.entry("psb.person.basic"), ["name"]))
    assert caught.value.code == "grant_on_unconditional" and "G 15" in caught.value.article
    hc_grants = env.service.store.list_grants(agency_id=env.agency("hc"))
    assert [g.id for g in hc_grants] == ["grant-2024-0002"]  # the demo's, nothing new


def test_grant_on_a_not_shared_entry_is_refused(env: Env) -> None:
    """GM 9, S 22: 涉密 data is never shared, whatever is granted."""
    _imported(env)
    entry = env.service.entry(env.entry("psb.person.watchlist"))
    assert entry.share_type is ShareType.NOT_SHARED
    with pytest.raises(GrantError) as caught:
        env.service.add_grant(env.terms(entry.id, ["watch_category"]))
    assert caught.value.code == "grant_on_not_shared" and caught.value.article == "GM 9; S 22"


def test_grant_checked_against_its_entry_before_anything_is_written(env: Env) -> None:
    """check_grant: items must exist and be provided by the granting agency (S 22, G 15)."""
    _imported(env)
    before = env.view.refresh(REFRESH_S)
    for items, granted_by, code in (
        (["no_such_item"], None, "grant_item_not_in_entry"),
        (["phone"], env.agency("amr"), "grant_not_by_provider"),
    ):
        with pytest.raises(GrantError) as caught:
            env.service.add_grant(
                env.terms(env.entry("psb.person.contact"), items, granted_by=granted_by)
            )
        assert caught.value.code == code
    with pytest.raises(GrantError, match="not a registered agency"):
        env.service.add_grant(
            env.terms(env.entry("psb.person.contact"), ["phone"], consumer="nobody")
        )
    assert env.view.refresh(REFRESH_S) is before


def test_a_grant_period_in_legal_time(env: Env) -> None:
    _imported(env)
    start = datetime.combine(date(2026, 5, 1), datetime.min.time(), tzinfo=LEGAL_TZ)
    grant = env.service.add_grant(
        env.terms(
            env.entry("psb.person.contact"),
            ["phone"],
            valid_from=start,
            valid_until=start + timedelta(days=30),
        )
    )
    snap = env.view.refresh(REFRESH_S)
    got = next(g for g in snap.grants if g.id == grant.id)
    assert got.valid_from == start and got.valid_until == start + timedelta(days=30)


def test_subscription_records_and_legacy_agencies_in_the_view_G15_S25(env: Env) -> None:
    """Agencies imported after migration 0004 are not legacy; a registered agency without a
    record on the subscriptions topic is (a deployment whose topic was never written keeps
    delivering); a record that does not parse is a problem and counts as no record."""
    _imported(env)
    hc, mca, amr = env.agency("hc"), env.agency("mca"), env.agency("amr")
    snap = env.view.refresh(REFRESH_S)
    assert not {hc, mca, amr} & snap.subscriptions.legacy
    topic = env.view.topics.subscriptions
    with Producer(env.bootstrap, extra_config=env.config) as producer:
        producer.produce(topic, None, mca.encode())  # tombstone: no record any more
        producer.produce(
            topic, b'{"id": "%s", "legacy_unconditional": 1}' % amr.encode(), amr.encode()
        )
    snap = env.view.refresh(REFRESH_S)
    assert mca in snap.subscriptions.legacy and amr in snap.subscriptions.legacy
    assert hc not in snap.subscriptions.legacy
    assert [(p.key, p.code) for p in snap.problems if p.topic == topic] == [
        (amr, "bad_subscriptions")
    ]
    # The processors' index at any time: the legacy agencies receive unconditional data.
    index = snap.subscriptions.index(datetime.now(UTC))
    assert index.receives_unconditional(mca, env.entry("psb.person.basic"))
    assert not index.receives_unconditional(hc, env.entry("psb.person.basic"))
