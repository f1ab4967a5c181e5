"""Accounts and bearer tokens: who the caller of the HTTP service (and of the CLI) is.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed on login when they
change); a bearer token is 32 random bytes, shown once, stored only as its SHA-256 digest,
and expires (``token_ttl``). A wrong name and a wrong password fail alike, after the same
argon2 work, so a caller cannot tell which names exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from base.errors import LoginError, WorkflowError
from exchange.workflows.roles import USER_ROLES, Actor, Role
from storage.accounts import AccountStore, UserRow
from storage.workflows import TransitionRow, WorkflowStore
from topology.workflows.clock import Clock

#: Tokens expire after this long unless the service is configured otherwise.
DEFAULT_TOKEN_TTL = timedelta(hours=8)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
USER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
SUBJECT_KIND = "user"


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    expires_at: datetime
    actor: Actor


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_of(user: UserRow) -> Actor:
    return Actor(user.id, Role(user.role), user.agency_id)


class AccountService:
    def __init__(
        self,
        accounts: AccountStore,
        workflows: WorkflowStore,
        clock: Clock,
        *,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.accounts = accounts
        self.workflows = workflows
        self.clock = clock
        self.token_ttl = token_ttl
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash(secrets.token_hex(16))

    def add_user(
        self,
        user_id: str,
        role: str,
        password: str,
        *,
        agency: str | None = None,
        display_name: str = "",
        by: str = "operator",
    ) -> UserRow:
        """A new account. An agency user acts for exactly one registered agency; other
        roles for none."""
        if not USER_ID.match(user_id):
            raise WorkflowError(
                f"user id {user_id!r}: 2-64 lower-case letters, digits, '.', '_', '-'",
                code="bad_user_id",
            )
        allowed = [r.value for r in USER_ROLES]
        if role not in allowed:
            raise WorkflowError(
                f"role {role!r} unknown; expected one of {', '.join(allowed)}", code="bad_role"
            )
        if (role == Role.AGENCY.value) != bool(agency):
            raise WorkflowError(
                "an agency user needs --agency (the agency it acts for); other roles take none",
                code="agency_role_mismatch",
            )
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise WorkflowError(
                f"the password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
                code="weak_password",
            )
        now = self.clock.now()
        row = UserRow(user_id, role, agency or None, display_name, self.hasher.hash(password), now)
        transition = TransitionRow(
            SUBJECT_KIND,
            user_id,
            "user_add",
            None,
            "active",
            by,
            "operator",
            now,
            details={"role": role, "agency": agency},
        )
        self.accounts.add_user(row, transition)
        return row

    def disable_user(self, user_id: str, *, by: str = "operator", reason: str = "") -> bool:
        now = self.clock.now()
        transition = TransitionRow(
            SUBJECT_KIND,
            user_id,
            "user_disable",
            "active",
            "disabled",
            by,
            "operator",
            now,
            None,
            reason,
        )
        return self.accounts.disable_user(user_id, now, transition)

    def verify(self, user_id: str, password: str) -> UserRow:
        """The active user with this password; LoginError otherwise."""
        user = self.accounts.get_user(user_id)
        stored = self._dummy if user is None or user.disabled_at else user.password_hash
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            user = None
        if user is None or user.disabled_at is not None:
            raise LoginError("wrong user name or password", code="bad_credentials")
        if self.hasher.check_needs_rehash(user.password_hash):
            self.accounts.set_password_hash(user.id, self.hasher.hash(password))
        return user

    def login(self, user_id: str, password: str) -> IssuedToken:
        user = self.verify(user_id, password)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + self.token_ttl
        self.accounts.add_token(token_digest(token), user.id, now, expires)
        return IssuedToken(token, expires, actor_of(user))

    def authenticate(self, token: str) -> tuple[Actor, datetime]:
        """The actor a bearer token stands for, and when the token expires."""
        found = self.accounts.token_user(token_digest(token), self.clock.now())
        if found is None:
            raise LoginError("the token is unknown, expired or revoked", code="bad_token")
        user, expires = found
        return actor_of(user), expires

    def logout(self, token: str) -> bool:
        return self.accounts.revoke_token(token_digest(token), self.clock.now())


__all__ = [
    "DEFAULT_TOKEN_TTL",
    "AccountService",
    "IssuedToken",
    "actor_of",
    "token_digest",
]
