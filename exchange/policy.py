"""Sharing and opening policy: who receives which items of an accepted change, and how
each is desensitised (G 14-18, GM 9, S 22, S 32, J 8, J 14).

* Agencies receive the items of their entitlement (:func:`exchange.grants.entitlement`)
  that the change carries, masked by the ``share`` profile for the entry's sensitivity.
  Of an unconditional entry, given a subscription index
  (:class:`exchange.subscriptions.SubscriptionIndex`), only the agencies that subscribed
  to it, and legacy agencies (G 15 ¶1, S 25 ¶1); without an index (fixed reference data:
  benchmarks, replays), every registered agency.
* The public open feed receives every item of an entry in force whose open type is
  unconditional, masked by the ``open`` profile (internal data only desensitised,
  GM 9). Secret data never reaches it (GM 9; G 18 (一)), whatever the rule file says.
  Conditional opening (S 34 依申请, J 13 agreements) is not the open feed.

Masking is computed once per *grant class* (entry, item set, masking profile), not once
per recipient: :func:`plan_fanout` returns one :class:`Delivery` per class with all its
recipients. Each delivery records which items a rule masked or dropped, and, for each
agency receiving a conditional entry, the grants that entitle exactly the items it carries
(:func:`exchange.grants.attribution`; G 17, S 29): recipients of one class share the
bytes, not their grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeAlias

from base.errors import PolicyError
from exchange.catalog import (
    Agency,
    CatalogEntry,
    ItemValue,
    OpenType,
    Sensitivity,
    ShareType,
    in_force,
    start_of_day,
)
from exchange.grants import Grant, GrantUse, active_grants, entitlement, grant_uses
from exchange.identity import mask_subject
from exchange.masking import ConsumerKind, MaskingRules, apply_rule, default_masking_rules
from exchange.subscriptions import SubscriptionIndex


@dataclass(frozen=True, slots=True)
class OpenFeed:
    """The public open feed (开放平台) as a recipient."""

    id: str = "open-feed"


OPEN_FEED = OpenFeed()
Recipient: TypeAlias = Agency | OpenFeed


@dataclass(frozen=True, slots=True)
class AcceptedChange:
    """Items of one subject accepted from the source (see exchange.onesource)."""

    entry: CatalogEntry
    subject: str
    values: Mapping[str, ItemValue]
    event_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class GrantClassKey:
    """What makes two recipients receive byte-identical data."""

    entry_id: str
    items: frozenset[str]
    profile: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One masked payload and everyone who receives it.

    ``items`` are the items present (dropped ones left out); ``rules_applied`` lists
    (item, rule) for every item a rule changed or dropped; ``subject_rule`` names the
    rule that masked the subject key, if any. ``grants`` maps each agency recipient of a
    conditional entry to the grants that entitle the delivered items (G 17, S 29).
    """

    key: GrantClassKey
    event_id: str
    subject: str
    items: tuple[str, ...]
    values: Mapping[str, ItemValue]
    rules_applied: tuple[tuple[str, str], ...]
    subject_rule: str | None
    recipients: tuple[Recipient, ...]
    grants: Mapping[str, tuple[GrantUse, ...]] = field(default_factory=dict)

    def grants_of(self, recipient: Recipient) -> tuple[GrantUse, ...]:
        """The grants ``recipient`` receives this delivery under; () for none needed."""
        if isinstance(recipient, OpenFeed):
            return ()
        return self.grants.get(recipient.id, ())


def open_items(entry: CatalogEntry, at: datetime) -> frozenset[str] | None:
    """Items of ``entry`` the open feed carries at ``at``; None for none (G 18, GM 9)."""
    if entry.sensitivity is Sensitivity.SECRET or entry.open_type is not OpenType.UNCONDITIONAL:
        return None
    return entry.item_names if in_force(entry, at) else None


def _allowed_for(
    entry: CatalogEntry,
    recipient: Recipient,
    grants: Mapping[str, list[Grant]],
    rules: MaskingRules,
    subscriptions: SubscriptionIndex | None,
    at: datetime,
) -> tuple[frozenset[str], str] | None:
    """What ``recipient`` may receive of ``entry`` at ``at``, and under which masking
    profile; None for nothing. It does not depend on the change's items."""
    if isinstance(recipient, OpenFeed):
        allowed = open_items(entry, at)
        consumer = ConsumerKind.OPEN
    elif (
        subscriptions is not None
        and entry.share_type is ShareType.UNCONDITIONAL
        and not subscriptions.receives_unconditional(recipient.id, entry.id)
    ):
        return None  # G 15 ¶1, S 25 ¶1: unconditional data goes to who subscribed
    else:
        allowed = entitlement(entry, recipient, grants.get(recipient.id, ()), at)
        consumer = ConsumerKind.SHARE
    if allowed is None:
        return None
    profile = rules.profile_for(consumer, entry.sensitivity)
    if profile is None:
        return None
    return allowed, profile


@dataclass(frozen=True, slots=True)
class Member:
    """A recipient who may receive items of a roster's entry: which, under which masking
    profile, and (an agency of a conditional entry) its grants active for the entry."""

    recipient: Recipient
    allowed: frozenset[str]
    profile: str
    active: tuple[Grant, ...] = ()


@dataclass(frozen=True, slots=True)
class Roster:
    """Who may receive ``entry``'s data and what, the same at every moment of
    ``[valid_from, valid_until)`` (None: unbounded), for one list of recipients, grants,
    subscriptions and masking rules (:func:`fanout_roster`). ``members`` keep the order of
    the recipients given. It holds no change: :func:`deliveries_for` applies it to one."""

    entry: CatalogEntry
    members: tuple[Member, ...]
    rules: MaskingRules
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    #: Memo of :meth:`uses` (the same answer every time; not part of the value).
    _uses: dict[tuple[str, frozenset[str]], tuple[GrantUse, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def uses(self, member: Member, carried: frozenset[str]) -> tuple[GrantUse, ...]:
        """The grants under which ``member`` receives the ``carried`` items
        (:func:`exchange.grants.grant_uses` of its active grants; G 17, S 29)."""
        key = (member.recipient.id, carried)
        uses = self._uses.get(key)
        if uses is None:
            uses = self._uses[key] = grant_uses(member.active, carried)
        return uses

    def covers(self, at: datetime) -> bool:
        """Whether the roster holds at ``at`` (grants and the entry's withdrawal unchanged)."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


class RosterSource(Protocol):
    """The roster of ``entry`` for a change sent by ``provider`` at ``at``: its recipients
    are the registered agencies but the provider, and the open feed (exchange.gate, step 6);
    its grants, subscriptions and rules the caller's reference data (topology.fanout keeps
    them per reference, one roster per entry and provider while it covers the time)."""

    def __call__(self, entry: CatalogEntry, provider: str, at: datetime) -> Roster: ...


def _window(
    entry: CatalogEntry, grants: Iterable[Grant], at: datetime
) -> tuple[datetime | None, datetime | None]:
    """The longest interval around ``at`` on which no grant of ``entry`` starts, ends or
    is revoked and the entry's withdrawal does not take effect (``in_force``,
    ``is_active``: each changes at one instant and holds until the next)."""
    moments: list[datetime] = []
    for grant in grants:
        moments.append(grant.valid_from)
        moments.extend(m for m in (grant.valid_until, grant.revoked_at) if m is not None)
    withdrawal = entry.lifecycle.withdrawal
    if withdrawal is not None:
        moments.append(start_of_day(withdrawal.effective_on))
    return (
        max((m for m in moments if m <= at), default=None),
        min((m for m in moments if m > at), default=None),
    )


def fanout_roster(
    entry: CatalogEntry,
    recipients: Iterable[Recipient],
    grants: Iterable[Grant] = (),
    rules: MaskingRules | None = None,
    *,
    subscriptions: SubscriptionIndex | None = None,
    at: datetime,
) -> Roster:
    """The roster of ``entry`` at ``at``: each recipient's entitlement (grants checked,
    :func:`exchange.grants.entitlement`) and masking profile, decided once for every change
    of the entry while the roster :meth:`~Roster.covers` the change's time.

    Raises :class:`GrantError` for a grant that does not fit its entry.
    """
    rules = rules or default_masking_rules()
    by_consumer: dict[str, list[Grant]] = {}
    for grant in grants:
        if grant.entry_id == entry.id:
            by_consumer.setdefault(grant.consumer, []).append(grant)
    members: list[Member] = []
    seen: set[tuple[bool, str]] = set()
    for recipient in recipients:
        identity = (isinstance(recipient, OpenFeed), recipient.id)
        if identity in seen:
            continue
        seen.add(identity)
        decided = _allowed_for(entry, recipient, by_consumer, rules, subscriptions, at)
        if decided is None:
            continue
        active: tuple[Grant, ...] = ()
        if not isinstance(recipient, OpenFeed) and entry.share_type is ShareType.CONDITIONAL:
            active = active_grants(entry, recipient, by_consumer.get(recipient.id, ()), at)
        members.append(Member(recipient, decided[0], decided[1], active))
    valid_from, valid_until = _window(entry, (g for gs in by_consumer.values() for g in gs), at)
    return Roster(entry, tuple(members), rules, valid_from, valid_until)


def _deliver(
    change: AcceptedChange,
    key: GrantClassKey,
    members: list[Member],
    roster: Roster,
) -> Delivery:
    rules = roster.rules
    entry = change.entry
    values: dict[str, ItemValue] = {}
    applied: list[tuple[str, str]] = []
    for name in sorted(key.items):
        item = entry.item(name)
        if item is None:  # pragma: no cover - key.items come from the entry
            continue
        rule = rules.item_rule(key.profile, item.tag)
        if rule.changes:
            applied.append((name, rule.name))
        if not rule.drops:
            values[name] = apply_rule(rule, change.values[name])
    subject_rule = rules.subject_rule(key.profile, entry.key_kind)
    # A canonical subject "resident_id:<number>" keeps its kind; the rule masks the number.
    subject = mask_subject(change.subject, lambda number: apply_rule(subject_rule, number))
    carried = frozenset(values)
    by_agency = {m.recipient.id: roster.uses(m, carried) for m in members if m.active}
    return Delivery(
        key=key,
        event_id=change.event_id,
        subject=subject,
        items=tuple(values),
        values=values,
        rules_applied=tuple(applied),
        subject_rule=subject_rule.name if subject_rule.changes else None,
        recipients=tuple(m.recipient for m in members),
        grants={agency: uses for agency, uses in by_agency.items() if uses},
    )


def _check_items(change: AcceptedChange) -> None:
    unknown = sorted(change.values.keys() - change.entry.item_names)
    if unknown:
        raise PolicyError(
            f"change {change.event_id} carries items not in entry {change.entry.id}:"
            f" {', '.join(unknown)}",
            code="item_not_in_entry",
            article="S 20",
        )


def deliveries_for(change: AcceptedChange, roster: Roster) -> list[Delivery]:
    """One delivery per grant class of ``change`` under ``roster`` (of the change's entry,
    covering the change's time), each listing its recipients in the roster's order.

    Raises :class:`PolicyError` when the change carries an item its entry does not
    have (S 20), or when the roster is of another entry or does not cover ``change.at``.
    """
    _check_items(change)
    if roster.entry is not change.entry and roster.entry != change.entry:
        raise PolicyError(
            f"the roster of entry {roster.entry.id} cannot fan out a change of {change.entry.id}",
            code="roster_mismatch",
        )
    if not roster.covers(change.at):
        raise PolicyError(
            f"the roster of entry {roster.entry.id} does not hold at {change.at.isoformat()}",
            code="roster_mismatch",
        )
    carried = change.values.keys()
    keys: dict[tuple[frozenset[str], str], GrantClassKey | None] = {}
    classes: dict[GrantClassKey, list[Member]] = {}
    for member in roster.members:
        decided = (member.allowed, member.profile)
        if decided in keys:
            key = keys[decided]
        else:
            items = member.allowed & carried
            key = (
                GrantClassKey(change.entry.id, frozenset(items), member.profile) if items else None
            )
            keys[decided] = key
        if key is not None:
            classes.setdefault(key, []).append(member)
    return [_deliver(change, key, members, roster) for key, members in classes.items()]


def plan_fanout(
    change: AcceptedChange,
    recipients: Iterable[Recipient],
    grants: Iterable[Grant] = (),
    rules: MaskingRules | None = None,
    *,
    subscriptions: SubscriptionIndex | None = None,
) -> list[Delivery]:
    """One delivery per grant class, each listing its recipients (in the order given).

    ``subscriptions``: who receives unconditional entries (G 15 ¶1, S 25 ¶1); None: every
    registered agency (reference data without subscriptions).

    Raises :class:`PolicyError` when the change carries an item its entry does not
    have (S 20: nothing beyond the catalog), and :class:`GrantError` for a grant that
    does not fit its entry.
    """
    _check_items(change)
    roster = fanout_roster(
        change.entry, recipients, grants, rules, subscriptions=subscriptions, at=change.at
    )
    return deliveries_for(change, roster)
