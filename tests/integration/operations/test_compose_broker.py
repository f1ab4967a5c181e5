"""The docker-compose broker's security, run for real without Docker (issue 7; G 24, GM 27).

No Docker engine runs here, so the compose file's own steps are run on this machine with
Apache Kafka's jars: the `kafka-config` service's command (`govbus broker configure`), the
`kafka` service's command (format the storage, start the broker on that file), then the
`govbus-access` service's command (the processors' principal). Only paths, ports and host
names are moved (tmp dirs, free loopback ports, `localhost` for `kafka`). The broker must
then admit the administrator on ADMIN, the processors and agencies on the SASL_SSL listeners
(the certificate checked against the project CA and the host name), and nobody without a
credential anywhere.

This test starts a broker of its own: the point is the compose configuration, which the
session broker (the local one) does not use.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from base.credentials import new_password, read_client_config
from base.settings import KAFKA_VERSION, Settings
from kafkaclient import Admin
from operations.access import AccessControl, AgencyListener
from operations.broker.local import free_port
from operations.broker.provision import resolve
from tests.support.cli import json_object
from tests.support.compose import _compose, _with
from tests.support.processes import stop

#: A cold JVM start plus KRaft election on 2 busy cores.
START_TIMEOUT_S = 120.0


PROBE_S = 2.0


def _govbus(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "govbus", *argv, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json_object(done.stdout)


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without the session broker's govbus settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVBUS_")}
    return {**env, "GOVBUS_HOME": str(tmp_path / "home")}


def _kafka_steps(out: Path) -> tuple[list[str], list[str]]:
    """The kafka service's command: (storage format args, server start args), the
    image's config path moved to ``out`` and the cluster id taken from its environment."""
    kafka = _compose()["services"]["kafka"]
    cluster_id = kafka["environment"]["CLUSTER_ID"]
    script = kafka["command"][-1].replace("$$CLUSTER_ID", cluster_id)
    script = script.replace("/mnt/shared/config", str(out))
    fmt, start = (shlex.split(part) for part in script.split("&&"))
    assert fmt[0] == "/opt/kafka/bin/kafka-storage.sh" and fmt[1] == "format"
    assert start[:2] == ["exec", "/opt/kafka/bin/kafka-server-start.sh"]
    return fmt[1:], start[2:]


@pytest.fixture
def compose_broker(tmp_path: Path) -> Iterator[tuple[dict[str, Any], dict[str, str], Path]]:
    """The compose broker, configured and started as compose would: (the configure
    report, the administrator's client config, tmp_path)."""
    out, ca, data = tmp_path / "config", tmp_path / "ca", tmp_path / "data"
    ports = [free_port() for _ in range(4)]
    while len(set(ports)) < 4:
        ports = [free_port() for _ in range(4)]
    # Step 1: the kafka-config one-shot.
    argv = _with(
        _compose()["services"]["kafka-config"]["command"],
        {
            "--out": str(out),
            "--ca-dir": str(ca),
            "--host": "localhost",
            "--external-host": "127.0.0.1",
        },
    )
    argv += ["--data-dir", str(data), "--bind", "127.0.0.1"]
    for option, port in zip(
        ("--admin-port", "--controller-port", "--agency-port", "--external-port"),
        ports,
        strict=True,
    ):
        argv += [option, str(port)]
    admin_password = new_password()
    env = {
        **_clean_env(tmp_path),
        "GOVBUS_ADMIN_PASSWORD": admin_password,
        "GOVBUS_CONTROLLER_PASSWORD": new_password(),
    }
    report = _govbus(argv, env)
    # Step 2: the kafka service: format, then start on the same file, with Kafka's jars.
    java = shutil.which("java")
    assert java, "java is needed to run Kafka"
    runtime = resolve(Settings.load().home, KAFKA_VERSION)
    fmt, start = _kafka_steps(out)
    done = subprocess.run(
        [java, "-cp", runtime.classpath, "kafka.tools.StorageTool", *fmt],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    log4j = resources.files("operations.broker").joinpath("log4j2.properties")
    with (tmp_path / "broker.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                java,
                "-Xmx512m",
                f"-Dlog4j2.configurationFile={log4j}",
                "-cp",
                runtime.classpath,
                "kafka.Kafka",
                *start,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    admin = {
        "bootstrap.servers": report["bootstrap"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "govbus-admin",
        "sasl.password": admin_password,
    }
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not Admin(report["bootstrap"], extra_config=admin).ping(timeout_s=PROBE_S):
            tail = (tmp_path / "broker.log").read_text(errors="replace")[-3000:]
            assert proc.poll() is None, f"the broker exited:\n{tail}"
            assert time.monotonic() < deadline, f"the broker did not answer:\n{tail}"
        yield report, admin, tmp_path
    finally:
        stop(proc)


@pytest.mark.broker
def test_the_compose_broker_admits_credentials_only(
    compose_broker: tuple[dict[str, Any], dict[str, str], Path],
) -> None:
    report, admin, tmp_path = compose_broker
    services = _compose()["services"]
    # Step 3: the govbus-access one-shot makes the processors' principal, as the
    # administrator, for the internal AGENCY listener.
    access = services["govbus-access"]
    secrets = tmp_path / "secrets" / "govbus-processor.json"
    argv = _with(access["command"], {"--credentials-file": str(secrets)})
    env = {
        **_clean_env(tmp_path),
        "GOVBUS_BOOTSTRAP": report["bootstrap"],
        **{f"GOVBUS_KAFKA__{k.upper().replace('.', '_')}": v for k, v in admin.items()},
        "GOVBUS_AGENCY_BOOTSTRAP": report["agency_bootstrap"],
        "GOVBUS_AGENCY_PROBE_BOOTSTRAP": report["agency_bootstrap"],
        "GOVBUS_CA_LOCATION": report["ca_location"],
    }
    env.pop("GOVBUS_KAFKA__BOOTSTRAP_SERVERS")
    made = _govbus(argv, env)
    assert made["principal"] == "User:govbus-processor"
    assert (secrets.stat().st_mode & 0o777) == 0o600
    processor = read_client_config(secrets)
    assert "sasl.password" not in json.dumps(made)
    assert processor["security.protocol"] == "SASL_SSL"
    # The processors log in through TLS (certificate and host name checked) with SCRAM.
    assert Admin(processor["bootstrap.servers"], extra_config=processor).ping(timeout_s=10)

    # An agency gets the published EXTERNAL listener; its credential is checked through the
    # internal one (as `govbus agency add` does inside the compose network).
    agency = AccessControl(
        report["bootstrap"],
        extra_config=admin,
        listener=AgencyListener(
            report["external_bootstrap"], report["ca_location"], report["agency_bootstrap"]
        ),
    ).issue("city-compose", [])
    assert agency["bootstrap.servers"] == report["external_bootstrap"]
    assert Admin(agency["bootstrap.servers"], extra_config=agency).ping(timeout_s=10)

    # Nobody without a credential, on any listener; no wrong password; no agency on ADMIN.
    tls = {"security.protocol": "SSL", "ssl.ca.location": report["ca_location"]}
    for address, config in (
        (report["bootstrap"], {"security.protocol": "PLAINTEXT"}),
        (report["agency_bootstrap"], tls),
        (report["external_bootstrap"], tls),
        (report["bootstrap"], {**admin, "sasl.password": new_password()}),
        (report["external_bootstrap"], {**agency, "sasl.password": new_password()}),
        (
            report["bootstrap"],
            {**admin, "sasl.username": "city-compose", "sasl.password": agency["sasl.password"]},
        ),
    ):
        config = {**config, "bootstrap.servers": address}
        assert not Admin(address, extra_config=config).ping(timeout_s=PROBE_S), config
