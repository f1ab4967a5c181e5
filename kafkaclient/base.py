"""What every wrapped client shares: configuration, the client state, closing, health,
topic metadata and the conversion of failures into errors that name their cause.

Client state (as httpx's ``ClientState``)::

    UNOPENED --first use--> OPENED --close()--> CLOSED
        \\________________close()________________/

No I/O happens in ``__init__``: the librdkafka client is made on first use. ``close()`` is
idempotent; any use after it raises :class:`base.errors.ClientClosedError` instead of
silently making a new client (which would, for a transactional producer, fence nothing and
lose the guarantee the caller thought it had).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import confluent_kafka

from base.credentials import read_client_config
from base.errors import ClientClosedError, GovbusError, KafkaError
from kafkaclient.convert import convert
from kafkaclient.diagnose import CONNECTION_CODES, Evidence, LogSink, probe

log = logging.getLogger("kafkaclient")
#: librdkafka's own log lines go through Python logging, not straight to stderr; a
#: NullHandler keeps them quiet unless the application configures logging.
rdkafka_log = logging.getLogger("kafkaclient.librdkafka")
rdkafka_log.addHandler(logging.NullHandler())
rdkafka_log.propagate = False


def show_client_logs() -> None:
    """Let librdkafka's own log lines reach the application's logging (a process that
    configured it, at its level: ``DEBUG`` with the ``debug`` setting for debug contexts)."""
    rdkafka_log.propagate = True


#: Keys whose values must never reach a log line.
SECRET_KEYS = frozenset({"sasl.password", "ssl.key.password", "ssl.keystore.password"})
#: One metadata request on a loaded broker.
METADATA_TIMEOUT_S = 10.0
#: Every client's connection defaults. librdkafka backs off reconnecting up to 10 s by
#: default: after a broker restart a client would stay away that long; bounded at 1 s,
#: clients are back within a second of the broker answering.
CONNECTION_DEFAULTS: Mapping[str, Any] = {"reconnect.backoff.max.ms": 1000}


class Native(Protocol):
    """What every confluent-kafka client has and this module calls."""

    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any: ...

    def poll(self, timeout: float = ...) -> Any: ...


NativeT = TypeVar("NativeT", bound=Native)


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


class ClientState(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Closing:
    """The one context-manager protocol of everything that has ``close()``.

    ``with x:`` closes ``x`` on the way out. When an exception is already in flight, it
    wins: a failure of ``close()`` is logged, not raised over it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except (GovbusError, OSError) as failure:  # the in-flight exception wins
            log.warning("closing %s after %s failed too: %s", type(self).__name__, exc, failure)


@dataclass(frozen=True)
class Health:
    """The last error librdkafka reported through ``error_cb`` (None when healthy)."""

    last_error: str | None
    fatal: bool
    errors_seen: int


@dataclass(frozen=True)
class TopicMetadata:
    """One topic as the broker describes it to this client.

    ``error``: why the topic cannot be used (``UNKNOWN_TOPIC_OR_PART``,
    ``TOPIC_AUTHORIZATION_FAILED``), converted; None when it can."""

    name: str
    partitions: tuple[int, ...]
    error: KafkaError | None = None

    @property
    def readable(self) -> bool:
        return self.error is None and bool(self.partitions)


class ClientBase(Closing, Generic[NativeT]):
    """Configuration, state, health and failure conversion, shared by Producer, Consumer
    and Admin. Subclasses say how the native client is made (``_open``) and shut
    (``_shut``)."""

    DEFAULTS: Mapping[str, Any] = {}
    #: What the client is called in messages.
    KIND = "client"
    #: Whether ``poll(0)`` only serves callbacks (Producer, Admin); a consumer's would
    #: consume a message, so it learns of its connection problems in ``consume()`` only.
    SERVES_CALLBACKS = True

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._state = ClientState.UNOPENED
        self._inner: NativeT | None = None
        self._closing = False
        self._last_error: confluent_kafka.KafkaError | None = None
        self._errors_seen = 0
        self._evidence = Evidence(config)
        self._log_sink = LogSink(self._evidence, rdkafka_log)

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def config(self) -> dict[str, Any]:
        """The effective configuration, secrets redacted."""
        return redact(self._config)

    @property
    def client(self) -> NativeT:
        """The confluent-kafka client, made on first use; for the kafkaclient package only
        (everything else uses the typed methods)."""
        if self._state is ClientState.CLOSED:
            raise ClientClosedError(
                f"this {self.KIND} was closed: a closed client is never reopened, make a new one"
            )
        if self._inner is None:
            try:
                self._inner = self._open(self._client_config())
            except confluent_kafka.KafkaException as exc:
                raise convert(exc, f"creating {self.KIND}") from exc
            self._state = ClientState.OPENED
        return self._inner

    def _open(self, config: dict[str, Any]) -> NativeT:
        raise NotImplementedError

    def _shut(self, native: NativeT) -> None:
        """Release the native client (nothing by default: it goes with its last reference)."""

    def close(self) -> None:
        """Release the client; idempotent. Using it afterwards raises ClientClosedError.

        The client stays usable while it shuts: a consumer's revoke callback, run by the
        native ``close()``, may still commit through this wrapper."""
        if self._state is ClientState.CLOSED or self._closing:
            return
        self._closing = True
        try:
            if self._inner is not None:
                self._shut(self._inner)
        finally:
            self._inner = None
            self._state = ClientState.CLOSED
            self._closing = False

    def __enter__(self) -> Self:
        if self._state is ClientState.CLOSED:
            raise ClientClosedError(f"this {self.KIND} was closed: make a new one")
        return self

    # -- callbacks -----------------------------------------------------------------------
    def _client_config(self) -> dict[str, Any]:
        return {**self._config, "error_cb": self._on_error, "logger": self._log_sink}

    def _on_error(self, err: confluent_kafka.KafkaError) -> None:
        self._last_error = err
        self._errors_seen += 1
        self._evidence.error(err)
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

    # -- metadata ------------------------------------------------------------------------
    def topic(self, name: str, timeout_s: float = METADATA_TIMEOUT_S) -> TopicMetadata:
        """``name`` as the broker describes it to this client (partitions, or why not)."""
        found = self._metadata(f"metadata of {name}", timeout_s, name).topics.get(name)
        if found is None:
            return TopicMetadata(
                name, (), KafkaError(f"{name} is not in the metadata", code="UNKNOWN_TOPIC_OR_PART")
            )
        error = None if found.error is None else convert(found.error, f"topic {name}")
        return TopicMetadata(name, tuple(sorted(found.partitions)), error)

    def _metadata(self, what: str, timeout_s: float, topic: str | None = None) -> Any:
        """One metadata request (of ``topic`` alone when named); a failure raises as
        :meth:`_failed` explains it, named ``what``."""
        began = time.monotonic()
        try:
            return self.client.list_topics(topic, timeout=timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise self._failed(exc, what, began) from exc

    # -- failures ------------------------------------------------------------------------
    def _failed(
        self, exc: BaseException | confluent_kafka.KafkaError, what: str, since: float = 0.0
    ) -> KafkaError:
        """``exc`` converted; when it is a connection failure, the cause instead (wrong or
        missing credentials, nothing listening), chained by the caller's ``raise from``."""
        return self._explain(convert(exc, what), since)

    def _explain(self, error: KafkaError, since: float = 0.0) -> KafkaError:
        if error.code not in CONNECTION_CODES:
            return error
        if self.SERVES_CALLBACKS and self._inner is not None:
            self._serve_callbacks()
        verdict = self._evidence.verdict(since, final=True) or probe(self._config)
        return verdict or error

    def _serve_callbacks(self) -> None:
        """Deliver queued error and log callbacks (Producer and Admin: ``poll(0)``)."""
        self.client.poll(0)
