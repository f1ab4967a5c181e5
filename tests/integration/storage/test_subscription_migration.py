"""Migration 0004 keeps an existing deployment delivering what it delivers (issue 16 item 3):
agencies registered before it are legacy (every unconditional entry until their first
subscription), agencies registered after it are not; a subscription and its transition are
one transaction, and the first one ends legacy status (G 15 ¶1, S 25 ¶1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from base.errors import DuplicateError
from exchange.catalog import Agency, AgencyKind, Catalog
from exchange.catalog_loader import load_catalog
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from storage.subscriptions import SubscriptionRow, SubscriptionStore
from storage.workflows import TransitionRow, WorkflowStore
from tests.support.scenario import DEMO

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _transition(subject: str, action: str) -> TransitionRow:
    return TransitionRow(
        "subscription", subject, action, None, "active", "hc-clerk", "agency", T0, reason="履职"
    )


def test_agencies_before_0004_are_legacy_and_later_ones_are_not(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0003") == "0003"
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agencies (id, name, kind, created_at, name_zh) "
                "VALUES ('old-psb', '市公安局', 'administrative_agency', :at, '市公安局')"
            ),
            {"at": T0},
        )
    assert migrate.upgrade(database_url) == migrate.head()
    ReferenceStore(engine).add_agency("new-hc", "市卫健委")
    subs = SubscriptionStore(engine)
    assert subs.of_agency("old-psb").legacy_unconditional is True
    assert subs.of_agency("new-hc").legacy_unconditional is False
    assert [(a.agency_id, a.legacy_unconditional) for a in subs.all_agencies()] == [
        ("new-hc", False),
        ("old-psb", True),
    ]


def test_a_subscription_is_stored_with_its_transition_and_ends_legacy(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    reference = ReferenceStore(engine)
    loaded = load_catalog(DEMO)
    reference.import_catalog(loaded.catalog, loaded.grants)
    with engine.begin() as conn:  # as migration 0004 leaves an agency registered before it
        conn.execute(text("UPDATE agencies SET legacy_unconditional = :y"), {"y": True})
    subs = SubscriptionStore(engine)
    row = SubscriptionRow("sub-1", "city-hc", "psb.person.basic", "传染病防控", T0, "hc-clerk")
    subs.subscribe(row, _transition("sub-1", "subscribe"))
    state = subs.of_agency("city-hc")
    assert state.legacy_unconditional is False
    assert [s.entry_id for s in state.active] == ["psb.person.basic"]
    assert subs.of_agency("city-mca").legacy_unconditional is True  # untouched
    with pytest.raises(DuplicateError):
        subs.subscribe(
            SubscriptionRow("sub-2", "city-hc", "psb.person.basic", "again", T0, "hc-clerk"),
            _transition("sub-2", "subscribe"),
        )
    assert subs.cancel("sub-1", T0, _transition("sub-1", "cancel")) is True
    assert subs.cancel("sub-1", T0, _transition("sub-1", "cancel")) is False
    assert subs.of_agency("city-hc").active == ()
    cancelled = subs.get("sub-1")
    assert cancelled is not None and cancelled.cancelled_by == "hc-clerk"
    history = WorkflowStore(engine).transitions_of("subscription", "sub-1")
    assert [t.action for t in history] == ["subscribe", "cancel"]


def test_agencies_imported_after_0004_start_without_legacy(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    agency = Agency("late", "Late bureau", "后到局", AgencyKind.ADMINISTRATIVE_AGENCY)
    ReferenceStore(engine).import_catalog(Catalog("c", (agency,), ()))
    assert SubscriptionStore(engine).of_agency("late").legacy_unconditional is False
