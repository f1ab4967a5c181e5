"""docker-compose.yml: the same stack for people with Docker, wired consistently."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from govbus.settings import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[1]


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys, which plain YAML silently resolves to the last one."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    dupes = {k for k in keys if keys.count(k) > 1 and k != "<<"}
    if dupes:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys {dupes}", node.start_mark
        )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _compose() -> dict:
    return yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=_StrictLoader)


def test_services_present() -> None:
    services = _compose()["services"]
    assert {
        "kafka",
        "postgres",
        "prometheus",
        "govbus-migrate",
        "govbus-topics",
        "govbus-faust",
    } <= set(services)


def test_kafka_is_kraft_same_release_and_single_node_safe() -> None:
    kafka = _compose()["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(env)
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
    for name, svc in _compose()["services"].items():
        if name.startswith("govbus-"):
            # Every govbus service reaches the broker at the advertised address.
            assert svc["environment"]["GOVBUS_BOOTSTRAP"] == advertised
            assert "postgres:5432" in svc["environment"]["GOVBUS_DATABASE_URL"]


def test_govbus_services_wait_for_their_dependencies() -> None:
    services = _compose()["services"]
    assert services["govbus-migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["govbus-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert (
        services["govbus-faust"]["depends_on"]["govbus-topics"]["condition"]
        == "service_completed_successfully"
    )
    for svc in ("kafka", "postgres"):
        assert "healthcheck" in services[svc]


def test_no_secret_in_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD: ${GOVBUS_DB_PASSWORD" in text
    pg = _compose()["services"]["postgres"]["environment"]
    assert pg["POSTGRES_PASSWORD"].startswith("${")


def test_every_broker_listener_authenticates_and_passwords_come_from_the_environment() -> None:
    """Issue 7 in compose too: no PLAINTEXT listener, no anonymous super user; the govbus
    services log in as govbus-admin with the password the operator provides."""
    services = _compose()["services"]
    env = services["kafka"]["environment"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert set(protocols) >= {env["KAFKA_INTER_BROKER_LISTENER_NAME"], "CONTROLLER"}
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert "ANONYMOUS" not in env["KAFKA_SUPER_USERS"]
    for listener in ("ADMIN", "CONTROLLER"):
        jaas = env[f"KAFKA_LISTENER_NAME_{listener}_PLAIN_SASL_JAAS_CONFIG"]
        secret = f"${{GOVBUS_{listener}_PASSWORD:?"
        assert jaas.count(secret) == 2  # the broker's own login and the listener's one user
    for name, svc in services.items():
        if name.startswith("govbus-"):
            client = svc["environment"]
            assert client["GOVBUS_KAFKA__SASL_USERNAME"] == "govbus-admin"
            assert client["GOVBUS_KAFKA__SASL_PASSWORD"].startswith("${GOVBUS_ADMIN_PASSWORD:?")
    assert "ports" not in services["kafka"]  # ADMIN stays on the compose network


def test_prometheus_config_is_mounted_and_exists() -> None:
    prom = _compose()["services"]["prometheus"]
    src = prom["volumes"][0].split(":")[0]
    assert (ROOT / src).is_file()
    assert yaml.safe_load((ROOT / src).read_text())["scrape_configs"]


def test_docker_compose_config_when_an_engine_exists() -> None:
    """`docker compose config` validates the file where Docker runs; without an engine the
    structural tests above are the check (`docker compose config` needs no engine, but the
    compose plugin may be absent)."""
    docker = shutil.which("docker")
    if docker is None:
        return
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        return
    done = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={
            "GOVBUS_DB_PASSWORD": "x",
            "GOVBUS_ADMIN_PASSWORD": "x",
            "GOVBUS_CONTROLLER_PASSWORD": "x",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert done.returncode == 0, done.stderr


def test_prometheus_scrapes_govbus_monitor_and_loads_the_rules() -> None:
    services = _compose()["services"]
    monitor = services["govbus-monitor"]
    command = monitor["command"]
    assert command[0] == "monitor" and command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    catalog = command[command.index("--catalog") + 1]
    assert (ROOT / catalog.removeprefix("/app/")).is_file()
    assert monitor["depends_on"]["govbus-topics"]["condition"] == "service_completed_successfully"
    prom = services["prometheus"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in prom["volumes"])
    assert mounts["./monitoring/rules"] == "/etc/prometheus/rules"
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    targets = jobs["govbus-monitor"]["static_configs"][0]["targets"]
    assert targets == [f"govbus-monitor:{port}"]
    [pattern] = config["rule_files"]
    assert pattern.startswith("/etc/prometheus/rules/")
    assert list((ROOT / "monitoring/rules").glob("*.yml"))


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    for src in mounts:
        assert (ROOT / src).exists(), src
    provisioning = ROOT / "monitoring/grafana/provisioning"
    [source] = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards/govbus.yml").read_text())["providers"]
    dashboard = mounts["./monitoring/grafana/govbus.json"]
    assert dashboard.startswith(provider["options"]["path"] + "/")
    doc = json.loads((ROOT / "monitoring/grafana/govbus.json").read_text())
    uids = {t["datasource"]["uid"] for p in doc["panels"] for t in p.get("targets", [])}
    assert uids == {source["uid"]}
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
