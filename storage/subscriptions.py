"""Subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1) and the agencies' legacy flag.

A subscription is made and cancelled with its transition (subject kind ``subscription``:
who, when, why) in one transaction, so the workflow audit relay seals every change
(``govbus.audit.workflows``). Making an agency's first subscription clears its
``legacy_unconditional`` flag in the same transaction (migration 0004).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, select, update

from base.errors import DuplicateError, StorageError
from exchange.subscriptions import Subscription
from storage.engine import Store
from storage.reference import _in, _utc, require_registered
from storage.tables import agencies, subscriptions
from storage.workflows import TransitionRow, insert_transition


@dataclass(frozen=True)
class SubscriptionRow:
    id: str
    agency_id: str
    entry_id: str
    purpose: str
    subscribed_at: datetime
    subscribed_by: str
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None

    def subscription(self) -> Subscription:
        return Subscription(
            self.id,
            self.agency_id,
            self.entry_id,
            self.purpose,
            self.subscribed_at,
            self.cancelled_at,
        )


@dataclass(frozen=True)
class AgencySubscriptions:
    """What the state topic carries of one agency: its legacy flag, its active subscriptions."""

    agency_id: str
    legacy_unconditional: bool
    active: tuple[Subscription, ...]


class SubscriptionStore(Store):
    def subscribe(self, row: SubscriptionRow, transition: TransitionRow) -> None:
        """Store a subscription and its transition, and end the agency's legacy status.

        Refused: an agency not registered (:class:`StorageError`), a second active
        subscription of one agency to one entry (:class:`DuplicateError`)."""
        with self._tx(f"subscribe {row.agency_id} to {row.entry_id}") as conn:
            require_registered(conn, row.agency_id)
            active = conn.execute(
                select(subscriptions.c.id).where(
                    subscriptions.c.agency_id == row.agency_id,
                    subscriptions.c.entry_id == row.entry_id,
                    subscriptions.c.cancelled_at.is_(None),
                )
            ).first()
            if active is not None:
                raise DuplicateError(
                    f"{row.agency_id} is subscribed to {row.entry_id} already ({active.id})",
                    code="already_subscribed",
                )
            conn.execute(
                subscriptions.insert().values(
                    id=row.id,
                    agency_id=row.agency_id,
                    entry_id=row.entry_id,
                    purpose=row.purpose,
                    subscribed_at=_in(row.subscribed_at),
                    subscribed_by=row.subscribed_by,
                )
            )
            conn.execute(
                update(agencies)
                .where(agencies.c.id == row.agency_id)
                .values(legacy_unconditional=False)
            )
            insert_transition(conn, transition)

    def cancel(self, subscription_id: str, at: datetime, transition: TransitionRow) -> bool:
        """Cancel an active subscription with its transition; False when it was not active."""
        with self._tx(f"cancel subscription {subscription_id}") as conn:
            done = conn.execute(
                update(subscriptions)
                .where(
                    subscriptions.c.id == subscription_id, subscriptions.c.cancelled_at.is_(None)
                )
                .values(
                    cancelled_at=_in(at),
                    cancelled_by=transition.actor,
                    cancel_reason=transition.reason,
                )
            )
            if not done.rowcount:
                return False
            insert_transition(conn, transition)
        return True

    def get(self, subscription_id: str) -> SubscriptionRow | None:
        query = select(subscriptions).where(subscriptions.c.id == subscription_id)
        return self._first("read subscription", query, _row)

    def list_subscriptions(
        self, agency_id: str | None = None, *, include_cancelled: bool = False
    ) -> list[SubscriptionRow]:
        query = select(subscriptions).order_by(subscriptions.c.subscribed_at, subscriptions.c.id)
        if agency_id is not None:
            query = query.where(subscriptions.c.agency_id == agency_id)
        if not include_cancelled:
            query = query.where(subscriptions.c.cancelled_at.is_(None))
        return self._all("list subscriptions", query, _row)

    def of_agency(self, agency_id: str) -> AgencySubscriptions:
        """The agency's legacy flag and active subscriptions (not registered: no legacy)."""
        with self._tx("read legacy flag") as conn:
            flag = conn.execute(
                select(agencies.c.legacy_unconditional).where(agencies.c.id == agency_id)
            ).scalar()
        active = tuple(r.subscription() for r in self.list_subscriptions(agency_id))
        return AgencySubscriptions(agency_id, bool(flag), active)

    def all_agencies(self) -> list[AgencySubscriptions]:
        """:meth:`of_agency` for every registered agency, by id."""
        with self._tx("read legacy flags") as conn:
            flags = conn.execute(
                select(agencies.c.id, agencies.c.legacy_unconditional)
                .where(agencies.c.revoked_at.is_(None))
                .order_by(agencies.c.id)
            ).all()
        active: dict[str, list[Subscription]] = {}
        for r in self.list_subscriptions():
            active.setdefault(r.agency_id, []).append(r.subscription())
        return [AgencySubscriptions(a, bool(flag), tuple(active.get(a, ()))) for a, flag in flags]


def _row(m: RowMapping) -> SubscriptionRow:
    subscribed_at = _utc(m["subscribed_at"])
    if subscribed_at is None:  # pragma: no cover - the column is NOT NULL
        raise StorageError(f"subscription {m['id']} has no time")
    return SubscriptionRow(
        id=m["id"],
        agency_id=m["agency_id"],
        entry_id=m["entry_id"],
        purpose=m["purpose"],
        subscribed_at=subscribed_at,
        subscribed_by=m["subscribed_by"],
        cancelled_at=_utc(m["cancelled_at"]),
        cancelled_by=m["cancelled_by"],
        cancel_reason=m["cancel_reason"],
    )
