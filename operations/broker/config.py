"""The broker's ``server.properties``, one function for every deployment.

The local broker (:mod:`operations.broker.local`, all listeners on 127.0.0.1) and the
docker-compose broker (:mod:`operations.broker.deploy`, ``govbus broker configure``) are
configured by :func:`server_properties`, so they cannot drift apart:

- ``ADMIN`` (SASL_PLAINTEXT, PLAIN): administration and the inter-broker listener; one static
  user, ``govbus-admin``, a super user.
- ``CONTROLLER`` (SASL_PLAINTEXT, PLAIN): the KRaft quorum; one static user,
  ``govbus-controller``, a super user.
- one or more agency listeners (SASL_SSL, SCRAM-SHA-512, the project CA's certificate):
  agencies and the bus's processors; every request goes through the ``StandardAuthorizer``
  with ``allow.everyone.if.no.acl.found=false``.

Secrets are inside, so the rendered file must be written with mode 0600. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from base.broker_files import ADMIN_USER
from base.errors import ConfigError

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
#: The only user of the ADMIN listener, and the KRaft quorum's user: the super users.
CONTROLLER_USER = "govbus-controller"
SUPER_USERS = f"User:{ADMIN_USER};User:{CONTROLLER_USER}"
#: Agencies and processors authenticate with SCRAM inside TLS.
SASL_MECHANISM = "SCRAM-SHA-512"
#: Static users on the ADMIN and CONTROLLER listeners (see operations.broker.local).
STATIC_MECHANISM = "PLAIN"
#: Authenticated agency sessions re-authenticate at least this often, so a revoked or
#: rotated password stops an open connection too (KIP-368; librdkafka >= 2.2 supports it).
REAUTH_MS = 10 * 60 * 1000
#: A static password goes inside a JAAS string in double quotes: a quote or backslash
#: would end or escape it, whitespace would be cut at the line's end.
_FORBIDDEN_IN_PASSWORD = frozenset('"\\\n\r\t ')
#: Below this a password set by hand is too easy to guess (ours are 43 characters).
MIN_STATIC_PASSWORD = 16
#: Replicas of every partition on a cluster of at least this many nodes (schemas.topics).
CLUSTER_REPLICAS = 3
#: The size of a segment's offset and time index files (``log.index.size.max.bytes``,
#: Kafka's default 10 MiB; why, in :func:`server_properties`).
INDEX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Listener:
    """One listener: its name, where it binds (``host:port``, host '' for every
    interface) and the address clients are told (None for the controller)."""

    name: str
    bind: str
    advertised: str | None = None


@dataclass(frozen=True)
class BrokerLayout:
    """Everything that differs between deployments of the one-node broker."""

    admin: Listener
    controller: Listener
    agency: tuple[Listener, ...]
    #: ``host:port`` of the controller as the quorum reaches it.
    quorum_voter: str
    data_dir: str
    #: The broker's PKCS#8 key and certificate chain (PEM keystore).
    broker_pem: str
    admin_password: str
    controller_password: str
    #: This node's id, and the quorum's voters (``host:port`` of each node's controller
    #: listener, node ids 1..n in order); empty: one node, ``quorum_voter``.
    node_id: int = 1
    quorum: tuple[str, ...] = ()

    @property
    def voters(self) -> str:
        """``controller.quorum.voters``: ``1@host:port,2@host:port,...``."""
        addresses = self.quorum or (self.quorum_voter,)
        return ",".join(f"{i}@{a}" for i, a in enumerate(addresses, start=1))

    @property
    def replicas(self) -> int:
        """Replicas of internal topics: one per node, at most :data:`CLUSTER_REPLICAS`."""
        return min(CLUSTER_REPLICAS, max(1, len(self.quorum)))


def check_static_password(name: str, password: str) -> None:
    """Refuse a password that would break the JAAS string or is too short to be one."""
    if len(password) < MIN_STATIC_PASSWORD:
        raise ConfigError(f"{name} must have at least {MIN_STATIC_PASSWORD} characters")
    if _FORBIDDEN_IN_PASSWORD & set(password):
        raise ConfigError(f"{name} must not contain quotes, backslashes or whitespace")


def plain_jaas(user: str, password: str) -> str:
    """A listener's PLAIN login: its one user (server side) and the broker's own login."""
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{user}" password="{password}" user_{user}="{password}";'
    )


def server_properties(layout: BrokerLayout) -> dict[str, str]:
    """The broker's configuration, in a stable order."""
    check_static_password("the administrator's password", layout.admin_password)
    check_static_password("the controller's password", layout.controller_password)
    if layout.quorum and not 1 <= layout.node_id <= len(layout.quorum):
        raise ConfigError(
            f"node id {layout.node_id} is not one of the quorum's 1..{len(layout.quorum)}"
        )
    listeners = (layout.admin, *layout.agency, layout.controller)
    advertised = (layout.admin, *layout.agency)
    protocols = [f"{layout.admin.name}:SASL_PLAINTEXT"]
    protocols += [f"{a.name}:SASL_SSL" for a in layout.agency]
    protocols.append(f"{layout.controller.name}:SASL_PLAINTEXT")
    admin, controller = layout.admin.name.lower(), layout.controller.name.lower()
    props = {
        "process.roles": "broker,controller",
        "node.id": str(layout.node_id),
        "controller.quorum.voters": layout.voters,
        "listeners": ",".join(f"{x.name}://{x.bind}" for x in listeners),
        "advertised.listeners": ",".join(f"{x.name}://{x.advertised}" for x in advertised),
        "controller.listener.names": layout.controller.name,
        "inter.broker.listener.name": layout.admin.name,
        "listener.security.protocol.map": ",".join(protocols),
        # The ADMIN and CONTROLLER listeners admit one static user each.
        "sasl.mechanism.inter.broker.protocol": STATIC_MECHANISM,
        "sasl.mechanism.controller.protocol": STATIC_MECHANISM,
        f"listener.name.{admin}.sasl.enabled.mechanisms": STATIC_MECHANISM,
        f"listener.name.{admin}.plain.sasl.jaas.config": plain_jaas(
            ADMIN_USER, layout.admin_password
        ),
        f"listener.name.{controller}.sasl.enabled.mechanisms": STATIC_MECHANISM,
        f"listener.name.{controller}.plain.sasl.jaas.config": plain_jaas(
            CONTROLLER_USER, layout.controller_password
        ),
        # Every request is authorised; no ACL means no access.
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": SUPER_USERS,
        "sasl.enabled.mechanisms": SASL_MECHANISM,
    }
    for listener in layout.agency:
        # SCRAM-SHA-512 inside TLS with the project-made certificate.
        p = f"listener.name.{listener.name.lower()}."
        props |= {
            f"{p}sasl.enabled.mechanisms": SASL_MECHANISM,
            f"{p}scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            f"{p}ssl.keystore.type": "PEM",
            f"{p}ssl.keystore.location": layout.broker_pem,
            f"{p}ssl.client.auth": "none",
            f"{p}connections.max.reauth.ms": str(REAUTH_MS),
        }
    props |= {
        "log.dirs": layout.data_dir,
        "num.partitions": "1",
        # Internal topics (consumer offsets, transaction state) are replicated like the
        # bus's: on one node they must not ask for replicas that cannot exist, or
        # transactions and consumer groups stall; on three, one node may be lost.
        **replication_properties(layout.replicas),
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created deliberately (govbus topics ensure), never by a typo.
        "auto.create.topics.enable": "false",
        "log.retention.hours": "-1",
        # Each segment's offset and time index is a sparse file of this size, mapped into
        # memory; Kafka's default is 10 MiB. A write to a page of it that is not cached
        # reads the file around it into the page cache, as much as the device's
        # read-ahead (8 MiB here), zero-filling the holes: with 10 MiB indexes the
        # broker spent whole seconds of a core in that memset, stalling the transaction
        # markers behind them (bench/README.md, "Why a rejoin stalled"). 256 KiB holds
        # 32,768 offset entries (128 MiB of log at one entry per 4 KiB) and 21,845 time
        # entries; a segment whose index is full rolls, so busy partitions roll every
        # ~85 MiB instead of 1 GiB.
        "log.index.size.max.bytes": str(INDEX_BYTES),
    }
    return props


def replication_properties(replicas: int) -> dict[str, str]:
    """Replication of internal topics and the brokers' defaults for ``replicas`` copies:
    with three, an acknowledged write (acks=all) is on two nodes at least
    (``min.insync.replicas=2``), and a replica that missed writes never becomes leader."""
    min_isr = str(2 if replicas >= CLUSTER_REPLICAS else 1)
    return {
        "default.replication.factor": str(replicas),
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": min_isr,
        "unclean.leader.election.enable": "false",
    }


def render(props: dict[str, str]) -> str:
    """Java properties text (values here never need escaping: checked above)."""
    return "".join(f"{k}={v}\n" for k, v in props.items())
