"""The reference-data tables: agencies, catalog entries, grants. Alembic owns their DDL.

Kept in sync with the migrations (head: 0002). ``agencies.kind`` holds an
:class:`exchange.catalog.AgencyKind` value; ``grants.granted_by`` is the providing agency
(G 15 ¶2, S 25 ¶3) and ``grants.basis`` the legal basis of the grant.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from exchange.catalog import AgencyKind

#: The default kind of an agency (G 32, S 3: 行政机关).
DEFAULT_AGENCY_KIND = AgencyKind.ADMINISTRATIVE_AGENCY.value
_KINDS = ", ".join(f"'{k.value}'" for k in AgencyKind)

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

agencies = Table(
    "agencies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(32), nullable=False, server_default=DEFAULT_AGENCY_KIND),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("name_zh", Text, nullable=False, server_default=""),
    CheckConstraint(f"kind IN ({_KINDS})", name="ck_agencies_kind"),
)

catalog_entries = Table(
    "catalog_entries",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("document", JSON, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("agency_id", String(64), ForeignKey("agencies.id"), nullable=False, index=True),
    Column("entry_id", String(128), ForeignKey("catalog_entries.id"), nullable=False, index=True),
    Column("items", JSON, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("granted_by", String(64), ForeignKey("agencies.id"), nullable=True),
    Column("basis", Text, nullable=True),
    UniqueConstraint("agency_id", "entry_id", "valid_from", name="uq_grants_agency_entry_from"),
)
