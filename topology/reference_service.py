"""Reference-data operations: write the SQL store, then publish to the state topics.

Each operation changes the store in one transaction, creates the Kafka topics the change
needs, publishes the changed records (:class:`producers.reference.ReferenceWriter`) and
returns only once they are acknowledged. The bus topics of a new entry or agency are
created *before* its state record is published, so a processor that sees the record
finds its topics. The CLI (``govbus catalog import``, ``govbus agency ...``, ``govbus
grant ...``) is a thin layer over :class:`ReferenceService`; later entry points (the
HTTP API, credentials for ``agency add``) reuse it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from base.errors import CatalogError, GrantError, SchemaError, StorageError
from exchange.catalog import (
    LEGAL_TZ,
    Agency,
    AgencyKind,
    Catalog,
    CatalogEntry,
    LifecycleState,
    ShareType,
    in_force,
)
from exchange.catalog_loader import (
    AllowedTypes,
    CatalogIssue,
    CheckResult,
    admission,
    admission_issues,
    catalog_issues,
    check_catalog_data,
)
from exchange.grants import Grant, check_grant
from exchange.profiles import Profile
from kafkaclient import Admin
from operations.access import RESERVED_PREFIX, AccessControl
from producers.reference import ReferenceWriter
from schemas.state import agency_document, entry_document
from schemas.topics import bus_topics
from storage.reference import AgencyRow, ReferenceStore
from storage.subscriptions import SubscriptionStore
from topology.topics import ensure_catalog_topics

#: Articles cited when a grant is refused because the entry's sharing type needs none / allows none.
UNCONDITIONAL_ARTICLE = "G 15 ¶1; S 25 ¶1"
NOT_SHARED_ARTICLE = "GM 9; S 22"
#: Stopping a published resource needs a filed withdrawal (cited when revoking a provider).
WITHDRAWAL_ARTICLE = "S 27 ¶2; GM 22"
#: A stored entry was checked under the profile when it was admitted; read back, it is
#: held to no city's sharing rules (a Jinan entry, not shared but opened, is valid there).
READ_BACK = AllowedTypes(sharing=False)


@dataclass(frozen=True)
class PublishCounts:
    """How many records of each kind one publish queued (tombstones counted apart)."""

    agencies: int = 0
    agency_tombstones: int = 0
    entries: int = 0
    grants: int = 0


@dataclass(frozen=True)
class ImportReport:
    """What ``catalog import`` did (the JSON fields of ``govbus catalog import --json``).

    ``held``: entries of the file not stored because they change a published entry (a
    change request goes through its reviews instead)."""

    entries: int
    agencies: int
    grants: int
    topics_created: tuple[str, ...]
    published_entries: tuple[str, ...]
    held: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrantTerms:
    """What a provider grants (G 14, G 17, S 22): ``items`` of ``entry_id`` to ``consumer``
    for ``purpose`` on ``basis``. ``granted_by`` defaults to the entry's provider,
    ``valid_from`` to now; no ``valid_until``: until revoked."""

    consumer: str
    entry_id: str
    items: Sequence[str]
    purpose: str
    basis: str
    granted_by: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    #: The grant's id (default: a new random one). The workflows name each grant after its
    #: case, so issuing it again finds it instead of granting twice.
    grant_id: str | None = None


@dataclass(frozen=True)
class AgencyReport:
    agency: AgencyRow
    topics_created: tuple[str, ...]


class ReferenceService:
    """The store plus the broker: every method writes SQL first, then the state topics.

    ``profile`` is the jurisdiction profile the bus runs under (``GOVBUS_PROFILE``): a
    catalog import refuses entries it does not admit (:func:`exchange.catalog_loader.
    admission`: share and open types, refused grades such as 涉密 under GM 24). None
    checks only the rules of every city (programmatic callers that have no profile).
    """

    def __init__(
        self,
        store: ReferenceStore,
        bootstrap: str,
        *,
        namespace: str | None = None,
        extra_config: Mapping[str, Any] | None = None,
        profile: Profile | None = None,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.namespace = namespace
        self.extra_config = dict(extra_config or {})
        self.profile = profile

    def _writer(self) -> ReferenceWriter:
        return ReferenceWriter(
            self.bootstrap, namespace=self.namespace, extra_config=self.extra_config
        )

    def _bus_topics(self, entries: Sequence[str], agencies: Sequence[str]) -> tuple[str, ...]:
        """The topics of ``entries`` and ``agencies``, the entries' changelogs included
        (topology.topics): made here, so a worker's start only finds them."""
        with Admin(self.bootstrap, extra_config=self.extra_config) as admin:
            return ensure_catalog_topics(admin, entries, agencies).created

    # -- catalogs ---------------------------------------------------------------------------
    def import_catalog(
        self, result: CheckResult, *, held: Collection[str] = (), at: datetime | None = None
    ) -> ImportReport:
        """Store a valid catalog (agencies, entries, grants), create the topics of every
        entry in force at ``at`` (now if not given: published, or withdrawn with the stop
        still ahead) and of every agency (GM 14, S 18), publish the whole store. Entries
        whose ids are ``held`` are left as they are stored (their change is reviewed:
        :func:`changed_published`, :mod:`topology.workflows.catalog`).

        Refused with :class:`CatalogError`, nothing written: an invalid catalog, or an
        entry the bus's profile does not admit (the first such issue, its article cited).

        Steps: 1. create the topics; 2. write the SQL store; 3. publish the store to the
        state topics. Topics come first, so a failure never leaves the store ahead of them;
        each step is idempotent, so an import that failed half-way is resumed by running it
        again.
        """
        catalog = result.catalog
        if catalog is None:
            raise _refused(result.issues, "the catalog is not valid", "invalid_catalog")
        if self.profile is not None:
            allowed = admission(self.profile)
            refused = [i for e in catalog.entries for i in admission_issues(e, allowed)]
            if refused:
                error = refused[0].to_error()
                if len(refused) > 1:
                    error.add_note(f"{len(refused) - 1} more entry issue(s) under the profile")
                raise error
        kept = tuple(e for e in catalog.entries if e.id not in held)
        published = tuple(e.id for e in kept if e.lifecycle.state is LifecycleState.PUBLISHED)
        moment = at or datetime.now(UTC)
        current = [e.id for e in kept if in_force(e, moment)]
        # Step 1: the topics (idempotent, in requests the controller accepts). A failure
        # here leaves the SQL store as it was: the store is never ahead of the topics.
        # The state topics first: a broker makes partitions in the order they were asked
        # for, and step 3 writes to them at once (after thousands of bus partitions, a
        # state topic made last was still unknown when step 3 wrote to it:
        # UNKNOWN_TOPIC_OR_PART at 200 entries on a loaded 2-core machine, bench.capacity).
        with self._writer() as writer:
            created = tuple(writer.ensure_topics())
            created += self._bus_topics(current, [a.id for a in catalog.agencies])
            # Step 2: the SQL store, in one transaction.
            self.store.import_catalog(replace(catalog, entries=kept), result.grants)
            # Step 3: the whole store to the state topics. A failure here is resumed by
            # running the import again (steps 1-3 are idempotent).
            publish_store(writer, self.store)
        return ImportReport(
            entries=len(catalog.entries),
            agencies=len(catalog.agencies),
            grants=len(result.grants),
            topics_created=tuple(sorted(created)),
            published_entries=published,
            held=tuple(sorted(e.id for e in catalog.entries if e.id in held)),
        )

    def changed_published(self, catalog: Catalog, at: datetime) -> list[CatalogEntry]:
        """The entries of ``catalog`` that would change an entry in force at ``at``
        (published, or withdrawn with its stop still ahead): an import never changes those
        silently (G 11, S 18, J 9 ¶4)."""
        found = []
        for entry in catalog.entries:
            row = self.store.get_entry(entry.id)
            if row is None or dict(row.document) == entry_document(entry):
                continue
            current = self.find_entry(entry.id)
            if current is not None and in_force(current, at):
                found.append(entry)
        return found

    # -- one entry, changed through its reviews (topology.workflows.catalog) --------------
    def check_entry(self, document: Mapping[str, Any], profile: Profile | None) -> CatalogEntry:
        """``document`` as a valid entry of this bus's catalog: the rules of every city,
        ``profile``'s admission, registered providers, one number one source against the
        other stored entries (GM 22). The first problem is raised as :class:`CatalogError`."""
        agencies = self._agencies()
        allowed = admission(profile) if profile is not None else AllowedTypes()
        result = check_catalog_data(
            {
                "version": 1,
                "name": "change",
                "agencies": [agency_document(a) for a in agencies],
                "entries": [dict(document)],
            },
            allowed,
        )
        if result.catalog is None or len(result.catalog.entries) != 1:
            raise _refused(result.issues, "not a catalog entry", "invalid_entry")
        entry = result.catalog.entries[0]
        try:
            bus_topics([entry.id], [])
        except SchemaError as exc:
            raise CatalogError(str(exc), code="bad_entry_id", article="GM 11") from exc
        others = [e for e in self._stored_entries(agencies) if e.id != entry.id]
        conflicts = [
            i
            for i in catalog_issues([*others, entry], agencies)
            if i.code == "source_conflict" and i.entry == entry.id
        ]
        if conflicts:
            raise conflicts[0].to_error()
        return entry

    def _agencies(self) -> list[Agency]:
        """The registered agencies, as the loader reads entries against them."""
        return [a.agency() for a in self.store.list_agencies()]

    def _stored_entries(self, agencies: Sequence[Agency]) -> list[CatalogEntry]:
        """The stored entries in force or not; one the loader no longer reads is left out."""
        found = []
        for row in self.store.list_entries():
            try:
                found.append(row.entry(agencies, READ_BACK))
            except StorageError:
                continue
        return found

    def find_entry(self, entry_id: str) -> CatalogEntry | None:
        """The stored entry, or None."""
        row = self.store.get_entry(entry_id)
        agencies = self._agencies()
        return None if row is None else row.entry(agencies, READ_BACK)

    def publish_entry(self, entry: CatalogEntry) -> tuple[str, ...]:
        """Store ``entry`` as the catalog has it now (a change that passed its reviews),
        create its topics before its state record (a processor that sees the record finds
        them), publish the record, and re-apply the ACLs of its providers that have
        credentials (it may now be theirs to write, or no longer). Idempotent; returns the
        topics created."""
        self.store.put_catalog_entry(entry)
        providers = sorted({entry.provider} | {i.provider for i in entry.items})
        created = self._bus_topics([entry.id], providers)
        with self._writer() as writer:
            created += tuple(writer.ensure_topics())
            writer.put_entry(entry.id, entry_document(entry))
            writer.flush()
        self.sync_acls(providers)
        return tuple(sorted(created))

    def sync_acls(self, agencies: Iterable[str], at: datetime | None = None) -> list[str]:
        """Re-apply the broker ACLs of the agencies that have credentials (what they are the
        source of may have changed, :func:`operations.access.agency_rules`); their ids."""
        access = AccessControl(self.bootstrap, extra_config=self.extra_config)
        moment = at or datetime.now(UTC)
        synced = []
        for agency_id in sorted(set(agencies)):
            if agency_id.lower().startswith(RESERVED_PREFIX):
                continue
            if access.has_credentials(agency_id):
                access.sync(agency_id, self.provided_entries(agency_id, moment))
                synced.append(agency_id)
        return synced

    # -- agencies ---------------------------------------------------------------------------
    def add_agency(
        self,
        agency_id: str,
        name: str,
        *,
        name_zh: str = "",
        kind: AgencyKind = AgencyKind.ADMINISTRATIVE_AGENCY,
    ) -> AgencyReport:
        """Register a new agency, create its receipts and feed topics, publish it."""
        bus_topics([], [agency_id])  # refuses an id Kafka cannot name, before any write
        row = self.store.add_agency(agency_id, name, kind.value, name_zh=name_zh or name)
        created = self._bus_topics([], [agency_id])
        with self._writer() as writer:
            created += tuple(writer.ensure_topics())
            # Registered after subscriptions exist: unconditional data only once subscribed
            # (acknowledged first: a processor reads an agency without a record as legacy).
            writer.put_subscriptions(row.id, False, ())
            writer.flush()
            writer.put_agency(row.agency())
        return AgencyReport(row, tuple(sorted(created)))

    def revoke_agency(
        self, agency_id: str, at: datetime | None = None, *, force: bool = False
    ) -> AgencyRow:
        """Revoke a registration: a tombstone removes it from every processor's catalog.

        Refused while the agency provides an item of an entry still served or not yet
        withdrawn: stopping a resource needs its withdrawal filed first (S 27 ¶2), and an
        entry whose source is not registered is dropped by every processor (GM 22).
        ``force`` revokes anyway.
        """
        if self.store.get_agency(agency_id) is None:
            raise CatalogError(f"no agency {agency_id} is registered", code="unknown_agency")
        provided = self.provided_entries(agency_id, at or datetime.now(UTC))
        if provided and not force:
            raise CatalogError(
                f"agency {agency_id} still provides data of {', '.join(provided)}; withdraw "
                "those entries first",
                code="agency_still_provides",
                article=WITHDRAWAL_ARTICLE,
            )
        self.store.revoke_agency(agency_id, at)
        row = self.store.get_agency(agency_id)
        if row is None:  # pragma: no cover - read back after the update above
            raise CatalogError(f"agency {agency_id} vanished", code="unknown_agency")
        with self._writer() as writer:
            writer.ensure_topics()
            writer.remove_agency(agency_id)
            writer.remove_subscriptions(agency_id)
        return row

    def provided_entries(self, agency_id: str, at: datetime) -> list[str]:
        """Ids of stored entries not withdrawn by ``at`` of which the agency provides an item."""
        found = []
        today = at.astimezone(LEGAL_TZ).date().isoformat()
        for row in self.store.list_entries():
            doc = row.document
            raw_items, raw_withdrawal = doc.get("items"), doc.get("withdrawal")
            items = raw_items if isinstance(raw_items, list) else []
            withdrawal = raw_withdrawal if isinstance(raw_withdrawal, dict) else {}
            providers = {doc.get("provider")} | {
                i.get("provider") for i in items if isinstance(i, dict)
            }
            stopped = (
                row.state == LifecycleState.WITHDRAWN.value
                and str(withdrawal.get("effective_on", "")) <= today
            )
            if agency_id in providers and not stopped:
                found.append(row.id)
        return found

    # -- grants ------------------------------------------------------------------------------
    def entry(self, entry_id: str) -> CatalogEntry:
        """The stored entry as a domain entry (GrantError when there is none)."""
        row = self.store.get_entry(entry_id)
        if row is None:
            raise GrantError(
                f"no catalog entry {entry_id}", code="grant_unknown_entry", article="G 15"
            )
        return row.entry(self._agencies())

    def add_grant(self, terms: GrantTerms) -> Grant:
        """Record and publish a provider's grant (G 14, G 15 ¶2, S 22, S 25 ¶3).

        ``grant_id`` names the grant (default: a new random id); the workflows name each
        grant after its case, so issuing it again finds it instead of granting twice.

        Refused with :class:`GrantError`: an unknown entry or consumer, an entry shared
        unconditionally (no grant needed, G 15 ¶1, S 25 ¶1) or not shared (GM 9, S 22),
        and anything :func:`exchange.grants.check_grant` refuses.
        """
        entry = self._grantable(terms)
        grant = Grant(
            id=terms.grant_id or f"grant-{uuid.uuid4().hex[:16]}",
            consumer=terms.consumer,
            entry_id=entry.id,
            items=frozenset(terms.items),
            granted_by=terms.granted_by or entry.provider,
            purpose=terms.purpose,
            basis=terms.basis,
            valid_from=terms.valid_from or datetime.now(UTC),
            valid_until=terms.valid_until,
        )
        check_grant(grant, entry)
        return self._published(self.store.add_grant(grant).grant())

    def _grantable(self, terms: GrantTerms) -> CatalogEntry:
        """The entry of ``terms``, when a grant can name it and its consumer."""
        entry = self.entry(terms.entry_id)
        if self.store.registered_agency(terms.consumer) is None:
            raise GrantError(
                f"consumer {terms.consumer} is not a registered agency",
                code="grant_unknown_agency",
                article="G 14",
            )
        if entry.share_type is ShareType.UNCONDITIONAL:
            raise GrantError(
                f"entry {entry.id} is shared unconditionally: every registered agency takes "
                "it directly from the platform, no grant is needed",
                code="grant_on_unconditional",
                article=UNCONDITIONAL_ARTICLE,
            )
        if entry.share_type is ShareType.NOT_SHARED:
            raise GrantError(
                f"entry {entry.id} is not shared (涉密): no grant can open it",
                code="grant_on_not_shared",
                article=NOT_SHARED_ARTICLE,
            )
        return entry

    def revoke_grant(self, grant_id: str, at: datetime | None = None) -> Grant:
        """Revoke a grant (idempotent); delivery stops from the processors' next event."""
        if self.store.get_grant(grant_id) is None:
            raise GrantError(f"no grant {grant_id}", code="grant_unknown", article="G 15")
        self.store.revoke_grant(grant_id, at)
        row = self.store.get_grant(grant_id)
        if row is None:  # pragma: no cover - read back after the update above
            raise GrantError(f"grant {grant_id} vanished", code="grant_unknown")
        return self._published(row.grant())

    def _published(self, grant: Grant) -> Grant:
        """``grant`` as stored, now also on the reference topic (the processors' copy)."""
        with self._writer() as writer:
            writer.ensure_topics()
            writer.put_grant(grant)
        return grant

    def publish_subscriptions(self, agency_id: str) -> None:
        """Publish the agency's legacy flag and active subscriptions (G 15 ¶1, S 25 ¶1):
        the processors apply them from their next batch."""
        state = SubscriptionStore(self.store.engine).of_agency(agency_id)
        with self._writer() as writer:
            writer.ensure_topics()
            writer.put_subscriptions(agency_id, state.legacy_unconditional, state.active)

    def publish_all(self) -> None:
        """Republish the whole store (repairs state topics after a failed publish)."""
        with self._writer() as writer:
            writer.ensure_topics()
            publish_store(writer, self.store)


def _refused(issues: Sequence[CatalogIssue], message: str, code: str) -> CatalogError:
    """The first of ``issues`` as a :class:`CatalogError`, its message as it stands; with
    no issue, ``message`` and ``code``."""
    if not issues:
        return CatalogError(message, code=code, article="")
    first = issues[0]
    return CatalogError(first.message, code=first.code, article=first.article)


def publish_store(writer: ReferenceWriter, store: ReferenceStore) -> PublishCounts:
    """Publish the store's current content (revoked agencies as tombstones) and flush.

    Each agency's subscriptions are acknowledged before any agency record: a processor
    never sees a new agency without its record, which it would read as legacy (every
    unconditional entry, G 15 ¶1, S 25 ¶1)."""
    for state in SubscriptionStore(store.engine).all_agencies():
        writer.put_subscriptions(state.agency_id, state.legacy_unconditional, state.active)
    writer.flush()
    rows = store.list_agencies(include_revoked=True)
    live = [r for r in rows if r.revoked_at is None]
    for row in live:
        writer.put_agency(row.agency())
    for row in rows:
        if row.revoked_at is not None:
            writer.remove_agency(row.id)
    entries = store.list_entries()
    for entry in entries:
        writer.put_entry(entry.id, entry.document)
    grants = store.list_grants()
    for grant in grants:
        writer.put_grant(grant.grant())
    for row in rows:
        if row.revoked_at is not None:
            writer.remove_subscriptions(row.id)
    writer.flush()
    return PublishCounts(len(live), len(rows) - len(live), len(entries), len(grants))
