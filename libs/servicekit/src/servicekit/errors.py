"""Domain errors: what a use case raises when a rule refuses, with no HTTP in sight.

A service's ``domain/`` (or ``application/``) declares one class per refusal::

    class SlotTaken(DomainError):
        code = "slot_taken"

and raises it where the rule lives. The error knows nothing of status codes or wording; each
entrypoint maps it once, with the text beside the mapping:

* HTTP: the service's ``api/errors.py`` builds a :class:`~servicekit.http.problems.ProblemMap`
  (status, bilingual title and detail per class) that the app installs; an unmapped domain error
  is a bug (500, logged), and a test of each service checks every ``DomainError`` it defines is
  mapped;
* consumers: a :class:`ErrorTable` from the error class to what the consumer does with it (a
  rejection reason published back, a message dead-lettered), looked up with :meth:`ErrorTable.get`.

``code`` is the stable snake_case name clients and consumers branch on (the problem's ``code``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from typing import ClassVar, Generic, TypeVar

__all__ = ["DomainError", "ErrorTable", "domain_errors_of"]

V = TypeVar("V")


class DomainError(Exception):
    """A rule refused an action. Subclasses set ``code``; attributes carry what the text needs."""

    code: ClassVar[str] = "refused"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.code)


class ErrorTable(Generic[V]):
    """A mapping from domain error classes to values, looked up along an error's class hierarchy
    (a table entry for a base class covers its subclasses unless they have their own)."""

    def __init__(self, entries: Mapping[type[DomainError], V] | None = None) -> None:
        self._entries: dict[type[DomainError], V] = dict(entries or {})

    def add(self, error: type[DomainError], value: V) -> None:
        if error in self._entries:
            raise ValueError(f"{error.__name__} is mapped twice")
        self._entries[error] = value

    def get(self, exc: BaseException | type[BaseException]) -> V | None:
        cls = exc if isinstance(exc, type) else type(exc)
        for klass in cls.__mro__:
            if klass in self._entries:
                return self._entries[klass]
        return None

    def missing(self, errors: Iterable[type[DomainError]]) -> list[type[DomainError]]:
        """The classes of ``errors`` this table does not cover."""
        return [e for e in errors if self.get(e) is None]

    def __iter__(self) -> Iterator[type[DomainError]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def domain_errors_of(*packages: str) -> list[type[DomainError]]:
    """Every concrete :class:`DomainError` subclass defined in modules under ``packages`` (after
    importing them all): what a service's mapping test checks is covered."""
    for name in packages:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=f"{name}."):
            importlib.import_module(info.name)
    found: list[type[DomainError]] = []
    stack: list[type[DomainError]] = list(DomainError.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith(packages):
            found.append(cls)
    return sorted(set(found), key=lambda c: (c.__module__, c.__qualname__))
