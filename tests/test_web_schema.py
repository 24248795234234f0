"""Schemathesis against the app's own OpenAPI schema: generated requests, schema-valid and
not, to every operation; no 5xx, and every response documented and matching the schema.

The case counts go to tests/artifacts/schemathesis.json.
"""

import json
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsqa.config import Settings
from newsqa.web.app import create_app
from tests.helpers import optional_import

ARTIFACTS = Path(__file__).parent / "artifacts"
EXAMPLES = {"POST /ask": 80, "GET /ask": 80}  # the rest have little to vary
OTHER_EXAMPLES = 15


def test_no_5xx_and_responses_match_the_schema(sample_index):
    schemathesis = optional_import("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable

    app = create_app(Settings(index_dir=sample_index, reload_token=None))
    cases: Counter[tuple[str, str, int]] = Counter()
    failures: list[str] = []
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES.get(operation.label, OTHER_EXAMPLES),
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case):
                    # Called right away, inside the loop: `operation` and `mode` are this round's.
                    response = case.call()
                    cases[(operation.label, mode.value, response.status_code)] += 1  # noqa: B023
                    # Not "schema-valid data is accepted": a question of only spaces or with a
                    # control character is schema-valid JSON and gets its documented 400. And a
                    # body or head over the size limits is refused (413/431, documented) before
                    # it is read, whether it is valid or not.
                    # Nor "schema-violating data is refused" for query strings: they carry only
                    # strings, and a value schemathesis turns into an object or a number to make
                    # it invalid is sent as a string that is valid (`until={}` arrives as
                    # `until=`, no filter), a false positive its maintainers know (schemathesis
                    # issues 3962 and 4600). Bodies keep the check; the tests of each route check
                    # what a bad query gets.
                    excluded = [schemathesis.checks.positive_data_acceptance]
                    if response.status_code in (413, 431) or case.method == "GET":
                        excluded.append(schemathesis.checks.negative_data_rejection)
                    try:
                        case.validate_response(response, excluded_checks=excluded)
                    except AssertionError as exc:  # schemathesis' failures are AssertionErrors
                        failures.append(f"{operation.label} ({mode.value}): {exc}"[:600])  # noqa: B023

                try:
                    check()
                except Unsatisfiable:
                    pass  # no invalid request exists for an operation without parameters
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {
        "cases": sum(cases.values()),
        "failures": len(failures),
        "by_operation": [
            {"operation": op, "mode": mode, "status": status, "cases": n}
            for (op, mode, status), n in sorted(cases.items())
        ],
    }
    (ARTIFACTS / "schemathesis.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    assert not any(status >= 500 for (_, _, status) in cases), cases
    assert failures == []
    assert summary["cases"] >= 200
    assert {op for op, _, _ in cases} >= {"POST /ask", "GET /ask", "GET /healthz", "GET /api/index"}


@pytest.mark.parametrize("path", ["/openapi.json"])
def test_the_schema_documents_every_error_the_ask_routes_answer(sample_index, path):
    with TestClient(create_app(Settings(index_dir=sample_index))) as client:
        paths = client.get(path).json()["paths"]
    for method in ("get", "post"):
        documented = set(paths["/ask"][method]["responses"])
        assert {"200", "400", "404", "413", "422", "429", "431", "503"} <= documented
