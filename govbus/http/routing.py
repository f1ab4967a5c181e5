"""What the routes of every kind of case share: the path parameter, paging, the route
decorators (tags, error responses, the action each needs) and the transitions' shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query

from exchange.workflows.roles import Action, Actor
from govbus.http.deps import CASE_ERRORS, ERRORS, action
from govbus.http.models import ID_PATTERN, TransitionOut, Transitions
from storage.workflows import TransitionRow
from topology.workflows.casework import Case, Casework

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=Case)
CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="Case id.")]
#: One page of a list.
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class CaseRoutes:
    """The decorators of the routes of one kind of case, under ``base`` and ``tag``."""

    def __init__(self, router: APIRouter, base: str, tag: str) -> None:
        self.router = router
        self.base = base
        self.tag = tag

    def opening(
        self, name: Action, summary: str, responses: dict[int | str, dict[str, Any]]
    ) -> Callable[[F], F]:
        """``POST base``: a new case, opened as ``name`` (201)."""
        return self.router.post(
            self.base,
            tags=[self.tag],
            summary=summary,
            status_code=201,
            responses=responses,
            openapi_extra=action(name),
        )

    def listing(self, summary: str) -> Callable[[F], F]:
        """``GET base``: the cases the caller may see."""
        return self.router.get(
            self.base,
            tags=[self.tag],
            summary=summary,
            responses=ERRORS,
            openapi_extra=action(Action.LIST),
        )

    def read(self, suffix: str, summary: str) -> Callable[[F], F]:
        """``GET base + suffix`` (``/{case_id}``, ``/{case_id}/transitions``): one case."""
        return self.router.get(
            self.base + suffix,
            tags=[self.tag],
            summary=summary,
            responses=CASE_ERRORS,
            openapi_extra=action(Action.READ),
        )

    def step(self, path: str, name: Action, summary: str) -> Callable[[F], F]:
        """``POST base/{case_id}/path``: one step of a case, taken as ``name``."""
        return self.router.post(
            f"{self.base}/{{case_id}}/{path}",
            tags=[self.tag],
            summary=summary,
            responses=CASE_ERRORS,
            openapi_extra=action(name),
        )


def transitions_out(rows: Sequence[TransitionRow]) -> Transitions:
    """A case's transitions as the API shows them."""
    return Transitions(
        transitions=[TransitionOut.model_validate(t, from_attributes=True) for t in rows]
    )


def page_of(
    cases: Casework[C],
    actor: Actor,
    states: Sequence[Enum] | None,
    overdue: bool | None,
    limit: int,
    offset: int,
) -> list[C]:
    """One page of the cases the caller may see, in ``states`` (any when none given)."""
    return cases.list(
        actor, states=[s.value for s in states or ()], overdue=overdue, limit=limit, offset=offset
    )
