"""The workbench's API against its own OpenAPI schema: schemathesis generates requests
(valid and invalid) for every operation and none may end in a server error.

The pool is not started, so a request that passes validation only queues a job: the
property is about the HTTP layer (validation, errors, JSON), not about simulating.
The store is a real one with a run in it, so the run paths reach the library.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings

import scsim
from scsim.web.app import create_app

with warnings.catch_warnings():  # starlette's note that it prefers httpx2 to httpx
    warnings.simplefilter("ignore")
    import schemathesis
    from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("schema") / "store.duckdb"
    run = scsim.simulate("rongcheng", population=500, days=5, seed=1)
    with scsim.open_store(store) as s:
        s.save(run)
    app = create_app(store, slots=1)
    app.state.pool.start = lambda: None  # no workers: a valid run request only queues
    return app


#: Examples per operation: enough to hit each validation path, quick enough to run
#: with the rest of the suite.
EXAMPLES = 25


def test_no_request_is_a_server_error(web_app) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", web_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def no_server_error(case) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
            [kind] = response.headers.get("content-type", [""])
            assert kind.startswith(("application/json", "text/html", "application/zip")), kind

        no_server_error()
    assert web_app.state.pool.counts()["slots"] == 0  # nothing was simulated
