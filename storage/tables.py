"""The reference-data tables: agencies, catalog entries, grants. Alembic owns their DDL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
    Column("kind", String(32), nullable=False, server_default="agency"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
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
    UniqueConstraint("agency_id", "entry_id", "valid_from", name="uq_grants_agency_entry_from"),
)
