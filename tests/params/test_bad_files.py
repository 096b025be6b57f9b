"""Files that are not what their suffix says: one clear line, exit 2, nothing registered."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.errors import InvalidInputError
from driftline.params.io import load_npz


def test_npz_that_is_not_a_zip_is_named_as_such_not_as_a_pickle(tmp_path):
    bad = tmp_path / "m.npz"
    bad.write_text("garbage")
    with pytest.raises(InvalidInputError, match="not a .npz archive") as err:
        load_npz(bad)
    assert "allow_pickle" not in str(err.value) and "pickle.load" not in str(err.value)


def test_npz_with_object_arrays_is_refused_without_suggesting_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InvalidInputError, match="object arrays") as err:
        load_npz(path)
    assert "allow_pickle" not in str(err.value)


def test_numeric_npz_still_reads(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, w=np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(load_npz(path)["w"], np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("name, content", [("x.json", b"{}"), ("m.ubj", b"\x00\x01")])
def test_a_json_or_ubj_file_that_is_not_xgboost_gets_one_clean_line(cli, tmp_path, name, content):
    pytest.importorskip("xgboost")
    (tmp_path / name).write_bytes(content)
    assert cli("init")[0] == 0
    code, out, err = cli("register", name, "--name", "q")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "is not an XGBoost model" in lines[0]
    assert "Stack trace" not in err and "[bt]" not in err and ".cc:" not in err
    assert cli("list", "--json")[1].split() == ["[]"]
