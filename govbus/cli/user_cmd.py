"""``govbus user add|list|disable``: accounts of the HTTP service (argon2-hashed passwords).

A password is never an argument (it would be in the shell history and ``ps``): it is read
from ``GOVBUS_USER_PASSWORD`` when set, else from standard input (asked twice, hidden, on a
terminal).
"""

from __future__ import annotations

import getpass
import os
import sys

import typer

from base.errors import GovbusError
from base.settings import Settings
from exchange.workflows.roles import USER_ROLES
from govbus.cli.common import JSON_OPT, database
from govbus.cli.group import command_group
from govbus.cli.output import EXIT_USAGE, console, emit_json, emit_rows, fail, iso
from storage.accounts import AccountStore, UserRow
from storage.workflows import WorkflowStore
from topology.workflows.accounts import AccountService
from topology.workflows.clock import SystemClock

PASSWORD_ENV = "GOVBUS_USER_PASSWORD"  # noqa: S105 (a variable's name, not a password)
ROLES = ", ".join(r.value for r in USER_ROLES)


def _accounts() -> AccountService:
    engine = database(Settings.load())
    return AccountService(AccountStore(engine), WorkflowStore(engine), SystemClock())


def _password(as_json: bool) -> str:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            fail("the passwords differ; nothing was created", as_json=as_json, code=EXIT_USAGE)
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail(
            f"no password: give it on standard input or in ${PASSWORD_ENV}",
            as_json=as_json,
            code=EXIT_USAGE,
        )
    return line


def user_json(row: UserRow) -> dict[str, object]:
    return {
        "id": row.id,
        "role": row.role,
        "agency": row.agency_id,
        "display_name": row.display_name,
        "created_at": row.created_at.isoformat(),
        "disabled_at": iso(row.disabled_at),
    }


def _user_line(row: UserRow) -> str:
    state = "disabled" if row.disabled_at else "active"
    return f"{row.id:<24} {row.role:<11} {row.agency_id or '-':<24} {state}"


def register(app: typer.Typer) -> None:
    user = command_group(app, "user", "Accounts of the HTTP service (govbus serve).")
    _add_command(user)
    _list_command(user)
    _disable_command(user)


def _add_command(user: typer.Typer) -> None:
    """``govbus user add``."""

    @user.command("add")
    def add(
        user_id: str = typer.Argument(..., help="Login name (lower-case)."),
        role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
        agency: str = typer.Option("", "--agency", help="The agency an agency user acts for."),
        name: str = typer.Option("", "--name", help="Display name (e.g. 张三, 市卫健委)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Create an account; the password comes from stdin or $GOVBUS_USER_PASSWORD."""
        if role not in {r.value for r in USER_ROLES}:
            fail(f"--role {role!r}: expected one of {ROLES}", as_json=as_json, code=EXIT_USAGE)
        password = _password(as_json)
        try:
            row = _accounts().add_user(
                user_id, role, password, agency=agency or None, display_name=name
            )
        except GovbusError as exc:
            fail(f"{exc}; nothing was created", as_json=as_json)
        if as_json:
            emit_json({"user": user_json(row)})
        else:
            console.print(f"user {row.id} created ({row.role}{' for ' + agency if agency else ''})")


def _list_command(user: typer.Typer) -> None:
    """``govbus user list``."""

    @user.command("list")
    def list_(as_json: bool = JSON_OPT) -> None:
        """List accounts (never their password hashes)."""
        try:
            rows = _accounts().accounts.list_users()
        except GovbusError as exc:
            fail(str(exc), as_json=as_json)
        emit_rows(as_json, "users", rows, user_json, _user_line)


def _disable_command(user: typer.Typer) -> None:
    """``govbus user disable``."""

    @user.command("disable")
    def disable(
        user_id: str = typer.Argument(..., help="Login name."),
        reason: str = typer.Option("", "--reason", help="Why (recorded)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Disable an account; its tokens stop working at once."""
        try:
            done = _accounts().disable_user(user_id, reason=reason)
        except GovbusError as exc:
            fail(str(exc), as_json=as_json)
        if not done:
            fail(f"no active user {user_id}", as_json=as_json)
        if as_json:
            emit_json({"user": user_id, "disabled": True})
        else:
            console.print(f"user {user_id} disabled")
