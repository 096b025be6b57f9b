"""Bad drift input on the command line: one line on stderr and exit 2, never "no drift"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftline.params import save_safetensors


def _csv(path: Path, X: np.ndarray) -> None:
    rows = ["a,b"] + [f"{u:.6f},{v:.6f}" for u, v in X]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture()
def model(cli, tmp_path):
    cli("init")
    save_safetensors({"w": np.ones(3)}, tmp_path / "m.safetensors")
    cli("register", "m.safetensors", "-n", "m")
    _csv(tmp_path / "train.csv", np.random.default_rng(0).normal(size=(3000, 2)))
    assert cli("signature", "train.csv", "--attach", "m@1")[0] == 0
    _csv(tmp_path / "now.csv", np.random.default_rng(1).normal(size=(500, 2)))
    (tmp_path / "empty.csv").write_text("a,b\n")
    return "m@1"


@pytest.mark.parametrize("share", ["0", "1.5", "-0.2", "nan", "inf"])
def test_drift_share_outside_unit_interval(cli, model, share):
    for cmd in (["drift", model, "now.csv"], ["agent", model, "--source", "now.csv"]):
        code, out, err = cli(*cmd, "--drift-share", share)
        assert (
            code == 2
            and ("drift_share" in err or "--drift-share" in err)
            and len(err.strip().splitlines()) == 1
        )


def test_empty_window_is_an_error_not_no_drift(cli, model):
    code, out, err = cli("drift", model, "empty.csv")
    assert code == 2 and "0 rows" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("agent", model, "--source", "empty.csv")
    assert code == 2 and "0 rows" in err and len(err.strip().splitlines()) == 1


def test_calibrated_rule_is_the_cli_default(cli, model):
    code, out, _ = cli("drift", model, "now.csv", "--json", "--no-save")
    import json

    rep = json.loads(out)
    assert code == 0 and rep["rule"] == "calibrated" and rep["alpha"] == 0.01
    assert "p_cal" in rep["features"]["a"]["metrics"]


def test_declared_column_type_for_an_absent_column_is_an_error(cli, model):
    # a typo in --categorical used to be ignored: the column silently kept its inferred type
    code, out, err = cli("signature", "train.csv", "-o", "s.sig", "--categorical", "B")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'B'" in err and "a, b" in err
    from driftline.drift import Signature
    from driftline.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="numeric.*'z'.*not in the data"):
        Signature.from_data({"a": [1.0, 2.0]}, numeric=["z"])


def test_training_data_without_rows_is_refused(cli, model):
    # a header-only training file gave a 0-row signature that every window matched: 'no drift'
    code, out, err = cli("signature", "empty.csv", "--attach", model)
    assert code == 2 and "0 rows" in err and len(err.strip().splitlines()) == 1
    save_safetensors({"w": np.full(3, 2.0)}, Path("m2.safetensors"))
    code, out, err = cli("register", "m2.safetensors", "-n", "m", "--data", "empty.csv")
    assert code == 2 and "0 rows" in err and len(err.strip().splitlines()) == 1
    assert cli("drift", model, "now.csv", "--no-save")[0] == 0  # the stored signature stands
    from driftline.drift import Signature, compare
    from driftline.errors import InvalidInputError

    empty = Signature.from_data({"a": np.empty(0), "b": np.empty(0)})
    with pytest.raises(InvalidInputError, match="reference signature has 0 rows"):
        compare(empty, {"a": [1.0], "b": [2.0]})
