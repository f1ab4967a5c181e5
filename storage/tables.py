"""The SQL store's tables. Alembic owns their DDL; kept in sync with the migrations
(head: 0004).

Reference data (0001, 0002): ``agencies.kind`` holds an :class:`exchange.catalog.AgencyKind`
value; ``grants.granted_by`` is the providing agency (G 15 ¶2, S 25 ¶3) and
``grants.basis`` the legal basis of the grant.

Subscriptions (0004): ``subscriptions`` holds each agency's subscriptions to
unconditional entries (G 15 ¶1, S 25 ¶1) with who made and who cancelled them;
``agencies.legacy_unconditional`` is true for agencies registered before 0004 (they receive
every unconditional entry until their first subscription) and false for every later one.

Workflows (0003):

* ``users``: accounts of the HTTP service, one role each (:mod:`exchange.workflows.roles`),
  an agency for agency users; ``password_hash`` is argon2id, never the password.
* ``tokens``: bearer tokens, stored as the SHA-256 of the token only, with their expiry.
* ``cases``: one row per case of any ``kind`` (``share_application`` now; subscriptions
  and catalog changes later), with the columns every kind has (parties, state, the
  obligation and its deadline) and the kind's own fields in ``document``.
* ``transitions``: every state change of a case or an account: who, when, what, why, on
  which article; ``audit_seq``/``audit_hash`` once it is sealed into the workflow audit
  chain on Kafka (``govbus.audit.workflows``).
* ``timers``: due rows (deadlines, reminders, expiries, grant publication): taken by one
  worker at a time with a conditional UPDATE (a lease), done once.
* ``leases``: named leases for singletons (the audit relay).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
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
    Column("legacy_unconditional", Boolean, nullable=False, server_default=false()),
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

#: A 64-bit key; SQLite's auto-increment needs INTEGER exactly.
_ID = BigInteger().with_variant(Integer, "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("agency_id", String(64), ForeignKey("agencies.id"), nullable=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "role IN ('agency', 'bureau', 'government', 'auditor', 'public')", name="ck_users_role"
    ),
    CheckConstraint(
        "(role = 'agency') = (agency_id IS NOT NULL)", name="ck_users_agency_iff_agency_role"
    ),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

cases = Table(
    "cases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("profile", String(32), nullable=False),
    Column("obligation", String(48), nullable=True),
    Column("state", String(32), nullable=False),
    Column("applicant", String(64), ForeignKey("agencies.id"), nullable=True),
    Column("respondent", String(64), ForeignKey("agencies.id"), nullable=True),
    Column("entry_id", String(128), nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("clock_started_at", DateTime(timezone=True), nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("overdue", Boolean, nullable=False, server_default=false()),
    Column("deemed", Boolean, nullable=False, server_default=false()),
    Column("document", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_cases_kind_state", "kind", "state"),
    Index("ix_cases_respondent", "respondent"),
    Index("ix_cases_applicant", "applicant"),
)

transitions = Table(
    "transitions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subject_kind", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("to_state", String(32), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("actor_agency", String(64), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("article", Text, nullable=False, server_default=""),
    Column("details", JSON, nullable=False),
    Column("audit_seq", BigInteger, nullable=True, unique=True),
    Column("audit_hash", String(64), nullable=True),
    Index("ix_transitions_subject", "subject_kind", "subject_id"),
)

timers = Table(
    "timers",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("case_id", String(64), ForeignKey("cases.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("case_id", "kind", "due_at", name="uq_timers_case_kind_due"),
    Index("ix_timers_due", "done_at", "due_at"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("until", DateTime(timezone=True), nullable=True),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("agency_id", String(64), ForeignKey("agencies.id"), nullable=False, index=True),
    Column("entry_id", String(128), ForeignKey("catalog_entries.id"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("subscribed_at", DateTime(timezone=True), nullable=False),
    Column("subscribed_by", String(64), nullable=False),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_by", String(64), nullable=True),
    Column("cancel_reason", Text, nullable=True),
)
