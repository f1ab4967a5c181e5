"""Which entries get topics (topology.topics): those in force at the given time (GM 14,
S 18), a withdrawal filed in advance included until its effective day (S 27 ¶2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from exchange.catalog import Lifecycle, LifecycleState, Withdrawal
from tests.support.scenario import Names
from topology.topics import entries_in_force, published_entries


def test_an_entry_is_given_topics_until_its_withdrawal_takes_effect_s_27() -> None:
    names = Names()
    catalog = names.load().catalog
    basic = names.entry("psb.person.basic")
    ahead = Lifecycle(
        LifecycleState.WITHDRAWN,
        Withdrawal("merged", date(2026, 1, 1), date(2026, 3, 1)),
    )
    entries = tuple(replace(e, lifecycle=ahead) if e.id == basic else e for e in catalog.entries)
    catalog = replace(catalog, entries=entries)
    before = datetime(2026, 2, 28, 15, 59, tzinfo=UTC)  # 23:59 in Beijing
    after = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 2026-03-01 00:00 in Beijing
    assert basic not in published_entries(catalog)
    assert basic in entries_in_force(catalog, before)
    assert basic not in entries_in_force(catalog, after)
    assert set(published_entries(catalog)) <= set(entries_in_force(catalog, after))
    drafts = {e.id for e in catalog.entries if e.lifecycle.state is LifecycleState.DRAFT}
    assert not drafts & set(entries_in_force(catalog, before))
