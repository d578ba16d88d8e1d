"""Each service's OpenAPI document tells what the wire does: every error answer an operation can
give is declared, as problem+json with the project's problem schema, and nothing more.

"What it can give" is read from the code (``servicekit.http.problem_audit``): the endpoint, its
dependency tree and the project functions they call. A route that starts raising a problem it
does not declare (``responses=problem_responses(...)`` in its decorator, or a dependency marked
with ``@raises``) fails here, with the line that raises it.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi import FastAPI
from servicekit.http.app import create_app
from servicekit.http.problem_audit import audit_responses
from servicekit.http.problems import PROBLEM_JSON
from servicekit.testing import TokenMint

SERVICES = {
    "booking": "BookingSettings",
    "content": "ContentSettings",
    "cabinet": "CabinetSettings",
    "notify": "NotifySettings",
}


def service_app(name: str) -> FastAPI:
    """The service's app as ``make run`` builds it (nothing is started: no database needed)."""
    bootstrap = importlib.import_module(f"{name}.bootstrap")
    settings_class = getattr(importlib.import_module(f"{name}.config"), SERVICES[name])
    settings = settings_class(environment="test", jwt_public_jwks=TokenMint().jwks_json)
    return create_app(bootstrap.build_runtime(settings))


@pytest.fixture(scope="module", params=sorted(SERVICES))
def app(request: pytest.FixtureRequest) -> FastAPI:
    return service_app(request.param)


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    ]


def test_declared_errors_are_what_the_code_can_raise(app: FastAPI) -> None:
    faults = audit_responses(app)
    assert not faults, "\n".join(faults)


def test_every_error_answer_is_problem_json_with_the_problem_schema(app: FastAPI) -> None:
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert problem["properties"]["detail"] == {
        "description": problem["properties"]["detail"]["description"],
        "title": "Detail",
        "type": "string",
    }
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert set(problem["required"]) == {"title", "status", "code"}
    checked = 0
    for name, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status.isdigit() and int(status) >= 400:
                checked += 1
                assert response["content"] == {
                    PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{name} {status}"
            else:
                assert "Problem" not in str(response), f"{name} {status}"
    if any(path.startswith("/api/") for path in doc["paths"]):
        assert checked, "a service with routes declares some errors"


def test_authenticated_operations_declare_401_and_who_may_declare_403() -> None:
    doc = service_app("booking").openapi()
    cancel = doc["paths"]["/api/booking/appointments/{appointment_id}/cancel"]["post"]
    assert {"401", "404", "409", "422"} <= set(cancel["responses"])
    assert "403" not in cancel["responses"]  # anyone signed in; someone else's is 404
    book = doc["paths"]["/api/booking/appointments"]["post"]
    assert {"401", "403", "409", "422"} <= set(book["responses"])
    assert book["responses"]["401"]["headers"]["WWW-Authenticate"]
    search = doc["paths"]["/api/booking/slots"]["get"]
    assert "401" not in search["responses"]  # anonymous
    assert "422" in search["responses"]  # its query model, read by one dependency
