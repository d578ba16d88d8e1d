"""FastAPI dependencies for routes: the runtime, a unit of work per request, the clock, and a
query string read into one model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from servicekit.http.client_ip import caller_address
from servicekit.http.responses import raises
from servicekit.messaging.outbox import UnitOfWork
from servicekit.runtime import ServiceRuntime


async def get_runtime(request: Request) -> ServiceRuntime:
    """The service runtime the app was created with."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """A unit of work for the request; the route calls ``await uow.commit()``."""
    async with runtime.uow() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


async def request_time(runtime: RuntimeDep) -> datetime:
    """Now, by the service's clock (tests drive it through ``build_runtime(clock=...)``)."""
    return runtime.clock()


NowDep = Annotated[datetime, Depends(request_time)]


async def client_address(request: Request) -> str:
    """The caller's IP address, as :func:`servicekit.http.client_ip.caller_address` decides."""
    return caller_address(request)


ClientAddress = Annotated[str, Depends(client_address)]


Q = TypeVar("Q", bound=BaseModel)


def query_model(model: type[Q]) -> Callable[[Request], Awaitable[Q]]:
    """A dependency that reads a route's whole query string into ``model`` in one validation.

    For a hot route with several query parameters: FastAPI resolves each parameter on its own,
    with introspection on every request (about 0.15 ms of CPU for the six of slot search;
    bench/booking.py), where one model validation costs a few microseconds. Errors are the
    same 422 problem, at ``["query", <name>]``. The route documents the parameters with
    ``openapi_extra=query_parameters(model)``, since FastAPI cannot see them.
    """

    @raises(422)
    async def parse(request: Request) -> Q:
        try:
            return model.model_validate(request.query_params)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None

    return parse


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``parameters`` of a :func:`query_model` route (for ``openapi_extra``)."""
    schema = model.model_json_schema(by_alias=True)
    if "$defs" in schema:
        raise TypeError(f"{model.__name__}: query parameters are scalars, not nested models")
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = dict(field_schema)
        description = field_schema.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field_schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return {"parameters": parameters}
