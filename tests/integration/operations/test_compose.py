"""docker-compose.yml: the same stack for people with Docker, wired consistently."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from base.settings import KAFKA_VERSION
from operations.broker.sizing import broker_size, heap_mib, partitions
from tests.support.compose import ROOT, _compose, _no_duplicates, _StrictLoader, _with

_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


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


def _configured(tmp_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Run the compose broker's configuration step (its `kafka-config` command, in
    process, paths moved under tmp_path): its JSON answer and the properties it wrote."""
    from typer.testing import CliRunner

    from govbus.cli.main import app

    argv = _with(
        _compose()["services"]["kafka-config"]["command"],
        {"--out": str(tmp_path / "config"), "--ca-dir": str(tmp_path / "ca")},
    )
    env = {"GOVBUS_ADMIN_PASSWORD": "a" * 43, "GOVBUS_CONTROLLER_PASSWORD": "c" * 43}
    done = CliRunner().invoke(app, [*argv, "--json"], env=env)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    lines = Path(report["properties"]).read_text().splitlines()
    return report, dict(line.split("=", 1) for line in lines)


def test_kafka_is_kraft_same_release_and_single_node_safe(tmp_path: Path) -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    _, props = _configured(tmp_path)
    assert props["process.roles"] == "broker,controller"
    assert not any("zookeeper" in k for k in props)
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.dirs"] == "/var/lib/kafka/data"  # the kafka-data volume
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]
    advertised = dict(a.split("://") for a in props["advertised.listeners"].split(","))
    for name, svc in services.items():
        if name.startswith("govbus-") and "GOVBUS_BOOTSTRAP" in svc["environment"]:
            # Every administering govbus service reaches the broker at the advertised address.
            assert svc["environment"]["GOVBUS_BOOTSTRAP"] == advertised["ADMIN"]
            assert "postgres:5432" in svc["environment"]["GOVBUS_DATABASE_URL"]
    # The processors' principal is made for the internal agency listener, which new
    # credentials are checked through; agencies are handed the published one.
    access = services["govbus-access"]["environment"]
    assert access["GOVBUS_AGENCY_BOOTSTRAP"] == advertised["AGENCY"]
    assert access["GOVBUS_AGENCY_PROBE_BOOTSTRAP"] == advertised["AGENCY"]
    external = services["govbus-migrate"]["environment"]["GOVBUS_AGENCY_BOOTSTRAP"]
    assert external == advertised["EXTERNAL"]  # both "${GOVBUS_AGENCY_HOST:-localhost}:9095"


def test_the_broker_runs_on_the_file_govbus_writes() -> None:
    """The image's KAFKA_* translation is not used (its rules changed between releases):
    the broker is formatted and started on the file the kafka-config step writes."""
    services = _compose()["services"]
    kafka, init = services["kafka"], services["kafka-config"]
    out = init["command"][init["command"].index("--out") + 1]
    script = kafka["command"][-1]
    assert f"--config {out}/server.properties" in script
    assert script.rstrip().endswith(f"kafka-server-start.sh {out}/server.properties")
    assert not [
        k for k in kafka["environment"] if k.startswith("KAFKA_") and k != "KAFKA_HEAP_OPTS"
    ]
    assert f"kafka-config:{out}:ro" in kafka["volumes"]
    assert f"kafka-config:{out}" in init["volumes"]
    assert kafka["depends_on"]["kafka-config"]["condition"] == "service_completed_successfully"
    assert init["user"].split(":")[0] == "1000"  # apache/kafka's appuser reads the 0600 files


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


def test_every_broker_listener_authenticates_and_passwords_come_from_the_environment(
    tmp_path: Path,
) -> None:
    """Issue 7 in compose too: no PLAINTEXT listener, no anonymous super user, agencies on
    SASL_SSL; administering services log in as govbus-admin with the operator's password,
    the processors as their own principal with no admin password in their environment."""
    services = _compose()["services"]
    report, props = _configured(tmp_path)
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert protocols == {
        "ADMIN": "SASL_PLAINTEXT",
        "CONTROLLER": "SASL_PLAINTEXT",
        "AGENCY": "SASL_SSL",
        "EXTERNAL": "SASL_SSL",
    }
    assert props["inter.broker.listener.name"] == "ADMIN"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "ANONYMOUS" not in props["super.users"]
    for listener in ("agency", "external"):
        assert props[f"listener.name.{listener}.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert {"kafka", "localhost"} <= set(report["subject_names"])
    for name in ("GOVBUS_ADMIN_PASSWORD", "GOVBUS_CONTROLLER_PASSWORD"):
        assert services["kafka-config"]["environment"][name] == f"${{{name}:?set {name}}}"
    for name, svc in services.items():
        if not name.startswith("govbus-"):
            continue
        client = svc["environment"]
        if name == "govbus-processor":
            assert not [k for k in client if k.startswith("GOVBUS_KAFKA__")]
            assert client["GOVBUS_CREDENTIALS_FILE"].startswith("/var/lib/govbus/secrets/")
            continue
        assert client["GOVBUS_KAFKA__SASL_USERNAME"] == "govbus-admin"
        assert client["GOVBUS_KAFKA__SASL_PASSWORD"].startswith("${GOVBUS_ADMIN_PASSWORD:?")
    # Only the EXTERNAL agency listener leaves the compose network.
    external_port = props["listeners"].split("EXTERNAL://:")[1].split(",")[0]
    assert services["kafka"]["ports"] == [f"{external_port}:{external_port}"]


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


def test_broker_configure_refuses_missing_or_unusable_passwords(tmp_path: Path) -> None:
    """A password that would break the JAAS string, or none, is refused and nothing is
    written (the broker would otherwise start without its administrator)."""
    from typer.testing import CliRunner

    from govbus.cli.main import app

    argv = ["broker", "configure", "--out", str(tmp_path / "c"), "--ca-dir", str(tmp_path / "ca")]
    cases = [
        ({"GOVBUS_CONTROLLER_PASSWORD": "c" * 43}, "GOVBUS_ADMIN_PASSWORD"),
        ({"GOVBUS_ADMIN_PASSWORD": 'a"b' * 10, "GOVBUS_CONTROLLER_PASSWORD": "c" * 43}, "quotes"),
        ({"GOVBUS_ADMIN_PASSWORD": "a" * 43, "GOVBUS_CONTROLLER_PASSWORD": "short"}, "16"),
    ]
    for env, named in cases:
        full = {"GOVBUS_ADMIN_PASSWORD": "", "GOVBUS_CONTROLLER_PASSWORD": "", **env}
        done = CliRunner().invoke(app, [*argv, "--json"], env=full)
        assert done.exit_code == 1, done.output
        assert named in json.loads(done.stdout)["error"]
        assert not (tmp_path / "c").exists() and not (tmp_path / "ca").exists()


def test_the_broker_is_sized_for_a_city() -> None:
    """Issue 19 item 4: the compose broker holds a 2,000-entry, 200-agency city
    (operations/broker/sizing.py): its heap, and open files for several segments per
    partition (a partition written to rolls a segment every 7 days, and the bus keeps them)."""
    kafka = _compose()["services"]["kafka"]
    city = broker_size(partitions(2000, 200, serve=True), segments_per_partition=4)
    opts = {o[:4]: o[4:] for o in kafka["environment"]["KAFKA_HEAP_OPTS"].split()}
    assert heap_mib(opts["-Xmx"]) >= city.heap_mib
    assert heap_mib(opts["-Xms"]) <= heap_mib(opts["-Xmx"])
    nofile = kafka["ulimits"]["nofile"]
    assert nofile["soft"] == nofile["hard"] >= city.open_files
