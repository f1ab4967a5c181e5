"""Who may do what: the one permission table of the workflows (role x action).

Roles are the parties of the regulations (regulations.md, "Parties"):

* ``agency``: a user acting for one registered agency, as applicant (数据需求机关 /
  需求部门) or as provider (数据提供机关 / 提供部门) of a case;
* ``bureau``: the city big data bureau (大数据主管部门), which coordinates disputes
  (G 15 ¶3, S 28) and supervises (G 4, GM 4);
* ``government``: the city government's approver, who decides what the bureau could not
  settle (S 28 `报市政府决定`);
* ``auditor``: reads every case and its history, changes nothing;
* ``public``: a member of the public (公民、法人和其他组织); for the public-facing processes
  that follow (opening requests, error reports, complaints) it may read the profile only;
* ``operator``: the platform's operator at the command line (``govbus catalog import``
  opens change requests for published entries; ``govbus subscription`` subscribes an
  agency at its request); no user of the HTTP service has it;
* ``system``: the bus itself acting on a deadline (deemed consent, S 25 ¶3) or publishing
  what was approved; no user can have it.

:data:`PERMISSIONS` is the whole table: an action a role does not list is refused (403).
The :class:`Scope` of an allowed action says on which cases: any case, or only cases of
the agency the user acts for, as applicant, as provider or as either party.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from base.errors import PermissionDenied


class Role(StrEnum):
    AGENCY = "agency"
    BUREAU = "bureau"
    GOVERNMENT = "government"
    AUDITOR = "auditor"
    PUBLIC = "public"
    OPERATOR = "operator"
    SYSTEM = "system"


#: Roles a user account can have (the command line's and the bus's own are not).
USER_ROLES = tuple(r for r in Role if r not in (Role.OPERATOR, Role.SYSTEM))


class Action(StrEnum):
    """Everything a caller can ask for; the state-changing ones name transitions."""

    # share applications (G 15, G17 15, S 25, S 28)
    APPLY = "apply"
    ACCEPT = "accept"
    APPROVE = "approve"
    REFUSE = "refuse"
    WITHDRAW = "withdraw"
    DISPUTE = "dispute"
    SETTLE = "settle"
    REFER = "refer"
    DECIDE = "decide"
    REVOKE = "revoke"
    READ = "read"
    LIST = "list"
    # catalog changes (G 11, GM 14, S 18, S 23, S 27 ¶2, J 9 ¶4, J 11)
    SUBMIT_CHANGE = "submit_change"
    RESUBMIT = "resubmit"
    CANCEL = "cancel"
    REVIEW = "review"  # 审核 (the bureau)
    RATIFY = "ratify"  # 审定 (the city government, G 11)
    RETURN = "return"  # 退回修改 (the reviewer whose step is pending)
    # catalog update obligations (G 13, GM 15)
    RECORD_OBLIGATION = "record_obligation"
    FULFIL = "fulfil"
    OPEN_MAINTENANCE = "open_maintenance"
    # subscriptions to unconditional entries (G 15 ¶1, S 25 ¶1)
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    # the bus on its timers
    DEEM = "deem"
    MISS_DEADLINE = "miss_deadline"
    REMIND = "remind"
    EXPIRE = "expire"
    PUBLISH = "publish"
    # everything else
    READ_PROFILE = "read_profile"
    READ_SELF = "read_self"
    READ_METRICS = "read_metrics"


class Scope(StrEnum):
    ANY = "any"  # every case
    APPLICANT = "applicant"  # cases the user's agency applied for
    PROVIDER = "provider"  # cases the user's agency answers as provider
    PARTY = "party"  # either


_EVERYONE = {Action.READ_PROFILE: Scope.ANY, Action.READ_SELF: Scope.ANY}

PERMISSIONS: Mapping[Role, Mapping[Action, Scope]] = MappingProxyType(
    {
        Role.AGENCY: MappingProxyType(
            {
                **_EVERYONE,
                Action.APPLY: Scope.APPLICANT,
                Action.WITHDRAW: Scope.APPLICANT,
                Action.DISPUTE: Scope.APPLICANT,
                Action.ACCEPT: Scope.PROVIDER,
                Action.APPROVE: Scope.PROVIDER,
                Action.REFUSE: Scope.PROVIDER,
                Action.REVOKE: Scope.PROVIDER,
                Action.READ: Scope.PARTY,
                Action.LIST: Scope.PARTY,
                Action.SUBMIT_CHANGE: Scope.APPLICANT,
                Action.RESUBMIT: Scope.APPLICANT,
                Action.CANCEL: Scope.APPLICANT,
                Action.RECORD_OBLIGATION: Scope.APPLICANT,
                Action.FULFIL: Scope.APPLICANT,
                Action.SUBSCRIBE: Scope.APPLICANT,
                Action.UNSUBSCRIBE: Scope.APPLICANT,
            }
        ),
        Role.BUREAU: MappingProxyType(
            {
                **_EVERYONE,
                Action.SETTLE: Scope.ANY,
                Action.REFER: Scope.ANY,
                Action.READ: Scope.ANY,
                Action.LIST: Scope.ANY,
                Action.READ_METRICS: Scope.ANY,
                Action.REVIEW: Scope.ANY,
                Action.RETURN: Scope.ANY,
                Action.RECORD_OBLIGATION: Scope.ANY,
                Action.OPEN_MAINTENANCE: Scope.ANY,
            }
        ),
        Role.GOVERNMENT: MappingProxyType(
            {
                **_EVERYONE,
                Action.DECIDE: Scope.ANY,
                Action.READ: Scope.ANY,
                Action.LIST: Scope.ANY,
                Action.RATIFY: Scope.ANY,
                Action.RETURN: Scope.ANY,
            }
        ),
        Role.AUDITOR: MappingProxyType(
            {
                **_EVERYONE,
                Action.READ: Scope.ANY,
                Action.LIST: Scope.ANY,
                Action.READ_METRICS: Scope.ANY,
            }
        ),
        Role.PUBLIC: MappingProxyType(dict(_EVERYONE)),
        Role.OPERATOR: MappingProxyType(
            {
                Action.SUBMIT_CHANGE: Scope.ANY,
                # `govbus subscription add|cancel`: at an agency's request, for it
                Action.SUBSCRIBE: Scope.ANY,
                Action.UNSUBSCRIBE: Scope.ANY,
                Action.LIST: Scope.ANY,
            }
        ),
        Role.SYSTEM: MappingProxyType(
            {
                Action.DEEM: Scope.ANY,
                Action.MISS_DEADLINE: Scope.ANY,
                Action.REMIND: Scope.ANY,
                Action.EXPIRE: Scope.ANY,
                Action.PUBLISH: Scope.ANY,
            }
        ),
    }
)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (``id``: the login name) with one role; ``agency`` for agency users."""

    id: str
    role: Role
    agency: str | None = None


#: The bus itself, acting on a deadline or publishing what was approved.
SYSTEM = Actor("govbus", Role.SYSTEM)
#: The platform's operator at the command line.
OPERATOR = Actor("operator", Role.OPERATOR)


def scope_of(role: Role, action: Action) -> Scope | None:
    """The scope in which ``role`` may take ``action``; None when it may not."""
    return PERMISSIONS[role].get(action)


def allowed(role: Role, action: Action) -> bool:
    return scope_of(role, action) is not None


def authorize_role(actor: Actor, action: Action) -> Scope:
    """The scope of ``action`` for the actor's role; :class:`PermissionDenied` when the role
    may not take it at all (checked before the request is read further)."""
    scope = scope_of(actor.role, action)
    if scope is None:
        raise PermissionDenied(
            f"role {actor.role.value} may not {action.value}", code="role_not_permitted"
        )
    return scope


def authorize(actor: Actor, action: Action, *, applicant: str = "", provider: str = "") -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may take ``action`` on a case whose
    parties are ``applicant`` and ``provider`` (empty: no case, e.g. a list)."""
    scope = authorize_role(actor, action)
    if scope is Scope.ANY:
        return
    own = actor.agency
    parties = {
        Scope.APPLICANT: (applicant,),
        Scope.PROVIDER: (provider,),
        Scope.PARTY: (applicant, provider),
    }[scope]
    if own is None or own not in parties:
        raise PermissionDenied(
            f"{actor.id} acts for {own or 'no agency'}, which is not the case's {scope.value}",
            code="not_a_party",
        )


def authorize_list(actor: Actor) -> str | None:
    """Raise :class:`PermissionDenied` unless ``actor`` may list; the agency whose own
    cases it may list, or None when it may list every one."""
    own = actor.agency or ""
    authorize(actor, Action.LIST, applicant=own, provider=own)
    return None if scope_of(actor.role, Action.LIST) is Scope.ANY else own


__all__ = [
    "OPERATOR",
    "PERMISSIONS",
    "SYSTEM",
    "USER_ROLES",
    "Action",
    "Actor",
    "Role",
    "Scope",
    "allowed",
    "authorize",
    "authorize_list",
    "authorize_role",
    "scope_of",
]
