"""Broker-enforced access: who may do what, as SCRAM principals and ACLs (G 17, G 24, GM 27).

Principals (all authenticate with SCRAM-SHA-512 on the SASL_SSL agency listener):

- ``User:<agency id>`` -- an agency. It may WRITE (and DESCRIBE) its own submission topic
  ``govbus.submit.<agency id>`` (a literal ACL: no other principal but the bus reads it,
  none writes it), READ its own feed and receipts, and use consumer groups whose ids start
  with ``<agency id>.``; nothing else (:func:`agency_rules`). It writes no ingest topic:
  the bus's repartition stage moves its submissions there, naming it as the provider (the
  broker authenticated it), so no agency can publish as another (GM 22, S 20), and every
  agency can send reports and confirmations (GM 19, S 20). Grants never change these
  rules: what reaches an agency's feed is the processors' fan-out.
- ``User:govbus-processor`` -- the bus's processors and repartition stage
  (:func:`processor_rules`): create and describe bus topics, read submissions, ingest and
  state, write ingest topics (the repartition stage is their only writer), the outputs and
  the one-source changelogs (and add partitions to those), their own groups and
  transactional ids (``govbus-*``). Not the resolutions of conflicts
  (``govbus.conflicts.resolved``, GM 19).
- ``User:govbus-admin`` -- administration, the one user of the loopback ADMIN listener (a
  super user, :mod:`operations.broker.local`); this class is used through its connection. It
  writes the resolutions of conflicts (``govbus conflicts resolve``).

Agency ids starting with ``govbus`` are reserved, so no agency can take the processors'
user name, groups or transactional ids. Passwords come from :func:`base.credentials.new_password`
and are returned to the caller once; nothing here logs them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.credentials import new_password, read_client_config, write_credentials
from base.errors import AccessError
from kafkaclient.acl import AccessAdmin, AclRule, ReportedAcl
from kafkaclient.admin import Admin
from schemas.topics import TopicKind, topic_name

PROCESSOR_USER = "govbus-processor"
#: Agency ids may not start with this: user names, groups, transactional ids of the bus.
RESERVED_PREFIX = "govbus"
#: Group ids and transactional ids of the bus's own processors start with this.
PROCESSOR_ID_PREFIX = "govbus-"
SECURITY_PROTOCOL = "SASL_SSL"
SASL_MECHANISM = "SCRAM-SHA-512"
#: How long a fresh credential may take to be accepted, and one probe's wait.
LOGIN_TIMEOUT_S = 30.0
LOGIN_PROBE_S = 2.0
PROCESSOR_CREDENTIALS = Path("credentials") / f"{PROCESSOR_USER}.json"


def principal(user: str) -> str:
    return f"User:{user}"


def _prefix(kind: TopicKind) -> str:
    """``govbus.<kind>.``: the name prefix shared by every topic of a per-entry/agency kind."""
    return topic_name(kind, "x")[:-1]


def check_agency_id(agency_id: str) -> None:
    """Refuse ids that would collide with the bus's own principal, groups or txn ids."""
    if agency_id.lower().startswith(RESERVED_PREFIX):
        raise AccessError(
            f"agency id {agency_id!r} starts with {RESERVED_PREFIX!r}, which is reserved for "
            "the bus's own principals"
        )


def agency_rules(agency_id: str, source_entries: Iterable[str] = ()) -> list[AclRule]:
    """The ACLs of an agency: write its own submission topic, read what is its own.

    ``source_entries`` (the entries it is a source of) no longer change the rules: every
    agency submits through its own topic, whatever it provides; the gate decides."""
    del source_entries
    submit = topic_name(TopicKind.SUBMIT, agency_id)
    rules = [AclRule("topic", submit, "literal", op) for op in ("write", "describe")]
    for kind in (TopicKind.FEED, TopicKind.RECEIPTS):
        own = topic_name(kind, agency_id)
        rules += [AclRule("topic", own, "literal", op) for op in ("read", "describe")]
    rules.append(AclRule("group", f"{agency_id}.", "prefixed", "read"))
    return sorted(rules)


def processor_rules() -> list[AclRule]:
    """The ACLs of the processors' principal: only what the gate and fan-out need."""
    bus = f"{topic_name(TopicKind.AUDIT).split('.')[0]}."
    rules = [AclRule("topic", bus, "prefixed", op) for op in ("create", "describe")]
    rules.append(AclRule("topic", _prefix(TopicKind.SUBMIT), "prefixed", "read"))
    rules.append(AclRule("topic", _prefix(TopicKind.INGEST), "prefixed", "read"))
    rules.append(AclRule("topic", _prefix(TopicKind.STATE), "prefixed", "read"))
    # One-source changelogs only: the reference state topics are written by administration.
    onesource = topic_name(TopicKind.STATE, "onesource.x")[:-1]
    rules += [AclRule("topic", onesource, "prefixed", op) for op in ("write", "alter")]
    for kind in (
        TopicKind.INGEST,  # the repartition stage: the only writer of ingest topics
        TopicKind.SUBMIT_DLQ,  # and of the submissions it cannot route
        TopicKind.FEED,
        TopicKind.RECEIPTS,
    ):
        rules.append(AclRule("topic", _prefix(kind), "prefixed", "write"))
    # Literal, not prefixed: govbus.conflicts.resolved (GM 19) is written by administration,
    # so the processors cannot close the conflicts they raise; the topics every entry
    # shares are one name each.
    for kind in (
        TopicKind.CONFLICTS,
        TopicKind.AUDIT,
        TopicKind.ACCEPTED,
        TopicKind.DLQ,
        TopicKind.OPEN,
    ):
        rules.append(AclRule("topic", topic_name(kind), "literal", "write"))
    rules.append(AclRule("group", PROCESSOR_ID_PREFIX, "prefixed", "read"))
    rules += [
        AclRule("transactional_id", PROCESSOR_ID_PREFIX, "prefixed", op)
        for op in ("write", "describe")
    ]
    return sorted(rules)


@dataclass(frozen=True)
class AgencyListener:
    """Where agencies connect (SASL_SSL) and the CA certificate their clients trust."""

    bootstrap: str
    ca_location: str
    #: Where this host checks a new credential, when ``bootstrap`` (the address agencies
    #: are given) is not reachable from here: another SASL_SSL listener of the same broker,
    #: as inside docker-compose. '' means ``bootstrap``.
    probe_bootstrap: str = ""


def client_config(listener: AgencyListener, user: str, password: str) -> dict[str, str]:
    """librdkafka settings a confluent-kafka client can use as they are."""
    return {
        "bootstrap.servers": listener.bootstrap,
        "security.protocol": SECURITY_PROTOCOL,
        "sasl.mechanism": SASL_MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": listener.ca_location,
    }


@dataclass(frozen=True)
class AccessReport:
    """What ``govbus agency show --json`` reports about a principal."""

    principal: str
    has_credentials: bool
    acls: tuple[ReportedAcl, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "has_credentials": self.has_credentials,
            "acls": [a.to_dict() for a in self.acls],
        }


@dataclass(frozen=True)
class RevokeReport:
    credentials_removed: bool
    acls_removed: int


class AccessControl:
    """Issue, rotate, show and revoke principals through an administrator's connection."""

    def __init__(
        self,
        admin_bootstrap: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
        listener: AgencyListener | None = None,
    ) -> None:
        self._admin = AccessAdmin(admin_bootstrap, extra_config=extra_config)
        self.listener = listener

    def _listener(self) -> AgencyListener:
        if self.listener is None:
            raise AccessError(
                "the agency listener is unknown: set GOVBUS_AGENCY_BOOTSTRAP and "
                "GOVBUS_CA_LOCATION, or run the local broker (`govbus broker start`)"
            )
        return self.listener

    def issue(self, agency_id: str, source_entries: Iterable[str]) -> dict[str, str]:
        """New credentials (a fresh password replaces any old one) and the agency's ACLs.

        Returns the client config with the password: the only time it is shown."""
        check_agency_id(agency_id)
        listener = self._listener()
        password = new_password()
        self._admin.upsert_scram(agency_id, password)
        self.sync(agency_id, source_entries)
        config = client_config(listener, agency_id, password)
        self._await_login(config, listener.probe_bootstrap)
        return config

    def sync(
        self, agency_id: str, source_entries: Iterable[str]
    ) -> tuple[list[AclRule], list[AclRule]]:
        """Bring the agency's ACLs to :func:`agency_rules`; return (added, removed)."""
        check_agency_id(agency_id)
        return self._admin.sync(principal(agency_id), agency_rules(agency_id, source_entries))

    def has_credentials(self, user: str) -> bool:
        return self._admin.has_scram(user)

    def revoke(self, agency_id: str) -> RevokeReport:
        """ACLs first (the next request is refused), then the credential (no new session)."""
        check_agency_id(agency_id)
        removed = self._admin.remove_all(principal(agency_id))
        return RevokeReport(self._admin.delete_scram(agency_id), removed)

    def show(self, user: str) -> AccessReport:
        return AccessReport(
            principal(user),
            self._admin.has_scram(user),
            tuple(self._admin.describe(principal(user))),
        )

    def ensure_processor(self, path: Path) -> dict[str, str]:
        """The processors' principal: credential and ACLs, password kept in ``path`` (0600).

        An existing file's password is kept (running processors stay connected); the
        credential and ACLs are (re)applied every time, so a fresh broker gets them too."""
        listener = self._listener()
        kept = read_client_config(path).get("sasl.password") if path.exists() else None
        password = kept or new_password()
        config = client_config(listener, PROCESSOR_USER, password)
        self._admin.upsert_scram(PROCESSOR_USER, password)
        self._admin.sync(principal(PROCESSOR_USER), processor_rules())
        write_credentials(path, PROCESSOR_USER, config)
        self._await_login(config, listener.probe_bootstrap)
        return config

    @staticmethod
    def _await_login(config: Mapping[str, str], probe_bootstrap: str = "") -> None:
        """Return once the agency listener accepts ``config`` (the broker applied the new
        credential; the metadata log is applied in order, so an old password is gone too)."""
        address = probe_bootstrap or config["bootstrap.servers"]
        probe = Admin(address, extra_config={**config, "bootstrap.servers": address})
        deadline = time.monotonic() + LOGIN_TIMEOUT_S
        while not probe.ping(timeout_s=LOGIN_PROBE_S):
            if time.monotonic() > deadline:
                raise AccessError(
                    f"the agency listener {address} did not accept the new "
                    f"credential of {config['sasl.username']} within {LOGIN_TIMEOUT_S:.0f}s"
                )
            time.sleep(LOGIN_PROBE_S / 10)
