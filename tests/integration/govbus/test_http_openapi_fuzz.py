"""Property-based fuzzing of the OpenAPI description with schemathesis: no generated input,
valid or not, makes the service answer 5xx, on SQLite and PostgreSQL; every response
conforms to the description.

The fuzzer calls every operation as the bureau and as an agency user (the two roles with
the most write steps), against a store with real cases in it (so generated ids sometimes
hit one), on the real broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from workflow_scenario import WorkflowEnv, workflow_env

PG_URL_ENV = "GOVBUS_TEST_POSTGRES_URL"
EXAMPLES = 25
#: A request the schema admits may still break an article (an unknown entry is 404, a
#: refusal without reasons 422, a validity in the year 835 422): those checks do not apply.
SEMANTIC = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.use_after_free,
    schemathesis.checks.ensure_resource_availability,
]


def _databases() -> list[str]:
    return (
        ["sqlite", "postgresql"]
        if os.environ.get(PG_URL_ENV) or os.environ.get("CI")
        else ["sqlite"]
    )


@pytest.fixture(scope="module", params=_databases())
def fuzz_env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bootstrap: str,
    kafka_config: dict[str, str],
) -> Iterator[WorkflowEnv]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'govbus.db'}"
        with workflow_env(url, bootstrap, kafka_config) as env:
            yield env
        return
    from conftest import _fresh_pg_database

    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.fail(f"CI is set but {PG_URL_ENV} is not", pytrace=False)
    for url in _fresh_pg_database(base):
        with workflow_env(url, bootstrap, kafka_config) as env:
            yield env


@pytest.fixture(scope="module")
def api_schema(fuzz_env: WorkflowEnv) -> schemathesis.BaseSchema:
    for _ in range(3):  # some cases for generated ids to find
        assert fuzz_env.apply().status_code == 201
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_env.client.app)


def _operations(api_schema: schemathesis.BaseSchema) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_no_input_makes_the_service_fail(
    api_schema: schemathesis.BaseSchema, fuzz_env: WorkflowEnv
) -> None:
    """schemathesis' own pytest loader does not run under this pytest, so each operation's
    strategy is driven by Hypothesis here; the checks are schemathesis' (no 5xx, responses
    as described)."""
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            for user in ("bureau", "psb-clerk"):
                headers = {"Authorization": f"Bearer {fuzz_env.tokens[user]}"}
                if case.path == "/v1/auth/token" and case.method.upper() == "DELETE":
                    headers = {}  # revoking the fuzzer's own token would end the run
                case.call_and_validate(headers=headers, excluded_checks=SEMANTIC)

        run()


def test_the_fuzzer_covers_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    operations = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert ("POST", "/v1/applications/{case_id}/refuse") in operations
    assert len(operations) >= 15
