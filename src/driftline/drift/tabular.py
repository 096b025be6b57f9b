"""Input conversion: tables of many shapes -> ``dict[str, np.ndarray]`` columns.

Contract of a *column dict* (what :func:`to_columns` returns):

* numeric columns are contiguous ``float64`` arrays; missing values (None, NaN, NaT) are ``NaN``
  and ``±inf`` is kept as is (every consumer treats non-finite values as missing);
* categorical columns are ``object`` arrays of ``str`` with ``None`` for missing values.

Type inference: integer, float and datetime columns are numeric (datetimes as epoch seconds);
strings, objects, bools and pandas categories are categorical; an ``object`` column whose
non-missing values are all Python/NumPy numbers (not bools) is numeric. Declared types
(``categorical=[...]``, ``numeric=[...]``) override inference.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from driftline.errors import InvalidInputError, SchemaMismatchError

Kind = Literal["numeric", "categorical"]
Columns = dict[str, np.ndarray]

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


# --------------------------------------------------------------------------- column helpers
def column_kind(col: np.ndarray) -> Kind:
    """Kind of a converted column: ``float64`` -> numeric, anything else -> categorical."""
    return "numeric" if col.dtype.kind == "f" else "categorical"


def _is_missing_scalar(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if v is np.datetime64("NaT") or (isinstance(v, np.datetime64) and np.isnat(v)):
        return True
    return type(v).__name__ in ("NAType", "NaTType")


def _cat_str(v: Any) -> str:
    """Canonical category label: integral floats print as ints so 1, 1.0 and "1" agree."""
    if isinstance(v, bool | np.bool_):
        return "True" if v else "False"
    if isinstance(v, float | np.floating) and math.isfinite(v) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def as_categorical(values: Any) -> np.ndarray:
    """Convert any 1-D values to an object array of ``str`` / ``None`` (missing)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        out = arr.astype(str).astype(object)
        return out
    if arr.dtype.kind == "b":
        return np.where(arr, "True", "False").astype(object)
    out = np.empty(arr.shape[0], dtype=object)
    for i, v in enumerate(arr.tolist() if arr.dtype.kind != "O" else arr):
        out[i] = None if _is_missing_scalar(v) else _cat_str(v)
    return out


def as_numeric(values: Any, name: str = "?") -> np.ndarray:
    """Convert 1-D values to contiguous float64 (None/NaN -> NaN); raise if a value is text."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr, dtype=np.float64)
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    if arr.dtype.kind == "M":
        out = arr.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
        out[np.isnat(arr)] = np.nan
        return out
    if arr.dtype.kind == "m":
        return arr.astype("timedelta64[ns]").astype(np.int64).astype(np.float64) / 1e9
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        if _is_missing_scalar(v):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"column {name!r} was declared/inferred numeric but holds {v!r}; "
                "declare it categorical or clean the data"
            ) from None
    return out


def _object_is_numeric(arr: np.ndarray) -> bool:
    for v in arr:
        if _is_missing_scalar(v):
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
            return False
    return True  # all-missing object columns are numeric (all NaN)


def infer_kind(values: Any) -> Kind:
    """Infer numeric / categorical for raw 1-D values (see module docstring)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iufMm":
        return "numeric"
    if arr.dtype.kind == "O":
        return "numeric" if _object_is_numeric(arr) else "categorical"
    return "categorical"


def convert_column(
    values: Any, name: str, declared: Kind | None = None, inferred: Kind | None = None
) -> np.ndarray:
    """Convert one raw column to the column-dict contract."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"column {name!r} must be 1-D, got shape {arr.shape}")
    kind = declared or inferred or infer_kind(arr)
    return as_numeric(arr, name) if kind == "numeric" else as_categorical(arr)


# --------------------------------------------------------------------------- to_columns
def _declared(name: str, categorical: set[str], numeric: set[str]) -> Kind | None:
    if name in categorical:
        return "categorical"
    if name in numeric:
        return "numeric"
    return None


def _from_pandas(df: Any) -> dict[str, tuple[Any, Kind | None]]:
    out: dict[str, tuple[Any, Kind | None]] = {}
    for name in df.columns:
        s = df[name]
        dt = s.dtype
        dname = str(dt)
        if dname == "category":
            cats = s.cat.categories
            codes = s.cat.codes.to_numpy()
            labels = np.array([_cat_str(c) for c in cats] + [None], dtype=object)
            out[str(name)] = (labels[np.where(codes < 0, len(cats), codes)], "categorical")
        elif dname in (
            "Int8",
            "Int16",
            "Int32",
            "Int64",
            "UInt8",
            "UInt16",
            "UInt32",
            "UInt64",
            "Float32",
            "Float64",
        ):
            out[str(name)] = (s.to_numpy(dtype=np.float64, na_value=np.nan), "numeric")
        elif dname == "boolean":
            out[str(name)] = (s.to_numpy(dtype=object, na_value=None), "categorical")
        elif dname.startswith("string") or dname == "str":
            out[str(name)] = (s.to_numpy(dtype=object, na_value=None), "categorical")
        elif getattr(dt, "kind", "O") in "Mm" or dname.startswith("datetime"):
            out[str(name)] = (s.to_numpy(), "numeric")
        else:
            out[str(name)] = (s.to_numpy(), None)
    return out


def _from_arrow(table: Any) -> dict[str, tuple[Any, Kind | None]]:
    import pyarrow as pa

    out: dict[str, tuple[Any, Kind | None]] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = t.value_type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            arr = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
            out[name] = (np.asarray(arr, dtype=np.float64), "numeric")
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            arr = col.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            vals = np.asarray(arr, dtype=np.float64) / 1e9
            if col.null_count:
                vals[np.asarray(col.is_null().to_numpy(zero_copy_only=False))] = np.nan
            out[name] = (vals, "numeric")
        elif pa.types.is_null(t):
            out[name] = (np.full(len(col), np.nan), "numeric")
        elif pa.types.is_boolean(t):
            out[name] = (np.asarray(col.to_pylist(), dtype=object), "categorical")
        else:
            out[name] = (
                np.asarray(col.to_pylist(), dtype=object),
                "categorical" if pa.types.is_string(t) or pa.types.is_large_string(t) else None,
            )
    return out


def _from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Any, Kind | None]]:
    keys: dict[str, None] = {}
    buf: list[Mapping[str, Any]] = []
    for r in rows:
        if not isinstance(r, Mapping):
            raise InvalidInputError(
                f"expected an iterable of dict rows, got an element of type {type(r).__name__}"
            )
        buf.append(r)
        for k in r:
            keys.setdefault(str(k), None)
    out: dict[str, tuple[Any, Kind | None]] = {}
    for k in keys:
        col = np.empty(len(buf), dtype=object)
        for i, r in enumerate(buf):
            col[i] = r.get(k)
        out[k] = (col, None)
    return out


def to_columns(
    data: Any,
    feature_names: Sequence[str] | None = None,
    *,
    categorical: Iterable[str] | None = None,
    numeric: Iterable[str] | None = None,
) -> Columns:
    """Convert ``data`` to a column dict (see module docstring for the contract).

    Accepts a 2-D NumPy array (names from ``feature_names`` or ``f0, f1, ...``), a dict of 1-D
    arrays / lists, a pandas or polars DataFrame, a pyarrow Table / RecordBatch, a column dict, or
    an iterable of dict rows. Raises :class:`InvalidInputError` for anything else.
    """
    cat = set(categorical or ())
    num = set(numeric or ())
    both = cat & num
    if both:
        raise InvalidInputError(f"features declared both categorical and numeric: {sorted(both)}")
    raw = _raw_columns(data, feature_names)
    out: Columns = {}
    for name, (vals, hint) in raw.items():
        out[name] = convert_column(vals, name, _declared(name, cat, num), hint)
    return out


def _transpose(a: np.ndarray, block: int = 32_768) -> np.ndarray:
    """C-contiguous ``a.T`` built in row blocks (several times faster than one big copy)."""
    if a.flags.f_contiguous:
        return a.T
    out = np.empty((a.shape[1], a.shape[0]), dtype=a.dtype)
    for s in range(0, a.shape[0], block):
        out[:, s : s + block] = a[s : s + block].T
    return out


def _raw_columns(
    data: Any, feature_names: Sequence[str] | None
) -> dict[str, tuple[Any, Kind | None]]:
    mod = type(data).__module__.split(".")[0]
    if isinstance(data, np.ndarray):
        if data.ndim == 1 and data.dtype.names:
            return {n: (data[n], None) for n in data.dtype.names}
        if data.ndim != 2:
            raise InvalidInputError(
                f"a NumPy input must be 2-D (rows x features), got shape {data.shape}"
            )
        names = (
            list(feature_names)
            if feature_names is not None
            else [f"f{j}" for j in range(data.shape[1])]
        )
        if len(names) != data.shape[1]:
            raise InvalidInputError(
                f"{len(names)} feature names given for an array with {data.shape[1]} columns"
            )
        cols = _transpose(data) if data.dtype.kind in "iufb" else data.T
        return {str(n): (cols[j], None) for j, n in enumerate(names)}
    if mod == "pandas" and hasattr(data, "columns"):
        return _from_pandas(data)
    if mod == "polars" and hasattr(data, "to_arrow"):
        return _from_arrow(data.to_arrow())
    if mod == "pyarrow" and hasattr(data, "column_names"):
        return _from_arrow(data)
    if isinstance(data, Mapping):
        out: dict[str, tuple[Any, Kind | None]] = {}
        n = None
        for k, v in data.items():
            arr = np.asarray(v) if not isinstance(v, list) else np.array(v, dtype=object)
            if arr.ndim != 1:
                raise InvalidInputError(f"column {k!r} must be 1-D, got shape {arr.shape}")
            if n is not None and arr.shape[0] != n:
                raise InvalidInputError(
                    f"columns have different lengths ({n} vs {arr.shape[0]} for {k!r})"
                )
            n = arr.shape[0]
            out[str(k)] = (arr, None)
        return out
    if isinstance(data, str | bytes | os.PathLike):
        raise InvalidInputError("got a path; use read_table(path) to load files")
    if isinstance(data, Iterable):
        return _from_rows(data)
    raise InvalidInputError(
        f"unsupported data type {type(data).__name__}: pass a NumPy array, dict of arrays, "
        "pandas/polars DataFrame, pyarrow Table or an iterable of dict rows"
    )


def n_rows(cols: Columns) -> int:
    """Number of rows of a column dict (0 if it has no columns)."""
    for v in cols.values():
        return int(v.shape[0])
    return 0


def concat_columns(parts: Sequence[Columns]) -> Columns:
    """Concatenate column dicts with the same columns; a kind conflict makes it categorical."""
    if not parts:
        return {}
    names = list(parts[0])
    for p in parts[1:]:
        if list(p) != names and set(p) != set(names):
            raise SchemaMismatchError(
                f"files have different columns: {sorted(names)} vs {sorted(p)}; "
                "make every file share one schema"
            )
    out: Columns = {}
    for n in names:
        cols = [p[n] for p in parts]
        if all(c.dtype.kind == "f" for c in cols):
            out[n] = np.concatenate(cols)
        else:
            out[n] = np.concatenate([c if c.dtype == object else as_categorical(c) for c in cols])
    return out


def slice_columns(cols: Columns, start: int, stop: int) -> Columns:
    """Rows ``start:stop`` of every column (views, no copy)."""
    return {k: v[start:stop] for k, v in cols.items()}


# --------------------------------------------------------------------------- files
def _format_of(path: Path) -> str:
    fmt = TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the format of {path}: use a .csv, .parquet or .jsonl file"
        )
    return fmt


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
        )
        if not files:
            raise InvalidInputError(f"folder {path} holds no .csv, .parquet or .jsonl files")
        return files
    if not path.exists():
        raise InvalidInputError(f"no such file or folder: {path}")
    return [path]


def _read_file(path: Path) -> Columns:
    fmt = _format_of(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return to_columns(pq.read_table(path))
        return _parse_text_chunk(path.read_bytes(), fmt, header=None)
    except InvalidInputError:
        raise
    except Exception as exc:  # pyarrow raises many types for malformed files
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc


def read_table(path: str | os.PathLike[str]) -> Columns:
    """Read a CSV / Parquet / JSON-lines file, or a folder of them (sorted by name)."""
    files = _files_of(Path(path))
    table = concat_columns([_read_file(f) for f in files])
    if not table:  # e.g. an empty JSON-lines file: no columns to compare or summarise
        raise InvalidInputError(f"{path} holds no columns; give a table with named columns")
    return table


def _parse_text_chunk(data: bytes, fmt: str, header: bytes | None) -> Columns:
    try:
        return _parse_text(data, fmt, header)
    except InvalidInputError:
        raise
    except Exception as exc:  # pyarrow / json raise many types for malformed rows
        raise InvalidInputError(f"cannot parse {fmt} rows: {' '.join(str(exc).split())}") from exc


def _parse_text(data: bytes, fmt: str, header: bytes | None) -> Columns:
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pcsv

        payload = (header + data) if header is not None else data
        opts = pcsv.ConvertOptions(strings_can_be_null=True)
        table = pcsv.read_csv(pa.BufferReader(payload), convert_options=opts)
        return to_columns(table)
    rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    return to_columns(rows)


def _sniff(first: bytes) -> str:
    return "jsonl" if first.lstrip().startswith(b"{") else "csv"


def _iter_lines(
    stream: io.BufferedIOBase | io.RawIOBase | Any, batch_rows: int, fmt: str | None
) -> Iterator[Columns]:
    header: bytes | None = None
    buf: list[bytes] = []
    for raw in stream:
        line = raw.encode("utf-8") if isinstance(raw, str) else raw
        if not line.strip():
            continue
        if not line.endswith(b"\n"):
            line += b"\n"
        if fmt is None:
            fmt = _sniff(line)
        if fmt == "csv" and header is None:
            header = line
            continue
        buf.append(line)
        if len(buf) >= batch_rows:
            yield _parse_text_chunk(b"".join(buf), fmt, header)
            buf = []
    if buf and fmt is not None:
        yield _parse_text_chunk(b"".join(buf), fmt, header)


def iter_batches(
    source: str | os.PathLike[str] | io.IOBase | Any, batch_rows: int = 10_000
) -> Iterator[Columns]:
    """Yield column dicts of at most ``batch_rows`` rows from a source, in order.

    ``source`` is a CSV / Parquet / JSON-lines file, a folder of them (sorted by name), ``"-"``
    for standard input, or an open text/binary stream of CSV or JSON lines (sniffed from the first
    line). Text is split on newlines, so CSV fields must not contain quoted line breaks.
    """
    if batch_rows < 1:
        raise InvalidInputError(f"batch_rows must be >= 1, got {batch_rows}")
    if isinstance(source, str) and source == "-":
        yield from _iter_lines(sys.stdin.buffer, batch_rows, None)
        return
    if not isinstance(source, str | os.PathLike):
        yield from _iter_lines(source, batch_rows, None)
        return
    for f in _files_of(Path(source)):
        fmt = _format_of(f)
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            for rb in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
                yield to_columns(pa.Table.from_batches([rb]))
        else:
            with open(f, "rb") as fh:
                yield from _iter_lines(fh, batch_rows, fmt)


def read_frame(path: str | os.PathLike[str]) -> Any:
    """Read a CSV / Parquet / JSON-lines file (or a folder of them) as a pandas DataFrame with
    its raw types (timestamps, integers, booleans, strings), for showing records as the user
    knows them; :func:`to_columns` of it equals :func:`read_table` of the same files."""
    import pandas as pd
    import pyarrow as pa

    frames = []
    for f in _files_of(Path(path)):
        fmt = _format_of(f)
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                frames.append(pq.read_table(f).to_pandas(date_as_object=False))
            elif fmt == "csv":
                import pyarrow.csv as pcsv

                opts = pcsv.ConvertOptions(strings_can_be_null=True)
                frames.append(
                    pcsv.read_csv(pa.BufferReader(f.read_bytes()), convert_options=opts).to_pandas(
                        date_as_object=False
                    )
                )
            else:
                rows = [json.loads(line) for line in f.read_bytes().splitlines() if line.strip()]
                frames.append(pd.DataFrame(rows))
        except Exception as exc:  # pyarrow raises many types for malformed files
            raise InvalidInputError(f"cannot read {f}: {exc}") from exc
    if len(frames) > 1 and any(list(fr.columns) != list(frames[0].columns) for fr in frames):
        raise SchemaMismatchError(
            f"files in {path} have different columns; make every file share one schema"
        )
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
