"""Code shape (issue #15): no function in ``src/`` over 80 lines, no module over 450 lines.

Measured with ``ast`` over every ``.py`` file under ``src/driftline`` (a function's length is
``end_lineno - lineno + 1``, decorators excluded, nested functions and methods counted on their
own; a module's length is its line count). Only Python is checked: the dashboard's vendored
JavaScript/CSS assets under ``serve/`` are data, not code we shape.

``ALLOWED`` names permanent exceptions, each with its reason; it is empty: every function and
module is within the limits.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "driftline"
MAX_FUNCTION = 80
MAX_MODULE = 450
MODULE = "<module>"

# (file relative to src/driftline, function qualname or MODULE) -> why it may stay over the limit
ALLOWED: dict[tuple[str, str], str] = {}


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """``(qualname, length)`` of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, node.end_lineno - node.lineno + 1  # type: ignore[operator]
            yield from _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def offenders(path: Path, src: Path = SRC) -> dict[tuple[str, str], int]:
    """``(file, name) -> length`` of what in ``path`` is over a limit."""
    rel = "/".join(path.relative_to(src).parts)
    text = path.read_text()
    out = {}
    lines = len(text.splitlines())
    if lines > MAX_MODULE:
        out[(rel, MODULE)] = lines
    for name, length in _functions(ast.parse(text, filename=str(path))):
        if length > MAX_FUNCTION:
            out[(rel, name)] = length
    return out


FILES = sorted(SRC.rglob("*.py"))
CURRENT = {k: v for path in FILES for k, v in offenders(path).items()}


@pytest.mark.parametrize("path", FILES, ids=lambda p: "/".join(p.relative_to(SRC).parts))
def test_functions_and_module_within_limits(path: Path) -> None:
    over = {k: v for k, v in offenders(path).items() if k not in ALLOWED}
    assert not over, (
        f"over the limits (function {MAX_FUNCTION}, module {MAX_MODULE} lines): split by job: "
        + ", ".join(f"{name} {n} lines" for (_, name), n in sorted(over.items()))
    )


def test_allowed_entries_still_needed() -> None:
    """A permanent exception that no longer exceeds the limit is removed from ``ALLOWED``."""
    stale = sorted(k for k in ALLOWED if k not in CURRENT)
    assert not stale, f"no longer over the limit, remove from ALLOWED: {stale}"


def test_measures_methods_nested_functions_and_modules(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    src = tmp_path / "driftline"
    src.mkdir()
    (src / "m.py").write_text(
        f"class A:\n  def long(self):\n{body}\n\ndef outer():\n  def inner():\n{body}\n"
        + "\n" * MAX_MODULE
    )
    got = offenders(src / "m.py", src)
    assert set(got) == {
        ("m.py", MODULE),
        ("m.py", "A.long"),
        ("m.py", "outer"),
        ("m.py", "outer.inner"),
    }
