"""Reader of the state topics: the processors' view of agencies, catalog entries, grants and
subscriptions.

:class:`ReferenceView` keeps the latest record of every key of the four compacted state
topics (format: :mod:`producers.reference`) and turns them into a domain
:class:`ReferenceSnapshot`. A processor calls :meth:`ReferenceView.refresh` before each
batch: a grant added or revoked in the SQL store (and published) applies from the next
event, without restart.

``refresh`` queries the high watermark of every state partition *now*, reads (read
committed, ``assign()`` from the beginning, no group membership and no commits; the
client's ``group.id`` is a unique throwaway that never joins) until its position reaches
that watermark, and rebuilds the snapshot only when a record's value changed. Between
refreshes the partitions are paused (no background fetching); when nothing changed a
refresh costs one watermark query per partition.

Invalid records never raise: each is skipped and reported as a :class:`ReferenceProblem`
(``snapshot.problems``), and the rest of the snapshot stands:

* an agency, entry or grant document that does not parse or check
  (:func:`exchange.catalog_loader.check_catalog_data`), or whose key is not its id;
* an entry whose provider (or an item's provider) is not a registered agency (GM 22), or
  that claims an item another entry's provider is the source of (``source_conflict``,
  GM 22; the later entry in id order is skipped);
* a grant for an entry not in the snapshot, one that does not fit its entry
  (:func:`exchange.grants.check_grant`), or one on a not-shared entry (GM 9, S 22).

Grants whose consumer is not (or no longer) registered stay in ``grants``: they are inert,
since only registered agencies receive anything.

Subscriptions (``snapshot.subscriptions``, :class:`exchange.subscriptions.SubscriptionState`):
one record per agency; a registered agency without a record is a legacy agency (it
receives every unconditional entry, as before subscriptions existed: a deployment whose
subscriptions topic was never written delivers as it did). A record that does not parse is
a problem, and its agency is treated as having no record.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import confluent_kafka

from base.errors import GovbusError, GrantError, KafkaError, KafkaTimeoutError
from exchange.catalog import Agency, Catalog, CatalogEntry, ShareType
from exchange.catalog_loader import (
    CatalogIssue,
    CheckResult,
    catalog_issues,
    check_catalog_data,
)
from exchange.grants import Grant, check_grant
from exchange.subscriptions import Subscription, SubscriptionState
from kafkaclient import Admin, Closing, Consumer, TopicSpec, retrying, transient
from schemas.state import StateTopics, agency_document, state_topics

#: How long one refresh may take, retries of transient errors included.
REFRESH_TIMEOUT_S = 10.0
#: The ``name`` of the catalog built from the state topics.
STATE_CATALOG_NAME = "govbus.state"
#: Records taken from the client per consume call while catching up.
CATCH_UP_BATCH = 500
#: One consume call waits at most this long, so the deadline is checked often.
CATCH_UP_POLL_S = 0.2
#: Wait between metadata queries while freshly created state topics appear.
METADATA_RETRY_S = 0.1
#: Broker-side long poll of a fetch; short, since the view fetches only while catching up
#: and a watermark query queues behind a fetch in flight.
FETCH_WAIT_MS = 20
_CATALOG_VERSION = 1


@dataclass(frozen=True)
class ReferenceProblem:
    """A state record that was skipped, and why (``code`` and ``article`` as the loader's)."""

    topic: str
    key: str
    code: str
    message: str
    article: str = ""


@dataclass(frozen=True)
class ReferenceSnapshot:
    """The reference data as of one :meth:`ReferenceView.refresh`.

    ``catalog``: every registered agency and every valid entry (any lifecycle state);
    ``grants``: every valid grant, revoked and expired ones too (the domain filters by
    time); ``version`` increases whenever anything changed; ``problems``: the records
    skipped.
    """

    catalog: Catalog
    grants: tuple[Grant, ...]
    version: int
    problems: tuple[ReferenceProblem, ...] = field(default=())
    subscriptions: SubscriptionState = field(default_factory=SubscriptionState)


_EMPTY = ReferenceSnapshot(Catalog(STATE_CATALOG_NAME, (), ()), (), 0)


class ReferenceView(Closing):
    """The state topics, read on demand. No I/O in ``__init__``; not thread-safe."""

    def __init__(
        self,
        bootstrap: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        create_topics: bool = True,
    ) -> None:
        self.topics: StateTopics = state_topics(namespace)
        self._bootstrap = bootstrap
        self._extra = dict(extra_config or {})
        self._create_topics = create_topics
        self._consumer: Consumer | None = None
        self._partitions: list[tuple[str, int]] = []
        self._positions: dict[tuple[str, int], int] = {}
        self._records: dict[str, dict[str, bytes]] = {t: {} for t in self.topics.names}
        self._dirty = False
        self._snapshot = _EMPTY

    @property
    def snapshot(self) -> ReferenceSnapshot:
        """The snapshot of the last :meth:`refresh` (empty, version 0, before the first)."""
        return self._snapshot

    @property
    def problems(self) -> tuple[ReferenceProblem, ...]:
        return self._snapshot.problems

    # -- reading ------------------------------------------------------------------------
    def refresh(self, timeout_s: float = REFRESH_TIMEOUT_S) -> ReferenceSnapshot:
        """Catch up with every state partition as of now; rebuild only if a record changed.

        Errors that clear by themselves (a broker restarting, a leader moving, metadata
        not yet known: ``_UNKNOWN_PARTITION`` right after a restart) are retried with
        bounded backoff. Raises :class:`base.errors.KafkaTimeoutError` when the watermarks
        cannot be read or reached within ``timeout_s`` (the records read so far are kept),
        or the error a person must fix (credentials, ACLs) at once.
        """
        deadline = time.monotonic() + timeout_s
        retrying(lambda: self._read(deadline), "reading the state topics", deadline)
        if self._dirty:
            self._snapshot = self._rebuild(self._snapshot.version + 1)
            self._dirty = False
        return self._snapshot

    def _read(self, deadline: float) -> None:
        """One attempt: every state partition read up to its high watermark as of now."""
        consumer = self._consumer or self._start(deadline)
        targets: dict[tuple[str, int], int] = {}
        for topic, partition in self._partitions:
            _low, high = consumer.watermarks(topic, partition, _remaining(deadline))
            if high > self._positions.get((topic, partition), 0):
                targets[(topic, partition)] = high
        if not targets:
            return
        parts = [confluent_kafka.TopicPartition(t, p) for t, p in targets]
        consumer.resume(parts)
        try:
            # A seek to the position starts the fetch at once; a bare resume waits for
            # librdkafka's next fetch decision (up to a second).
            for t, p in targets:
                at = self._positions.get((t, p), 0) or confluent_kafka.OFFSET_BEGINNING
                try:
                    consumer.seek(confluent_kafka.TopicPartition(t, p, at))
                except KafkaError:  # the resume alone still fetches, later
                    pass
            self._catch_up(consumer, targets, deadline)
        finally:
            consumer.pause(parts)

    def _start(self, deadline: float) -> Consumer:
        if self._create_topics:
            with Admin(self._bootstrap, extra_config=self._extra) as admin:
                admin.ensure_topics(
                    [TopicSpec.of(d) for d in self.topics.defs], timeout_s=_remaining(deadline)
                )
        consumer = Consumer(
            self._bootstrap,
            f"govbus-reference-view-{uuid.uuid4().hex}",
            extra_config={"fetch.wait.max.ms": FETCH_WAIT_MS, **self._extra},
            client_id="govbus-reference-view",
        )
        try:
            partitions = [
                (t, p) for t in self.topics.names for p in _partitions(consumer, t, deadline)
            ]
            consumer.assign(
                [
                    confluent_kafka.TopicPartition(t, p, confluent_kafka.OFFSET_BEGINNING)
                    for t, p in partitions
                ]
            )
            # Paused between refreshes: no fetch is in flight, so a watermark query answers
            # at once instead of queueing behind a long-polling fetch (fetch.wait.max.ms).
            consumer.pause([confluent_kafka.TopicPartition(t, p) for t, p in partitions])
        except GovbusError:
            consumer.close()
            raise
        self._consumer, self._partitions = consumer, partitions
        return consumer

    def _catch_up(
        self, consumer: Consumer, targets: dict[tuple[str, int], int], deadline: float
    ) -> None:
        pending = dict(targets)
        while pending:
            if time.monotonic() >= deadline:
                behind = ", ".join(f"{t}[{p}]" for t, p in sorted(pending))
                raise KafkaTimeoutError(f"state topics not read up to their watermark: {behind}")
            # Ask for as many records as offsets are missing: consume() returns as soon as
            # they are there (fewer arrive only across compaction gaps or markers).
            missing = sum(high - self._positions.get(tp, 0) for tp, high in pending.items())
            wait = min(CATCH_UP_POLL_S, _remaining(deadline))
            for msg in consumer.consume(max(1, min(CATCH_UP_BATCH, missing)), wait):
                self._apply(msg)
            for tp in consumer.position([confluent_kafka.TopicPartition(t, p) for t, p in pending]):
                key = (tp.topic, tp.partition)
                self._positions[key] = max(self._positions.get(key, 0), tp.offset)
                if self._positions[key] >= pending[key]:
                    del pending[key]

    def _apply(self, msg: confluent_kafka.Message) -> None:
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        where = (topic, partition)
        self._positions[where] = max(self._positions.get(where, 0), offset + 1)
        records = self._records.get(topic)
        raw_key = msg.key()
        if records is None or not raw_key:  # compacted topics refuse records without a key
            return
        key = raw_key.decode("utf-8", errors="replace")
        value = msg.value()
        if value is None:
            self._dirty |= records.pop(key, None) is not None
        elif records.get(key) != value:
            records[key] = value
            self._dirty = True

    # -- building the snapshot ------------------------------------------------------------
    def _rebuild(self, version: int) -> ReferenceSnapshot:
        problems: list[ReferenceProblem] = []
        agencies = _agencies(self.topics.agencies, self._records[self.topics.agencies], problems)
        entries = _entries(
            self.topics.catalog, self._records[self.topics.catalog], agencies, problems
        )
        catalog = Catalog(STATE_CATALOG_NAME, tuple(agencies.values()), tuple(entries))
        grants = _grants(self.topics.grants, self._records[self.topics.grants], catalog, problems)
        subscriptions = _subscriptions(
            self.topics.subscriptions,
            self._records[self.topics.subscriptions],
            agencies.keys(),
            problems,
        )
        return ReferenceSnapshot(catalog, tuple(grants), version, tuple(problems), subscriptions)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None
                self._partitions = []


# -- helpers ------------------------------------------------------------------------------
def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _partitions(consumer: Consumer, topic: str, deadline: float) -> list[int]:
    """The partition ids of ``topic``, waiting for a freshly created topic to appear."""
    while True:
        found = consumer.topic(topic, _remaining(deadline))
        if found.readable:
            return list(found.partitions)
        if found.error is not None and not transient(found.error):
            raise found.error  # not authorised to read it: waiting will not help
        if time.monotonic() >= deadline:
            raise KafkaTimeoutError(
                f"state topic {topic} does not exist (run `govbus catalog import` first)"
            )
        time.sleep(METADATA_RETRY_S)


def _documents(
    topic: str, records: Mapping[str, bytes], problems: list[ReferenceProblem]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records' JSON documents by key, in key order; a record that is not a JSON object
    with its key as ``id`` is a problem, skipped."""
    for key in sorted(records):
        doc = _document(topic, key, records[key], problems)
        if doc is not None:
            yield key, doc


def _document(
    topic: str, key: str, raw: bytes, problems: list[ReferenceProblem]
) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(ReferenceProblem(topic, key, "state_record_not_json", str(exc)))
        return None
    if not isinstance(doc, dict):
        problems.append(
            ReferenceProblem(topic, key, "state_record_not_json", "value is not a JSON object")
        )
        return None
    if doc.get("id") != key:
        problems.append(
            ReferenceProblem(
                topic, key, "state_key_mismatch", f"key {key!r} but id {doc.get('id')!r}"
            )
        )
        return None
    return doc


def _issues(
    topic: str, key: str, issues: Iterable[CatalogIssue], problems: list[ReferenceProblem]
) -> None:
    for issue in issues:
        problems.append(ReferenceProblem(topic, key, issue.code, issue.message, issue.article))


def _check(agencies: list[Any], entries: list[Any], grants: list[Any]) -> CheckResult:
    return check_catalog_data(
        {
            "version": _CATALOG_VERSION,
            "name": STATE_CATALOG_NAME,
            "agencies": agencies,
            "entries": entries,
            "grants": grants,
        }
    )


def _agencies(
    topic: str, records: Mapping[str, bytes], problems: list[ReferenceProblem]
) -> dict[str, Agency]:
    found: dict[str, Agency] = {}
    for key, doc in _documents(topic, records, problems):
        result = _check([doc], [], [])
        if result.catalog is None:
            _issues(topic, key, result.issues, problems)
        else:
            found[key] = result.catalog.agencies[0]
    return found


def _providers(doc: Mapping[str, Any]) -> set[str]:
    names = {doc.get("provider")}
    items = doc.get("items")
    if isinstance(items, list):
        names |= {i.get("provider") for i in items if isinstance(i, dict)}
    return {n for n in names if isinstance(n, str)}


def _entries(
    topic: str,
    records: Mapping[str, bytes],
    agencies: Mapping[str, Agency],
    problems: list[ReferenceProblem],
) -> list[CatalogEntry]:
    parsed: list[CatalogEntry] = []
    for key, doc in _documents(topic, records, problems):
        known = [agency_document(agencies[a]) for a in sorted(_providers(doc)) if a in agencies]
        result = _check(known, [doc], [])
        if result.catalog is None:
            _issues(topic, key, result.issues, problems)
        else:
            parsed.append(result.catalog.entries[0])
    conflicts = [
        i for i in catalog_issues(parsed, agencies.values()) if i.code == "source_conflict"
    ]
    for issue in conflicts:
        problems.append(
            ReferenceProblem(topic, issue.entry or "", issue.code, issue.message, issue.article)
        )
    dropped = {i.entry for i in conflicts}
    return [e for e in parsed if e.id not in dropped]


def _grants(
    topic: str, records: Mapping[str, bytes], catalog: Catalog, problems: list[ReferenceProblem]
) -> list[Grant]:
    found: list[Grant] = []
    for key, doc in _documents(topic, records, problems):
        result = _check([], [], [doc])
        # Checked alone, every grant names an unknown entry; any other issue is its own.
        own = [i for i in result.issues if i.code != "grant_unknown_entry"]
        if own or len(result.grants) != 1:
            _issues(topic, key, own, problems)
            continue
        grant = result.grants[0]
        entry = catalog.entry(grant.entry_id)
        if entry is None:
            problems.append(
                ReferenceProblem(
                    topic,
                    key,
                    "grant_unknown_entry",
                    f"entry {grant.entry_id} is not in the catalog",
                    "G 15",
                )
            )
            continue
        if entry.share_type is ShareType.NOT_SHARED:
            problems.append(
                ReferenceProblem(
                    topic,
                    key,
                    "grant_on_not_shared",
                    f"entry {entry.id} is not shared",
                    "GM 9; S 22",
                )
            )
            continue
        try:
            check_grant(grant, entry)
        except GrantError as exc:
            problems.append(ReferenceProblem(topic, key, exc.code, str(exc), exc.article))
            continue
        found.append(grant)
    return found


def _subscriptions(
    topic: str,
    records: Mapping[str, bytes],
    registered: Collection[str],
    problems: list[ReferenceProblem],
) -> SubscriptionState:
    """Every agency's subscriptions; registered agencies without a valid record are legacy."""
    found: list[Subscription] = []
    modern: set[str] = set()
    for key, doc in _documents(topic, records, problems):
        try:
            legacy, subscriptions = _subscription_record(key, doc)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(
                ReferenceProblem(topic, key, "bad_subscriptions", f"{type(exc).__name__}: {exc}")
            )
            continue
        if not legacy:
            modern.add(key)
        found.extend(subscriptions)
    return SubscriptionState(tuple(found), frozenset(a for a in registered if a not in modern))


def _subscription_record(key: str, doc: Mapping[str, Any]) -> tuple[bool, list[Subscription]]:
    legacy = doc["legacy_unconditional"]
    if not isinstance(legacy, bool) or not isinstance(doc["subscriptions"], list):
        raise TypeError("legacy_unconditional must be a boolean, subscriptions a list")
    subscriptions = []
    for item in doc["subscriptions"]:
        at = datetime.fromisoformat(str(item["subscribed_at"]))
        if at.tzinfo is None:
            raise ValueError(f"subscribed_at {item['subscribed_at']!r} has no offset")
        fields = (str(item["id"]), key, str(item["entry"]), str(item["purpose"]))
        subscriptions.append(Subscription(*fields, subscribed_at=at))
    return legacy, subscriptions
