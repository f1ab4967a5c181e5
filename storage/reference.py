"""The reference-data store: agencies, catalog entries and grants in SQL.

One class, one engine; every method is one transaction. SQLAlchemy errors are converted
to :class:`base.errors.StorageError` where they enter. Rows map to the domain types
(:meth:`AgencyRow.agency`, :meth:`EntryRow.entry`, :meth:`GrantRow.grant`);
:meth:`ReferenceStore.import_catalog` writes a whole validated catalog in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, and_, or_, select, update

from base.errors import DuplicateError, StorageError
from exchange.catalog import Agency, AgencyKind, Catalog, CatalogEntry
from exchange.catalog_loader import AllowedTypes, check_catalog_data
from exchange.grants import Grant
from schemas.state import entry_document
from storage.engine import Store
from storage.tables import DEFAULT_AGENCY_KIND, agencies, catalog_entries, grants

#: The rules of every city that shares (no profile's admission).
EVERY_CITY = AllowedTypes()


@dataclass(frozen=True)
class AgencyRow:
    id: str
    name: str
    kind: str
    created_at: datetime
    revoked_at: datetime | None
    name_zh: str = ""

    def agency(self) -> Agency:
        """The domain agency (``name_zh`` falls back to ``name``)."""
        return Agency(self.id, self.name, self.name_zh or self.name, AgencyKind(self.kind))


@dataclass(frozen=True)
class EntryRow:
    id: str
    title: str
    state: str
    document: Mapping[str, Any]
    version: int
    updated_at: datetime

    def entry(
        self, providers: Sequence[Agency], allowed: AllowedTypes = EVERY_CITY
    ) -> CatalogEntry:
        """The document as a domain entry, checked against ``providers`` (its agencies) and
        ``allowed`` (default: the rules of every city that shares).

        Raises :class:`StorageError` listing every issue when the stored document is not a
        valid entry (it was written by an older version, or by hand).
        """
        result = check_catalog_data(
            {
                "version": 1,
                "name": "store",
                "agencies": [
                    {"id": a.id, "name": a.name, "name_zh": a.name_zh, "kind": a.kind.value}
                    for a in providers
                ],
                "entries": [dict(self.document)],
            },
            allowed,
        )
        if result.catalog is None or len(result.catalog.entries) != 1:
            problems = "; ".join(f"{i.code} ({i.article}): {i.message}" for i in result.issues)
            raise StorageError(f"stored entry {self.id} is not a valid entry: {problems}")
        return result.catalog.entries[0]


@dataclass(frozen=True)
class GrantRow:
    id: str
    agency_id: str
    entry_id: str
    items: tuple[str, ...]
    purpose: str
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    granted_by: str | None = None
    basis: str | None = None

    def grant(self) -> Grant:
        """The domain grant; rows from revision 0001 have no ``granted_by``/``basis`` ("")."""
        return Grant(
            id=self.id,
            consumer=self.agency_id,
            entry_id=self.entry_id,
            items=frozenset(self.items),
            granted_by=self.granted_by or "",
            purpose=self.purpose,
            basis=self.basis or "",
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            revoked_at=self.revoked_at,
        )


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they were stored as UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _in(value: datetime | None) -> datetime | None:
    """Store UTC only: SQLite's DATETIME drops the offset, so convert before writing."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise StorageError(f"naive datetime {value.isoformat()} refused: give a time zone")
    return value.astimezone(UTC)


def require_registered(conn: Connection, agency_id: str) -> None:
    """Raise :class:`StorageError` unless ``agency_id`` is a registered, unrevoked agency
    (inside the caller's transaction ``conn``)."""
    known = conn.execute(
        select(agencies.c.id).where(agencies.c.id == agency_id, agencies.c.revoked_at.is_(None))
    ).first()
    if known is None:
        raise StorageError(f"agency {agency_id} is not registered")


def _already_registered(agency_id: str, revoked_at: datetime | None) -> DuplicateError:
    if revoked_at is None:
        return DuplicateError(f"agency {agency_id} is already registered", code="agency_exists")
    return DuplicateError(
        f"agency {agency_id} was registered and revoked on {revoked_at.date().isoformat()}; "
        "an agency id is never given out again",
        code="agency_revoked",
    )


class ReferenceStore(Store):
    duplicates = True

    # -- agencies --------------------------------------------------------------
    def add_agency(
        self, agency_id: str, name: str, kind: str = DEFAULT_AGENCY_KIND, *, name_zh: str = ""
    ) -> AgencyRow:
        """Register a new agency; an id used before (even revoked) is refused."""
        row = AgencyRow(agency_id, name, _kind(kind), _now(), None, name_zh)
        with self._tx(f"add agency {agency_id}") as conn:
            taken = conn.execute(
                select(agencies.c.revoked_at).where(agencies.c.id == agency_id)
            ).first()
            if taken is not None:
                raise _already_registered(agency_id, _utc(taken.revoked_at))
            conn.execute(
                agencies.insert().values(
                    id=row.id,
                    name=row.name,
                    kind=row.kind,
                    created_at=row.created_at,
                    name_zh=row.name_zh,
                )
            )
        return row

    def put_agency(self, agency: Agency) -> AgencyRow:
        """Insert or update ``agency``; a revoked agency is registered again."""
        with self._tx(f"store agency {agency.id}") as conn:
            self._put_agency(conn, agency)
        found = self.get_agency(agency.id)
        if found is None:  # pragma: no cover - written in the transaction above
            raise StorageError(f"agency {agency.id} vanished after it was stored")
        return found

    @staticmethod
    def _put_agency(conn: Connection, agency: Agency) -> None:
        values = {
            "name": agency.name,
            "name_zh": agency.name_zh,
            "kind": agency.kind.value,
            "revoked_at": None,
        }
        exists = conn.execute(select(agencies.c.id).where(agencies.c.id == agency.id)).first()
        if exists is None:
            conn.execute(agencies.insert().values(id=agency.id, created_at=_now(), **values))
        else:
            conn.execute(update(agencies).where(agencies.c.id == agency.id).values(**values))

    def get_agency(self, agency_id: str) -> AgencyRow | None:
        query = select(agencies).where(agencies.c.id == agency_id)
        return self._first("read agency", query, self._agency)

    def registered_agency(self, agency_id: str) -> AgencyRow | None:
        """The agency while it is registered (not revoked); None otherwise."""
        query = select(agencies).where(agencies.c.id == agency_id, agencies.c.revoked_at.is_(None))
        return self._first("read agency", query, self._agency)

    def list_agencies(self, *, include_revoked: bool = False) -> list[AgencyRow]:
        query = select(agencies).order_by(agencies.c.id)
        if not include_revoked:
            query = query.where(agencies.c.revoked_at.is_(None))
        return self._all("list agencies", query, self._agency)

    def revoke_agency(self, agency_id: str, at: datetime | None = None) -> bool:
        """Mark the agency revoked (at ``at``, default now); False when it already was."""
        return self._revoke(agencies, agency_id, at, f"revoke agency {agency_id}")

    def _revoke(self, table: Table, row_id: str, at: datetime | None, what: str) -> bool:
        """Stamp ``revoked_at`` on the row ``row_id`` of ``table`` unless it has one."""
        with self._tx(what) as conn:
            done = conn.execute(
                update(table)
                .where(table.c.id == row_id, table.c.revoked_at.is_(None))
                .values(revoked_at=_in(at) or _now())
            )
        return bool(done.rowcount)

    # -- catalog entries ---------------------------------------------------------
    def put_entry(
        self, entry_id: str, title: str, state: str, document: Mapping[str, Any]
    ) -> EntryRow:
        """Insert or replace an entry; each replacement increments its version."""
        now = _now()
        with self._tx(f"store entry {entry_id}") as conn:
            old = conn.execute(
                select(catalog_entries.c.version).where(catalog_entries.c.id == entry_id)
            ).scalar()
            if old is None:
                version = 1
                conn.execute(
                    catalog_entries.insert().values(
                        id=entry_id,
                        title=title,
                        state=state,
                        document=dict(document),
                        version=version,
                        updated_at=now,
                    )
                )
            else:
                version = int(old) + 1
                conn.execute(
                    update(catalog_entries)
                    .where(catalog_entries.c.id == entry_id)
                    .values(
                        title=title,
                        state=state,
                        document=dict(document),
                        version=version,
                        updated_at=now,
                    )
                )
        return EntryRow(entry_id, title, state, dict(document), version, now)

    def put_catalog_entry(self, entry: CatalogEntry) -> EntryRow:
        """Store a domain entry as its catalog-YAML document (:func:`entry_document`)."""
        return self.put_entry(
            entry.id, entry.title, entry.lifecycle.state.value, entry_document(entry)
        )

    def get_entry(self, entry_id: str) -> EntryRow | None:
        query = select(catalog_entries).where(catalog_entries.c.id == entry_id)
        return self._first("read entry", query, self._entry)

    def list_entries(self) -> list[EntryRow]:
        query = select(catalog_entries).order_by(catalog_entries.c.id)
        return self._all("list entries", query, self._entry)

    # -- grants ----------------------------------------------------------------------
    def add_grant(self, grant: Grant) -> GrantRow:
        """Insert a new grant; an id in use, an unknown consumer, entry or granting agency
        is refused (:class:`StorageError`)."""
        row = _grant_row(grant)
        with self._tx(f"grant {grant.entry_id} to {grant.consumer}") as conn:
            conn.execute(grants.insert().values(id=row.id, **_grant_values(row)))
        return row

    def put_grant(self, grant: Grant) -> GrantRow:
        """Insert or replace the grant with ``grant.id`` (every field, ``revoked_at`` too)."""
        row = _grant_row(grant)
        with self._tx(f"store grant {grant.id}") as conn:
            self._put_grant(conn, row)
        return row

    @staticmethod
    def _put_grant(conn: Connection, row: GrantRow) -> None:
        exists = conn.execute(select(grants.c.id).where(grants.c.id == row.id)).first()
        if exists is None:
            conn.execute(grants.insert().values(id=row.id, **_grant_values(row)))
        else:
            conn.execute(update(grants).where(grants.c.id == row.id).values(**_grant_values(row)))

    def get_grant(self, grant_id: str) -> GrantRow | None:
        return self._first("read grant", select(grants).where(grants.c.id == grant_id), self._grant)

    def list_grants(
        self, *, agency_id: str | None = None, entry_id: str | None = None
    ) -> list[GrantRow]:
        """Every grant (revoked and expired too), optionally of one consumer or entry."""
        query = select(grants).order_by(grants.c.agency_id, grants.c.entry_id, grants.c.id)
        if agency_id is not None:
            query = query.where(grants.c.agency_id == agency_id)
        if entry_id is not None:
            query = query.where(grants.c.entry_id == entry_id)
        return self._all("list grants", query, self._grant)

    # -- whole catalogs --------------------------------------------------------------
    def import_catalog(self, catalog: Catalog, catalog_grants: Sequence[Grant] = ()) -> None:
        """Upsert every agency, entry and grant of a validated catalog in one transaction.

        Agencies revoked before are registered again; rows not in the catalog stay.
        """
        now = _now()
        with self._tx(f"import catalog {catalog.name}") as conn:
            for agency in catalog.agencies:
                self._put_agency(conn, agency)
            for entry in catalog.entries:
                self._put_entry(conn, entry, now)
            for grant in catalog_grants:
                self._put_grant(conn, _grant_row(grant))

    @staticmethod
    def _put_entry(conn: Connection, entry: CatalogEntry, now: datetime) -> None:
        values = {
            "title": entry.title,
            "state": entry.lifecycle.state.value,
            "document": entry_document(entry),
            "updated_at": now,
        }
        old = conn.execute(
            select(catalog_entries.c.version, catalog_entries.c.document).where(
                catalog_entries.c.id == entry.id
            )
        ).first()
        if old is None:
            conn.execute(catalog_entries.insert().values(id=entry.id, version=1, **values))
        elif dict(old.document) != values["document"]:
            conn.execute(
                update(catalog_entries)
                .where(catalog_entries.c.id == entry.id)
                .values(version=int(old.version) + 1, **values)
            )

    def revoke_grant(self, grant_id: str, at: datetime | None = None) -> bool:
        """Mark the grant revoked (at ``at``, default now); False when it already was."""
        return self._revoke(grants, grant_id, at, f"revoke grant {grant_id}")

    def active_grants(self, at: datetime | None = None) -> list[GrantRow]:
        """Grants in force at ``at``: started, not expired, not revoked by then."""
        moment = _in(at) or _now()
        query = (
            select(grants)
            .where(
                grants.c.valid_from <= moment,
                or_(grants.c.valid_until.is_(None), grants.c.valid_until > moment),
                or_(grants.c.revoked_at.is_(None), grants.c.revoked_at > moment),
            )
            .order_by(grants.c.agency_id, grants.c.entry_id)
        )
        return self._all("list grants", query, self._grant)

    def grants_for(self, agency_id: str, entry_id: str) -> list[GrantRow]:
        query = select(grants).where(
            and_(grants.c.agency_id == agency_id, grants.c.entry_id == entry_id)
        )
        return self._all("list grants", query, self._grant)

    # -- row mapping ----------------------------------------------------------------
    @staticmethod
    def _agency(m: RowMapping) -> AgencyRow:
        return AgencyRow(
            m["id"],
            m["name"],
            m["kind"],
            _utc(m["created_at"]) or _now(),
            _utc(m["revoked_at"]),
            m["name_zh"] or "",
        )

    @staticmethod
    def _entry(m: RowMapping) -> EntryRow:
        return EntryRow(
            m["id"],
            m["title"],
            m["state"],
            dict(m["document"]),
            int(m["version"]),
            _utc(m["updated_at"]) or _now(),
        )

    @staticmethod
    def _grant(m: RowMapping) -> GrantRow:
        return GrantRow(
            m["id"],
            m["agency_id"],
            m["entry_id"],
            tuple(m["items"]),
            m["purpose"],
            _utc(m["valid_from"]) or _now(),
            _utc(m["valid_until"]),
            _utc(m["revoked_at"]),
            m["granted_by"],
            m["basis"],
        )


def _kind(kind: str) -> str:
    try:
        return AgencyKind(kind).value
    except ValueError as exc:
        allowed = ", ".join(k.value for k in AgencyKind)
        raise StorageError(f"agency kind {kind!r} unknown; expected one of {allowed}") from exc


def _grant_row(grant: Grant) -> GrantRow:
    return GrantRow(
        grant.id,
        grant.consumer,
        grant.entry_id,
        tuple(sorted(grant.items)),
        grant.purpose,
        _in(grant.valid_from) or _now(),
        _in(grant.valid_until),
        _in(grant.revoked_at),
        grant.granted_by or None,  # "" (unknown, rows from revision 0001): no agency
        grant.basis,
    )


def _grant_values(row: GrantRow) -> dict[str, Any]:
    return {
        "agency_id": row.agency_id,
        "entry_id": row.entry_id,
        "items": list(row.items),
        "purpose": row.purpose,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "revoked_at": row.revoked_at,
        "granted_by": row.granted_by,
        "basis": row.basis,
    }
