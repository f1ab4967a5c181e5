"""Where the local broker keeps its files, and whether it runs: read without provisioning code.

The local broker (:mod:`operations.broker.local`) writes, under its directory
(``$GOVBUS_HOME/broker`` by default): ``broker.pid``, ``state.json`` (ports, version,
bootstrap addresses, credentials files), ``server.properties`` and
``credentials/govbus-admin.json`` (mode 0600). A worker that only needs to *reach* that broker
(:mod:`topology.connection`) reads them here, so the runtime never loads the Maven/KRaft
provisioning code. No I/O at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ADMIN_USER = "govbus-admin"


@dataclass(frozen=True)
class BrokerFiles:
    """The file layout of one local broker directory."""

    dir: Path

    @property
    def pid_file(self) -> Path:
        return self.dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "broker.log"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def properties_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def admin_credentials(self) -> Path:
        return self.dir / "credentials" / f"{ADMIN_USER}.json"

    def read_state(self) -> dict[str, object]:
        """``state.json`` as written at the last start; ``{}`` when absent or unreadable."""
        try:
            loaded = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def node_dirs(self) -> list[Path]:
        """A local cluster's node directories (``node-<id>``), as ``state.json`` records
        them; empty for the single broker."""
        nodes = self.read_state().get("nodes")
        if not isinstance(nodes, list):
            return []
        return [self.dir / f"node-{n['node_id']}" for n in nodes if isinstance(n, dict)]

    def live_pid(self) -> int | None:
        """The broker's pid when the pid file names a live Kafka process on this config;
        for a local cluster, the first live node's."""
        for node in self.node_dirs():
            pid = BrokerFiles(node).live_pid()
            if pid is not None:
                return pid
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid, self.properties_file) else None


def _is_our_broker(pid: int, properties: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(properties).encode() in cmdline
