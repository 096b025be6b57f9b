"""Signatures and drift on Dask (a LocalCluster with 2 workers) over a Parquet data set written
in 20 partitions: bit-identical to the one-pass build over the same partitions, equal to the
whole-table build within the sketch's stated error."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from driftline.cli import main
from driftline.drift import DriftAgent, Signature, compare
from driftline.drift.dask_engine import (
    drift_for_location,
    from_partitions,
    iter_parquet_partitions,
    read_parquet_dask,
    signature_for_location,
)
from driftline.errors import SchemaMismatchError

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("distributed")

N_PARTS, ROWS = 20, 4000


def frame(seed: int, n: int, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1.0, n)
    a[rng.random(n) < 0.03] = np.nan
    c = rng.choice(
        np.array(["red", "green", "blue", "teal"], dtype=object),
        n,
        p=[0.4, 0.3, 0.2, 0.1] if shift == 0 else [0.1, 0.2, 0.3, 0.4],
    ).astype(object)
    c[rng.random(n) < 0.01] = None
    return pd.DataFrame(
        {"a": a, "b": rng.gamma(2.0 + shift, 1.0, n), "k": rng.integers(0, 50, n), "c": c}
    )


def write_parts(folder: Path, df, n_parts: int = N_PARTS) -> Path:
    folder.mkdir(parents=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), n_parts)):
        pq.write_table(
            pa.Table.from_pandas(df.iloc[chunk], preserve_index=False),
            folder / f"part-{i:03d}.parquet",
        )
    return folder


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("dask")
    train, today = frame(0, N_PARTS * ROWS), frame(1, N_PARTS * ROWS, shift=0.5)
    return {
        "train": train,
        "today": today,
        "train_dir": write_parts(base / "train", train),
        "today_dir": write_parts(base / "today", today),
    }


def test_signature_on_dask_equals_one_pass_bit_for_bit(cluster, data) -> None:
    ddf, files = read_parquet_dask(data["train_dir"])
    assert ddf.npartitions == N_PARTS == len(files)
    on_dask = Signature.from_dask(ddf, scheduler=cluster, partition_names=files)
    one_pass = from_partitions(iter_parquet_partitions(data["train_dir"]))
    assert on_dask.id == one_pass.id and on_dask.to_bytes() == one_pass.to_bytes()
    assert on_dask.kinds == {"a": "numeric", "b": "numeric", "k": "numeric", "c": "categorical"}
    # the threaded scheduler (no cluster) gives the same bytes too
    assert signature_for_location(data["train_dir"]).id == one_pass.id


def test_signature_in_any_order_is_the_whole_table_within_the_stated_error(cluster, data) -> None:
    whole = Signature.from_data(data["train"])
    got = signature_for_location(data["train_dir"], scheduler=cluster)
    shuffled = from_partitions(reversed(list(iter_parquet_partitions(data["train_dir"]))))
    assert got.n_rows == whole.n_rows == shuffled.n_rows == N_PARTS * ROWS
    for name, g in ((n, s[n]) for s in (got, shuffled) for n in ("a", "b", "k")):
        w = whole[name]
        assert (g.count, g.missing, g.min, g.max) == (w.count, w.missing, w.min, w.max)
        assert g.mean == pytest.approx(w.mean, rel=1e-12, abs=1e-15)
        assert g.m2 == pytest.approx(w.m2, rel=1e-10)
        assert g.m4 == pytest.approx(w.m4, rel=1e-9)
        x = np.asarray(data["train"][name], dtype=float)
        x = np.sort(x[np.isfinite(x)])
        grid = np.quantile(x, np.linspace(0, 1, 401))
        exact = np.searchsorted(x, grid, side="right") / x.size
        err = np.max(np.abs(g.sketch.cdf(grid) - exact))
        assert err <= g.sketch.rank_error + 1e-12, (name, err, g.sketch.rank_error)
    for sig in (got, shuffled):
        assert sig["c"].counts == whole["c"].counts and sig["c"].missing == whole["c"].missing


def test_drift_on_dask_equals_the_in_memory_report(cluster, data) -> None:
    reference = Signature.from_data(data["train"])
    on_dask = drift_for_location(reference, data["today_dir"], scheduler=cluster)
    sequential = DriftAgent(reference, window=None)
    for part in iter_parquet_partitions(data["today_dir"]):
        sequential.update(part)
    assert on_dask.to_dict() == sequential.report().to_dict()  # bit for bit
    in_memory = compare(reference, data["today"])
    assert on_dask.drift and on_dask.drifted_features == in_memory.drifted_features
    assert on_dask.n_rows == in_memory.n_rows
    for name, f in in_memory.features.items():
        for m, v in f.metrics.items():
            got = on_dask.features[name].metrics[m]
            if m in ("mean", "std", "wasserstein", "mean_shift"):
                assert got == pytest.approx(v, rel=1e-9), (name, m)
            else:
                assert got == v or (math.isnan(got) and math.isnan(v)), (name, m, got, v)


def test_a_partition_with_another_schema_is_named(tmp_path, data) -> None:
    folder = write_parts(tmp_path / "mixed", data["train"].iloc[:3000], n_parts=3)
    bad = data["train"].iloc[:10].drop(columns=["b"]).assign(extra=1.0)
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), folder / "part-001.parquet")
    with pytest.raises(SchemaMismatchError, match=r"partition 1 \(.*part-001\.parquet\)"):
        signature_for_location(folder)
    kind = data["train"].iloc[:10].assign(k=lambda d: d["k"].astype(str))
    pq.write_table(pa.Table.from_pandas(kind, preserve_index=False), folder / "part-001.parquet")
    with pytest.raises(SchemaMismatchError, match=r"part-001\.parquet.*changed kind \['k'\]"):
        signature_for_location(folder)
    import dask.dataframe as dd  # a user's own Dask DataFrame: partitions checked in the task

    ddf = dd.from_pandas(data["train"].iloc[:100], npartitions=2)
    assert (
        Signature.from_dask(ddf).id
        == from_partitions([ddf.partitions[i].compute() for i in range(2)]).id
    )


def test_unreachable_scheduler_is_one_line_and_writes_nothing(data, tmp_path, capsys) -> None:
    bad_out = tmp_path / "never.sig"
    t = time.time()
    code = main(
        [
            "signature",
            str(data["train_dir"]),
            "--engine",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:9",
            "-o",
            str(bad_out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot reach the Dask scheduler" in err
    assert not bad_out.exists() and time.time() - t < 60


def test_cli_signature_and_drift_with_engine_dask(
    cluster, data, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLINE_STORE", raising=False)
    sig_file = tmp_path / "train.sig"
    assert (
        main(
            [
                "signature",
                str(data["train_dir"]),
                "--engine",
                "dask",
                "--scheduler",
                cluster,
                "-o",
                str(sig_file),
            ]
        )
        == 0
    )
    one_pass = from_partitions(iter_parquet_partitions(data["train_dir"]))
    assert sig_file.read_bytes() == one_pass.to_bytes()
    from driftline.params import save_safetensors

    save_safetensors({"w": np.ones(3, np.float32)}, tmp_path / "m.safetensors")
    assert main(["init"]) == 0
    assert main(["register", str(tmp_path / "m.safetensors"), "--name", "m"]) == 0
    assert main(["signature", str(data["train_dir"]), "--engine", "dask", "--attach", "m@1"]) == 0
    capsys.readouterr()
    code = main(
        [
            "drift",
            "m@1",
            str(data["today_dir"]),
            "--engine",
            "dask",
            "--scheduler",
            cluster,
            "--json",
        ]
    )
    assert code == 1  # drifted
    out = capsys.readouterr().out
    assert '"drift": true' in out


def test_signature_of_a_parquet_data_set_in_s3(bucket, data, capsys) -> None:
    import s3fs

    fs = s3fs.S3FileSystem()
    for f in sorted(Path(data["train_dir"]).iterdir())[:4]:
        fs.put_file(str(f), f"{bucket}/train/{f.name}")
    local = from_partitions(
        iter_parquet_partitions(
            sorted(str(f) for f in Path(data["train_dir"]).iterdir())[0].rsplit("/", 1)[0]
            + "/part-00[0-3].parquet"
        )
    )
    assert signature_for_location(f"s3://{bucket}/train/*.parquet").id == local.id
    assert main(["signature", f"s3://{bucket}/train/*.parquet", "--engine", "dask", "--json"]) == 0
    assert f'"id": "{local.id}"' in capsys.readouterr().out


def test_worker_processes_give_the_same_bits(data) -> None:
    """Other processes (other allocations, alignments, thread settings) sum the moments in the
    same fixed order, so the signature has the same bytes."""
    ddf, files = read_parquet_dask(data["train_dir"])
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        on_dask = Signature.from_dask(ddf, scheduler=c.scheduler_address, partition_names=files)
    one_pass = from_partitions(iter_parquet_partitions(data["train_dir"]))
    assert on_dask.to_bytes() == one_pass.to_bytes()


def test_dask_gives_columns_the_kinds_the_local_build_does(tmp_path) -> None:
    # booleans were summarised as numbers and datetimes as text (then taken for ids) on Dask,
    # while the local build of the same file has categories and timestamps
    rng = np.random.default_rng(4)
    n = 600
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
    df = pd.DataFrame(
        {
            "flag": rng.random(n) < 0.4,
            "maybe": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "when": stamps,
            "zoned": stamps.tz_localize("Europe/Oslo"),
            "x": rng.normal(size=n),
            "c": rng.choice(np.array(["u", "v"], dtype=object), n),
        }
    )
    folder = write_parts(tmp_path / "kinds", df, n_parts=3)
    on_dask = signature_for_location(folder)
    local = Signature.from_data(pd.read_parquet(folder))
    kinds = {"flag": "categorical", "maybe": "categorical", "when": "numeric"}
    kinds |= {"zoned": "numeric", "x": "numeric", "c": "categorical"}
    assert on_dask.kinds == local.kinds == kinds
    assert on_dask.roles == local.roles == {}
    assert on_dask["when"].mean == pytest.approx(local["when"].mean, rel=1e-12)


def test_dask_signature_keeps_the_declared_roles(tmp_path) -> None:
    # 'driftline signature DIR --engine dask --target y --ignore x' dropped the role flags:
    # the label and the ignored column were drift-tested as features
    from driftline.drift.roles import RoleSpec

    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {"x": rng.normal(size=300), "z": rng.normal(size=300), "y": rng.integers(0, 2, 300)}
    )
    folder = write_parts(tmp_path / "roles", df, n_parts=2)
    spec = RoleSpec.of(target="y", ignore="x")
    on_dask = signature_for_location(folder, roles=spec)
    local = Signature.from_data(df, roles=spec)
    assert on_dask.feature_names == local.feature_names == ["z"]
    assert on_dask.roles == local.roles and on_dask.target == "y"
    assert on_dask.role_features["y"].counts == local.role_features["y"].counts
