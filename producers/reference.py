"""State topics: the reference data (agencies, catalog entries, grants, subscriptions) for the
processors.

The SQL store is the record; these compacted topics carry it to the gate and fan-out,
which read them with :class:`consumers.reference.ReferenceView` (no restart needed).

Topics (``schemas.topics.TopicKind.STATE``: compacted, one partition)::

    govbus.state[.<namespace>].agencies   key: agency id   value: agency document, or null
    govbus.state[.<namespace>].catalog    key: entry id    value: entry document, or null
    govbus.state[.<namespace>].grants     key: grant id    value: grant document, or null
    govbus.state[.<namespace>].subscriptions  key: agency id  value: its subscriptions, or null

Keys are UTF-8 ids. Values are UTF-8 JSON objects in the catalog-YAML layout of
:mod:`exchange.catalog_loader`, written by :mod:`schemas.state`:

* agency: ``{"id", "name", "name_zh", "kind"}`` (``kind``: an ``AgencyKind`` value). A
  revoked agency is a tombstone (null value): it is no longer registered.
* entry: ``{"id", "title", "title_zh", "provider", "source_business", "category",
  "key_kind", "sensitivity", "share_type", "open_type", "update_cycle", "items": [{"name",
  "label_zh", "type", "tag", "provider", "length"?}], "state", "withdrawal"?: {"reason", "filed_on",
  "effective_on"}, "share_basis"?, "open_basis"?, "open_conditions"?,
  "open_desensitised"?}``; every lifecycle state is published (the domain decides what is
  in force). A null value removes the entry.
* grant: ``{"id", "consumer", "entry", "items": [...], "granted_by", "purpose", "basis",
  "valid_from", "valid_until", "revoked_at"}``; times are ISO 8601 with offset, the last
  two null when unset. A revoked grant keeps its record with ``revoked_at`` set, so the
  audit trail can still name it; a null value removes it.

* subscriptions: ``{"id": <agency>, "legacy_unconditional": bool, "subscriptions": [{"id",
  "entry", "purpose", "subscribed_at"}]}``, the agency's active subscriptions to
  unconditional entries (G 15 ¶1, S 25 ¶1). A registered agency with no record here is a
  legacy agency (it receives every unconditional entry, as before subscriptions existed);
  every agency registered since gets a record with ``legacy_unconditional`` false.

The optional namespace (letters, digits, ``.``, ``_``, ``-``) isolates a set of state
topics, e.g. per test or per deployment: ``namespace="t1"`` gives ``govbus.state.t1.grants``.
Writers and readers must use the same namespace.

:class:`ReferenceWriter` publishes with the project's Producer (acks=all, idempotent);
:meth:`ReferenceWriter.flush` waits until every record is acknowledged and raises
:class:`base.errors.DeliveryError` otherwise, so a command that returns has its state
records on the broker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import confluent_kafka

from base.errors import DeliveryError, GovbusError
from exchange.catalog import Agency
from exchange.grants import Grant
from exchange.subscriptions import Subscription
from kafkaclient import Admin, Closing, Producer, TopicSpec
from kafkaclient.producer import FLUSH_TIMEOUT_S
from schemas.state import (
    agency_document,
    encode,
    grant_document,
    state_topics,
    subscriptions_document,
)


class ReferenceWriter(Closing):
    """Publishes reference data to the state topics. No I/O in ``__init__``."""

    def __init__(
        self,
        bootstrap: str,
        *,
        namespace: str | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.topics = state_topics(namespace)
        self._bootstrap = bootstrap
        self._extra = dict(extra_config or {})
        self._producer = Producer(
            bootstrap, extra_config=extra_config, client_id="govbus-reference-writer"
        )
        self._failures: list[GovbusError] = []

    def ensure_topics(self) -> list[str]:
        """Create the state topics that do not exist yet (compacted); return those created."""
        return Admin(self._bootstrap, extra_config=self._extra).ensure_topics(
            [TopicSpec.of(d) for d in self.topics.defs]
        )

    # -- single records (queued; call flush) ------------------------------------------
    def put_agency(self, agency: Agency) -> None:
        self._send(self.topics.agencies, agency.id, agency_document(agency))

    def remove_agency(self, agency_id: str) -> None:
        """Tombstone: the agency is no longer registered."""
        self._send(self.topics.agencies, agency_id, None)

    def put_entry(self, entry_id: str, document: Mapping[str, Any]) -> None:
        self._send(self.topics.catalog, entry_id, document)

    def remove_entry(self, entry_id: str) -> None:
        self._send(self.topics.catalog, entry_id, None)

    def put_grant(self, grant: Grant) -> None:
        self._send(self.topics.grants, grant.id, grant_document(grant))

    def remove_grant(self, grant_id: str) -> None:
        self._send(self.topics.grants, grant_id, None)

    def put_subscriptions(
        self, agency_id: str, legacy_unconditional: bool, subscriptions: Sequence[Subscription]
    ) -> None:
        """The agency's active subscriptions and legacy flag (one record per agency)."""
        document = subscriptions_document(agency_id, legacy_unconditional, subscriptions)
        self._send(self.topics.subscriptions, agency_id, document)

    def remove_subscriptions(self, agency_id: str) -> None:
        """Tombstone: the agency (revoked) has no subscriptions."""
        self._send(self.topics.subscriptions, agency_id, None)

    def _send(self, topic: str, key: str, document: Mapping[str, Any] | None) -> None:
        value = None if document is None else encode(document)
        self._producer.produce(topic, value, key.encode(), on_delivery=self._delivered)

    def _delivered(self, error: Exception | None, _msg: confluent_kafka.Message) -> None:
        if isinstance(error, GovbusError):
            self._failures.append(error)

    # -- delivery -------------------------------------------------------------------------
    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until every queued record is acknowledged (acks=all); raise otherwise."""
        self._producer.flush(timeout_s)
        if self._failures:
            first, count = self._failures[0], len(self._failures)
            self._failures = []
            raise DeliveryError(f"{count} state record(s) not acknowledged; first: {first}")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()
