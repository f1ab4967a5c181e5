"""Broker-enforced access on the real broker, through the SASL_SSL agency listener.

An agency may use shared data only for its own duties and may not pass it on (G 17, S 29);
the platform authenticates every access (G 24, GM 27). These tests check that the *broker*
refuses: another agency's feed and receipts, writing an entry one is not the source of
(GM 22, S 20), a wrong password, a revoked agency; and that the bus's processors, with their
own principal, keep working through the same listener.
"""

from __future__ import annotations

import stat
from pathlib import Path

from base.credentials import write_credentials
from base.settings import Settings
from operations.access import agency_rules, processor_rules
from operations.broker.tls import ensure_tls
from schemas.topics import TopicKind, topic_name


def test_processor_principal_has_only_bus_rights() -> None:
    """The processors may not read feeds or receipts, nor write submissions or reference
    state; they (the repartition stage) are the only writers of ingest topics."""
    rules = processor_rules()
    reads = {r.name for r in rules if r.operation == "read" and r.resource == "topic"}
    writes = {r.name for r in rules if r.operation == "write" and r.resource == "topic"}
    assert reads == {"govbus.submit.", "govbus.ingest.", "govbus.state."}
    assert "govbus.ingest." in writes
    assert not any(w.startswith("govbus.submit") for w in writes)
    assert "govbus.state." not in writes and "govbus.state.onesource." in writes


def test_an_agency_writes_its_own_submission_topic_only() -> None:
    """GM 22, S 20: the provider is who the broker authenticated: an agency writes one
    topic, literally its own, whatever entries it is the source of; it reads its own feed
    and receipts."""
    rules = agency_rules("city-mca", ["psb.person.basic"])
    assert rules == agency_rules("city-mca")
    writes = {(r.name, r.pattern) for r in rules if r.operation == "write"}
    assert writes == {("govbus.submit.city-mca", "literal")}
    reads = {r.name for r in rules if r.operation == "read" and r.resource == "topic"}
    assert reads == {"govbus.feed.city-mca", "govbus.receipts.city-mca"}


def test_processors_cannot_write_resolutions_of_conflicts() -> None:
    """GM 19: the bureau (administration) closes conflicts, not the processors that raise them.

    No write rule of the processors covers govbus.conflicts.resolved: the conflicts rule is
    literal, and no prefixed write rule is a prefix of the resolutions topic."""
    resolved = topic_name(TopicKind.RESOLVED)
    writes = [r for r in processor_rules() if r.operation == "write" and r.resource == "topic"]
    covering = [
        r
        for r in writes
        if (r.pattern == "literal" and r.name == resolved)
        or (r.pattern == "prefixed" and resolved.startswith(r.name))
    ]
    assert covering == []
    assert any(r.name == topic_name(TopicKind.CONFLICTS) and r.pattern == "literal" for r in writes)


def test_tls_material_is_private_kept_and_names_the_listener(tmp_path: Path) -> None:
    """The CA and broker key are 0600 from the start; a second start keeps the same CA."""
    from cryptography import x509

    files = ensure_tls(tmp_path / "tls", ["127.0.0.1"])
    for key in (files.ca_key, files.broker_pem):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = files.ca_cert.read_bytes()
    chain = x509.load_pem_x509_certificates(files.broker_pem.read_bytes())
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert chain[0].issuer == x509.load_pem_x509_certificate(ca).subject
    assert ensure_tls(tmp_path / "tls", ["127.0.0.1"]).ca_cert.read_bytes() == ca


def test_settings_take_a_credentials_file(tmp_path: Path) -> None:
    path = write_credentials(
        tmp_path / "a.json",
        "User:a",
        {"bootstrap.servers": "h:9094", "sasl.username": "a", "sasl.password": "pw"},
    )
    env = {"GOVBUS_CREDENTIALS_FILE": str(path), "GOVBUS_HOME": str(tmp_path)}
    settings = Settings.load(environ=env)
    assert settings.bootstrap == "h:9094"
    assert settings.kafka["sasl.password"] == "pw" and "bootstrap.servers" not in settings.kafka
    explicit = Settings.load(environ={**env, "GOVBUS_BOOTSTRAP": "other:1"})
    assert explicit.bootstrap == "other:1"
