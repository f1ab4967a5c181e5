"""Dependencies of the routes: the workflows object, the caller from the bearer token,
the error responses every route documents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from base.errors import LoginError
from exchange.workflows.roles import Action, Actor
from govbus.http.models import Problem
from topology.workflows.context import Workflows

ACTION_KEY = "x-govbus-action"
_bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/auth/token.")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (401, "No valid token."),
        (403, "The caller's role or agency may not take this step."),
        (422, "The request or the article's requirements are not met."),
    )
}
CASE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"model": Problem, "description": "No such case (or entry, or agency)."},
    409: {"model": Problem, "description": "Not allowed in the case's state."},
}


def action(name: Action) -> dict[str, Any]:
    """``openapi_extra`` naming the permission-table action a route needs."""
    return {ACTION_KEY: name.value}


def workflows(request: Request) -> Workflows:
    found: Workflows = request.app.state.workflows
    return found


def token_of(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise LoginError("a bearer token is required", code="no_token")
    return credentials.credentials


def current_actor(
    token: Annotated[str, Depends(token_of)], flows: Annotated[Workflows, Depends(workflows)]
) -> Actor:
    actor, _expires = flows.accounts.authenticate(token)
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
Flows = Annotated[Workflows, Depends(workflows)]
