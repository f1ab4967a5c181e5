"""Credentials files: one principal's librdkafka client settings, JSON, mode 0600.

Written by ``govbus agency add|rotate-password --credentials-file`` and by ``govbus broker
start`` (the processor principal); read by :meth:`base.settings.Settings.load`
(``GOVBUS_CREDENTIALS_FILE``) and by the Kafka wrappers (``credentials_file=``).

Layout: ``{"principal": "...", "client_config": {"bootstrap.servers": ..., ...}}``; a
flat object of librdkafka settings is read too. A file that its group or others may read is
refused, like ssh refuses a private key with loose permissions. No I/O at import; the
password never appears in an error message.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from base.errors import AccessError

FILE_MODE = 0o600
#: 32 random bytes (256 bits) from the OS CSPRNG, URL-safe base64: 43 characters.
PASSWORD_BYTES = 32


def new_password() -> str:
    """A fresh password for a SCRAM credential (``secrets``, never ``random``)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def write_credentials(path: Path, principal: str, client_config: Mapping[str, str]) -> Path:
    """Write (or atomically replace) ``path`` with mode 0600 from its first byte."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"principal": principal, "client_config": dict(client_config)}
    return write_private(path, json.dumps(data, indent=2) + "\n")


def write_private(path: Path, text: str, *, mode: int = FILE_MODE) -> Path:
    """Write (or atomically replace) a text file holding secrets, ``mode`` from its first
    byte (a config file with passwords inside, such as the broker's server.properties)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_client_config(path: Path) -> dict[str, str]:
    """The librdkafka settings in a credentials file (refused if group/others may read it)."""
    path = path.expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise AccessError(f"credentials file not found: {path}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AccessError(
            f"credentials file {path} is accessible by group or others "
            f"(mode {stat.filemode(mode)}); run: chmod 600 {path}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AccessError(f"credentials file {path} is not readable JSON") from exc
    config = data.get("client_config", data) if isinstance(data, dict) else None
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise AccessError(f"credentials file {path} holds no client_config object")
    return {k: str(v) for k, v in config.items()}
