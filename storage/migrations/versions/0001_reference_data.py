"""Reference data: agencies, catalog entries, grants.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False, server_default="agency"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agencies"),
    )
    op.create_table(
        "catalog_entries",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_entries"),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name="fk_grants_agency_id_agencies"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["catalog_entries.id"], name="fk_grants_entry_id_catalog_entries"
        ),
        sa.UniqueConstraint("agency_id", "entry_id", "valid_from", name="uq_grants_agency_entry_from"),
    )
    op.create_index("ix_grants_agency_id", "grants", ["agency_id"])
    op.create_index("ix_grants_entry_id", "grants", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_grants_entry_id", table_name="grants")
    op.drop_index("ix_grants_agency_id", table_name="grants")
    op.drop_table("grants")
    op.drop_table("catalog_entries")
    op.drop_table("agencies")
