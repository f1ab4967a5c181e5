"""Workflows: user accounts and bearer tokens of the HTTP service, cases (sharing
applications now; subscriptions and catalog changes later), their transitions, due rows
(timers) and named leases (G 15, G17 15, S 25, S 28; G 30, S 47).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

Only new tables: nothing existing changes, so a deployment at 0002 keeps delivering what
it delivers. Passwords are stored as argon2id hashes and tokens as SHA-256 digests.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: exchange.workflows.roles.USER_ROLES at this revision (a migration is a frozen snapshot).
USER_ROLES = ("agency", "bureau", "government", "auditor", "public")
_ROLE_CHECK = "role IN ({})".format(", ".join(f"'{r}'" for r in USER_ROLES))


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=True),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name="fk_users_agency_id_agencies"),
        sa.CheckConstraint(_ROLE_CHECK, name="ck_users_role"),
        sa.CheckConstraint(
            "(role = 'agency') = (agency_id IS NOT NULL)", name="ck_users_agency_iff_agency_role"
        ),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_tokens"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_tokens_user_id_users"),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "cases",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("obligation", sa.String(48), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("applicant", sa.String(64), nullable=True),
        sa.Column("respondent", sa.String(64), nullable=True),
        sa.Column("entry_id", sa.String(128), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deemed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(["applicant"], ["agencies.id"], name="fk_cases_applicant_agencies"),
        sa.ForeignKeyConstraint(
            ["respondent"], ["agencies.id"], name="fk_cases_respondent_agencies"
        ),
    )
    op.create_index("ix_cases_kind_state", "cases", ["kind", "state"])
    op.create_index("ix_cases_respondent", "cases", ["respondent"])
    op.create_index("ix_cases_applicant", "cases", ["applicant"])
    op.create_table(
        "transitions",
        sa.Column("id", _id(), nullable=False, autoincrement=True),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_agency", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("article", sa.Text, nullable=False, server_default=""),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=True),
        sa.Column("audit_hash", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transitions"),
        sa.UniqueConstraint("audit_seq", name="uq_transitions_audit_seq"),
    )
    op.create_index("ix_transitions_subject", "transitions", ["subject_kind", "subject_id"])
    op.create_table(
        "timers",
        sa.Column("id", _id(), nullable=False, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_timers_case_id_cases"),
        sa.UniqueConstraint("case_id", "kind", "due_at", name="uq_timers_case_kind_due"),
    )
    op.create_index("ix_timers_due", "timers", ["done_at", "due_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_timers_due", table_name="timers")
    op.drop_table("timers")
    op.drop_index("ix_transitions_subject", table_name="transitions")
    op.drop_table("transitions")
    op.drop_index("ix_cases_applicant", table_name="cases")
    op.drop_index("ix_cases_respondent", table_name="cases")
    op.drop_index("ix_cases_kind_state", table_name="cases")
    op.drop_table("cases")
    op.drop_index("ix_tokens_user_id", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("users")
