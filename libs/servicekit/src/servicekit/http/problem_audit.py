"""What problems a route can really answer with, found by reading its code.

:func:`raisable_problems` reads the source of a route's endpoint and of every dependency in its
tree, follows the calls they make into the project's own code (the service's package and
servicekit) and collects every :class:`~servicekit.http.problems.Problem` they can raise, with
the line that raises it. The contract test compares this with what the OpenAPI document
declares (:func:`servicekit.http.responses.declared_problems`), so a route that starts raising a
problem nobody declared fails CI instead of surprising a generated client.

It is a static reading, deliberately simple, and it errs on the side of finding too much:

- ``raise X(...)``, ``raise X``, ``raise factory(...)`` (the problems a factory returns),
  ``raise NAME`` (a module-level problem instance, or a local bound to a problem) count;
  a literal ``status=`` keyword wins over the class's status;
- calls are followed to functions, methods and constructors of the project's packages,
  resolving names through the function's globals, parameter annotations, local assignments
  (``x = Cls(...)``, ``x = await f(...)`` by ``f``'s return annotation) and ``self``;
- a ``try`` whose handler catches a problem class (and does not re-raise) removes what its
  body raised of that class;
- a :class:`~servicekit.errors.DomainError` counts with the status the app's
  :class:`~servicekit.http.problems.ProblemMap` gives it (an unmapped one is a 500, not counted);
- :class:`fastapi.exceptions.RequestValidationError` is 422, and so is any route whose request
  FastAPI validates (parameters or a body);
- 500 is never counted (an unexpected error is not an answer a route declares), nor the 503
  the HTTP layer answers for any route when the database is unreachable.

What it cannot see (a problem class chosen at run time, a call through a variable holding a
callable) it does not count; a declared status it cannot find shows up as "declared but never
raised" in the contract test, which then says which route to look at.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from servicekit.errors import DomainError
from servicekit.http.problems import Problem, ProblemMap
from servicekit.http.responses import validates_request

__all__ = ["Raise", "RaiseFinder", "audit_responses", "raisable_problems"]


@dataclass(frozen=True, order=True)
class Raise:
    """One way a route can answer with a problem: its status and where it is raised."""

    status: int
    where: str
    problem: type[BaseException] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Instance:
    """An instance of ``cls`` (as opposed to the class itself)."""

    cls: type


@dataclass
class _Scope:
    """What names mean inside one function being read."""

    func: Callable[..., Any]
    globals: dict[str, Any]
    locals: dict[str, list[Any]]
    assigned: dict[str, list[ast.expr]]
    where: str


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


class RaiseFinder:
    """Reads functions of the given top-level ``packages`` for the problems they can raise;
    ``problems`` gives the statuses of the service's domain errors."""

    def __init__(self, packages: Iterable[str], problems: ProblemMap | None = None) -> None:
        self.packages = frozenset(packages) | {"servicekit"}
        self.problems = problems
        self._raises: dict[Any, frozenset[Raise]] = {}
        self._produces: dict[Any, frozenset[Raise]] = {}

    def _problem_status(self, cls: type) -> int | None:
        if isinstance(cls, type) and issubclass(cls, Problem):
            return int(cls.status)
        if isinstance(cls, type) and issubclass(cls, RequestValidationError):
            return 422
        if isinstance(cls, type) and issubclass(cls, DomainError) and self.problems is not None:
            return self.problems.status_of(cls)
        return None

    # -- entry points ---------------------------------------------------------------------

    def route(self, route: RouteContext) -> set[Raise]:
        """Everything ``route``'s endpoint and dependency tree can raise."""
        found: set[Raise] = set()
        if validates_request(route.dependant):
            found.add(Raise(422, "request validation (FastAPI)", RequestValidationError))
        for dependant in _dependants(route.dependant):
            if dependant.call is not None:
                for target in self._callables_of(dependant.call):
                    found |= self.raises(target)
        return found

    def raises(self, func: Any, owner: type | None = None) -> frozenset[Raise]:
        """What calling ``func`` (a function of the project) can raise."""
        return self._memo(self._raises, func, owner, self._scan_body_of)

    def produces(self, func: Any, owner: type | None = None) -> frozenset[Raise]:
        """The problems a factory function returns (``raise factory(...)``)."""
        return self._memo(self._produces, func, owner, self._returned_by)

    def _memo(
        self,
        cache: dict[Any, frozenset[Raise]],
        func: Any,
        owner: type | None,
        read: Callable[[ast.FunctionDef | ast.AsyncFunctionDef, _Scope], set[Raise]],
    ) -> frozenset[Raise]:
        if isinstance(func, types.MethodType):
            func, owner = func.__func__, owner or type(func.__self__)
        func = inspect.unwrap(func)
        if not self._ours(func):
            return frozenset()
        key = (func, owner)
        if key not in cache:
            cache[key] = frozenset()  # a recursive call adds nothing new
            node, scope = self._parse(func, owner)
            cache[key] = frozenset() if node is None else frozenset(read(node, scope))
        return cache[key]

    def _scan_body_of(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope
    ) -> set[Raise]:
        return self._scan_body(node.body, scope)

    def _returned_by(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope
    ) -> set[Raise]:
        found: set[Raise] = set()
        for sub in _walk_own(node):
            if isinstance(sub, ast.Return) and sub.value is not None:
                found |= self._raised(sub.value, scope, sub.lineno)
        return found

    # -- reading one function -------------------------------------------------------------

    def _ours(self, func: Any) -> bool:
        module = getattr(func, "__module__", None) or ""
        return isinstance(func, types.FunctionType) and module.split(".", 1)[0] in self.packages

    def _parse(
        self, func: types.FunctionType, owner: type | None
    ) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, _Scope]:
        where = f"{func.__module__}.{func.__qualname__}"
        scope = _Scope(func, dict(func.__globals__), {}, {}, where)
        if func.__closure__:
            for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
                with contextlib.suppress(ValueError):  # an empty cell stays unknown
                    scope.globals[name] = cell.cell_contents
        try:
            source = textwrap.dedent(inspect.getsource(func))
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError):
            return None, scope
        # Line numbers of the file, not of the dedented snippet.
        ast.increment_lineno(tree, func.__code__.co_firstlineno - 1)
        node = next(
            (
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                and n.name == func.__code__.co_name
            ),
            None,
        )
        if node is None:
            return None, scope
        scope.where = f"{where}:{{line}}"
        scope.locals = self._parameter_types(func, owner)
        for sub in _walk_own(node):
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(sub, ast.Assign):
                targets, value = sub.targets, sub.value
            elif isinstance(sub, ast.AnnAssign) and sub.value is not None:
                targets, value = [sub.target], sub.value
            elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                targets, value = [sub.optional_vars], sub.context_expr
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    scope.assigned.setdefault(target.id, []).append(value)
                elif isinstance(target, ast.Tuple) and value is not None:
                    for index, element in enumerate(target.elts):
                        if isinstance(element, ast.Name):
                            scope.assigned.setdefault(element.id, []).append(
                                ast.Subscript(value=value, slice=ast.Constant(index))
                            )
        return node, scope

    def _parameter_types(
        self, func: types.FunctionType, owner: type | None
    ) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        try:
            hints = typing.get_type_hints(func, include_extras=True)
        except Exception:  # an annotation that does not resolve: read the names only
            hints = {}
        for name, hint in hints.items():
            if name != "return":
                out[name] = [_Instance(c) for c in _classes_of(hint)]
        params = list(inspect.signature(func).parameters)
        if owner is not None and params and params[0] in ("self", "cls"):
            out[params[0]] = [_Instance(owner) if params[0] == "self" else owner]
        return out

    # -- walking statements ---------------------------------------------------------------

    def _scan_body(self, body: list[ast.stmt], scope: _Scope) -> set[Raise]:
        found: set[Raise] = set()
        for statement in body:
            found |= self._scan(statement, scope)
        return found

    def _scan(self, node: ast.AST, scope: _Scope) -> set[Raise]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            return set()  # defined here, not run here (a call to it is followed when resolved)
        if isinstance(node, ast.Try | ast.TryStar):
            inside = self._scan_body(node.body, scope)
            for handler in node.handlers:
                caught = self._caught(handler, scope)
                if caught and not _reraises(handler):
                    inside = {
                        r for r in inside if r.problem is None or not issubclass(r.problem, caught)
                    }
                inside |= self._scan_body(handler.body, scope)
            inside |= self._scan_body(node.orelse, scope)
            inside |= self._scan_body(node.finalbody, scope)
            return inside
        found: set[Raise] = set()
        if isinstance(node, ast.Raise) and node.exc is not None:
            found |= self._raised(node.exc, scope, node.lineno)
        if isinstance(node, ast.Call):
            for target, owner in self._call_targets(node.func, scope):
                found |= self.raises(target, owner)
        for child in ast.iter_child_nodes(node):
            found |= self._scan(child, scope)
        return found

    def _caught(self, handler: ast.ExceptHandler, scope: _Scope) -> tuple[type, ...]:
        if handler.type is None:
            return (BaseException,)
        nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        out: list[type] = []
        for n in nodes:
            for value in self._values(n, scope):
                if isinstance(value, type) and issubclass(value, BaseException):
                    out.append(value)
        return tuple(out)

    def _raised(self, expr: ast.expr, scope: _Scope, line: int, depth: int = 0) -> set[Raise]:
        """The problems raising ``expr`` answers with."""
        where = scope.where.format(line=line)
        if depth > 5:
            return set()
        if isinstance(expr, ast.Call):
            status = _literal_status(expr)
            found: set[Raise] = set()
            for value in self._values(expr.func, scope):
                if isinstance(value, type):
                    known = self._problem_status(value)
                    if known is not None:
                        found.add(Raise(status or known, where, value))
                elif isinstance(value, types.FunctionType | types.MethodType):
                    # Reported where raised, not where the factory builds it.
                    found |= {Raise(r.status, where, r.problem) for r in self.produces(value)}
            return found
        found = set()
        for value in self._values(expr, scope):
            if isinstance(value, Problem):
                found.add(Raise(value.status, where, type(value)))
            elif isinstance(value, type) and (known := self._problem_status(value)) is not None:
                found.add(Raise(known, where, value))
        if isinstance(expr, ast.Name) and expr.id in scope.assigned:
            for assigned in scope.assigned[expr.id]:
                found |= self._raised(assigned, scope, line, depth + 1)
        return found

    # -- resolving names ------------------------------------------------------------------

    def _call_targets(
        self, func: ast.expr, scope: _Scope, depth: int = 0
    ) -> Iterator[tuple[Callable[..., Any], type | None]]:
        if isinstance(func, ast.Attribute):
            for base in self._values(func.value, scope, depth + 1):
                if isinstance(base, _Instance | type):
                    cls = base.cls if isinstance(base, _Instance) else base
                    member = inspect.getattr_static(cls, func.attr, None)
                    if isinstance(member, staticmethod | classmethod):
                        member = member.__func__
                    if isinstance(member, types.FunctionType):
                        yield member, _defining_class(cls, func.attr)
                    continue
                member = getattr(base, func.attr, None)
                yield from self._as_targets(member)
            return
        for value in self._values(func, scope, depth + 1):
            yield from self._as_targets(value)

    def _as_targets(self, value: Any) -> Iterator[tuple[Callable[..., Any], type | None]]:
        if isinstance(value, types.FunctionType):
            yield value, None
        elif isinstance(value, types.MethodType):
            owner = value.__self__ if isinstance(value.__self__, type) else type(value.__self__)
            yield value.__func__, owner
        elif isinstance(value, type) and not issubclass(value, BaseException):
            init = inspect.getattr_static(value, "__init__", None)
            if isinstance(init, types.FunctionType):
                yield init, value

    def _callables_of(self, call: Any) -> Iterator[Callable[..., Any]]:
        if isinstance(call, types.FunctionType | types.MethodType):
            yield call
        elif isinstance(call, type):
            init = inspect.getattr_static(call, "__init__", None)
            if isinstance(init, types.FunctionType):
                yield init
        elif callable(call):
            method = getattr(type(call), "__call__", None)  # noqa: B004
            if isinstance(method, types.FunctionType):
                yield types.MethodType(method, call)

    def _values(self, expr: ast.expr, scope: _Scope, depth: int = 0) -> list[Any]:
        """What ``expr`` may be: modules, classes, functions, problem instances, instances."""
        if depth > 6:
            return []
        if isinstance(expr, ast.Await):
            return self._values(expr.value, scope, depth + 1)
        if isinstance(expr, ast.Name):
            if expr.id in scope.locals:
                return scope.locals[expr.id]
            if expr.id in scope.assigned:
                out: list[Any] = []
                for assigned in scope.assigned[expr.id]:
                    out.extend(self._values(assigned, scope, depth + 1))
                return out
            if expr.id in scope.globals:
                return [scope.globals[expr.id]]
            builtin = (
                getattr(__builtins__, expr.id, None)
                if not isinstance(__builtins__, dict)
                else __builtins__.get(expr.id)
            )
            return [] if builtin is None else [builtin]
        if isinstance(expr, ast.Attribute):
            out = []
            for base in self._values(expr.value, scope, depth + 1):
                if isinstance(base, _Instance):
                    member = inspect.getattr_static(base.cls, expr.attr, None)
                    if isinstance(member, property) and member.fget is not None:
                        out.extend(_Instance(c) for c in _return_classes(member.fget))
                    else:
                        hints = _class_hints(base.cls)
                        if expr.attr in hints:
                            out.extend(_Instance(c) for c in _classes_of(hints[expr.attr]))
                elif isinstance(base, types.ModuleType | type):
                    member = getattr(base, expr.attr, None)
                    if member is not None:
                        out.append(member)
            return out
        if isinstance(expr, ast.Call):
            out = []
            for target, owner in self._call_targets(expr.func, scope, depth + 1):
                if target.__name__ == "__init__" and owner is not None:
                    out.append(_Instance(owner))
                else:
                    out.extend(_Instance(c) for c in _return_classes(target))
            for value in self._values(expr.func, scope, depth + 1):
                if isinstance(value, type) and issubclass(value, BaseException):
                    out.append(_Instance(value))
            return out
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
            # ``a, b = f()``: the element of f's ``tuple[A, B]`` return annotation.
            out = []
            if isinstance(expr.value, ast.Call | ast.Await):
                call = expr.value.value if isinstance(expr.value, ast.Await) else expr.value
                if isinstance(call, ast.Call):
                    for target, _ in self._call_targets(call.func, scope, depth + 1):
                        hint = _return_hint(target)
                        args = typing.get_args(hint)
                        index = expr.slice.value
                        if isinstance(index, int) and index < len(args):
                            out.extend(_Instance(c) for c in _classes_of(args[index]))
            return out
        return []


def _walk_own(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without descending into nested functions and classes."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        sub = stack.pop()
        yield sub
        if not isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(sub))


def _reraises(handler: ast.ExceptHandler) -> bool:
    for sub in ast.walk(handler):
        if isinstance(sub, ast.Raise):
            if sub.exc is None:
                return True
            if isinstance(sub.exc, ast.Name) and sub.exc.id == handler.name:
                return True
    return False


def _literal_status(call: ast.Call) -> int | None:
    for keyword in call.keywords:
        if keyword.arg == "status" and isinstance(keyword.value, ast.Constant):
            value = keyword.value.value
            if isinstance(value, int):
                return value
    return None


def _defining_class(cls: type, name: str) -> type:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return cls


def _return_hint(func: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(func, include_extras=True).get("return")
    except Exception:
        return None


def _return_classes(func: Callable[..., Any]) -> list[type]:
    return _classes_of(_return_hint(func))


def _class_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:
        return {}


_CONTAINERS = ("AsyncIterator", "AsyncGenerator", "Iterator", "Generator", "Awaitable")


def _classes_of(hint: Any) -> list[type]:
    """The classes a value annotated ``hint`` may be (``Annotated``, unions, ``X | None``)."""
    if hint is None:
        return []
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _classes_of(typing.get_args(hint)[0])
    if origin is typing.Union or isinstance(hint, types.UnionType):
        return [c for arg in typing.get_args(hint) for c in _classes_of(arg)]
    if origin is not None and getattr(origin, "__name__", "") in _CONTAINERS:
        args = typing.get_args(hint)
        return _classes_of(args[0]) if args else []
    if isinstance(hint, type) and hint is not type(None):
        return [hint]
    return []


def raisable_problems(
    route: RouteContext, packages: Iterable[str] = (), problems: ProblemMap | None = None
) -> dict[int, list[str]]:
    """The statuses ``route`` can answer with a problem (beyond 500), each with where from.

    ``packages`` are the top-level packages whose code is followed besides servicekit; by
    default the endpoint's own.
    """
    endpoint = route.endpoint
    assert endpoint is not None
    own = {endpoint.__module__.split(".", 1)[0], *packages}
    found: dict[int, set[str]] = {}
    for item in RaiseFinder(own, problems).route(route):
        if item.status != 500:
            found.setdefault(item.status, set()).add(item.where)
    return {status: sorted(where) for status, where in sorted(found.items())}


def audit_responses(app: FastAPI, packages: Iterable[str] = ()) -> list[str]:
    """Every disagreement between ``app``'s OpenAPI document and what its routes can raise.

    One line per operation and status: raised but not declared (with where it is raised), or
    declared but never raised. Empty when the document tells the truth.
    """
    doc = app.openapi()
    problems = getattr(app.state, "problems", None)
    faults: list[str] = []
    for route in iter_route_contexts(app.routes):
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        raisable = raisable_problems(route, packages, problems)
        for method in sorted(route.methods or ()):
            operation = doc["paths"][route.path_format][method.lower()]
            declared = {int(k) for k in operation.get("responses", {}) if k.isdigit()}
            declared = {status for status in declared if status >= 400 and status != 500}
            name = f"{method} {route.path_format}"
            for status in sorted(set(raisable) - declared):
                faults.append(
                    f"{name} can answer {status} but does not declare it; raised at: "
                    + "; ".join(raisable[status])
                )
            for status in sorted(declared - set(raisable)):
                faults.append(f"{name} declares {status} but nothing it runs raises it")
    return faults
