"""librdkafka client settings -> faust-streaming (aiokafka) broker credentials.

govbus keeps every client's connection as librdkafka settings (``Settings.kafka``, a
credentials file, :func:`topology.connection.connected`); faust connects with aiokafka,
which takes a :class:`faust.SASLCredentials` (or :class:`faust.SSLCredentials`) instead.
:func:`broker_credentials` converts:

=================  =====================================================================
security.protocol  faust credentials
=================  =====================================================================
(unset) PLAINTEXT  None: no authentication
SSL                ``SSLCredentials`` with the context of the ``ssl.*`` settings
SASL_PLAINTEXT     ``SASLCredentials``: ``sasl.mechanism`` PLAIN, SCRAM-SHA-256/512
SASL_SSL           the same with the ``ssl.*`` context (``ssl.ca.location``/``ssl.ca.pem``,
                   client certificate, ``ssl.endpoint.identification.algorithm``)
=================  =====================================================================

Anything aiokafka cannot be given this way (GSSAPI, OAUTHBEARER, PKCS#12 keystores, PEM
strings of client keys) is refused with a :class:`base.errors.ConfigError` that names
the setting, never its value. No I/O at import.

:func:`worker_connection` is what a faust or quix entry point (a subprocess) uses to find
its broker and settings: ``--bootstrap`` (else the configured or local broker) and the
librdkafka settings of :meth:`base.settings.Settings.load`, so secrets come from the
environment (``GOVBUS_CREDENTIALS_FILE``), never from a command line.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path

import faust
from faust.types.auth import CredentialsT

from base.errors import ConfigError
from base.settings import Settings
from topology.connection import connected

PLAINTEXT = "PLAINTEXT"
SSL = "SSL"
SASL_PLAINTEXT = "SASL_PLAINTEXT"
SASL_SSL = "SASL_SSL"
PROTOCOLS = (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)
#: The SASL mechanisms aiokafka can run with a username and a password.
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: librdkafka's ``ssl.ca.location`` value that means "the system's trust store".
CA_PROBE = "probe"
#: librdkafka settings of a client key or store that aiokafka's SSL context cannot take.
UNSUPPORTED_SSL_KEYS = ("ssl.keystore.location", "ssl.key.pem", "ssl.certificate.pem")


def _setting(config: Mapping[str, str], *keys: str) -> str:
    """The first non-empty value of ``keys`` (librdkafka aliases), else ''."""
    for key in keys:
        value = config.get(key)
        if value:
            return str(value).strip()
    return ""


def _is_false(value: str) -> bool:
    return value.lower() in ("false", "0", "no", "off")


def ssl_context(config: Mapping[str, str]) -> ssl.SSLContext:
    """The TLS client context librdkafka would build from the ``ssl.*`` settings."""
    for key in UNSUPPORTED_SSL_KEYS:
        if config.get(key):
            raise ConfigError(f"faust (aiokafka) cannot use the librdkafka setting {key}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        _load_trusted(context, config)
        _load_client_certificate(context, config)
    except (OSError, ssl.SSLError) as exc:
        # The message names files, never the key password.
        raise ConfigError(f"cannot load the TLS material of the Kafka settings: {exc}") from exc
    if _setting(config, "ssl.endpoint.identification.algorithm").lower() == "none":
        context.check_hostname = False
    if _is_false(_setting(config, "enable.ssl.certificate.verification")):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_trusted(context: ssl.SSLContext, config: Mapping[str, str]) -> None:
    """As librdkafka: a configured CA is the only one trusted; else the system's store."""
    ca_location = _setting(config, "ssl.ca.location")
    ca_pem = _setting(config, "ssl.ca.pem")
    if (not ca_location and not ca_pem) or ca_location == CA_PROBE:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if ca_location and ca_location != CA_PROBE:
        ca = Path(ca_location).expanduser()
        if ca.is_dir():
            context.load_verify_locations(capath=str(ca))
        else:
            context.load_verify_locations(cafile=str(ca))
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)


def _load_client_certificate(context: ssl.SSLContext, config: Mapping[str, str]) -> None:
    """The client's own certificate and key (mutual TLS), when configured."""
    certificate = _setting(config, "ssl.certificate.location")
    key = _setting(config, "ssl.key.location")
    if not (certificate or key):
        return
    if not (certificate and key):
        raise ConfigError("ssl.certificate.location and ssl.key.location must be given together")
    context.load_cert_chain(certificate, key, password=_setting(config, "ssl.key.password") or None)


def broker_credentials(config: Mapping[str, str] | None) -> CredentialsT | None:
    """faust's ``broker_credentials`` for librdkafka ``config`` (None: no authentication)."""
    config = config or {}
    protocol = (_setting(config, "security.protocol") or PLAINTEXT).upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"security.protocol must be one of {', '.join(PROTOCOLS)}")
    if protocol == PLAINTEXT:
        return None
    context = ssl_context(config) if protocol in (SSL, SASL_SSL) else None
    if context is not None and protocol == SSL:
        return faust.SSLCredentials(context)
    mechanism = _setting(config, "sasl.mechanism", "sasl.mechanisms").upper()
    if mechanism not in MECHANISMS:
        raise ConfigError(
            f"{protocol} needs sasl.mechanism one of {', '.join(MECHANISMS)} for faust "
            f"(aiokafka), not {mechanism or 'unset'}"
        )
    username = _setting(config, "sasl.username")
    password = config.get("sasl.password") or ""
    if not username or not password:
        raise ConfigError(f"{protocol} with {mechanism} needs sasl.username and sasl.password")
    return faust.SASLCredentials(
        username=username, password=password, mechanism=mechanism, ssl_context=context
    )


def worker_connection(bootstrap: str = "") -> tuple[str, dict[str, str]]:
    """(bootstrap, librdkafka settings) of a worker process started with ``--bootstrap``.

    The settings are :meth:`Settings.load`'s ``kafka`` (``GOVBUS_CREDENTIALS_FILE``, TOML,
    ``GOVBUS_KAFKA__*``). With nothing configured, the running local broker's administrator
    (:func:`topology.connection.connected`) is used, but only when ``bootstrap`` is empty or
    is that broker's address: its password never goes to another broker.
    """
    resolved = connected(Settings.load(), bootstrap)
    address = resolved.bootstrap
    if not address:
        raise ConfigError(
            "no Kafka broker: pass --bootstrap, set GOVBUS_BOOTSTRAP or GOVBUS_CREDENTIALS_FILE, "
            "or start the local broker (govbus broker start)"
        )
    return address, dict(resolved.kafka)
