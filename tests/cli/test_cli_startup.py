"""The command starts light: ``import driftline.cli`` and ``driftline --help`` load no heavy
library (a behaviour test in a clean subprocess, not a timing test), and the constants the CLI
copies to stay light agree with their sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
HEAVY = ("scipy", "sklearn", "torch", "pandas", "pyarrow")
#: --help needs neither the store's database layer nor NumPy
HEAVY_FOR_HELP = (*HEAVY, "numpy", "sqlalchemy")


def _loaded_after(code: str) -> set[str]:
    """Top-level modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        code
        + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_driftline_and_cli_is_light() -> None:
    loaded = _loaded_after("import driftline, driftline.cli")
    assert not loaded & set(HEAVY_FOR_HELP), sorted(loaded & set(HEAVY_FOR_HELP))


def test_help_loads_no_heavy_library() -> None:
    loaded = _loaded_after(
        "import contextlib, io\nfrom driftline.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--help']) == 0\n"
        "    for cmd in ('signature', 'repair', 'label', 'demo', 'serve', 'gc'):\n"
        "        assert main([cmd, '--help']) == 0"
    )
    assert not loaded & set(HEAVY_FOR_HELP), sorted(loaded & set(HEAVY_FOR_HELP))


def test_list_loads_no_statistics_library(tmp_path: Path) -> None:
    store = tmp_path / "store"
    loaded = _loaded_after(
        "import contextlib, io\nfrom driftline.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['--store', {str(store)!r}, 'init']) == 0\n"
        f"    assert main(['--store', {str(store)!r}, 'list']) == 0"
    )
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_lazy_package_attributes() -> None:
    import driftline
    from driftline.store import Edge, Model, Relative, Store

    assert (driftline.Store, driftline.Model, driftline.Edge) == (Store, Model, Edge)
    assert driftline.Relative is Relative
    assert set(driftline.__all__) <= set(dir(driftline))
    with pytest.raises(AttributeError):
        driftline.no_such_thing  # noqa: B018


def test_copied_constants_match_their_sources() -> None:
    from driftline.cli.lineage import EDGE_KINDS_HELP
    from driftline.cli.maintenance import DEFAULT_GRACE_SECONDS
    from driftline.store import EDGE_KINDS, maintenance

    assert EDGE_KINDS_HELP == "|".join(EDGE_KINDS)
    assert DEFAULT_GRACE_SECONDS == maintenance.DEFAULT_GRACE_SECONDS
