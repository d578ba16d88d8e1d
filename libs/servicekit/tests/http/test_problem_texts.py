"""Every problem text in the services' and servicekit's source is a Msg with Russian and English.

A problem raised with a bare string (``raise NotFound("No such thing.")``), a class ``title`` that
is a string, or a ``Msg`` whose Russian is not Russian (or whose English is Cyrillic) fails here,
even when no other test reaches that line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
SOURCES = [ROOT / "libs" / "servicekit" / "src", *sorted((ROOT / "services").glob("*/src"))]

#: Problems raised here never reach a client: the consumer turns them into events by ``code``.
NEVER_SHOWN = {Path("services/booking/src/booking/entrypoints/consumers.py")}

#: Callables whose text arguments a client reads, and the index of the first such positional.
TEXT_ARGS = {
    "Problem": 0,
    "NotFound": 0,
    "Conflict": 0,
    "Forbidden": 0,
    "Unauthorized": 0,
    "JwksUnavailable": 0,
    "_unauthorized": 0,
    "validation_failed": 1,
    "get_or_404": 3,
}
TEXT_KEYWORDS = {"detail", "title"}
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_bare_string(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_bare_string(node.left) or _is_bare_string(node.right)
    if isinstance(node, ast.IfExp):
        return _is_bare_string(node.body) or _is_bare_string(node.orelse)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "str":
            return True
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant)
    return False


def _literal_text(node: ast.expr) -> str | None:
    """The literal characters of a string or f-string (placeholders left out)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def problems_in(tree: ast.AST) -> tuple[list[str], int]:
    """Faults in a module's source, and how many problem texts were looked at."""
    faults: list[str] = []
    seen = 0
    problem_classes = set(TEXT_ARGS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_name(b) in problem_classes for b in node.bases):
            problem_classes.add(node.name)
            for stmt in node.body:
                targets = (
                    stmt.targets
                    if isinstance(stmt, ast.Assign)
                    else [stmt.target]
                    if isinstance(stmt, ast.AnnAssign)
                    else []
                )
                value = getattr(stmt, "value", None)
                if any(_name(t) == "title" for t in targets) and value is not None:
                    seen += 1
                    if _is_bare_string(value):
                        faults.append(f"line {stmt.lineno}: class {node.name} has a str title")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name == "Msg":
            seen += 1
            keywords = {k.arg: k.value for k in node.keywords}
            if node.args or set(keywords) != {"ru", "en"}:
                faults.append(f"line {node.lineno}: Msg needs exactly ru= and en=")
                continue
            ru, en = _literal_text(keywords["ru"]), _literal_text(keywords["en"])
            if ru is not None and not CYRILLIC.search(ru):
                faults.append(f"line {node.lineno}: Msg ru={ru!r} is not Russian")
            if en is not None and CYRILLIC.search(en):
                faults.append(f"line {node.lineno}: Msg en={en!r} is not English")
        elif name in problem_classes:
            first = TEXT_ARGS.get(name, 0)
            texts = list(node.args[first : first + 1])
            texts += [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
            for text in texts:
                seen += 1
                if _is_bare_string(text):
                    faults.append(
                        f"line {node.lineno}: {name}(...) is given a bare string; "
                        "use Msg(ru=..., en=...)"
                    )
    return faults, seen


def test_every_problem_text_has_both_languages() -> None:
    faults: list[str] = []
    seen = 0
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in NEVER_SHOWN or "migrations" in relative.parts:
                continue
            found, count = problems_in(ast.parse(path.read_text(encoding="utf-8")))
            seen += count
            faults += [f"{relative}: {fault}" for fault in found]
    assert not faults, "\n".join(faults)
    assert seen > 100  # the scan really looked at the services' problems


@pytest.mark.parametrize(
    "source",
    [
        'raise NotFound("No such thing.")',
        'raise Conflict(f"Slot {x} is taken.", code="slot_taken")',
        'raise Problem(Msg(ru="Нет.", en="No."), status=409, title="Conflict")',
        'row = await get_or_404(session, Row, key, "No such row.")',
        'raise validation_failed([], "Bad " + "shape")',
        'class Gone(Problem):\n    title = "Gone"',
        'class Gone(NotFound):\n    pass\nraise Gone("It is gone.")',
        'Msg(ru="No such thing.", en="No such thing.")',
        'Msg(ru="Такого нет.", en="Такого нет.")',
        'Msg("Такого нет.", "No such thing.")',
        'Msg(ru="Такого нет.")',
    ],
)
def test_the_scan_catches(source: str) -> None:
    faults, _ = problems_in(ast.parse(source))
    assert faults


def test_the_scan_accepts() -> None:
    source = """
raise NotFound(Msg(ru="Такого нет.", en="No such thing."))
raise Conflict(Msg(ru=f"Время {t} занято.", en=f"The time {t} is taken."), code="slot_taken")
raise Problem(TEXT, status=503, title=Msg(ru="Недоступно", en="Unavailable"))
raise slot_refused(reason)
"""
    assert problems_in(ast.parse(source)) == ([], 7)
