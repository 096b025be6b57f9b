"""What the command says about the state it finds: ``init`` on an existing store, unknown
deployments, and the step lines that ``--quiet`` silences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftline.params import save_safetensors


def _params(path: Path, value: float) -> Path:
    save_safetensors({"w": np.full((2, 3), value, dtype=np.float32)}, path)
    return path


def test_init_on_an_existing_store_says_so_and_leaves_it(cli, tmp_path):
    code, out, _ = cli("init")
    assert code == 0 and "Initialised" in out
    cli("register", str(_params(tmp_path / "a.safetensors", 1.0)), "-n", "m")
    code, out, _ = cli("init")
    assert code == 0 and "Initialised" not in out
    assert "already exists" in out and "1 model(s)" in out and "left unchanged" in out
    code, out, _ = cli("list", "--json")
    assert [m["ref"] for m in json.loads(out)] == ["m@1"]


@pytest.mark.parametrize(
    "args",
    [
        ("deployments", "--history", "nope"),
        ("deployments", "--history", "nope", "--json"),
        ("rollback", "nope"),
        ("show", "deployment:nope"),
        ("lineage", "deployment:nope"),
        ("drift", "deployment:nope", "w.csv"),
        ("agent", "deployment:nope", "--source", "w.csv"),
        ("report", "deployment:nope", "-o", "x.html"),
        ("repair", "deployment:nope", "--window", "w.csv"),
    ],
)
def test_an_unknown_deployment_is_an_error_everywhere(cli, tmp_path, args):
    cli("init")
    cli("register", str(_params(tmp_path / "a.safetensors", 1.0)), "-n", "m")
    cli("deploy", "m@1", "--as", "prod")
    (tmp_path / "w.csv").write_text("a,b\n1,2\n")
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "no deployment named 'nope'" in err


def _repair_setup(cli, tmp_path: Path) -> tuple[str, ...]:
    from sklearn.linear_model import LogisticRegression

    import driftline

    rng = np.random.default_rng(0)
    cli("init")
    store = driftline.open(tmp_path / ".driftline")
    Xa = rng.normal(size=(400, 2))
    Xb = rng.normal(size=(400, 2)) + 3.0
    base = store.register(LogisticRegression().fit(Xa, Xa[:, 1] > 0), name="clf", data=Xa)
    child = store.register(
        LogisticRegression().fit(Xb, Xb[:, 1] > 3), name="clf", parents=[base], data=Xb
    )
    store.deploy(child, "clf")
    Xw = rng.normal(size=(200, 2))
    (tmp_path / "w.csv").write_text("f0,f1\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in Xw))
    return ("repair", "clf", "--window", "w.csv", "--ask", "0")


def test_quiet_silences_the_step_lines_and_nothing_else(cli, tmp_path):
    args = _repair_setup(cli, tmp_path)
    code, out, err = cli(*args)
    assert code == 0 and "· checking" in err and "healthy-ancestor search" in out
    code, quiet_out, quiet_err = cli("--quiet", *args)
    assert code == 0 and quiet_err == ""
    assert quiet_out == out  # the same result, the same words (the repair is replayed)


def test_init_twice_on_each_backend(cli, store_location):
    code, out, _ = cli("--store", store_location, "init")
    assert code == 0 and "Initialised" in out
    code, out, _ = cli("--store", store_location, "init")
    assert code == 0 and "already exists" in out and "0 model(s)" in out
