"""Where the test session's broker came from (built by the ``broker`` fixture)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from operations.broker.cluster import LocalCluster


class RedactedConfig(dict[str, str]):
    """Client settings whose repr hides the password: pytest prints fixture values in a
    failure report, and CI logs must not hold even a test broker's secret."""

    def __repr__(self) -> str:
        return repr({k: "***" if "password" in k else v for k, v in self.items()})


class BrokerSource:
    """Where the session's broker came from, and its bootstrap address.

    ``agency_bootstrap``/``ca_location``: its SASL_SSL agency listener (issue 7), known for
    the local broker or from ``GOVBUS_AGENCY_BOOTSTRAP``/``GOVBUS_CA_LOCATION``;
    ``processor_credentials``: the processors' credentials file (local broker only);
    ``client_config``: the administrator's librdkafka settings without ``bootstrap.servers``;
    ``cluster``: the local cluster itself (``GOVBUS_TEST_CLUSTER=3``), for fault tests."""

    def __init__(  # noqa: PLR0913 - keyword-only, each with a default
        self,
        bootstrap: str,
        kind: str,
        *,
        agency_bootstrap: str = "",
        ca_location: str = "",
        processor_credentials: str = "",
        client_config: dict[str, str] | None = None,
        cluster: LocalCluster | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_config = dict(client_config or {})
        self.kind = kind
        self.agency_bootstrap = agency_bootstrap or os.environ.get("GOVBUS_AGENCY_BOOTSTRAP", "")
        self.ca_location = ca_location or os.environ.get("GOVBUS_CA_LOCATION", "")
        self.processor_credentials = processor_credentials
        self.cluster = cluster


def seed_kafka_runtime(home: Path) -> None:
    """Give ``home`` (a test's fresh ``GOVBUS_HOME``) the session's resolved Kafka jars, so
    that a broker started there skips Maven (each cold resolution is a Maven JVM and a copy
    of ~40 MB). For tests that are not about provisioning; the test of a cold home's first
    start (tests/integration/govbus/test_broker_cli.py) and the unreachable repository's
    keep a home without jars. A link, not a copy: nothing under it is written once
    resolved (its marker file exists)."""
    from base.settings import Settings
    from operations.broker.provision import resolve

    settings = Settings.load()
    runtime = resolve(settings.home, settings.kafka_version)  # a no-op after broker-jars
    target = home / "kafka" / settings.kafka_version
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(runtime.libs.parent, target_is_directory=True)
