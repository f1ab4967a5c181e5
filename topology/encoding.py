"""Encoding the processor's records (schemas/avro), each payload once.

A feed record is encoded once per grant class (one :class:`exchange.policy.Delivery`:
its items and masking) without a grant; every recipient shares those bytes, and a
conditional grant's id and purpose are appended to them per grant (:mod:`schemas.tail`:
the same bytes as a full encode), not encoded again (G 14; S 22).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from schemas import SchemaRegistry, default_registry
from schemas.audit import check_schema

#: FeedRecord's last fields, set per conditional grant (schemas.tail).
FEED_GRANT_FIELDS = ("grant_id", "purpose")
#: (grant id, purpose) a feed record is delivered under; (None, None): unconditional.
GrantRef = tuple[str | None, str | None]
NO_GRANT: GrantRef = (None, None)


class Encoder:
    """Encodes with the current schema versions; checked once at start."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        self.encode: Callable[[str, Mapping[str, Any]], bytes] = self.registry.encode
        self._set_grant = self.registry.tail_setter("FeedRecord", FEED_GRANT_FIELDS)
        check_schema(self.registry)  # audit records are sealed by appending their hash

    def feed(self, record: Mapping[str, Any]) -> FeedPayloads:
        """One delivery's feed record (built with no grant), encoded once."""
        return FeedPayloads(self.encode("FeedRecord", record), self._set_grant)


class FeedPayloads:
    """The bytes of one delivery's feed record per grant, each made once."""

    def __init__(
        self, base: bytes, set_grant: Callable[[bytes, Sequence[str | None]], bytes]
    ) -> None:
        self._base = base
        self._set_grant = set_grant
        self._by_grant: dict[GrantRef, bytes] = {NO_GRANT: base}

    def under(self, grant: GrantRef) -> bytes:
        payload = self._by_grant.get(grant)
        if payload is None:
            payload = self._by_grant[grant] = self._set_grant(self._base, grant)
        return payload
