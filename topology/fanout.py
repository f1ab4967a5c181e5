"""The fan-out rosters of one reference, kept while they hold.

Who may receive an entry's changes, which items and under which masking profile depends on
the catalog, the grants, the subscriptions and the time only, not on the change
(:func:`exchange.policy.fanout_roster`). :class:`RosterMemo` decides it once per (entry,
provider) and keeps it for every later change whose time the roster covers (no grant of
the entry starts, ends or is revoked and the entry's withdrawal does not take effect in
between: :meth:`exchange.policy.Roster.covers`), so each change pays for its grant classes,
not for each recipient's grant checks. A change at a time the roster does not cover gets a
new one, decided at that time. A memo belongs to one :class:`topology.plan.Reference`: new
reference data (another catalog, other grants or subscriptions) is a new memo.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from exchange.catalog import Catalog, CatalogEntry
from exchange.gate import fanout_recipients
from exchange.grants import Grant
from exchange.policy import Roster, fanout_roster
from exchange.subscriptions import SubscriptionIndex


class RosterMemo:
    """One roster per (entry, provider) of one reference's catalog, grants and subscriptions
    (an :class:`exchange.policy.RosterSource`)."""

    def __init__(
        self,
        catalog: Catalog,
        grants: Sequence[Grant],
        subscriptions: SubscriptionIndex | None,
    ) -> None:
        self._catalog = catalog
        self._grants = grants
        self._subscriptions = subscriptions
        self._rosters: dict[tuple[str, str], Roster] = {}

    def __call__(self, entry: CatalogEntry, provider: str, at: datetime) -> Roster:
        key = (entry.id, provider)
        roster = self._rosters.get(key)
        if roster is None or roster.entry is not entry or not roster.covers(at):
            roster = fanout_roster(
                entry,
                fanout_recipients(self._catalog, provider),
                self._grants,
                subscriptions=self._subscriptions,
                at=at,
            )
            self._rosters[key] = roster
        return roster

    def __len__(self) -> int:
        return len(self._rosters)
