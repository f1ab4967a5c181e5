"""The reference-data store: agencies, catalog entries and grants in SQL.

One class, one engine; every method is one transaction. SQLAlchemy errors are converted
to :class:`govbus.errors.StorageError` where they enter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, and_, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from govbus.errors import StorageError
from storage.tables import agencies, catalog_entries, grants


@dataclass(frozen=True)
class AgencyRow:
    id: str
    name: str
    kind: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class EntryRow:
    id: str
    title: str
    state: str
    document: Mapping[str, Any]
    version: int
    updated_at: datetime


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


class ReferenceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise StorageError(f"{what}: conflicts with existing data ({exc.orig})") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"{what}: {exc.__class__.__name__}: {exc}") from exc

    # -- agencies --------------------------------------------------------------
    def add_agency(self, agency_id: str, name: str, kind: str = "agency") -> AgencyRow:
        row = AgencyRow(agency_id, name, kind, _now(), None)
        with self._tx(f"add agency {agency_id}") as conn:
            conn.execute(
                agencies.insert().values(
                    id=row.id, name=row.name, kind=row.kind, created_at=row.created_at
                )
            )
        return row

    def get_agency(self, agency_id: str) -> AgencyRow | None:
        with self._tx("read agency") as conn:
            r = conn.execute(select(agencies).where(agencies.c.id == agency_id)).first()
        return None if r is None else self._agency(r._mapping)

    def list_agencies(self, *, include_revoked: bool = False) -> list[AgencyRow]:
        query = select(agencies).order_by(agencies.c.id)
        if not include_revoked:
            query = query.where(agencies.c.revoked_at.is_(None))
        with self._tx("list agencies") as conn:
            return [self._agency(r._mapping) for r in conn.execute(query)]

    def revoke_agency(self, agency_id: str, at: datetime | None = None) -> bool:
        with self._tx(f"revoke agency {agency_id}") as conn:
            done = conn.execute(
                update(agencies)
                .where(agencies.c.id == agency_id, agencies.c.revoked_at.is_(None))
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

    def get_entry(self, entry_id: str) -> EntryRow | None:
        with self._tx("read entry") as conn:
            r = conn.execute(
                select(catalog_entries).where(catalog_entries.c.id == entry_id)
            ).first()
        return None if r is None else self._entry(r._mapping)

    def list_entries(self) -> list[EntryRow]:
        with self._tx("list entries") as conn:
            rows = conn.execute(select(catalog_entries).order_by(catalog_entries.c.id))
            return [self._entry(r._mapping) for r in rows]

    # -- grants ----------------------------------------------------------------------
    def add_grant(
        self,
        agency_id: str,
        entry_id: str,
        items: Sequence[str],
        purpose: str,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> GrantRow:
        row = GrantRow(
            uuid.uuid4().hex,
            agency_id,
            entry_id,
            tuple(items),
            purpose,
            _in(valid_from) or _now(),
            _in(valid_until),
            None,
        )
        with self._tx(f"grant {entry_id} to {agency_id}") as conn:
            conn.execute(
                grants.insert().values(
                    id=row.id,
                    agency_id=agency_id,
                    entry_id=entry_id,
                    items=list(row.items),
                    purpose=purpose,
                    valid_from=row.valid_from,
                    valid_until=row.valid_until,
                )
            )
        return row

    def revoke_grant(self, grant_id: str, at: datetime | None = None) -> bool:
        with self._tx(f"revoke grant {grant_id}") as conn:
            done = conn.execute(
                update(grants)
                .where(grants.c.id == grant_id, grants.c.revoked_at.is_(None))
                .values(revoked_at=_in(at) or _now())
            )
        return bool(done.rowcount)

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
        with self._tx("list grants") as conn:
            return [self._grant(r._mapping) for r in conn.execute(query)]

    def grants_for(self, agency_id: str, entry_id: str) -> list[GrantRow]:
        query = select(grants).where(
            and_(grants.c.agency_id == agency_id, grants.c.entry_id == entry_id)
        )
        with self._tx("list grants") as conn:
            return [self._grant(r._mapping) for r in conn.execute(query)]

    # -- row mapping ----------------------------------------------------------------
    @staticmethod
    def _agency(m: RowMapping) -> AgencyRow:
        return AgencyRow(
            m["id"], m["name"], m["kind"], _utc(m["created_at"]) or _now(), _utc(m["revoked_at"])
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
        )
