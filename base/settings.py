"""One typed settings object, from ``GOVBUS_*`` environment variables and an optional TOML file.

Precedence, lowest first: built-in defaults < TOML file < environment. The object is built
once at an entry point (CLI, test fixture) and passed in; nothing reads the environment later.

TOML layout (every key optional)::

    home = "/var/lib/govbus"
    bootstrap = "127.0.0.1:9092"
    database_url = "postgresql+psycopg://govbus@localhost/govbus"
    profile = "guiyang-2021"
    broker_heap = "512m"
    max_future_skew_s = 300                    # how far in the future an event_time may lie
    dead_letter_value_bytes = 1000000          # a dead letter keeps this much of a value

    agency_bootstrap = "broker.example:9094"   # the SASL_SSL agency listener
    ca_location = "/etc/govbus/ca.crt"          # the CA agencies' clients trust
    agency_probe_bootstrap = "kafka:9094"      # where this host checks new credentials
    credentials_file = "~/.config/govbus/agency.json"

    [kafka]             # extra librdkafka settings for every client
    "client.id" = "govbus"

Environment variables ``GOVBUS_KAFKA__<KEY>`` set ``[kafka]`` entries, the key lower-cased
with ``_`` read as ``.`` (``GOVBUS_KAFKA__SASL_PASSWORD`` -> ``sasl.password``), for
containers that take secrets from their environment.

``credentials_file`` (``GOVBUS_CREDENTIALS_FILE``; mode 0600, see :mod:`base.credentials`)
holds one principal's client settings: they are merged over the ``[kafka]`` table, and its
``bootstrap.servers`` becomes ``bootstrap`` unless that is set. ``agency_bootstrap`` and
``ca_location`` tell ``govbus agency add`` what to hand out when the broker is not the local one;
``agency_probe_bootstrap`` is where it checks the new credential when the address handed out is
not reachable from this host (inside docker-compose: the internal ``AGENCY`` listener).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from base.credentials import read_client_config
from base.errors import ConfigError

#: The Apache Kafka release the project provisions and tests against (see docs/kafka.md).
KAFKA_VERSION = "4.1.1"

ENV_PREFIX = "GOVBUS_"
#: An event stamped more than this many seconds after the processor's clock is rejected
#: (``event_time_in_future``, G 13): agencies' clocks drift, but not by minutes.
DEFAULT_MAX_FUTURE_SKEW_S = 300.0
#: A dead letter keeps this many bytes of a message value, the rest cut (with its size and
#: SHA-256). The default is the most an agency may send (schemas.topics.MAX_EVENT_BYTES):
#: every event an agency may send is kept whole.
DEFAULT_DEAD_LETTER_VALUE_BYTES = 1_000_000
#: ``GOVBUS_KAFKA__SASL_USERNAME=x`` -> ``[kafka] "sasl.username" = "x"``.
KAFKA_ENV_PREFIX = "GOVBUS_KAFKA__"
_SCALAR_KEYS = (
    "home",
    "bootstrap",
    "database_url",
    "profile",
    "broker_heap",
    "kafka_version",
    "maven_settings",
    "agency_bootstrap",
    "ca_location",
    "agency_probe_bootstrap",
    "credentials_file",
    "max_future_skew_s",
    "dead_letter_value_bytes",
    "log_level",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Settings that are numbers (from TOML or environment text): their least value, integral.
_NUMBERS: Mapping[str, tuple[float, bool]] = {
    "max_future_skew_s": (0.0, False),
    "dead_letter_value_bytes": (1, True),
}


def _default_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "govbus"


@dataclass(frozen=True)
class Settings:
    """Everything govbus reads from its environment, typed.

    ``home`` holds the broker cache (jars, storage, pid and log files) and the default
    SQLite file. ``bootstrap`` is empty when the local broker is to be used.
    """

    home: Path = field(default_factory=_default_home)
    bootstrap: str = ""
    database_url: str = ""
    profile: str = "guiyang-2021"
    broker_heap: str = "512m"
    kafka_version: str = KAFKA_VERSION
    maven_settings: str = ""
    agency_bootstrap: str = ""
    ca_location: str = ""
    agency_probe_bootstrap: str = ""
    credentials_file: str = ""
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S
    dead_letter_value_bytes: int = DEFAULT_DEAD_LETTER_VALUE_BYTES
    #: The long-running processes' log level (``GOVBUS_LOG_LEVEL``); with ``DEBUG`` and
    #: ``GOVBUS_KAFKA__DEBUG=cgrp,eos,...`` they log librdkafka's debug contexts too.
    log_level: str = "INFO"
    kafka: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """The SQL store URL: ``database_url``, else a SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'govbus.db'}"

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def load(
        cls, *, environ: Mapping[str, str] | None = None, toml_path: Path | None = None
    ) -> Settings:
        """Build settings from TOML (``GOVBUS_CONFIG`` or ``toml_path``) and the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = toml_path or (Path(env["GOVBUS_CONFIG"]) if env.get("GOVBUS_CONFIG") else None)
        if path is not None:
            values.update(_read_toml(path))
        for key in _SCALAR_KEYS:
            raw = env.get(ENV_PREFIX + key.upper())
            if raw:
                values[key] = raw
        kafka_env = {
            name[len(KAFKA_ENV_PREFIX) :].lower().replace("_", "."): value
            for name, value in env.items()
            if name.startswith(KAFKA_ENV_PREFIX) and len(name) > len(KAFKA_ENV_PREFIX)
        }
        if kafka_env:
            values["kafka"] = {**values.get("kafka", {}), **kafka_env}
        if "home" in values:
            values["home"] = Path(values["home"]).expanduser()
        else:
            values["home"] = _default_home(env)
        if values.get("credentials_file"):
            _merge_credentials(values, Path(values["credentials_file"]))
        for key, (least, integral) in _NUMBERS.items():
            if key in values:
                values[key] = _number(key, values[key], least, integral)
        if "log_level" in values:
            values["log_level"] = _log_level(values["log_level"])
        return cls(**values)


def _log_level(raw: object) -> str:
    level = str(raw).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {raw!r}")
    return level


def _number(key: str, raw: object, least: float, integral: bool) -> float | int:
    what = "a whole number" if integral else "a number"
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(raw)
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{key} must be {what}, not {raw!r}") from exc
    if not math.isfinite(value) or value < least or (integral and not value.is_integer()):
        raise ConfigError(f"{key} must be {what} of at least {least:g}, not {raw!r}")
    return int(value) if integral else value


def _merge_credentials(values: dict[str, Any], path: Path) -> None:
    """A credentials file's client settings over ``[kafka]``; its bootstrap if none is set."""
    config = read_client_config(path)
    bootstrap = config.pop("bootstrap.servers", "")
    values["kafka"] = {**values.get("kafka", {}), **config}
    if bootstrap and not values.get("bootstrap"):
        values["bootstrap"] = bootstrap


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"settings file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown settings key(s) in {path}: {', '.join(unknown)}")
    kafka = data.get("kafka", {})
    if not isinstance(kafka, dict):
        raise ConfigError(f"[kafka] in {path} must be a table")
    data["kafka"] = {str(k): str(v) for k, v in kafka.items()}
    return data
