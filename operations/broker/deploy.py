"""A broker configured for another host: the docker-compose broker (``govbus broker configure``).

The compose broker runs ``kafka-server-start.sh`` on the file this module writes (into the
volume the ``apache/kafka`` image knows as ``/mnt/shared/config``), configured by the same
:func:`operations.broker.config.server_properties` as the local broker. Not the image's
``KAFKA_*`` environment translation: its rules changed between releases (one renderer kept
only ``NAME=VALUE`` pairs with a single ``=``, silently dropping every JAAS login; one
default step exported PLAINTEXT listeners for variables left unset).

Listeners (ports are options, defaults below):

- ``ADMIN`` ``<host>:9092`` (SASL_PLAINTEXT, PLAIN, ``govbus-admin``): administration on the
  compose network, not published.
- ``CONTROLLER`` ``<host>:9093`` (SASL_PLAINTEXT, PLAIN, ``govbus-controller``): the quorum.
- ``AGENCY`` ``<host>:9094`` (SASL_SSL, SCRAM-SHA-512): the processors, inside the network.
- ``EXTERNAL`` ``<external host>:9095`` (SASL_SSL, SCRAM-SHA-512): agencies, published.

The CA stays in ``ca_dir`` (its key never enters the broker's volume); the broker's key and
certificate chain, naming ``localhost``, ``host`` and ``external host``, go beside
``server.properties`` (both 0600). Passwords come from the caller (the environment), never
from the command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from base.credentials import write_private
from operations.broker.config import (
    BrokerLayout,
    Listener,
    check_static_password,
    render,
    server_properties,
)
from operations.broker.tls import ensure_tls, subject_names

#: Where the ``apache/kafka`` image reads a configuration file, and keeps its log dirs.
IMAGE_CONFIG_DIR = "/mnt/shared/config"
IMAGE_DATA_DIR = "/var/lib/kafka/data"
#: The environment variables the passwords are read from (never the command line).
ADMIN_PASSWORD_ENV = "GOVBUS_ADMIN_PASSWORD"  # noqa: S105 - a variable name
CONTROLLER_PASSWORD_ENV = "GOVBUS_CONTROLLER_PASSWORD"  # noqa: S105 - a name
#: ``ca.crt`` must be readable by the govbus services (another user); ``ca.key`` stays 0600.
CA_DIR_MODE = 0o755


@dataclass(frozen=True)
class Ports:
    admin: int = 9092
    controller: int = 9093
    agency: int = 9094
    external: int = 9095


@dataclass(frozen=True)
class Addresses:
    """Where the compose broker listens: ``host`` inside the compose network,
    ``external_host`` for agencies (the published EXTERNAL listener), the address the
    listeners bind to (``''``: every interface) and the ports."""

    host: str
    external_host: str
    bind: str = ""
    ports: Ports = Ports()  # frozen: one shared default is safe
    #: One node of a cluster (docker-compose's three-broker layout): its id, and every
    #: node's controller ``host:port`` in node-id order; empty: the single broker.
    node_id: int = 1
    quorum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Configured:
    """What ``govbus broker configure --json`` prints; field names are an interface."""

    properties: str
    broker_pem: str
    ca_location: str
    subject_names: list[str]
    bootstrap: str
    agency_bootstrap: str
    external_bootstrap: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def configure(
    out: Path,
    ca_dir: Path,
    addresses: Addresses,
    *,
    admin_password: str,
    controller_password: str,
    data_dir: str = IMAGE_DATA_DIR,
) -> Configured:
    """Write ``out/server.properties`` and ``out/broker.pem`` (the CA in ``ca_dir``)."""
    # A bad password is refused before anything is written.
    check_static_password(f"${ADMIN_PASSWORD_ENV}", admin_password)
    check_static_password(f"${CONTROLLER_PASSWORD_ENV}", controller_password)
    host, bind, ports = addresses.host, addresses.bind, addresses.ports
    external_host = addresses.external_host
    tls = ensure_tls(ca_dir, [host, external_host], broker_dir=out, dir_mode=CA_DIR_MODE)
    admin = f"{host}:{ports.admin}"
    agency = f"{host}:{ports.agency}"
    external = f"{external_host}:{ports.external}"
    layout = BrokerLayout(
        admin=Listener("ADMIN", f"{bind}:{ports.admin}", admin),
        controller=Listener("CONTROLLER", f"{bind}:{ports.controller}"),
        agency=(
            Listener("AGENCY", f"{bind}:{ports.agency}", agency),
            Listener("EXTERNAL", f"{bind}:{ports.external}", external),
        ),
        quorum_voter=f"{host}:{ports.controller}",
        data_dir=data_dir,
        broker_pem=str(tls.broker_pem),
        admin_password=admin_password,
        controller_password=controller_password,
        node_id=addresses.node_id,
        quorum=addresses.quorum,
    )
    path = write_private(out / "server.properties", render(server_properties(layout)))
    return Configured(
        properties=str(path),
        broker_pem=str(tls.broker_pem),
        ca_location=str(tls.ca_cert),
        subject_names=subject_names(tls.broker_pem),
        bootstrap=admin,
        agency_bootstrap=agency,
        external_bootstrap=external,
    )
