"""Grants record who granted them and on which basis; agencies get a Chinese name and a
kind from the domain's AgencyKind (G 15 ¶2, S 25 ¶3, G 32, S 3, J 3(一)).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

``grants.granted_by`` and ``grants.basis`` are nullable: rows written under 0001 have
neither, and nothing in them says who granted. Agencies of the old default kind
``agency`` become ``administrative_agency``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: exchange.catalog.AgencyKind at this revision (a migration is a frozen snapshot).
AGENCY_KINDS = (
    "administrative_agency",
    "authorised_institution",
    "people_organisation",
    "public_service_enterprise",
    "big_data_bureau",
)
_KIND_CHECK = "kind IN ({})".format(", ".join(f"'{k}'" for k in AGENCY_KINDS))


def upgrade() -> None:
    op.execute(sa.text("UPDATE agencies SET kind = 'administrative_agency' WHERE kind = 'agency'"))
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(sa.Column("name_zh", sa.Text, nullable=False, server_default=""))
        batch.alter_column(
            "kind",
            existing_type=sa.String(32),
            existing_nullable=False,
            server_default="administrative_agency",
        )
        batch.create_check_constraint("ck_agencies_kind", _KIND_CHECK)
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("granted_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("basis", sa.Text, nullable=True))
        batch.create_foreign_key(
            "fk_grants_granted_by_agencies", "agencies", ["granted_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_constraint("fk_grants_granted_by_agencies", type_="foreignkey")
        batch.drop_column("basis")
        batch.drop_column("granted_by")
    with op.batch_alter_table("agencies") as batch:
        batch.drop_constraint("ck_agencies_kind", type_="check")
        batch.alter_column(
            "kind", existing_type=sa.String(32), existing_nullable=False, server_default="agency"
        )
        batch.drop_column("name_zh")
