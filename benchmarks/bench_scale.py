"""Benchmark: a signature over a big Parquet data set, one process vs Dask with 2 workers.

Generates ``--rows`` rows x ``--cols`` float64 columns of Parquet on local disk (files of
``--rows-per-file`` rows, written in row groups, so generation never holds the data set), then
builds the signature twice, each in fresh processes so that peak memory is the run's own:

* one process: :func:`driftline.drift.dask_engine.from_partitions`, one file after another;
* Dask: ``distributed.LocalCluster`` with 2 worker processes x 1 thread, one task per file,
  merged in file order (:func:`signature_from_dask`).

Prints rows/s, wall time and peak RSS (``ru_maxrss``) of the process and of each Dask worker, and
checks both signatures are bit-identical. With several ``--sizes`` it shows that peak memory per
worker does not grow with the data set (it is bounded by one file, not by the rows).

    python benchmarks/bench_scale.py                       # 10 M and 50 M rows x 20 (~8 GB disk)
    python benchmarks/bench_scale.py --quick               # 1 M and 5 M rows
    python benchmarks/bench_scale.py --sizes 10000000      # one size
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Settings:
    """What to generate and where."""

    cols: int
    rows_per_file: int
    row_group: int
    data_dir: Path
    workers: int


# ---------------------------------------------------------------------------- data
def _column(rng: np.random.Generator, j: int, n: int) -> np.ndarray:
    """Column j: a mix of shapes (normal, skewed, heavy-tailed, integer-valued, with NaNs)."""
    kind = j % 4
    if kind == 0:
        return rng.normal(j, 1.0 + j / 10, n)
    if kind == 1:
        return rng.gamma(2.0, 1.0 + j / 10, n)
    if kind == 2:
        x = rng.standard_t(3, n)
        x[rng.random(n) < 0.01] = np.nan
        return x
    return rng.integers(0, 100, n).astype(np.float64)


def generate(total_rows: int, s: Settings, console: Console) -> list[Path]:
    """Files ``part-00000.parquet`` … of ``rows_per_file`` rows each (reused when present)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    s.data_dir.mkdir(parents=True, exist_ok=True)
    n_files = -(-total_rows // s.rows_per_file)
    names = [f"c{j:02d}" for j in range(s.cols)]
    files = []
    t0 = time.perf_counter()
    for i in range(n_files):
        path = s.data_dir / f"part-{i:05d}.parquet"
        files.append(path)
        rows = min(s.rows_per_file, total_rows - i * s.rows_per_file)
        if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
            continue
        tmp = path.with_suffix(".tmp")
        rng = np.random.default_rng(i)
        with pq.ParquetWriter(tmp, pa.schema([(n, pa.float64()) for n in names])) as w:
            for start in range(0, rows, s.row_group):
                m = min(s.row_group, rows - start)
                w.write_table(pa.table({n: _column(rng, j, m) for j, n in enumerate(names)}))
        tmp.rename(path)
    console.print(
        f"data: {n_files} files, {total_rows:,} rows x {s.cols} in {s.data_dir} "
        f"({time.perf_counter() - t0:.0f} s to generate)"
    )
    return files


def size_folder(files: list[Path], rows: int, s: Settings) -> Path:
    """A folder of symlinks to the first files: the data set of ``rows`` rows."""
    folder = s.data_dir / f"rows-{rows}"
    folder.mkdir(exist_ok=True)
    for f in folder.iterdir():
        f.unlink()
    for f in files[: -(-rows // s.rows_per_file)]:
        (folder / f.name).symlink_to(f)
    return folder


# ---------------------------------------------------------------------------- runs
_ONE_PROCESS = """
import json, resource, sys, time
sys.path.insert(0, {src!r})
from driftline.drift.dask_engine import from_partitions, iter_parquet_partitions
t = time.perf_counter()
sig = from_partitions(iter_parquet_partitions({folder!r}))
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "id": sig.id, "rows": sig.n_rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_one_process(folder: Path) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", _ONE_PROCESS.format(src=src, folder=str(folder))],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dask(folder: Path, workers: int) -> dict:
    from distributed import Client, LocalCluster

    from driftline.drift.dask_engine import signature_for_location

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=None,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        idle = client.run(_peak_mb)
        t = time.perf_counter()
        sig = signature_for_location(folder, scheduler=cluster.scheduler_address)
        dt = time.perf_counter() - t
        peaks = client.run(_peak_mb)
    return {
        "seconds": dt,
        "id": sig.id,
        "rows": sig.n_rows,
        "peak_mb": sorted(peaks.values()),
        "idle_mb": sorted(idle.values()),
    }


# ---------------------------------------------------------------------------- report
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000000,50000000", help="row counts, comma-separated")
    ap.add_argument("--rows", type=int, default=None, help="one size (overrides --sizes)")
    ap.add_argument("--quick", action="store_true", help="1 M and 5 M rows")
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--rows-per-file", type=int, default=1_000_000)
    ap.add_argument("--row-group", type=int, default=250_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/driftline-bench-scale"))
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    if a.quick:
        sizes = [1_000_000, 5_000_000]
    if a.rows is not None:
        sizes = [a.rows]
    s = Settings(a.cols, a.rows_per_file, a.row_group, a.data_dir, a.workers)
    console = Console(highlight=False)
    files = generate(max(sizes), s, console)
    t = Table(
        "rows",
        "engine",
        "wall s",
        "rows/s",
        "M values/s",
        "peak RSS MB (per process)",
        "bit-identical",
        title=f"signature build, {s.cols} float64 columns, files of {s.rows_per_file:,} rows",
    )
    lines = []
    for rows in sizes:
        folder = size_folder(files, rows, s)
        one = run_one_process(folder)
        dk = run_dask(folder, s.workers)
        same = "yes" if one["id"] == dk["id"] else "NO"
        for name, r, peak in (
            ("1 process", one, f"{one['peak_mb']:.0f}"),
            (
                f"Dask, {s.workers} workers",
                dk,
                " / ".join(f"{p:.0f}" for p in dk["peak_mb"])
                + f" (idle {' / '.join(f'{p:.0f}' for p in dk['idle_mb'])})",
            ),
        ):
            rate = r["rows"] / r["seconds"]
            row = (
                f"{rows:,}",
                name,
                f"{r['seconds']:.1f}",
                f"{rate:,.0f}",
                f"{rate * s.cols / 1e6:.1f}",
                peak,
                same,
            )
            t.add_row(*row)
            lines.append("| " + " | ".join(row) + " |")
        console.print(
            f"{rows:,} rows: speed-up Dask/1 process {one['seconds'] / dk['seconds']:.2f}x"
        )
    console.print(t)
    RESULTS.mkdir(exist_ok=True)
    head = (
        "| rows | engine | wall s | rows/s | M values/s | peak RSS MB | bit-identical |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    (RESULTS / "bench_scale.md").write_text(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
