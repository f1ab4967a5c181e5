"""What the routes of every kind of case share: the path parameter, paging, the route
decorators (tags, error responses, the action each needs), the transitions' shape and the
two read routes (one case, its transitions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from exchange.workflows.roles import Action, Actor
from govbus.http.deps import CASE_ERRORS, ERRORS, CurrentActor, Flows, action
from govbus.http.models import ID_PATTERN, ReasonRequest, TransitionOut, Transitions
from storage.workflows import TransitionRow
from topology.workflows.casework import Case, Casework
from topology.workflows.context import Workflows

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=Case)
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
CASE_ID = Path(pattern=ID_PATTERN, description="Case id.")
CaseId = Annotated[str, CASE_ID]
#: One page of a list.
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class Readable(Protocol[T_co]):
    """A kind of case's service as the read routes use it (the caller may see the case)."""

    def get(self, actor: Actor, case_id: str, /) -> T_co: ...

    def history(self, actor: Actor, case_id: str, /) -> list[TransitionRow]: ...


@dataclass(frozen=True)
class CaseView(Generic[T]):
    """How the API shows one kind of case: its service on the workflows, the response
    ``model`` and the function that makes one from a case."""

    cases: Callable[[Workflows], Readable[T]]
    out: Callable[[Workflows, T], BaseModel]
    model: type[BaseModel]


class CaseRoutes:
    """The decorators of the routes of one kind of case, under ``base`` and ``tag``; its
    ``case_id`` path parameter is ``case_id`` (a ``fastapi.Path``)."""

    def __init__(self, router: APIRouter, base: str, tag: str, case_id: Any = CASE_ID) -> None:
        self.router = router
        self.base = base
        self.tag = tag
        self.case_id = case_id

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

    def read(self, suffix: str, summary: str, **route: Any) -> Callable[[F], F]:
        """``GET base + suffix`` (``/{case_id}``, ``/{case_id}/transitions``): one case;
        ``route``: more arguments of ``APIRouter.get``."""
        return self.router.get(
            self.base + suffix,
            tags=[self.tag],
            summary=summary,
            responses=CASE_ERRORS,
            openapi_extra=action(Action.READ),
            **route,
        )

    def reads(self, view: CaseView[T], one: tuple[str, str], history: tuple[str, str]) -> None:
        """The two read routes, each given as (name, summary): ``GET base/{case_id}``, the
        case as ``view`` shows it, and ``GET base/{case_id}/transitions``, who did what."""
        case_path = self.case_id

        @self.read("/{case_id}", one[1], name=one[0], response_model=view.model)
        def get_case(case_id: str = case_path, *, actor: CurrentActor, flows: Flows) -> Any:
            return view.out(flows, view.cases(flows).get(actor, case_id))

        @self.read("/{case_id}/transitions", history[1], name=history[0])
        def case_transitions(
            case_id: str = case_path, *, actor: CurrentActor, flows: Flows
        ) -> Transitions:
            return transitions_out(view.cases(flows).history(actor, case_id))

    def reason_steps(self, view: CaseView[T], *steps: tuple[str, Action, str]) -> None:
        """Steps whose body is only a reason (:class:`ReasonRequest`), each given as (path,
        action, summary): ``POST base/{case_id}/path`` takes the step by the method of that
        name on ``view``'s service and answers the case as ``view`` shows it."""
        for path, name, summary in steps:
            self._reason_step(view, path, name, summary)

    def _reason_step(self, view: CaseView[T], path: str, name: Action, summary: str) -> None:
        case_path = self.case_id

        @self.step(path, name, summary, name=path, response_model=view.model)
        def take_step(
            case_id: str = case_path, *, body: ReasonRequest, actor: CurrentActor, flows: Flows
        ) -> Any:
            step = getattr(view.cases(flows), path)
            return view.out(flows, step(actor, case_id, reason=body.reason))

    def step(self, path: str, name: Action, summary: str, /, **route: Any) -> Callable[[F], F]:
        """``POST base/{case_id}/path``: one step of a case, taken as ``name``; ``route``:
        more arguments of ``APIRouter.post``."""
        return self.router.post(
            f"{self.base}/{{case_id}}/{path}",
            tags=[self.tag],
            summary=summary,
            responses=CASE_ERRORS,
            openapi_extra=action(name),
            **route,
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
