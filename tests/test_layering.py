"""The import layering of ``src/driftline`` (DESIGN.md, "Packages"), checked over every import
statement with ``ast``: module level, inside functions, under ``TYPE_CHECKING``, and
``importlib.import_module("driftline....")`` calls with a literal name.

Rules (one test per forbidden edge ``importer -> imported``, each reporting every offending line):

* ``params`` and ``drift`` import nothing from ``store``, ``repair``, ``active``, ``cli``, ``demo``;
* ``store`` imports nothing from ``repair`` or ``active``, and from ``drift`` at most the types it
  decodes: the modules ``driftline.drift.signature`` and ``driftline.drift.report``, or the names
  ``Signature`` / ``DriftReport`` from ``driftline.drift`` (never a computing module);
* nothing outside ``cli/`` imports ``cli``; nothing outside ``demo/`` and ``cli/`` imports
  ``demo``;
* the core (``params``, ``drift``, ``store``, ``repair``, ``active``, ``present``) never imports
  ``serve``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "driftline"
CORE = ("params", "drift", "store", "repair", "active", "present")
LOW = ("store", "repair", "active", "cli", "demo")  # what params and drift may not import
STORE_MAY_READ_FROM_DRIFT = {"driftline.drift.signature", "driftline.drift.report"}
STORE_MAY_NAME_FROM_DRIFT = {"Signature", "DriftReport"}
TOP = "<top-level modules>"  # driftline/__init__.py, driftline/monitor.py, ...
# Files counted as part of a package they do not sit in, and why (named exceptions):
PLACED = {
    # ``python -m driftline`` is the command line itself: it imports cli.main and nothing else
    "__main__.py": "cli",
}


@dataclass(frozen=True)
class Import:
    file: str  # relative to src/driftline
    line: int
    importer: str  # package of the importing file (or TOP)
    module: str  # the imported module, absolute
    names: tuple[str, ...]  # for "from module import names"

    @property
    def package(self) -> str | None:
        """The driftline package (or TOP) that ``module`` belongs to; None outside driftline."""
        parts = self.module.split(".")
        if parts[0] != "driftline":
            return None
        return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else TOP

    def __str__(self) -> str:
        what = f"from {self.module} import {', '.join(self.names)}" if self.names else self.module
        return f"{self.file}:{self.line}: {what}"


def _imports(path: Path, src: Path = SRC) -> Iterator[Import]:
    """Every import in the file ``path`` of the package tree rooted at ``src``."""
    parts = path.relative_to(src).parts
    rel = "/".join(parts)
    importer = PLACED.get(rel) or (parts[0] if len(parts) > 1 else TOP)
    package = [src.name, *parts[:-1]]  # the package that relative imports start from
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, importer, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = tuple(a.name for a in node.names)
            if base == "driftline":  # "from driftline import store, cli": each is a module
                for name in names:
                    yield Import(rel, node.lineno, importer, f"driftline.{name}", ())
            else:
                yield Import(rel, node.lineno, importer, base, names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(rel, node.lineno, importer, node.args[0].value, ())


PACKAGES = sorted(p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__"))
ALL_IMPORTS = [imp for path in sorted(SRC.rglob("*.py")) for imp in _imports(path)]


def _store_reads_drift_types_only(imp: Import) -> bool:
    if imp.module in STORE_MAY_READ_FROM_DRIFT:
        return True
    return (
        imp.module == "driftline.drift"
        and bool(imp.names)
        and (set(imp.names) <= STORE_MAY_NAME_FROM_DRIFT)
    )


def _forbidden_edges() -> dict[tuple[str, str], str]:
    """``(importer, imported) -> rule`` for every edge the layering forbids."""
    edges: dict[tuple[str, str], str] = {}
    for low in ("params", "drift"):
        for target in LOW:
            edges[(low, target)] = f"{low} imports nothing from {', '.join(LOW)}"
    for target in ("repair", "active"):
        edges[("store", target)] = "store imports nothing from repair or active"
    edges[("store", "drift")] = "store imports from drift at most the Signature/DriftReport types"
    for pkg in [*PACKAGES, TOP]:
        if pkg != "cli":
            edges[(pkg, "cli")] = "nothing outside cli/ imports cli"
        if pkg not in ("cli", "demo"):
            edges[(pkg, "demo")] = "nothing outside demo/ and cli/ imports demo"
    for core in CORE:
        edges[(core, "serve")] = "the core never imports serve"
    return edges


FORBIDDEN = _forbidden_edges()


def _violations(importer: str, imported: str) -> list[Import]:
    found = []
    for imp in ALL_IMPORTS:
        if imp.importer != importer or imp.package != imported:
            continue
        if (importer, imported) == ("store", "drift") and _store_reads_drift_types_only(imp):
            continue
        found.append(imp)
    return found


def _edge_params() -> list[object]:
    out = []
    for edge, rule in sorted(FORBIDDEN.items()):
        out.append(pytest.param(edge, rule, id=f"{edge[0]}->{edge[1]}"))
    return out


@pytest.mark.parametrize(("edge", "rule"), _edge_params())
def test_forbidden_import_edge(edge: tuple[str, str], rule: str) -> None:
    found = _violations(*edge)
    assert not found, f"{rule}; violations:\n" + "\n".join(f"  {imp}" for imp in found)


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The parser finds function-level, TYPE_CHECKING, relative and importlib imports."""
    pkg = tmp_path / "driftline" / "store"
    pkg.mkdir(parents=True)
    sample = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from driftline.repair import pipeline\n"
        "def f():\n    from ..active import queue\n    import driftline.cli.main\n"
        "    importlib.import_module('driftline.demo.run')\n"
        "from driftline.drift import Signature, compare\n"
        "from driftline.drift.signature import Signature as S\n"
    )
    probe = pkg / "probe.py"
    probe.write_text(sample)
    imps = list(_imports(probe, tmp_path / "driftline"))
    assert {i.importer for i in imps} == {"store"}
    got = {(i.package, i.module) for i in imps if i.package}
    assert ("repair", "driftline.repair") in got
    assert ("active", "driftline.active") in got
    assert ("cli", "driftline.cli.main") in got
    assert ("demo", "driftline.demo.run") in got
    drift = [i for i in imps if i.package == "drift"]
    assert [_store_reads_drift_types_only(i) for i in drift] == [False, True]


def test_every_package_is_covered() -> None:
    """A new package must be placed in the rules (no silent gap)."""
    known = {*CORE, "serve", "cli", "demo"}
    assert set(PACKAGES) <= known, f"unplaced packages: {set(PACKAGES) - known}"
