"""What every workflow machine shares: who acts and when (:class:`Act`), the recorded state
change (:class:`Transition`), the check that a step may be taken in the case's state
(:func:`require_state`), and the check of free text a party gives (:func:`text`).

A step of any machine takes the case, what the profile says, and an :class:`Act`; it
returns the new case and one :class:`Transition` (who, when, what, why, on which article),
or raises and changes nothing. Time is in the act: nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from base.errors import StateError, WorkflowError
from exchange.workflows.roles import Action, Actor

#: The longest free text (a reason, a purpose, a legal basis) a step takes.
MAX_TEXT = 4000

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Act:
    """Who takes a step, and when."""

    actor: Actor
    at: datetime


@dataclass(frozen=True)
class Transition(Generic[S]):
    """One recorded state change: who, when, what, why, on which article."""

    action: Action
    from_state: S | None
    to_state: S
    actor: Actor
    at: datetime
    reason: str = ""
    article: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


class Versioned(Protocol):
    """A case of any machine: a frozen dataclass with an id, a state and a version."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> StrEnum: ...
    @property
    def version(self) -> int: ...


C = TypeVar("C", bound=Versioned)


def advance(
    case: C,
    new: C,
    action: Action,
    act: Act,
    reason: str = "",
    article: str = "",
    **details: Any,
) -> tuple[C, Transition[Any]]:
    """``new`` as the next version of ``case``, and the transition that took it there."""
    moved = replace(new, version=case.version + 1)
    return moved, Transition(
        action, case.state, new.state, act.actor, act.at, reason, article, details
    )


def require_state(case: Versioned, noun: str, action: Action, allowed: frozenset[S]) -> None:
    """A :class:`StateError` (``illegal_transition``) unless ``case`` (called ``noun`` in the
    message: "application", "change", ...) is in one of the ``allowed`` states."""
    if case.state not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise StateError(
            f"{noun} {case.id} is {case.state.value}: cannot {action.value} (only when {names})",
            code="illegal_transition",
        )


def iso(value: datetime | None) -> str | None:
    """A stored document's time: ISO 8601, or None."""
    return None if value is None else value.isoformat()


def moment(value: object) -> datetime | None:
    """A time read back from a stored document (:func:`iso`), or None."""
    return None if value is None else datetime.fromisoformat(str(value))


def text(value: str, what: str, article: str, *, required: bool = True) -> str:
    """``value`` stripped; a :class:`WorkflowError` (``missing_<what>``, ``long_<what>``)
    when it is required and empty, or longer than :data:`MAX_TEXT`."""
    stripped = value.strip()
    if required and not stripped:
        raise WorkflowError(f"{what} is required", code=f"missing_{what}", article=article)
    if len(stripped) > MAX_TEXT:
        raise WorkflowError(
            f"{what} is longer than {MAX_TEXT} characters", code=f"long_{what}", article=article
        )
    return stripped


__all__ = ["MAX_TEXT", "Act", "Transition", "require_state", "text"]
