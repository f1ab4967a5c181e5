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
from typing import TypeAlias

from base.errors import PolicyError
from exchange.catalog import (
    Agency,
    CatalogEntry,
    ItemValue,
    OpenType,
    Sensitivity,
    ShareType,
    in_force,
)
from exchange.grants import Grant, GrantUse, attribution, entitlement
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


def _class_for(
    change: AcceptedChange,
    recipient: Recipient,
    grants: Mapping[str, list[Grant]],
    rules: MaskingRules,
    subscriptions: SubscriptionIndex | None,
) -> GrantClassKey | None:
    entry = change.entry
    if isinstance(recipient, OpenFeed):
        allowed = open_items(entry, change.at)
        consumer = ConsumerKind.OPEN
    elif (
        subscriptions is not None
        and entry.share_type is ShareType.UNCONDITIONAL
        and not subscriptions.receives_unconditional(recipient.id, entry.id)
    ):
        return None  # G 15 ¶1, S 25 ¶1: unconditional data goes to who subscribed
    else:
        allowed = entitlement(entry, recipient, grants.get(recipient.id, ()), change.at)
        consumer = ConsumerKind.SHARE
    if allowed is None:
        return None
    items = allowed & change.values.keys()
    profile = rules.profile_for(consumer, entry.sensitivity)
    if not items or profile is None:
        return None
    return GrantClassKey(entry.id, frozenset(items), profile)


def _deliver(
    change: AcceptedChange,
    key: GrantClassKey,
    recipients: tuple[Recipient, ...],
    rules: MaskingRules,
    grants: Mapping[str, list[Grant]],
) -> Delivery:
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
    by_agency = {
        r.id: attribution(entry, r, grants.get(r.id, ()), values, change.at)
        for r in recipients
        if not isinstance(r, OpenFeed)
    }
    return Delivery(
        key=key,
        event_id=change.event_id,
        subject=subject,
        items=tuple(values),
        values=values,
        rules_applied=tuple(applied),
        subject_rule=subject_rule.name if subject_rule.changes else None,
        recipients=recipients,
        grants={agency: uses for agency, uses in by_agency.items() if uses},
    )


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
    rules = rules or default_masking_rules()
    unknown = sorted(change.values.keys() - change.entry.item_names)
    if unknown:
        raise PolicyError(
            f"change {change.event_id} carries items not in entry {change.entry.id}:"
            f" {', '.join(unknown)}",
            code="item_not_in_entry",
            article="S 20",
        )
    by_consumer: dict[str, list[Grant]] = {}
    for grant in grants:
        if grant.entry_id == change.entry.id:
            by_consumer.setdefault(grant.consumer, []).append(grant)
    classes: dict[GrantClassKey, list[Recipient]] = {}
    seen: set[tuple[bool, str]] = set()
    for recipient in recipients:
        identity = (isinstance(recipient, OpenFeed), recipient.id)
        if identity in seen:
            continue
        seen.add(identity)
        key = _class_for(change, recipient, by_consumer, rules, subscriptions)
        if key is not None:
            classes.setdefault(key, []).append(recipient)
    return [
        _deliver(change, key, tuple(members), rules, by_consumer)
        for key, members in classes.items()
    ]
