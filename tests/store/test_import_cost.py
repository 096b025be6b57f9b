"""Importing the store stays light: no scipy, scikit-learn, torch or pandas (the CLI's
``driftline list`` budget is 0.8 s; measure with ``python -X importtime -c "import driftline.store"``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import driftline

HEAVY = ("scipy", "sklearn", "torch", "pandas", "driftline.drift")
SRC = Path(driftline.__file__).resolve().parent


def _loaded_after(statement: str, *, skip_package_root: bool) -> list[str]:
    code = textwrap.dedent(
        f"""
        import sys, types
        if {skip_package_root}:  # the store's own imports only, without driftline/__init__.py
            root = types.ModuleType("driftline")
            root.__path__ = [{str(SRC)!r}]
            sys.modules["driftline"] = root
        {statement}
        print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}
                              or m.startswith("driftline.drift"))))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.split()


def test_the_store_imports_no_heavy_library_nor_drift():
    assert _loaded_after("import driftline.store", skip_package_root=True) == []


def test_registering_without_data_imports_no_drift(tmp_path):
    stmt = (
        "import numpy as np, driftline.store as s; "
        f"s.Store({str(tmp_path)!r}).register({{'w': np.zeros(2)}}, name='m')"
    )
    assert _loaded_after(stmt, skip_package_root=True) == []


def test_import_driftline_store_through_the_package_is_light():
    assert _loaded_after("import driftline.store", skip_package_root=False) == []
