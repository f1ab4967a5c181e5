"""Property-based fuzzing of the OpenAPI description with schemathesis: no generated input,
valid or not, makes the service answer 5xx, on SQLite and PostgreSQL; every response
conforms to the description.

The fuzzer calls every operation as the bureau and as an agency user (the two roles with
the most write steps), against a store with real cases in it (so generated ids sometimes
hit one), on the real broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

from tests.support.databases import database_kinds, fresh_database
from tests.support.workflow import WorkflowEnv, workflow_env

EXAMPLES = 25
#: A request the schema admits may still break an article (an unknown entry is 404, a
#: refusal without reasons 422, a validity in the year 835 422): those checks do not apply.
SEMANTIC = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.use_after_free,
    schemathesis.checks.ensure_resource_availability,
]


@pytest.fixture(scope="module", params=database_kinds())
def fuzz_env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bootstrap: str,
    kafka_config: dict[str, str],
) -> Iterator[WorkflowEnv]:
    for url in fresh_database(request.param, tmp_path_factory.mktemp("fuzz")):
        with workflow_env(url, bootstrap, kafka_config) as env:
            yield env


@pytest.fixture(scope="module")
def api_schema(fuzz_env: WorkflowEnv) -> schemathesis.BaseSchema:
    for _ in range(3):  # some cases for generated ids to find
        assert fuzz_env.apply().status_code == 201
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_env.http.app)


Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def _operations(api_schema: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation of the description; one it cannot read fails the test."""
    found = []
    for result in api_schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the OpenAPI description is invalid: {result.err()}")
        found.append(result.ok())
    return found


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
        def run(case: schemathesis.Case[Any]) -> None:
            for user in ("bureau", "psb-clerk"):
                headers = {"Authorization": f"Bearer {fuzz_env.tokens[user]}"}
                if case.path == "/v1/auth/token" and case.method.upper() == "DELETE":
                    headers = {}  # revoking the fuzzer's own token would end the run
                case.call_and_validate(headers=headers, excluded_checks=SEMANTIC)

        run()


def test_the_fuzzer_covers_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    operations = {(op.method.upper(), op.path) for op in _operations(api_schema)}
    assert ("POST", "/v1/applications/{case_id}/refuse") in operations
    assert len(operations) >= 15
