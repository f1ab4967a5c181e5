"""Why a client cannot talk to the broker, in words a person can act on.

librdkafka reports a connection problem as a bare ``_TRANSPORT``, ``_ALL_BROKERS_DOWN`` or
``_TIMED_OUT`` after the operation's whole time budget; the cause is only in its error and
log callbacks. :class:`Evidence` collects those (every wrapped client feeds its own) and
:meth:`Evidence.verdict` names the cause and the fix:

* the broker refused the credentials (``_AUTHENTICATION``): :class:`AuthenticationError`,
  conclusive at once;
* the broker closes every connection before answering, and no credentials are configured
  (a SASL listener drops an unauthenticated client): :class:`AuthenticationError`,
  conclusive after :data:`CLOSES_CONCLUSIVE` closes with no refusal in between (a broker
  that shuts down closes each connection once, then refuses);
* a TLS handshake failed (``_SSL``): :class:`AuthenticationError` naming the CA setting;
* the connection is refused or the host unknown: :class:`BrokerUnreachableError`, only as
  the final answer of a failed operation (a restarting broker refuses for a while, and
  whoever waits for it should keep waiting until their deadline).

:func:`probe` asks the same question with a short-lived admin client, for a consumer
whose callbacks are served only by ``consume()``.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient

from base.errors import AuthenticationError, BrokerUnreachableError, KafkaError

#: Unauthenticated connections are closed at once (every ~50 ms, librdkafka's reconnect
#: backoff); this many closes since the operation began, none refused, is conclusive.
CLOSES_CONCLUSIVE = 5
#: How long :func:`probe` may take (a connection problem shows within a few reconnects).
PROBE_S = 3.0
_PROBE_POLL_S = 0.05
#: Evidence kept per client (the newest).
_KEPT = 200
#: librdkafka error names that say "could not talk to the broker": worth a diagnosis.
CONNECTION_CODES = frozenset(
    {"_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "REQUEST_TIMED_OUT", "_AUTHENTICATION"}
    | {"_SSL", "_RESOLVE"}
)
#: The settings a connection needs; everything else stays out of a probe's config.
_CONNECTION_PREFIXES = (
    "bootstrap.servers",
    "security.protocol",
    "sasl.",
    "ssl.",
    "ssl_",
    "enable.ssl.",
    "socket.",
    "broker.address.",
    "client.id",
)
_CLOSED = "connection closed by peer"
_REFUSED = re.compile(r"Connection refused|Failed to resolve|Name or service not known")


@dataclass(frozen=True)
class _Seen:
    at: float
    kind: str  # auth, closed, refused, tls
    detail: str


class Evidence:
    """What librdkafka told one client about its connections (no secret is kept)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.bootstrap = str(config.get("bootstrap.servers") or "")
        self.protocol = str(config.get("security.protocol") or "plaintext").upper()
        self.user = str(config.get("sasl.username") or "")
        self._seen: deque[_Seen] = deque(maxlen=_KEPT)

    # -- feeding (error_cb and the log callback) -----------------------------------------
    def error(self, err: confluent_kafka.KafkaError) -> None:
        name, text = str(err.name()), str(err.str())
        if name == "_AUTHENTICATION":
            self._add("auth", text)
        elif name == "_SSL":
            self._add("tls", text)
        elif name in ("_TRANSPORT", "_RESOLVE") and _REFUSED.search(text):
            self._add("refused", text)

    def log_line(self, facility: str, text: str) -> None:
        if facility == "FAIL" and _CLOSED in text:
            self._add("closed", text)
        elif facility == "FAIL" and _REFUSED.search(text):
            self._add("refused", text)

    def _add(self, kind: str, detail: str) -> None:
        self._seen.append(_Seen(time.monotonic(), kind, detail))

    # -- judging -------------------------------------------------------------------------
    def verdict(self, since: float = 0.0, *, final: bool = False) -> KafkaError | None:
        """The cause shown since ``since`` (monotonic), as the error to raise; None when
        nothing is conclusive. ``final``: the operation failed, so a refused connection
        is the answer too."""
        seen = [s for s in self._seen if s.at >= since]
        kinds = {s.kind for s in seen}
        if "auth" in kinds:
            return self._refused_credentials(_last(seen, "auth"))
        if "tls" in kinds:
            return self._tls(_last(seen, "tls"))
        closes = sum(1 for s in seen if s.kind == "closed")
        if closes >= CLOSES_CONCLUSIVE and "refused" not in kinds:
            return self._closed_every_time()
        if final and "refused" in kinds:
            return self._nothing_answers(_last(seen, "refused"))
        return None

    def _refused_credentials(self, detail: str) -> AuthenticationError:
        who = f"user {self.user!r}" if self.user else "the configured user"
        return AuthenticationError(
            f"the broker at {self.bootstrap} refused the credentials of {who} (wrong user name "
            f"or password): check them in GOVBUS_CREDENTIALS_FILE; an agency's password is "
            f"renewed by `govbus agency rotate-password <agency>` [{_brief(detail)}]",
            code="_AUTHENTICATION",
        )

    def _tls(self, detail: str) -> AuthenticationError:
        return AuthenticationError(
            f"the TLS handshake with {self.bootstrap} failed: point ssl.ca.location "
            f"(GOVBUS_CA_LOCATION) at the CA that issued the broker's certificate "
            f"[{_brief(detail)}]",
            code="_SSL",
        )

    def _closed_every_time(self) -> AuthenticationError:
        if "SASL" not in self.protocol and "SSL" not in self.protocol:
            return AuthenticationError(
                f"the broker at {self.bootstrap} closes connections without credentials: set "
                f"GOVBUS_CREDENTIALS_FILE to your credentials file (written by `govbus agency "
                f"add --credentials-file`), or unset GOVBUS_BOOTSTRAP to use the local broker",
                code="no_credentials",
            )
        return AuthenticationError(
            f"the broker at {self.bootstrap} closes every {self.protocol} connection: its "
            f"listener expects another protocol; use the bootstrap address and settings of "
            f"your credentials file",
            code="protocol_mismatch",
        )

    def _nothing_answers(self, detail: str) -> BrokerUnreachableError:
        return BrokerUnreachableError(
            f"nothing answers at {self.bootstrap}: start the broker (`govbus broker start`) "
            f"or correct the address (--bootstrap, GOVBUS_BOOTSTRAP) [{_brief(detail)}]",
            code="_TRANSPORT",
            retriable=True,
        )


class LogSink:
    """librdkafka's ``logger``: forwards to a Python logger and feeds :class:`Evidence`.

    confluent-kafka calls ``log(level, "%s [%s] %s", facility, client name, text)``."""

    def __init__(self, evidence: Evidence, forward: Any) -> None:
        self._evidence = evidence
        self._forward = forward

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if len(args) == 3:
            self._evidence.log_line(str(args[0]), str(args[2]))
        self._forward.log(level, fmt, *args)


def connection_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Only the settings that make a connection (no group, no producer settings)."""
    return {k: v for k, v in config.items() if k.startswith(_CONNECTION_PREFIXES)}


def probe(config: Mapping[str, Any], budget_s: float = PROBE_S) -> KafkaError | None:
    """Connect with ``config``'s connection settings for up to ``budget_s``; the cause when
    the broker cannot be talked to, None when it answers (or nothing is conclusive)."""
    evidence = Evidence(config)
    sink = LogSink(evidence, _Quiet())
    settings: dict[str, Any] = {
        **connection_config(config),
        "error_cb": evidence.error,
        "logger": sink,
    }
    try:
        admin = AdminClient(settings)
    except confluent_kafka.KafkaException:
        return None
    began = time.monotonic()
    future = admin.describe_cluster(request_timeout=budget_s)
    while not future.done() and time.monotonic() - began < budget_s:
        admin.poll(_PROBE_POLL_S)
        # The operation failed already: a refused connection is an answer here.
        verdict = evidence.verdict(began, final=True)
        if verdict is not None:
            return verdict
    admin.poll(0)
    if future.done() and future.exception() is None:
        return None
    return evidence.verdict(began, final=True)


class _Quiet:
    def log(self, *_args: Any) -> None:
        return None


def _last(seen: list[_Seen], kind: str) -> str:
    return next(s.detail for s in reversed(seen) if s.kind == kind)


def _brief(detail: str) -> str:
    """librdkafka's message without the thread prefix, on one line."""
    text = detail.split("]: ", 1)[-1] if detail.startswith("[thrd:") else detail
    return " ".join(text.split())[:200]
