"""No input gets a 5xx, and every answer is what the service's OpenAPI documents.

Requests are generated from each service's own ``/openapi.json`` by schemathesis (hypothesis
underneath), valid and invalid ones, sent as an anonymous caller and with admin, specialist
and client tokens. Each answer must not be a server error, must have a documented status and
content type, and must match the documented schema. A bounded number of examples per operation
keeps the whole run within about two minutes on a shared machine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..conftest import Stack

# About 20-40 s per service on a quiet machine; the limit leaves room for a busy one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: Examples per operation and caller kind together (about 80 operations in all).
EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CALLERS = ("anonymous", "admin", "specialist", "client")


def _httpx_request(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis' transport arguments (requests' names) as httpx's."""
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params") or None,
        "cookies": kwargs.get("cookies") or None,
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        if isinstance(data, bytes | str):
            out["content"] = data
        else:
            out["data"] = data
    return out


def _explore(
    operation: Any,
    headers: dict[str, dict[str, str]],
    send: Callable[..., httpx.Response],
    seen: Counter[int],
) -> None:
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every run: CI is not a lottery
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=cases, caller=st.sampled_from(CALLERS))
    def run(case: Any, caller: str) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://service", headers=headers[caller])
        response = send(_httpx_request(kwargs))
        seen[response.status_code // 100] += 1
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.parametrize("name", ["booking", "cabinet", "notify", "content"])
async def test_no_input_gets_a_server_error_or_an_undocumented_answer(
    stack: Stack, name: str
) -> None:
    service = stack[name]
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    headers = {caller: stack.auth(caller) for caller in CALLERS if caller != "anonymous"}
    headers["anonymous"] = {}
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://service", timeout=60
    ) as client:

        def send(request: dict[str, Any]) -> httpx.Response:
            # hypothesis drives from a worker thread; the service lives on this loop.
            future = asyncio.run_coroutine_threadsafe(client.request(**request), loop)
            return future.result(timeout=60)

        seen: Counter[int] = Counter()
        for result in schema.get_all_operations():
            operation = result.ok()
            await asyncio.to_thread(_explore, operation, headers, send, seen)
    # It did explore, and no 5xx came back.
    assert seen[2] > 0, seen
    assert seen[4] > 0, seen
    assert seen[5] == 0, seen
