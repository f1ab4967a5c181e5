"""What the processor needs of reference data, and a fixed source of it.

The live source is :class:`consumers.reference.ReferenceView` (compacted state topics);
:class:`StaticReference` serves one catalog and grant set that never change (benchmarks,
one-off replays); without subscriptions, every registered agency receives unconditional
entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from exchange.catalog import Catalog
from exchange.grants import Grant
from exchange.subscriptions import SubscriptionState


class ReferenceSnapshot(Protocol):
    @property
    def catalog(self) -> Catalog: ...

    @property
    def grants(self) -> Sequence[Grant]: ...

    @property
    def version(self) -> int: ...

    @property
    def subscriptions(self) -> SubscriptionState | None:
        """Who receives unconditional entries; None: every registered agency."""


class ReferenceSource(Protocol):
    def refresh(self) -> ReferenceSnapshot: ...


@dataclass(frozen=True)
class StaticSnapshot:
    catalog: Catalog
    grants: tuple[Grant, ...] = ()
    version: int = 1
    subscriptions: SubscriptionState | None = None


class StaticReference:
    def __init__(
        self,
        catalog: Catalog,
        grants: Sequence[Grant] = (),
        subscriptions: SubscriptionState | None = None,
    ) -> None:
        self._snapshot = StaticSnapshot(catalog, tuple(grants), subscriptions=subscriptions)

    def refresh(self) -> StaticSnapshot:
        return self._snapshot
