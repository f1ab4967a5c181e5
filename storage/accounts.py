"""User accounts and bearer tokens of the HTTP service.

Only hashes are stored: ``users.password_hash`` is an argon2id hash made by the caller,
``tokens.token_hash`` the SHA-256 hex digest of the bearer token; neither a password nor
a token is ever written. Each account change is recorded as a transition (subject kind
``user``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, select, update

from base.errors import StorageError
from storage.engine import Store
from storage.reference import _in, _utc, require_registered
from storage.tables import tokens, users
from storage.workflows import TransitionRow, insert_transition


@dataclass(frozen=True)
class UserRow:
    id: str
    role: str
    agency_id: str | None
    display_name: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None = None


class AccountStore(Store):
    def add_user(self, user: UserRow, transition: TransitionRow) -> None:
        """A new account; an id used before is refused; an agency must be registered."""
        with self._tx(f"add user {user.id}") as conn:
            if user.agency_id is not None:
                require_registered(conn, user.agency_id)
            conn.execute(
                users.insert().values(
                    id=user.id,
                    role=user.role,
                    agency_id=user.agency_id,
                    display_name=user.display_name,
                    password_hash=user.password_hash,
                    created_at=_in(user.created_at),
                )
            )
            insert_transition(conn, transition)

    def get_user(self, user_id: str) -> UserRow | None:
        return self._first("read user", select(users).where(users.c.id == user_id), _user)

    def list_users(self) -> list[UserRow]:
        return self._all("list users", select(users).order_by(users.c.id), _user)

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a hash (argon2 rehash on login when the parameters changed)."""
        with self._tx(f"rehash {user_id}") as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )

    def disable_user(self, user_id: str, at: datetime, transition: TransitionRow) -> bool:
        """Disable an account and revoke its tokens; False when it was not active."""
        with self._tx(f"disable user {user_id}") as conn:
            done = conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.disabled_at.is_(None))
                .values(disabled_at=_in(at))
            )
            if done.rowcount != 1:
                return False
            conn.execute(
                update(tokens)
                .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=_in(at))
            )
            insert_transition(conn, transition)
        return True

    # -- tokens ------------------------------------------------------------------------------
    def add_token(
        self, token_hash: str, user_id: str, created: datetime, expires: datetime
    ) -> None:
        with self._tx("issue token") as conn:
            conn.execute(
                tokens.insert().values(
                    token_hash=token_hash,
                    user_id=user_id,
                    created_at=_in(created),
                    expires_at=_in(expires),
                )
            )

    def token_user(self, token_hash: str, now: datetime) -> tuple[UserRow, datetime] | None:
        """The active user of an unexpired, unrevoked token, and the token's expiry."""
        moment = _in(now)
        query = (
            select(users, tokens.c.expires_at.label("token_expires_at"))
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.revoked_at.is_(None),
                tokens.c.expires_at > moment,
                users.c.disabled_at.is_(None),
            )
        )
        with self._tx("read token") as conn:
            r = conn.execute(query).mappings().first()
        if r is None:
            return None
        expires = _utc(r["token_expires_at"])
        if expires is None:  # pragma: no cover - NOT NULL
            return None
        return _user(r), expires

    def revoke_token(self, token_hash: str, at: datetime) -> bool:
        with self._tx("revoke token") as conn:
            done = conn.execute(
                update(tokens)
                .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
                .values(revoked_at=_in(at))
            )
        return done.rowcount == 1


def _user(m: RowMapping) -> UserRow:
    created = _utc(m["created_at"])
    if created is None:  # pragma: no cover - NOT NULL
        raise StorageError(f"user {m['id']} has no creation time")
    return UserRow(
        id=m["id"],
        role=m["role"],
        agency_id=m["agency_id"],
        display_name=m["display_name"] or "",
        password_hash=m["password_hash"],
        created_at=created,
        disabled_at=_utc(m["disabled_at"]),
    )
