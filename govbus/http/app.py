"""The FastAPI application: authentication, error mapping, health, metrics, routers.

Every endpoint but ``/healthz`` (a liveness probe that says nothing) needs a bearer token
from ``POST /v1/auth/token``. Errors are one JSON object ``{"detail", "code", "article"}``:
401 no valid token, 403 the role may not (the permission table), 404 no such case, 409
not in this state, 422 the request or the article's requirements are not met, 503 the
store is unavailable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from base.errors import (
    DomainError,
    GovbusError,
    LoginError,
    NotFound,
    PermissionDenied,
    StateError,
    StorageError,
)
from exchange.workflows.roles import Action, authorize
from govbus.http import catalog_routes, routes, subscription_routes
from govbus.http.deps import ERRORS, CurrentActor, Flows, action
from govbus.http.models import Problem
from monitoring.workflows import workflow_registry
from topology.workflows.context import Workflows
from topology.workflows.facts import workflow_facts


def _problem(status: int, exc: GovbusError, headers: dict[str, str] | None = None) -> Response:
    body = Problem(
        detail=str(exc), code=getattr(exc, "code", "") or "", article=getattr(exc, "article", "")
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _status(exc: GovbusError) -> int:
    for kind, status in (
        (NotFound, 404),
        (PermissionDenied, 403),
        (StateError, 409),
        (DomainError, 422),
        (StorageError, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 503


def create_app(
    flows: Workflows, *, background: bool = True, on_close: Callable[[], None] | None = None
) -> FastAPI:
    """The service over ``flows``; ``background`` runs the timers and the audit relay."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background:
            flows.start()
        try:
            yield
        finally:
            flows.stop()
            if on_close is not None:
                on_close()

    app = FastAPI(
        title="govbus 政务数据共享交换总线",
        summary=(
            "共享申请、答复期限与视为同意；目录报送、审核与发布 (sharing applications, deadlines,"
            " deemed consent; catalog changes, reviews, publication)"
        ),
        version="1",
        lifespan=lifespan,
    )
    app.state.workflows = flows

    @app.exception_handler(LoginError)
    async def _unauthenticated(_r: Request, exc: LoginError) -> Response:
        return _problem(401, exc, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(GovbusError)
    async def _govbus(_r: Request, exc: GovbusError) -> Response:
        return _problem(_status(exc), exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        body = Problem(
            detail=f"{where}: {first.get('msg', 'invalid request')}", code="invalid_request"
        )
        return JSONResponse(body.model_dump(), status_code=422)

    @app.get("/healthz", tags=["service"], summary="存活检查 (liveness)")
    def healthz(flows: Flows) -> dict[str, str]:
        try:
            with flows.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise StorageError(f"the SQL store does not answer: {exc.__class__.__name__}") from exc
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus 指标 (workflow metrics)",
        responses={**ERRORS, 200: {"content": {"text/plain": {}}}},
        openapi_extra=action(Action.READ_METRICS),
    )
    def metrics(actor: CurrentActor, flows: Flows) -> Response:
        authorize(actor, Action.READ_METRICS)
        apps = flows.applications
        registry = workflow_registry(
            lambda: workflow_facts(flows.store, apps.profiles, flows.calendar, flows.clock.now())
        )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(routes.router)
    app.include_router(catalog_routes.router)
    app.include_router(subscription_routes.router)
    return app
