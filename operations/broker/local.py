"""A single-node Apache Kafka broker (KRaft combined mode) run as a local Java process.

Layout under ``<home>/broker``: ``server.properties``, ``data/`` (the KRaft log dir),
``broker.pid``, ``broker.log``, ``state.json`` (ports, version, bootstrap addresses) and
``tls/`` (the project-made CA and broker certificate, :mod:`operations.broker.tls`) and
``credentials/`` (mode 0600 files: ``govbus-processor.json``, the processors' client config;
``govbus-admin.json``, the administrator's; ``govbus-controller.json``, the quorum's secret).
``server.properties`` holds the static secrets too, so it is written with mode 0600.

Listeners (all on 127.0.0.1); no listener admits an unauthenticated client, and
``User:ANONYMOUS`` has no rights at all:

- ``AGENCY`` (SASL_SSL, SCRAM-SHA-512): the only way agencies and the bus's processors
  reach the broker; every request is checked by the KRaft ``StandardAuthorizer`` with
  ``allow.everyone.if.no.acl.found=false`` (credentials and ACLs: :mod:`operations.access`).
- ``ADMIN`` (SASL_PLAINTEXT, PLAIN, loopback): administration and tooling, and the
  inter-broker listener. It admits exactly one user, ``govbus-admin`` (a super user), whose
  password is generated at the first start and kept in ``credentials/govbus-admin.json``;
  ``govbus`` commands on this host read that file. PLAIN with a static user, not SCRAM, so
  the administrator exists before the metadata log does and survives a re-format.
- ``CONTROLLER`` (SASL_PLAINTEXT, PLAIN, loopback): the KRaft quorum, user
  ``govbus-controller`` (SCRAM cannot serve a KRaft controller listener: its credentials live
  in the metadata the controller serves).

Start protocol:

1. If the pid file names a live broker process, report it and start nothing.
2. Check ``java``; resolve Kafka's jars (cached after the first time).
3. Choose ports: the requested one (refused if taken), else the ports recorded in
   ``state.json`` by the previous start, so that ``GOVBUS_BOOTSTRAP`` and every running
   client keep their address across restarts; free ports from the kernel (bind to port 0)
   only the first time. A port is free when it can be bound with ``SO_REUSEADDR``, as the
   broker binds it: the previous run's connections linger in TIME-WAIT after a stop, and
   they do not keep a listener from binding. A recorded client port (admin, agency) that
   another process listens on is refused with the fix, never silently moved.
4. Make (or keep) the TLS material and the administrator's and quorum's secrets, write
   ``server.properties`` (mode 0600) and format the storage directory once (static
   quorum, ``controller.quorum.voters``, so formatted *without* ``--standalone``).
5. Start the JVM in its own session, output appended to ``broker.log``, heap capped: the
   configured heap, or more when the partitions already in the data directory need it
   (:func:`operations.broker.sizing.heap_for`); its open-file limit raised
   (:mod:`operations.broker.limits`).
6. Poll a metadata request until it answers: an open port is not readiness.
7. Only then write the pid file and ``state.json``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Self

from base.broker_files import ADMIN_USER, BrokerFiles
from base.credentials import new_password, read_client_config, write_credentials, write_private
from base.errors import BrokerStartError, GovbusError, PortInUseError
from base.settings import Settings
from kafkaclient.admin import Admin
from operations.access import PROCESSOR_CREDENTIALS, AccessControl, AgencyListener
from operations.broker.config import (
    CONTROLLER_USER,
    STATIC_MECHANISM,
    BrokerLayout,
    Listener,
    render,
    server_properties,
)
from operations.broker.limits import broker_preexec
from operations.broker.provision import KafkaRuntime, require_tool, resolve
from operations.broker.sizing import heap_for
from operations.broker.tls import TlsFiles, ensure_tls

#: A cold JVM start plus KRaft election takes 5-15 s on 2 cores; leave room for a busy CI.
START_TIMEOUT_S = 120.0
#: Controlled shutdown of one node with a few hundred partitions finishes in a few seconds.
STOP_GRACE_S = 30.0
#: How long one readiness metadata request may take before we poll again.
READY_PROBE_TIMEOUT_S = 2.0
POLL_INTERVAL_S = 0.25
FORMAT_TIMEOUT_S = 120.0
MIN_HEAP = "256m"
HOST = "127.0.0.1"
ADMIN_CREDENTIALS = BrokerFiles(Path()).admin_credentials
CONTROLLER_CREDENTIALS = Path("credentials") / f"{CONTROLLER_USER}.json"
DIR_MODE = 0o700


@dataclass(frozen=True)
class BrokerStatus:
    """What ``govbus broker status --json`` prints; field names are an interface."""

    running: bool
    bootstrap: str | None
    pid: int | None
    kafka_version: str
    home: str
    log_file: str
    started_in_s: float | None = None
    already_running: bool = False
    #: The SASL_SSL listener for agencies and processors, and the CA their clients trust.
    agency_bootstrap: str | None = None
    ca_location: str | None = None
    #: The processors' credentials file (mode 0600): client config for User:govbus-processor.
    processor_credentials: str | None = None
    #: The administrator's credentials file (mode 0600): client config of the ADMIN listener.
    admin_credentials: str | None = None
    #: A cluster's nodes (``govbus broker start --nodes 3``), one :class:`NodeStatus` dict
    #: each; None for the single broker.
    nodes: tuple[dict[str, object], ...] | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when a listener could bind ``port`` now. ``SO_REUSEADDR`` as the broker's JVM
    sets it: sockets in TIME-WAIT (the last run's connections) do not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def new_cluster_id() -> str:
    """22 characters of URL-safe base64 of 16 random bytes, no padding (Kafka's Uuid form).

    Like Kafka's ``Uuid.randomUuid()``, never one that starts with '-': the storage tool's
    command line would read it as an option."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cid.startswith("-"):
            return cid


class LocalBroker:
    """Provision, start, stop and inspect the local broker. No I/O happens in ``__init__``."""

    def __init__(
        self,
        home: Path,
        version: str,
        heap: str = "512m",
        *,
        state_dir: Path | None = None,
        maven_settings: Path | None = None,
    ) -> None:
        self.home = home
        self.dir = state_dir if state_dir is not None else home / "broker"
        self.version = version
        self.heap = heap
        self.maven_settings = maven_settings

    # -- paths -----------------------------------------------------------------
    @property
    def files(self) -> BrokerFiles:
        return BrokerFiles(self.dir)

    @property
    def pid_file(self) -> Path:
        return self.files.pid_file

    @property
    def log_file(self) -> Path:
        return self.files.log_file

    @property
    def state_file(self) -> Path:
        return self.files.state_file

    @property
    def properties_file(self) -> Path:
        return self.files.properties_file

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """The local broker of these settings (``GOVBUS_HOME``, version, heap, Maven)."""
        return cls(
            settings.home,
            settings.kafka_version,
            settings.broker_heap,
            maven_settings=Path(settings.maven_settings) if settings.maven_settings else None,
        )

    # -- public API ------------------------------------------------------------
    def status(self) -> BrokerStatus:
        pid = self._live_pid()
        state = self._read_state()
        bootstrap = state.get("bootstrap")
        agency = state.get("agency_bootstrap")
        ca = state.get("ca_location")
        creds = state.get("processor_credentials")
        admin = state.get("admin_credentials")
        return BrokerStatus(
            running=pid is not None,
            bootstrap=str(bootstrap) if pid is not None and bootstrap else None,
            pid=pid,
            kafka_version=str(state.get("kafka_version", self.version)),
            home=str(self.dir),
            log_file=str(self.log_file),
            agency_bootstrap=str(agency) if pid is not None and agency else None,
            ca_location=str(ca) if pid is not None and ca else None,
            processor_credentials=str(creds) if pid is not None and creds else None,
            admin_credentials=str(admin) if pid is not None and admin else None,
        )

    def admin_config(self) -> dict[str, str]:
        """The administrator's client settings (bootstrap included) of the running broker."""
        return read_client_config(self.dir / ADMIN_CREDENTIALS)

    @property
    def tls_dir(self) -> Path:
        return self.dir / "tls"

    def start(self, *, port: int | None = None, timeout_s: float = START_TIMEOUT_S) -> BrokerStatus:
        # Step 1: never start a second broker on the same home.
        current = self.status()
        if current.running:
            return replace(current, already_running=True)
        began = time.monotonic()
        # Step 2: tools and jars first, so their errors name their cause.
        java = require_tool("java")
        runtime = resolve(self.home, self.version, maven_settings=self.maven_settings)
        # Step 3: ports.
        broker_port, controller_port = self._choose_ports(port)
        agency_port = self._agency_port({broker_port, controller_port})
        # Step 4: TLS material, configuration and storage.
        self.dir.mkdir(parents=True, exist_ok=True)
        # The log segments (agency data at rest), secrets and TLS keys live below: the
        # broker's user only, whatever the umask.
        self.dir.chmod(DIR_MODE)
        tls = ensure_tls(self.tls_dir, [HOST])
        bootstrap = f"{HOST}:{broker_port}"
        agency_bootstrap = f"{HOST}:{agency_port}"
        admin = self._static_user(ADMIN_CREDENTIALS, ADMIN_USER, bootstrap)
        controller = self._static_user(CONTROLLER_CREDENTIALS, CONTROLLER_USER, "")
        self._write_properties(broker_port, controller_port, agency_port, tls, admin, controller)
        self._format_storage(java, runtime)
        # Step 5: the JVM, detached from our session so it outlives this command.
        proc = self._spawn(java, runtime)
        # Step 6: readiness is a metadata answer (as the administrator: nothing else answers).
        try:
            self._wait_ready(proc, admin, timeout_s)
        except GovbusError:
            _terminate(proc.pid, grace_s=5.0)
            raise
        # Step 7: the processors' principal (credential and ACLs live in the KRaft metadata,
        # the password in a 0600 file), then record what runs.
        listener = AgencyListener(agency_bootstrap, str(tls.ca_cert))
        processor_file = self.dir / PROCESSOR_CREDENTIALS
        try:
            AccessControl(bootstrap, extra_config=admin, listener=listener).ensure_processor(
                processor_file
            )
        except GovbusError:
            _terminate(proc.pid, grace_s=5.0)
            raise
        self.pid_file.write_text(str(proc.pid))
        self.state_file.write_text(
            json.dumps(
                {
                    "bootstrap": bootstrap,
                    "broker_port": broker_port,
                    "controller_port": controller_port,
                    "agency_port": agency_port,
                    "agency_bootstrap": agency_bootstrap,
                    "ca_location": str(tls.ca_cert),
                    "processor_credentials": str(processor_file),
                    "admin_credentials": str(self.dir / ADMIN_CREDENTIALS),
                    "kafka_version": self.version,
                }
            )
        )
        return BrokerStatus(
            running=True,
            bootstrap=bootstrap,
            pid=proc.pid,
            kafka_version=self.version,
            home=str(self.dir),
            log_file=str(self.log_file),
            started_in_s=round(time.monotonic() - began, 2),
            agency_bootstrap=agency_bootstrap,
            ca_location=str(tls.ca_cert),
            processor_credentials=str(processor_file),
            admin_credentials=str(self.dir / ADMIN_CREDENTIALS),
        )

    def stop(self, *, grace_s: float = STOP_GRACE_S) -> BrokerStatus:
        """SIGTERM (controlled shutdown), wait up to ``grace_s``, then SIGKILL."""
        pid = self._live_pid()
        if pid is not None:
            _terminate(pid, grace_s=grace_s)
        self.pid_file.unlink(missing_ok=True)
        return self.status()

    # -- steps -----------------------------------------------------------------
    def _choose_ports(self, port: int | None) -> tuple[int, int]:
        if port is not None:
            if not port_is_free(port):
                raise PortInUseError(f"port {port} on {HOST} is already in use; choose another")
            broker_port = port
        else:
            broker_port = self._recorded("broker_port", "the admin listener") or free_port()
        previous_ctl = self._recorded_port("controller_port")
        # The quorum's port is internal (no client knows it): it may move if it must.
        controller_port = (
            previous_ctl
            if previous_ctl and previous_ctl != broker_port and port_is_free(previous_ctl)
            else free_port()
        )
        while controller_port == broker_port:
            controller_port = free_port()
        return broker_port, controller_port

    def _agency_port(self, taken: set[int]) -> int:
        previous = self._recorded("agency_port", "the agency listener")
        if previous and previous not in taken:
            return previous
        port = free_port()
        while port in taken:
            port = free_port()
        return port

    def _recorded_port(self, key: str) -> int:
        return int(str(self._read_state().get(key, 0) or 0))

    def _recorded(self, key: str, what: str) -> int:
        """The port of ``key`` recorded by the previous start (0: none); refused when
        another process listens on it, since clients know the broker by it."""
        previous = self._recorded_port(key)
        if previous and not port_is_free(previous):
            raise PortInUseError(
                f"port {previous} of {what} (kept across restarts, {self.state_file}) is in "
                f"use by another process: stop that process, or delete {self.state_file} to "
                f"let the broker choose new ports (clients must then be given the new address)"
            )
        return previous

    def _static_user(self, relative: Path, user: str, bootstrap: str) -> dict[str, str]:
        """A static user's client settings; its password is kept across starts (running
        tools stay connected) and made with the OS CSPRNG the first time."""
        path = self.dir / relative
        kept = read_client_config(path).get("sasl.password") if path.exists() else None
        config = {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": STATIC_MECHANISM,
            "sasl.username": user,
            "sasl.password": kept or new_password(),
        }
        if bootstrap:
            config = {"bootstrap.servers": bootstrap, **config}
        write_credentials(path, f"User:{user}", config)
        return config

    def _write_properties(
        self,
        broker_port: int,
        controller_port: int,
        agency_port: int,
        tls: TlsFiles,
        admin: dict[str, str],
        controller: dict[str, str],
    ) -> None:
        layout = BrokerLayout(
            admin=Listener("ADMIN", f"{HOST}:{broker_port}", f"{HOST}:{broker_port}"),
            controller=Listener("CONTROLLER", f"{HOST}:{controller_port}"),
            agency=(Listener("AGENCY", f"{HOST}:{agency_port}", f"{HOST}:{agency_port}"),),
            quorum_voter=f"{HOST}:{controller_port}",
            data_dir=str(self.dir / "data"),
            broker_pem=str(tls.broker_pem),
            admin_password=admin["sasl.password"],
            controller_password=controller["sasl.password"],
        )
        write_private(self.properties_file, render(server_properties(layout)))

    def _format_storage(
        self,
        java: str,
        runtime: KafkaRuntime,
        files: BrokerFiles | None = None,
        cluster_id: str | None = None,
    ) -> None:
        """Format ``files``' storage (this broker's by default) once, as cluster
        ``cluster_id`` (a new one by default)."""
        node = files or self.files
        if (node.dir / "data" / "meta.properties").exists():
            return
        cmd = [
            java,
            "-cp",
            runtime.classpath,
            *self._log_opts(),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id or new_cluster_id(),
            "-c",
            str(node.properties_file),
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            raise BrokerStartError(
                f"formatting the KRaft storage failed (exit {done.returncode}):\n"
                + (done.stdout + done.stderr)[-2000:]
            )

    def _spawn(
        self, java: str, runtime: KafkaRuntime, files: BrokerFiles | None = None
    ) -> subprocess.Popen[bytes]:
        node = files or self.files
        heap = heap_for(self.heap, hosted_partitions(node.dir / "data"))
        cmd = [
            java,
            f"-Xms{MIN_HEAP}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            *self._log_opts(),
            "-cp",
            runtime.classpath,
            "kafka.Kafka",
            str(node.properties_file),
        ]
        with node.log_file.open("ab") as log:
            return subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=node.dir,
                preexec_fn=broker_preexec,
            )

    def _log_opts(self) -> list[str]:
        config = resources.files("operations.broker").joinpath("log4j2.properties")
        return [f"-Dlog4j2.configurationFile={config}"]

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], config: dict[str, str], timeout_s: float
    ) -> None:
        deadline = time.monotonic() + timeout_s
        admin = Admin(config["bootstrap.servers"], extra_config=config)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerStartError(
                    f"the broker process exited with code {proc.returncode} before answering; "
                    f"last log lines:\n{self._log_tail()}"
                )
            if admin.ping(timeout_s=READY_PROBE_TIMEOUT_S):
                return
            time.sleep(POLL_INTERVAL_S)
        raise BrokerStartError(
            f"the broker did not answer a metadata request within {timeout_s:.0f}s; "
            f"last log lines:\n{self._log_tail()}"
        )

    # -- state -----------------------------------------------------------------
    def _read_state(self) -> dict[str, object]:
        return self.files.read_state()

    def _live_pid(self) -> int | None:
        return self.files.live_pid()

    def _log_tail(self, lines: int = 20, log_file: Path | None = None) -> str:
        try:
            text = (log_file or self.log_file).read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


_PARTITION_DIR = re.compile(r"^(?!__cluster_metadata-).+-\d+$")


def hosted_partitions(data_dir: Path) -> int:
    """The partitions a broker's log directory holds (``<topic>-<n>`` folders; not the
    KRaft metadata log, not folders of deleted topics)."""
    try:
        return sum(1 for d in data_dir.iterdir() if d.is_dir() and _PARTITION_DIR.match(d.name))
    except FileNotFoundError:
        return 0


def terminate(pid: int, *, grace_s: float) -> None:
    """SIGTERM ``pid``, wait up to ``grace_s`` for it to end, then SIGKILL it."""
    _terminate(pid, grace_s=grace_s)


def _terminate(pid: int, *, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(POLL_INTERVAL_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    # Reap it if it is our child; a zombie counts as gone.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return False
    return state != "Z"
