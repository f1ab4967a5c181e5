"""What every wrapped client shares: configuration merging and health from ``error_cb``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka

from base.credentials import read_client_config
from kafkaclient.convert import convert

log = logging.getLogger("kafkaclient")
#: librdkafka's own log lines go through Python logging, not straight to stderr; a
#: NullHandler keeps them quiet unless the application configures logging.
rdkafka_log = logging.getLogger("kafkaclient.librdkafka")
rdkafka_log.addHandler(logging.NullHandler())
rdkafka_log.propagate = False

#: Keys whose values must never reach a log line.
SECRET_KEYS = frozenset({"sasl.password", "ssl.key.password", "ssl.keystore.password"})


def merge_config(
    defaults: Mapping[str, Any], extra: Mapping[str, Any] | None, explicit: Mapping[str, Any]
) -> dict[str, Any]:
    """defaults < extra config < explicit arguments (explicit ``None`` means "not given")."""
    merged = dict(defaults)
    merged.update(extra or {})
    merged.update({k: v for k, v in explicit.items() if v is not None})
    return merged


def with_credentials(
    extra: Mapping[str, Any] | None, credentials_file: Path | str | None
) -> dict[str, Any]:
    """A credentials file's client settings (:mod:`base.credentials`) under ``extra``."""
    if credentials_file is None:
        return dict(extra or {})
    return {**read_client_config(Path(credentials_file)), **(extra or {})}


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_KEYS else v) for k, v in config.items()}


@dataclass(frozen=True)
class Health:
    """The last error librdkafka reported through ``error_cb`` (None when healthy)."""

    last_error: str | None
    fatal: bool
    errors_seen: int


class ClientBase:
    """Configuration and health, shared by Producer, Consumer and Admin."""

    DEFAULTS: Mapping[str, Any] = {}

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._last_error: confluent_kafka.KafkaError | None = None
        self._errors_seen = 0

    @property
    def config(self) -> dict[str, Any]:
        """The effective configuration, secrets redacted."""
        return redact(self._config)

    def _client_config(self) -> dict[str, Any]:
        return {**self._config, "error_cb": self._on_error, "logger": rdkafka_log}

    def _on_error(self, err: confluent_kafka.KafkaError) -> None:
        self._last_error = err
        self._errors_seen += 1
        if err.fatal():
            log.error("kafka client fatal error: %s", convert(err))
        else:
            log.debug("kafka client error: %s", err.str())

    def health(self) -> Health:
        err = self._last_error
        return Health(
            last_error=None if err is None else f"{err.name()}: {err.str()}",
            fatal=bool(err is not None and err.fatal()),
            errors_seen=self._errors_seen,
        )
