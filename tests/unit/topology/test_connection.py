"""How govbus processes find the broker and its credentials (issue 7: no anonymous access)."""

from __future__ import annotations

from pathlib import Path

from base.settings import Settings
from topology.connection import connected


def test_a_configured_broker_is_used_as_configured(tmp_path: Path) -> None:
    settings = Settings.load(
        environ={"GOVBUS_HOME": str(tmp_path), "GOVBUS_BOOTSTRAP": "kafka.example:9092"}
    )
    assert connected(settings) == settings


def test_no_broker_configured_or_running_leaves_settings_without_bootstrap(
    tmp_path: Path,
) -> None:
    settings = Settings.load(environ={"GOVBUS_HOME": str(tmp_path)})
    got = connected(settings)
    assert got.bootstrap == "" and dict(got.kafka) == {}


def test_kafka_entries_come_from_the_environment_for_containers(tmp_path: Path) -> None:
    """docker-compose hands the administrator's password in as an environment variable."""
    toml = tmp_path / "govbus.toml"
    toml.write_text('[kafka]\n"client.id" = "from-toml"\n"sasl.mechanism" = "SCRAM-SHA-512"\n')
    settings = Settings.load(
        environ={
            "GOVBUS_HOME": str(tmp_path),
            "GOVBUS_CONFIG": str(toml),
            "GOVBUS_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "GOVBUS_KAFKA__SASL_MECHANISM": "PLAIN",
            "GOVBUS_KAFKA__SASL_PASSWORD": "pw",
            "GOVBUS_KAFKA__": "ignored: no key",
        }
    )
    assert dict(settings.kafka) == {
        "client.id": "from-toml",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",  # the environment wins over the file
        "sasl.password": "pw",
    }
