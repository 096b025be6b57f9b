"""Security and damage: output files that cannot hurt other files, a swapped blob row, crafted
pickles in every accepted parameter format, damaged databases, names that could not be
referenced again, and validation before anything is written."""

from __future__ import annotations

import io
import os
import pickle
import stat
import zipfile

import numpy as np
import pytest
import sqlalchemy as sa

from driftline.cli import main
from driftline.errors import CorruptBlobError, DamagedStoreError, InvalidInputError
from driftline.params import load_safetensors, model_id, save_safetensors
from driftline.safefile import write_atomic
from driftline.store import Store
from driftline.store.maintenance import fsck
from driftline.store.schema import models, tensors


@pytest.fixture()
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRIFTLINE_STORE", str(tmp_path / "store"))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def P(i: int) -> dict[str, np.ndarray]:
    return {"w": np.full((2, 3), float(i), np.float32), "b": np.arange(3, dtype=np.int64) + i}


def one_line_error(result: tuple[int, str, str], *words: str) -> None:
    code, _, err = result
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert all(w in err for w in words), err


# ------------------------------------------------------------------ safe output writes
def test_export_never_follows_a_symlink_planted_at_a_temporary_name(cli, tmp_path):
    store = Store(tmp_path / "store")
    m = store.register(P(1), name="m")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "model.safetensors"
    for name in ("model.safetensors.tmp", ".model.safetensors.tmp", ".model.safetensors.0.tmp"):
        (tmp_path / name).symlink_to(victim)
    code, _, err = cli("export", "m@1", "-o", str(out))
    assert code == 0, err
    assert victim.read_text() == "precious"
    assert model_id(load_safetensors(out)) == m.id
    assert stat.S_ISREG(os.lstat(out).st_mode)


def test_export_refuses_a_symlink_target_a_device_and_a_directory(cli, tmp_path):
    Store(tmp_path / "store").register(P(1), name="m")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "link.safetensors"
    link.symlink_to(victim)
    one_line_error(cli("export", "m@1", "-o", str(link)), "symlink")
    assert victim.read_text() == "precious" and link.is_symlink()
    one_line_error(cli("export", "m@1", "-o", "/dev/null"), "not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    folder = tmp_path / "outdir"
    folder.mkdir()
    one_line_error(cli("export", "m@1", "-o", str(folder)), "directory")
    leftovers = [p.name for p in tmp_path.iterdir() if "tmp" in p.name]
    assert leftovers == [] and list(folder.iterdir()) == []


def test_write_atomic_cleans_up_when_serialisation_fails(tmp_path):
    target = tmp_path / "out.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(InvalidInputError):
        save_safetensors({"w": np.array(["text"])}, target)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ verify on load
def test_a_swapped_blob_row_is_caught_on_load_export_and_fsck(cli, tmp_path):
    store = Store(tmp_path / "store")
    a, b = store.register(P(1), name="a"), store.register(P(2), name="b")
    other = {t.name: t.blob for t in store.manifest(b)}
    with store.write() as conn:  # point a's "w" at b's (valid) blob
        conn.execute(
            sa.update(tensors)
            .where(tensors.c.model_id == a.id, tensors.c.name == "w")
            .values(blob=other["w"])
        )
    with pytest.raises(DamagedStoreError, match="does not hash to|not to its id"):
        store.load(a)
    out = tmp_path / "a.safetensors"
    one_line_error(cli("export", "a@1", "-o", str(out)), "a@1")
    assert not out.exists()
    report = fsck(store)
    assert not report.ok and any("a@1" in d for d in report.damaged)
    code, out_text, _ = cli("fsck")
    assert code == 1 and "a@1" in out_text
    assert store.load(b)["w"][0, 0] == 2.0  # the other model is fine


def test_a_tampered_manifest_shape_or_dtype_is_one_line(cli, tmp_path):
    store = Store(tmp_path / "store")
    m = store.register(P(1), name="m")
    with store.write() as conn:
        conn.execute(
            sa.update(tensors)
            .where(tensors.c.model_id == m.id, tensors.c.name == "w")
            .values(shape=[7, 5])
        )
    one_line_error(cli("export", "m@1", "-o", str(tmp_path / "m.safetensors")))
    assert not fsck(store).ok


def test_a_corrupt_blob_is_replaced_when_the_model_is_registered_again(tmp_path):
    store = Store(tmp_path / "store")
    m = store.register(P(1), name="m")
    blob = store.blobs.path(store.manifest(m)[0].blob)
    blob.write_bytes(b"\x00" * blob.stat().st_size)
    with pytest.raises(CorruptBlobError):
        store.load(m)
    assert store.register(P(1), name="m").id == m.id
    assert model_id(store.load(m)) == m.id and fsck(store).ok


# ------------------------------------------------------------------ damaged databases
def test_an_emptied_database_is_damage_not_an_empty_store(cli, tmp_path):
    with Store(tmp_path / "store") as store:
        store.register(P(1), name="m")
    (tmp_path / "store" / "lineage.db").write_bytes(b"")
    for f in (tmp_path / "store").glob("lineage.db-*"):
        f.unlink()
    one_line_error(cli("list"), "damaged")
    one_line_error(cli("list"), "damaged")  # still damaged: nothing was recreated


def test_a_dropped_table_garbage_json_and_a_bad_schema_version_are_reported(cli, tmp_path):
    store = Store(tmp_path / "store")
    store.register(P(1), name="m")
    with store.write() as conn:
        conn.exec_driver_sql("UPDATE models SET metrics = '{not json'")
    one_line_error(cli("show", "m@1"), "invalid JSON")
    assert any("metrics is not valid JSON" in d for d in fsck(store).damaged)
    with store.write() as conn:
        conn.exec_driver_sql(
            "UPDATE driftline_meta SET value = 'three' WHERE key = 'schema_version'"
        )
    store.close()
    one_line_error(cli("list"), "schema version")
    with sa.create_engine(f"sqlite:///{tmp_path / 'store' / 'lineage.db'}").begin() as conn:
        conn.exec_driver_sql("UPDATE driftline_meta SET value = '3' WHERE key = 'schema_version'")
        conn.exec_driver_sql("DROP TABLE tensors")
    one_line_error(cli("list"), "tensors", "missing")


def test_a_database_file_of_garbage_is_damage(cli, tmp_path):
    with Store(tmp_path / "store") as store:
        store.register(P(1), name="m")
    (tmp_path / "store" / "lineage.db").write_bytes(os.urandom(8192))
    for f in (tmp_path / "store").glob("lineage.db-*"):
        f.unlink()
    one_line_error(cli("list"), "damaged")


# ------------------------------------------------------------------ crafted pickles
MARKER = "driftline-pickle-ran"


class Evil:
    def __reduce__(self):  # noqa: ANN204
        return (os.mkdir, (MARKER,))


def _torch_zip(obj: object) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def crafted_files() -> dict[str, bytes]:
    raw = pickle.dumps({"w": Evil()})
    files = {
        "legacy.pt": raw,
        "legacy.bin": raw,
        "legacy.ckpt": raw,
        "legacy.pth": raw,
        "state.pkl": raw,
        "state.joblib": raw,
    }
    try:
        files.update(
            {f"zip{s}": _torch_zip({"w": Evil()}) for s in (".pt", ".pth", ".bin", ".ckpt")}
        )
    except ImportError:  # torch not installed: the legacy pickles still cover these suffixes
        pass
    buf = io.BytesIO()
    np.savez(buf, w=np.array([Evil(), 1], dtype=object))
    files["objects.npz"] = buf.getvalue()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:  # an .npz member that is a raw pickle
        z.writestr("w.npy", raw)
    files["member.npz"] = zbuf.getvalue()
    files["fake.safetensors"] = raw
    return files


def test_crafted_pickles_are_refused_and_never_executed(cli, tmp_path):
    for name, data in crafted_files().items():
        path = tmp_path / name
        path.write_bytes(data)
        one_line_error(cli("register", str(path), "--name", "evil"))
        assert not (tmp_path / MARKER).exists(), f"{name} executed its pickle"
    assert Store(tmp_path / "store").list_models() == []


# ------------------------------------------------------------------ names and partial writes
@pytest.mark.parametrize(
    "name", ["a\nb", "trailing\n", "", " lead", "a b", "x@1", "dep:x", "\x1b[31m", "é", "a" * 201]
)
def test_names_that_could_not_be_referenced_are_refused(tmp_path, name):
    store = Store(tmp_path / "store")
    with pytest.raises(InvalidInputError, match="bad model name"):
        store.register(P(1), name=name)
    m = store.register(P(1), name="ok")
    with pytest.raises(InvalidInputError, match="bad deployment name"):
        store.deploy(m, name)
    assert store.deployments() == []


def test_nothing_is_written_before_validation_fails(cli, tmp_path):
    path = tmp_path / "strings.npz"
    np.savez(path, w=np.array(["a", "b"]), b=np.ones(2))
    Store(tmp_path / "store").close()
    one_line_error(cli("register", str(path), "--name", "m"), "numeric")
    store = Store(tmp_path / "store")
    assert list(store.blobs.keys()) == [] and store.list_models() == []
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(models)).scalar() == 0
