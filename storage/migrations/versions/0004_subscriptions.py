"""Subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1), and who still receives all.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Until now every registered agency received every unconditionally shared entry. From this
revision an agency receives the unconditional entries it subscribed to. So that an
existing deployment keeps delivering what it delivers, every agency registered before
this revision gets ``legacy_unconditional = true``: it keeps receiving every unconditional
entry until it makes its first subscription (then only what it subscribed to). Agencies
registered after it start with ``false`` (the column's default).

``govbus db upgrade`` says so when it crosses this revision. The next publication of the
store (``govbus catalog import``) carries the flags to the processors on
``govbus.state.subscriptions``; until then an agency without a record there is treated as
legacy too, so nothing changes for a running deployment.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(
            sa.Column(
                "legacy_unconditional", sa.Boolean, nullable=False, server_default=sa.false()
            )
        )
    # Every agency registered so far keeps what it receives until it subscribes.
    op.execute(sa.text("UPDATE agencies SET legacy_unconditional = :yes").bindparams(yes=True))
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("subscribed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subscribed_by", sa.String(64), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(64), nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_subscriptions_agency_id_agencies"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["catalog_entries.id"], name="fk_subscriptions_entry_id_catalog_entries"
        ),
    )
    op.create_index("ix_subscriptions_agency_id", "subscriptions", ["agency_id"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_agency_id", table_name="subscriptions")
    op.drop_table("subscriptions")
    with op.batch_alter_table("agencies") as batch:
        batch.drop_column("legacy_unconditional")
