"""Encoding the processor's records (schemas/avro), each payload once.

A feed record is encoded once per grant class (one :class:`exchange.policy.Delivery`:
its items and masking) without a grant; every recipient shares those bytes, and the
grants that entitle a recipient's items (ids, purposes, the items each covers) are set
on them per attribution (:class:`schemas.tail.TailWriter`: the same bytes as a full
encode), not encoded again (G 14, G 17; S 22, S 29).

An accepted change's audit record lists its deliveries (Decision v5): each delivery's
items and masking are encoded once for all its recipients and each attribution's grants
once, and the list is spliced into the record (:mod:`schemas.listing`, the same bytes as a
full encode; :meth:`Encoder.listing`, :meth:`Encoder.decision_with`).

The records the processor builds itself (feed records, receipts, the canonical stream,
conflicts, audit records) are written by :attr:`Encoder.built`, without the pre-encode
type guard (:func:`schemas.codec.encode_built`): their values come from a decoded
message, derived ids and the processor's aware clock (checked once per message by
:mod:`topology.plan`). :attr:`Encoder.encode` keeps the guard for everything else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from exchange.grants import GrantUse
from exchange.policy import Delivery
from schemas import SchemaRegistry, default_registry
from schemas.audit import RECORD, check_schema
from schemas.listing import DeliveriesWriter
from schemas.tail import TailWriter
from topology.records import grant_fields

#: FeedRecord's last fields, set per recipient's grants (schemas.tail).
FEED_GRANT_FIELDS = ("grant_id", "purpose", "grants")
#: The grants a feed record is delivered under; (): unconditional data, the open feed.
Attribution = tuple[GrantUse, ...]
NO_GRANT: Attribution = ()


#: Grant tails kept per encoder: an agency's attribution repeats from event to event.
TAIL_CACHE_SIZE = 4096


class Encoder:
    """Encodes with the current schema versions; checked once at start."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        #: Guarded: records that carry values from outside (dead letters).
        self.encode: Callable[[str, Mapping[str, Any]], bytes] = self.registry.encode
        #: Unguarded: records the processor built from typed values (module docstring).
        self.built: Callable[[str, Mapping[str, Any]], bytes] = self.registry.encode_built
        self._grant_tail = self.registry.tail_writer("FeedRecord", FEED_GRANT_FIELDS)
        self._tail_of: Callable[[Attribution], bytes] = functools.lru_cache(TAIL_CACHE_SIZE)(
            self._encode_tail
        )
        check_schema(self.registry)  # audit records are sealed by appending their hash
        self._deliveries = DeliveriesWriter(self.registry.current(RECORD).definition)
        self._grants_of: Callable[[Attribution], bytes] = functools.lru_cache(TAIL_CACHE_SIZE)(
            self._encode_grants
        )
        # A grant class's items and masking, and a recipient's topic, repeat from event to
        # event as an agency's attribution does: each is encoded once per encoder.
        self._shared_of = functools.lru_cache(TAIL_CACHE_SIZE)(self._deliveries.shared)
        self._head_of = functools.lru_cache(TAIL_CACHE_SIZE)(self._deliveries.head)

    def _encode_tail(self, grants: Attribution) -> bytes:
        return self._grant_tail.encode_tail(grant_fields(grants))

    def _encode_grants(self, grants: Attribution) -> bytes:
        return self._deliveries.grants([(g.grant_id, g.purpose, g.items) for g in grants])

    def feed(self, record: Mapping[str, Any]) -> FeedPayloads:
        """One delivery's feed record (built with no grant), encoded once."""
        return FeedPayloads(self.built("FeedRecord", record), self._grant_tail, self._tail_of)

    def listing(self, delivery: Delivery) -> Listing:
        """The entries of ``delivery``'s recipients in their Decision's ``deliveries``."""
        shared = self._shared_of(delivery.items, delivery.rules_applied, delivery.subject_rule)
        return Listing(shared, self._head_of, self._grants_of)

    def decision_with(self, entries: Sequence[bytes]) -> Callable[[str, Mapping[str, Any]], bytes]:
        """An encode for a Decision (built with ``deliveries`` empty) listing ``entries``
        (each from :meth:`Listing.of`); with none, :attr:`built`."""
        if not entries:
            return self.built

        def encode(name: str, record: Mapping[str, Any]) -> bytes:
            return self._deliveries.encode(functools.partial(self.built, name), record, entries)

        return encode


class Listing:
    """One delivery's entries in its Decision's ``deliveries``, encoded: the items and
    masking once, each attribution's grants once per encoder."""

    __slots__ = ("_grants_of", "_head_of", "_shared")

    def __init__(
        self,
        shared: bytes,
        head_of: Callable[[str, str], bytes],
        grants_of: Callable[[Attribution], bytes],
    ) -> None:
        self._shared = shared
        self._head_of = head_of
        self._grants_of = grants_of

    def of(self, recipient: str, topic: str, grants: Attribution) -> bytes:
        """What ``recipient`` received on ``topic``, under ``grants`` (a Delivery's fields
        in order: schemas.listing)."""
        return self._head_of(recipient, topic) + self._shared + self._grants_of(grants)


class FeedPayloads:
    """The bytes of one delivery's feed record per attribution, each made once."""

    def __init__(
        self, base: bytes, writer: TailWriter, tail_of: Callable[[Attribution], bytes]
    ) -> None:
        self._base = base
        self._writer = writer
        self._tail_of = tail_of
        self._by_grant: dict[Attribution, bytes] = {NO_GRANT: base}

    def under(self, grants: Attribution) -> bytes:
        payload = self._by_grant.get(grants)
        if payload is None:
            payload = self._writer.splice(self._base, self._tail_of(grants))
            self._by_grant[grants] = payload
        return payload
