"""A local Apache Kafka cluster of three KRaft nodes on loopback (``govbus broker start
--nodes 3``), from the same jars, listeners, TLS and authentication as the single broker
(:mod:`operations.broker.local`).

Each node is a combined broker and controller; the three controllers are the static quorum
(``controller.quorum.voters``), so the cluster keeps a leader, and keeps accepting writes,
when any one node is lost. Topics get three replicas and ``min.insync.replicas=2``
(:class:`schemas.topics.Replication`), internal topics too
(:func:`operations.broker.config.replication_properties`), and no replica that missed
writes is elected leader (``unclean.leader.election.enable=false``).

Layout under ``<home>/broker``: what the nodes share, as for the single broker (``tls/``,
``credentials/``, ``state.json`` with the cluster's bootstrap lists and every node's ports),
and ``node-<id>/`` per node: ``server.properties`` (0600), ``data/``, ``broker.pid``,
``broker.log``. The administrator's credentials file names all three ADMIN listeners, so
every ``govbus`` command on this host reaches the cluster as it reaches the single broker.

Start protocol:

1. If every node runs, report it and start nothing; nodes that do not run are started
   (a node killed by an operator, or by a fault test, rejoins by ``start``).
2. Refuse a home that holds the single broker's storage; check ``java``; resolve the jars.
3. Choose each node's ports: the recorded ones (``state.json``), else free ones; a recorded
   client port another process listens on is refused, as for the single broker.
4. Make (or keep) the TLS material and the shared secrets; write every node's
   ``server.properties``; format every node's storage once, with one cluster id.
5. Start the missing nodes' JVMs, each in its own session, heap capped.
6. Poll until every started node answers on its own listener, every node is a registered
   broker and the controller quorum has a leader.
7. Ensure the processors' principal; write the pid files and ``state.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from subprocess import Popen

from base.broker_files import ADMIN_USER, BrokerFiles
from base.credentials import write_private
from base.errors import BrokerStartError, GovbusError, PortInUseError
from base.settings import Settings
from kafkaclient.admin import Admin
from kafkaclient.quorum import quorum_leader
from operations.access import PROCESSOR_CREDENTIALS, AccessControl, AgencyListener
from operations.broker.config import CONTROLLER_USER, BrokerLayout, Listener, render
from operations.broker.config import server_properties as properties_of
from operations.broker.local import (
    ADMIN_CREDENTIALS,
    CONTROLLER_CREDENTIALS,
    DIR_MODE,
    HOST,
    POLL_INTERVAL_S,
    READY_PROBE_TIMEOUT_S,
    STOP_GRACE_S,
    BrokerStatus,
    LocalBroker,
    free_port,
    new_cluster_id,
    port_is_free,
    terminate,
)
from operations.broker.provision import require_tool, resolve
from operations.broker.tls import TlsFiles, ensure_tls

#: Three cold JVMs and a quorum election on two shared cores.
CLUSTER_START_TIMEOUT_S = 240.0
#: The nodes of ``govbus broker start --nodes 3``.
CLUSTER_NODES = 3
#: Ports clients know a node by: refused, never moved, when another process holds them.
#: The controller's is internal, and moves when it must.
CLIENT_PORTS = frozenset({"broker_port", "agency_port"})


@dataclass(frozen=True)
class NodePorts:
    """One node's ports; ``admin`` and ``agency`` are known to clients, kept across starts."""

    node_id: int
    admin: int
    controller: int
    agency: int

    def to_state(self) -> dict[str, int]:
        return {
            "node_id": self.node_id,
            "broker_port": self.admin,
            "controller_port": self.controller,
            "agency_port": self.agency,
        }


class LocalCluster(LocalBroker):
    """Provision, start, stop and inspect a local cluster of ``nodes`` KRaft nodes."""

    def __init__(
        self,
        home: Path,
        version: str,
        heap: str = "512m",
        *,
        nodes: int = CLUSTER_NODES,
        state_dir: Path | None = None,
        maven_settings: Path | None = None,
    ) -> None:
        super().__init__(home, version, heap, state_dir=state_dir, maven_settings=maven_settings)
        self.nodes = nodes

    def node_files(self, node_id: int) -> BrokerFiles:
        return BrokerFiles(self.dir / f"node-{node_id}")

    def node_pids(self) -> dict[int, int | None]:
        """Node id -> its live pid (None: not running)."""
        return {i: self.node_files(i).live_pid() for i in range(1, self.nodes + 1)}

    # -- public API ------------------------------------------------------------
    def status(self) -> BrokerStatus:
        pids = self.node_pids()
        state = self._read_state()
        recorded = {int(str(n["node_id"])): n for n in _nodes(state)}
        live = [pid for pid in pids.values() if pid is not None]
        running = bool(live)

        def known(key: str) -> str | None:
            value = state.get(key)
            return str(value) if running and value else None

        nodes: tuple[dict[str, object], ...] = tuple(
            {
                "node_id": i,
                "running": pid is not None,
                "pid": pid,
                "bootstrap": f"{HOST}:{recorded[i]['broker_port']}" if i in recorded else None,
                "agency_bootstrap": (
                    f"{HOST}:{recorded[i]['agency_port']}" if i in recorded else None
                ),
                "log_file": str(self.node_files(i).log_file),
            }
            for i, pid in pids.items()
        )
        return BrokerStatus(
            running=running,
            bootstrap=known("bootstrap"),
            pid=live[0] if live else None,
            kafka_version=str(state.get("kafka_version", self.version)),
            home=str(self.dir),
            log_file=str(self.node_files(1).log_file),
            agency_bootstrap=known("agency_bootstrap"),
            ca_location=known("ca_location"),
            processor_credentials=known("processor_credentials"),
            admin_credentials=known("admin_credentials"),
            nodes=nodes,
        )

    def start(
        self, *, port: int | None = None, timeout_s: float = CLUSTER_START_TIMEOUT_S
    ) -> BrokerStatus:
        if port is not None:
            raise BrokerStartError(
                "--port names the single broker's port; a cluster's ports are chosen once "
                f"and kept in {self.state_file}"
            )
        # Step 1: start only the nodes that do not run.
        pids = self.node_pids()
        if all(pid is not None for pid in pids.values()):
            return replace(self.status(), already_running=True)
        began = time.monotonic()
        # Step 2: never over the single broker's storage; tools and jars.
        if (self.dir / "data" / "meta.properties").exists():
            raise BrokerStartError(
                f"{self.dir} holds a single-node broker's storage: stop it and use another "
                "GOVBUS_HOME for the cluster (or delete that directory)"
            )
        java = require_tool("java")
        runtime = resolve(self.home, self.version, maven_settings=self.maven_settings)
        # Step 3: ports.
        ports = self._choose_all_ports()
        # Step 4: shared secrets and TLS, each node's configuration and storage.
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(DIR_MODE)
        tls = ensure_tls(self.tls_dir, [HOST])
        bootstrap = ",".join(f"{HOST}:{p.admin}" for p in ports)
        agency_bootstrap = ",".join(f"{HOST}:{p.agency}" for p in ports)
        admin = self._static_user(ADMIN_CREDENTIALS, ADMIN_USER, bootstrap)
        controller = self._static_user(CONTROLLER_CREDENTIALS, CONTROLLER_USER, "")
        quorum = tuple(f"{HOST}:{p.controller}" for p in ports)
        secrets = (admin["sasl.password"], controller["sasl.password"])
        cluster_id = self._cluster_id()
        for node in ports:
            self._write_node(node, quorum, tls, secrets)
            self._format_storage(java, runtime, self.node_files(node.node_id), cluster_id)
        # Step 5: the missing nodes' JVMs.
        procs = {
            i: self._spawn(java, runtime, self.node_files(i))
            for i, pid in pids.items()
            if pid is None
        }
        # Step 6: every node registered.
        try:
            self._wait_brokers(procs, admin, timeout_s)
            # Step 7: the processors' principal, then record what runs.
            listener = AgencyListener(agency_bootstrap, str(tls.ca_cert))
            AccessControl(bootstrap, extra_config=admin, listener=listener).ensure_processor(
                self.dir / PROCESSOR_CREDENTIALS
            )
        except GovbusError:
            for proc in procs.values():
                terminate(proc.pid, grace_s=5.0)
            raise
        for i, proc in procs.items():
            self.node_files(i).pid_file.write_text(str(proc.pid))
        self._record(ports, bootstrap, agency_bootstrap, tls)
        return replace(self.status(), started_in_s=round(time.monotonic() - began, 2))

    def stop(self, *, grace_s: float = STOP_GRACE_S) -> BrokerStatus:
        """SIGTERM every node at once (one at a time, the last ones would wait on a quorum
        that is gone), wait up to ``grace_s``, then SIGKILL."""
        live = {i: pid for i, pid in self.node_pids().items() if pid is not None}
        for pid in live.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for i, pid in live.items():
            terminate(pid, grace_s=grace_s)
            self.node_files(i).pid_file.unlink(missing_ok=True)
        return self.status()

    # -- steps -----------------------------------------------------------------
    def _choose_all_ports(self) -> list[NodePorts]:
        recorded = {int(str(n["node_id"])): n for n in _nodes(self._read_state())}
        taken: set[int] = set()
        chosen = []
        for i in range(1, self.nodes + 1):
            old = recorded.get(i, {})
            running = self.node_files(i).live_pid() is not None

            def port(key: str, old: dict[str, object] = old, running: bool = running) -> int:
                kept = int(str(old.get(key, 0) or 0))
                if kept and not running and key in CLIENT_PORTS and not port_is_free(kept):
                    raise PortInUseError(
                        f"port {kept} of node {old.get('node_id')} (kept across restarts, "
                        f"{self.state_file}) is in use by another process: stop that "
                        f"process, or delete {self.state_file} to let the cluster choose new "
                        "ports (clients must then be given the new addresses)"
                    )
                if kept and (running or kept not in taken):
                    taken.add(kept)
                    return kept
                new = free_port()
                while new in taken:
                    new = free_port()
                taken.add(new)
                return new

            chosen.append(
                NodePorts(i, port("broker_port"), port("controller_port"), port("agency_port"))
            )
        return chosen

    def _cluster_id(self) -> str:
        """The id the nodes were formatted with, else a new one."""
        for i in range(1, self.nodes + 1):
            meta = self.node_files(i).dir / "data" / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.split("=", 1)[1].strip()
        return new_cluster_id()

    def _write_node(
        self, node: NodePorts, quorum: tuple[str, ...], tls: TlsFiles, secrets: tuple[str, str]
    ) -> None:
        files = self.node_files(node.node_id)
        files.dir.mkdir(parents=True, exist_ok=True)
        files.dir.chmod(DIR_MODE)
        admin = f"{HOST}:{node.admin}"
        agency = f"{HOST}:{node.agency}"
        layout = BrokerLayout(
            admin=Listener("ADMIN", admin, admin),
            controller=Listener("CONTROLLER", f"{HOST}:{node.controller}"),
            agency=(Listener("AGENCY", agency, agency),),
            quorum_voter=quorum[node.node_id - 1],
            data_dir=str(files.dir / "data"),
            broker_pem=str(tls.broker_pem),
            admin_password=secrets[0],
            controller_password=secrets[1],
            node_id=node.node_id,
            quorum=quorum,
        )
        write_private(files.properties_file, render(properties_of(layout)))

    def _wait_brokers(
        self, procs: dict[int, Popen[bytes]], admin: dict[str, str], timeout_s: float
    ) -> None:
        deadline = time.monotonic() + timeout_s
        client = Admin(admin["bootstrap.servers"], extra_config=admin)
        while time.monotonic() < deadline:
            for i, proc in procs.items():
                if proc.poll() is not None:
                    raise BrokerStartError(
                        f"node {i} exited with code {proc.returncode} before answering; last "
                        f"log lines:\n{self._log_tail(log_file=self.node_files(i).log_file)}"
                    )
            if self._ready(client, procs, admin):
                return
            time.sleep(POLL_INTERVAL_S)
        raise BrokerStartError(
            f"the cluster did not register {self.nodes} brokers within {timeout_s:.0f}s; "
            f"last log lines of node 1:\n{self._log_tail(log_file=self.node_files(1).log_file)}"
        )

    def _ready(self, client: Admin, procs: dict[int, Popen[bytes]], admin: dict[str, str]) -> bool:
        """Every started node answers on its own ADMIN listener, the cluster counts all its
        brokers and the quorum has a leader (a node left alone serves stale metadata)."""
        addresses = admin["bootstrap.servers"].split(",")
        for i in procs:
            own = Admin(addresses[i - 1], extra_config=admin)
            if not own.ping(timeout_s=READY_PROBE_TIMEOUT_S):
                return False
        try:
            if client.brokers(timeout_s=READY_PROBE_TIMEOUT_S) < self.nodes:
                return False
            return (quorum_leader(admin, timeout_s=READY_PROBE_TIMEOUT_S) or 0) >= 0
        except GovbusError:
            return False

    def _record(
        self, ports: list[NodePorts], bootstrap: str, agency_bootstrap: str, tls: TlsFiles
    ) -> None:
        self.state_file.write_text(
            json.dumps(
                {
                    "bootstrap": bootstrap,
                    "agency_bootstrap": agency_bootstrap,
                    "ca_location": str(tls.ca_cert),
                    "processor_credentials": str(self.dir / PROCESSOR_CREDENTIALS),
                    "admin_credentials": str(self.dir / ADMIN_CREDENTIALS),
                    "kafka_version": self.version,
                    "nodes": [p.to_state() for p in ports],
                }
            )
        )


def _nodes(state: dict[str, object]) -> list[dict[str, object]]:
    nodes = state.get("nodes")
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def recorded_nodes(settings: Settings) -> int:
    """How many nodes the local broker of ``settings`` was started with (1: the single)."""
    return max(1, len(_nodes(BrokerFiles(settings.broker_dir).read_state())))


def local_broker(settings: Settings, nodes: int | None = None) -> LocalBroker:
    """The local broker of ``settings``: a cluster of ``nodes`` (by default as recorded by
    the last start) when more than one, else the single broker."""
    recorded = recorded_nodes(settings)
    if nodes == 1 and recorded > 1:
        raise BrokerStartError(
            f"{settings.broker_dir} holds a cluster of {recorded} nodes: start it with "
            "`govbus broker start`, or use another GOVBUS_HOME for a single broker"
        )
    count = recorded if nodes is None else nodes
    if count > 1:
        cluster = LocalCluster.of(settings)
        cluster.nodes = count
        return cluster
    return LocalBroker.of(settings)
