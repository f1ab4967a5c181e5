"""faust-streaming (aiokafka) on the project's broker: the app creates its own topics and
processes a message, authenticated with the credentials of its environment; librdkafka
settings become faust credentials (topology.faust_auth)."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaClient
from conftest import BrokerSource
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from base.credentials import read_client_config
from base.errors import ConfigError
from kafkaclient import Admin, Consumer, Producer
from operations.broker.tls import ensure_tls
from topology.faust_app import create_app
from topology.faust_auth import broker_credentials, worker_connection

#: A faust worker joins its group and creates its topics in a few seconds on 2 cores.
WORKER_READY_TIMEOUT_S = 90.0
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


def test_worker_connection_reads_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GOVBUS_BOOTSTRAP", "GOVBUS_CREDENTIALS_FILE", "GOVBUS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVBUS_HOME", str(tmp_path))
    # Nothing configured, no local broker running under this home.
    assert worker_connection("kafka.example:9092") == ("kafka.example:9092", {})
    with pytest.raises(ConfigError):
        worker_connection("")
    # Settings from the environment are used for whatever --bootstrap says.
    monkeypatch.setenv("GOVBUS_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    assert worker_connection("kafka.example:9092")[1] == {"security.protocol": "SASL_PLAINTEXT"}
    monkeypatch.delenv("GOVBUS_KAFKA__SECURITY_PROTOCOL")

    # With a running local broker, its administrator goes to its own address only:
    # topology.connection.connected, tested on a real broker in tests/test_broker_cli.py.


def test_faust_credentials_pass_the_sasl_ssl_agency_listener(broker: BrokerSource) -> None:
    """SCRAM-SHA-512 over TLS, the project's CA: aiokafka with the converted processor
    credentials fetches the cluster's metadata from the agency listener."""
    if not broker.processor_credentials:
        pytest.fail("the session broker has no processor credentials (issue 7)", pytrace=False)
    config = read_client_config(Path(broker.processor_credentials))
    bootstrap = config.pop("bootstrap.servers")
    auth = credentials_to_aiokafka_auth(broker_credentials(config))
    assert auth["security_protocol"] == "SASL_SSL"

    async def brokers() -> int:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, **auth)
        try:
            await client.bootstrap()
            return len(client.cluster.brokers())
        finally:
            await client.close()

    assert asyncio.run(brokers()) >= 1


def test_faust_app_creates_topics_and_processes(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path, group_id: str
) -> None:
    """The worker gets only the address on its command line; its credentials come from
    GOVBUS_CREDENTIALS_FILE in its environment (the session's administrator)."""
    suffix = uuid.uuid4().hex
    ping_topic, ack_topic = f"test.ping.{suffix}", f"test.ack.{suffix}"
    app_id = f"test-faust-{suffix}"
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "topology.faust_app",
            "--bootstrap",
            bootstrap,
            "--app-id",
            app_id,
            "--data-dir",
            str(tmp_path / "data"),
            "--ping-topic",
            ping_topic,
            "--ack-topic",
            ack_topic,
            "worker",
            "-l",
            "warn",
            "--without-web",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        admin = Admin(bootstrap, extra_config=kafka_config)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline and not {ping_topic, ack_topic} <= set(admin.topics()):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        topics = admin.topics()
        # faust created its source topic and its own internal topics (not auto-created).
        assert ping_topic in topics
        assert ack_topic in topics
        with Producer(bootstrap, extra_config=kafka_config) as producer:
            producer.produce(ping_topic, "你好 govbus".encode())
        got = []
        with Consumer(bootstrap, group_id, extra_config=kafka_config) as consumer:
            consumer.subscribe([ack_topic])
            while time.monotonic() < deadline and not got:
                got = consumer.consume(1, timeout_s=1.0)
        assert got, (tmp_path / "worker.log").read_text()
        ack = json.loads(got[0].value())
        assert ack["ping"] == "你好 govbus"
        assert ack["seen_by"] == app_id
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
