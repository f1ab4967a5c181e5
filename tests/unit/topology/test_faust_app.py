"""faust-streaming (aiokafka) on the project's broker: the app creates its own topics and
processes a message, authenticated with the credentials of its environment; librdkafka
settings become faust credentials (topology.faust_auth)."""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from base.errors import ConfigError
from operations.broker.tls import ensure_tls
from topology.faust_app import create_app
from topology.faust_auth import broker_credentials, worker_connection

SECRET = "s3cret-never-shown"


PLAIN = {
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "PLAIN",
    "sasl.username": "govbus-admin",
    "sasl.password": SECRET,
}


def test_no_security_protocol_means_no_credentials() -> None:
    assert broker_credentials(None) is None
    assert broker_credentials({"client.id": "x", "security.protocol": "plaintext"}) is None


def test_sasl_plaintext_plain_becomes_faust_sasl_credentials() -> None:
    creds = broker_credentials(PLAIN)
    assert isinstance(creds, faust.SASLCredentials)
    assert SECRET not in repr(creds)
    assert credentials_to_aiokafka_auth(creds) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "govbus-admin",
        "sasl_plain_password": SECRET,
        "ssl_context": None,
    }
    # librdkafka's alias sasl.mechanisms and lower-case values are read as librdkafka does.
    alias = {**PLAIN, "security.protocol": "sasl_plaintext", "sasl.mechanism": ""}
    creds = broker_credentials({**alias, "sasl.mechanisms": "scram-sha-256"})
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.mechanism.value == "SCRAM-SHA-256"


def test_sasl_ssl_scram_trusts_the_configured_ca_and_checks_the_host(tmp_path: Path) -> None:
    tls = ensure_tls(tmp_path / "tls", ["127.0.0.1"])
    config = {
        **PLAIN,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.ca.location": str(tls.ca_cert),
    }
    creds = broker_credentials(config)
    assert isinstance(creds, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    context = auth["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1
    relaxed = broker_credentials({**config, "ssl.endpoint.identification.algorithm": "none"})
    assert isinstance(relaxed, faust.SASLCredentials) and relaxed.ssl_context is not None
    assert not relaxed.ssl_context.check_hostname
    only_tls = broker_credentials({"security.protocol": "SSL", "ssl.ca.location": str(tls.dir)})
    assert isinstance(only_tls, faust.SSLCredentials)


@pytest.mark.parametrize(
    "config",
    [
        {**PLAIN, "security.protocol": "SASL_WHATEVER"},
        {**PLAIN, "sasl.mechanism": "GSSAPI"},
        {**PLAIN, "sasl.mechanism": "OAUTHBEARER"},
        {k: v for k, v in PLAIN.items() if k != "sasl.mechanism"},
        {**PLAIN, "sasl.password": ""},
        {**PLAIN, "sasl.username": ""},
        {**PLAIN, "security.protocol": "SASL_SSL", "ssl.keystore.location": "/k.p12"},
        {**PLAIN, "security.protocol": "SASL_SSL", "ssl.ca.location": "/nonexistent/ca.crt"},
        {**PLAIN, "security.protocol": "SSL", "ssl.certificate.location": "/c.pem"},
    ],
)
def test_settings_faust_cannot_use_are_refused_without_the_password(
    config: dict[str, str],
) -> None:
    with pytest.raises(ConfigError) as err:
        broker_credentials(config)
    assert SECRET not in str(err.value)


def test_create_app_carries_the_credentials() -> None:
    app = create_app("127.0.0.1:1", app_id=f"test-{uuid.uuid4().hex}", kafka_config=PLAIN)
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.broker_credentials.username == "govbus-admin"
    plain = create_app("127.0.0.1:1", app_id=f"test-{uuid.uuid4().hex}")
    assert plain.conf.broker_credentials is None


@pytest.mark.usefixtures("unconfigured")
def test_worker_connection_reads_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing configured, no local broker running under this home.
    assert worker_connection("kafka.example:9092") == ("kafka.example:9092", {})
    with pytest.raises(ConfigError):
        worker_connection("")
    # Settings from the environment are used for whatever --bootstrap says.
    monkeypatch.setenv("GOVBUS_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    assert worker_connection("kafka.example:9092")[1] == {"security.protocol": "SASL_PLAINTEXT"}
    monkeypatch.delenv("GOVBUS_KAFKA__SECURITY_PROTOCOL")
