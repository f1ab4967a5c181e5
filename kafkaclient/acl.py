"""SCRAM credentials and ACLs through the Admin API (KIP-554, KIP-140), typed and converted.

Every change waits until the broker itself reports it (describe answers from the broker's
applied metadata, not the controller's), so a client that connects right after sees it.

Rules are plain frozen :class:`AclRule` values (ALLOW, any host); a principal's rules are
*synced*: what is missing is created and what is extra is deleted, so the broker ends up
with exactly the wanted set. Passwords are passed through, never logged or kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The admin package re-exports these without ``__all__``; import them from where they live.
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from base.errors import KafkaError, KafkaTimeoutError
from kafkaclient.admin import ADMIN_TIMEOUT_S, Admin

#: Changes are committed by the controller and applied by the broker a moment later; the
#: operations below return only once the broker reports the new state (or this passes).
PROPAGATION_TIMEOUT_S = 15.0
PROPAGATION_POLL_S = 0.1
#: PBKDF2 iterations of a stored SCRAM credential (Kafka accepts 4096..16384).
SCRAM_ITERATIONS = 8192
ANY_HOST = "*"

_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
_OPERATIONS = {
    "read": AclOperation.READ,
    "write": AclOperation.WRITE,
    "describe": AclOperation.DESCRIBE,
    "create": AclOperation.CREATE,
    "alter": AclOperation.ALTER,
}


@dataclass(frozen=True, order=True)
class AclRule:
    """One ALLOW rule for a principal: ``operation`` on ``resource`` ``name`` (``pattern``)."""

    resource: str  # topic, group, transactional_id, cluster
    name: str
    pattern: str  # literal, prefixed
    operation: str  # read, write, describe, create, alter

    def to_dict(self) -> dict[str, str]:
        return {
            "resource": self.resource,
            "name": self.name,
            "pattern": self.pattern,
            "operation": self.operation,
        }


@dataclass(frozen=True)
class ReportedAcl:
    """An ACL binding as the broker reports it (any permission, host, operation)."""

    principal: str
    resource: str
    name: str
    pattern: str
    operation: str
    permission: str
    host: str

    def rule(self) -> AclRule | None:
        """The rule this binding is, when it is an ALLOW for any host; else None."""
        if self.permission != "allow" or self.host != ANY_HOST:
            return None
        return AclRule(self.resource, self.name, self.pattern, self.operation)

    def to_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "resource": self.resource,
            "name": self.name,
            "pattern": self.pattern,
            "operation": self.operation,
            "permission": self.permission,
            "host": self.host,
        }


def _principal_filter(principal: str) -> AclBindingFilter:
    """Every binding of one principal (None matches any name and host)."""
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # the stubs say str; None is the documented wildcard
        ResourcePatternType.ANY,
        principal,
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _binding(principal: str, rule: AclRule) -> AclBinding:
    return AclBinding(
        _RESOURCES[rule.resource],
        rule.name,
        _PATTERNS[rule.pattern],
        principal,
        ANY_HOST,
        _OPERATIONS[rule.operation],
        AclPermissionType.ALLOW,
    )


def _enum_name(value: object) -> str:
    return str(getattr(value, "name", value)).lower()


def _reported(binding: AclBinding) -> ReportedAcl:
    names = {v.name.lower(): k for k, v in _RESOURCES.items()}
    restype = _enum_name(binding.restype)
    return ReportedAcl(
        principal=binding.principal,
        resource=names.get(restype, restype),
        name=binding.name,
        pattern=_enum_name(binding.resource_pattern_type),
        operation=_enum_name(binding.operation),
        permission=_enum_name(binding.permission_type),
        host=binding.host,
    )


class AccessAdmin:
    """SCRAM users and ACLs of one cluster, through an administrator's connection."""

    def __init__(self, bootstrap: str, *, extra_config: Mapping[str, Any] | None = None) -> None:
        self._admin = Admin(bootstrap, extra_config=extra_config)

    # -- SCRAM -----------------------------------------------------------------------------
    def upsert_scram(self, user: str, password: str, timeout_s: float = ADMIN_TIMEOUT_S) -> None:
        """Create or replace the user's SCRAM-SHA-512 credential (a fresh random salt)."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        change = UserScramCredentialUpsertion(user, info, password.encode("utf-8"))
        self._wait(
            self._admin.client.alter_user_scram_credentials([change]), "set credential", timeout_s
        )

    def delete_scram(self, user: str, timeout_s: float = ADMIN_TIMEOUT_S) -> bool:
        """Remove the user's SCRAM-SHA-512 credential; False when there was none."""
        change = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
        try:
            self._wait(
                self._admin.client.alter_user_scram_credentials([change]),
                "delete credential",
                timeout_s,
            )
        except _NotFound:
            return False
        self._until(lambda: not self.has_scram(user, timeout_s), f"credential of {user} gone")
        return True

    def has_scram(self, user: str, timeout_s: float = ADMIN_TIMEOUT_S) -> bool:
        futures = self._admin.client.describe_user_scram_credentials([user])
        if not isinstance(futures, dict):  # only without a user list
            raise KafkaError("describe_user_scram_credentials answered one future")
        try:
            self._wait(futures, "describe credential", timeout_s)
        except _NotFound:
            return False
        return True

    # -- ACLs ------------------------------------------------------------------------------
    def describe(self, principal: str, timeout_s: float = ADMIN_TIMEOUT_S) -> list[ReportedAcl]:
        """Every ACL binding of ``principal`` the broker holds, in a stable order."""
        flt = _principal_filter(principal)
        found = self._admin.result(
            self._admin.client.describe_acls(flt, request_timeout=timeout_s),
            "describe acls",
            timeout_s,
        )
        return sorted((_reported(b) for b in found), key=lambda r: tuple(r.to_dict().values()))

    def sync(
        self, principal: str, wanted: Iterable[AclRule], timeout_s: float = ADMIN_TIMEOUT_S
    ) -> tuple[list[AclRule], list[AclRule]]:
        """Make the principal's ALLOW rules exactly ``wanted``; return (added, removed).

        Bindings that are not plain ALLOW-any-host rules (a DENY an operator added by hand)
        are left alone."""
        want = set(wanted)
        have = {r for r in (b.rule() for b in self.describe(principal, timeout_s)) if r}
        added, removed = sorted(want - have), sorted(have - want)
        if added:
            futures = self._admin.client.create_acls(
                [_binding(principal, r) for r in added], request_timeout=timeout_s
            )
            self._wait(futures, "create acls", timeout_s)
        if removed:
            self._delete(principal, removed, timeout_s)
        if added or removed:
            self._until(
                lambda: (
                    {r for r in (b.rule() for b in self.describe(principal, timeout_s)) if r}
                    == want
                ),
                f"ACLs of {principal} applied",
            )
        return added, removed

    def remove_all(self, principal: str, timeout_s: float = ADMIN_TIMEOUT_S) -> int:
        """Delete every binding of ``principal``; return how many the broker removed."""
        flt = _principal_filter(principal)
        futures = self._admin.client.delete_acls([flt], request_timeout=timeout_s)
        try:
            removed = sum(len(v) for v in self._wait(futures, "delete acls", timeout_s))
        except _NotFound:
            return 0
        self._until(lambda: not self.describe(principal, timeout_s), f"ACLs of {principal} gone")
        return removed

    def _delete(self, principal: str, rules: Sequence[AclRule], timeout_s: float) -> None:
        filters = [
            AclBindingFilter(
                _RESOURCES[r.resource],
                r.name,
                _PATTERNS[r.pattern],
                principal,
                ANY_HOST,
                _OPERATIONS[r.operation],
                AclPermissionType.ALLOW,
            )
            for r in rules
        ]
        self._wait(
            self._admin.client.delete_acls(filters, request_timeout=timeout_s),
            "delete acls",
            timeout_s,
        )

    @staticmethod
    def _until(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PROPAGATION_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"{what}: not reported within {PROPAGATION_TIMEOUT_S}s")
            time.sleep(PROPAGATION_POLL_S)

    def _wait(self, futures: Mapping[Any, Any], what: str, timeout_s: float) -> list[Any]:
        results = []
        for fut in futures.values():
            try:
                results.append(self._admin.result(fut, what, timeout_s))
            except KafkaError as exc:
                if exc.code == "RESOURCE_NOT_FOUND":
                    raise _NotFound from exc
                raise
        return results


class _NotFound(Exception):
    """Internal: the broker answered RESOURCE_NOT_FOUND (no such SCRAM user)."""
