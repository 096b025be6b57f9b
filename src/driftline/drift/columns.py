"""Column conversion: in-memory tables of many shapes -> ``dict[str, np.ndarray]`` columns.

Contract of a *column dict* (what :func:`to_columns` returns):

* numeric columns are contiguous ``float64`` arrays; missing values (None, NaN, NaT) are ``NaN``
  and ``±inf`` is kept as is (every consumer treats non-finite values as missing);
* categorical columns are ``object`` arrays of ``str`` with ``None`` for missing values.

Type inference: integer, float and datetime columns are numeric (datetimes as epoch seconds);
strings, objects, bools and pandas categories are categorical; an ``object`` column whose
non-missing values are all Python/NumPy numbers or Decimals (not bools), or all ISO 8601 date / date-time
text (as JSON rows carry dates; the CSV reader makes the same text timestamps), is numeric. Declared types
(``categorical=[...]``, ``numeric=[...]``) override inference.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from driftline.errors import InvalidInputError, SchemaMismatchError

Kind = Literal["numeric", "categorical"]
Columns = dict[str, np.ndarray]


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


#: the labels of a boolean column (``as_categorical`` of ``False`` / ``True``)
BOOL_LABELS = ("False", "True")


def _cat_str(v: Any) -> str:
    """Canonical category label: integral floats print as ints so 1, 1.0 and "1" agree."""
    if isinstance(v, bool | np.bool_):
        return "True" if v else "False"
    if isinstance(v, float | np.floating) and math.isfinite(v) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def as_bool_labels(values: Any, categories: Iterable[str]) -> np.ndarray | None:
    """A 0 / 1 numeric column as ``"False"`` / ``"True"`` when ``categories`` (a reference's
    labels) are those of a boolean column; None when either side is something else."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf" or not set(categories) <= set(BOOL_LABELS):
        return None
    ok = ~np.isnan(arr) if arr.dtype.kind == "f" else np.ones(arr.shape, dtype=bool)
    if not np.isin(arr[ok], (0, 1)).all():
        return None
    out = np.full(arr.shape[0], None, dtype=object)
    out[ok] = np.where(arr[ok] == 1, "True", "False")
    return out


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
    if arr.dtype.kind in "Mm":
        return _time_seconds(arr)
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        if _is_missing_scalar(v):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            if v in BOOL_LABELS:  # a boolean's label (see as_categorical) is its 0 / 1
                out[i] = float(v == "True")
                continue
            dates = iso_datetime_seconds(arr)
            if dates is not None:  # ISO 8601 text, as JSON and hand-made tables hold dates
                return dates
            raise InvalidInputError(
                f"column {name!r} was declared/inferred numeric but holds {v!r}; "
                "declare it categorical or clean the data"
            ) from None
    return out


def _time_seconds(arr: np.ndarray) -> np.ndarray:
    """Datetimes as epoch seconds, durations as seconds, in the array's own unit (so dates
    such as 9999-12-31 do not overflow nanoseconds); NaT -> NaN."""
    unit, step = np.datetime_data(arr.dtype)
    if unit in ("Y", "M") and arr.dtype.kind == "M":  # calendar units: whole days first
        arr, unit, step = arr.astype("datetime64[D]"), "D", 1
    one_second = np.array(1, dtype="timedelta64[s]")
    per_second = float(one_second / np.array(1, dtype=f"timedelta64[{step}{unit}]"))
    raw = arr.view(np.int64).astype(np.float64)
    out = raw / per_second if per_second >= 1 else raw * (1 / per_second)
    out[np.isnat(arr)] = np.nan
    return out


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_datetime_seconds(values: Any) -> np.ndarray | None:
    """Epoch seconds of text that is all ISO 8601 dates / date-times (the forms the CSV reader
    turns into timestamps: ``2024-01-31``, ``2024-01-31 12:00[:00[.5]]``, with ``Z`` or
    ``+01:00`` on every value or on none), missing values -> NaN; None for anything else."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "OU" or arr.ndim != 1:
        return None
    first = next((v for v in arr if not _is_missing_scalar(v)), None)
    if not isinstance(first, str) or not _ISO_DATE.match(first):
        return None  # cheap refusal for the usual text column
    values = [None if _is_missing_scalar(v) else v for v in arr.tolist()]
    if not all(v is None or isinstance(v, str) for v in values):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values, pa.string())
    for unit in ("us", "ns"):
        for tz in (None, "UTC"):
            try:
                stamps = pc.cast(text, pa.timestamp(unit, tz=tz))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            return _time_seconds(stamps.to_numpy(zero_copy_only=False))
    return None


def _object_is_numeric(arr: np.ndarray) -> bool:
    for v in arr:
        if _is_missing_scalar(v):
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number | Decimal):
            return False
    return True  # all-missing object columns are numeric (all NaN)


def infer_kind(values: Any) -> Kind:
    """Infer numeric / categorical for raw 1-D values (see module docstring)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iufMm":
        return "numeric"
    if arr.dtype.kind == "O":
        numeric = _object_is_numeric(arr) or iso_datetime_seconds(arr) is not None
        return "numeric" if numeric else "categorical"
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


#: pandas' nullable number dtypes (``pd.NA`` for missing values)
_NULLABLE_NUMBERS = frozenset(
    "Int8 Int16 Int32 Int64 UInt8 UInt16 UInt32 UInt64 Float32 Float64".split()
)


def _unique_names(names: Iterable[Any]) -> None:
    dups = sorted(n for n, k in Counter(str(n) for n in names).items() if k > 1)
    if dups:
        raise InvalidInputError(
            f"the table names column(s) {', '.join(map(repr, dups))} more than once; give "
            "every column its own name"
        )


def _from_pandas(df: Any) -> dict[str, tuple[Any, Kind | None]]:
    _unique_names(df.columns)
    out: dict[str, tuple[Any, Kind | None]] = {}
    for name in df.columns:
        s = df[name]
        dt = s.dtype
        dname = str(dt)
        if hasattr(dt, "pyarrow_dtype"):  # pandas ArrowDtype: read as Arrow would
            out[str(name)] = _arrow_column(s.array.__arrow_array__())
        elif dname == "category":
            cats = s.cat.categories
            codes = s.cat.codes.to_numpy()
            labels = np.array([_cat_str(c) for c in cats] + [None], dtype=object)
            out[str(name)] = (labels[np.where(codes < 0, len(cats), codes)], "categorical")
        elif dname in _NULLABLE_NUMBERS:
            out[str(name)] = (s.to_numpy(dtype=np.float64, na_value=np.nan), "numeric")
        elif dname == "boolean":
            out[str(name)] = (s.to_numpy(dtype=object, na_value=None), "categorical")
        elif dname.startswith("string") or dname == "str":
            out[str(name)] = (s.to_numpy(dtype=object, na_value=None), "categorical")
        elif getattr(dt, "tz", None) is not None:  # tz-aware: the instants, in UTC
            out[str(name)] = (s.dt.tz_convert(None).to_numpy(), "numeric")
        elif getattr(dt, "kind", "O") in "Mm" or dname.startswith("datetime"):
            out[str(name)] = (s.to_numpy(), "numeric")
        else:
            out[str(name)] = (s.to_numpy(), None)
    return out


def frame_kinds(df: Any) -> dict[str, Kind]:
    """The kind each column of a pandas frame gets from its dtype (an ``object`` column, whose
    kind depends on its values, is categorical): how every partition of a partitioned table
    is summarised the same way as the whole table would be."""
    return {
        name: hint or ("numeric" if np.asarray(vals).dtype.kind in "iufMm" else "categorical")
        for name, (vals, hint) in _from_pandas(df.iloc[:0]).items()
    }


def _from_arrow(table: Any) -> dict[str, tuple[Any, Kind | None]]:
    _unique_names(table.column_names)
    return {
        name: _arrow_column(col)
        for name, col in zip(table.column_names, table.columns, strict=True)
    }


def _arrow_column(col: Any) -> tuple[Any, Kind | None]:
    """Raw values and kind hint of one Arrow (chunked) array."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        arr = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(arr, dtype=np.float64), "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_duration(t):
        # datetime64 / timedelta64 in the column's own unit (UTC for zoned timestamps)
        return _time_seconds(col.to_numpy(zero_copy_only=False)), "numeric"
    if pa.types.is_null(t):
        return np.full(len(col), np.nan), "numeric"
    if pa.types.is_boolean(t):
        return np.asarray(col.to_pylist(), dtype=object), "categorical"
    string = pa.types.is_string(t) or pa.types.is_large_string(t)
    return np.asarray(col.to_pylist(), dtype=object), "categorical" if string else None


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


def array_names(data: Any, names: Sequence[str]) -> list[str] | None:
    """Column names for an unnamed 2-D NumPy ``data`` compared with a reference whose features
    are ``names``: those names, in order, when the widths agree; None (the default ``f0, f1,
    ...``) for other data or a reference that was itself built from an array. Raises
    :class:`InvalidInputError` when the widths differ (there is no way to match columns)."""
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.names:
        return None
    names = list(names)
    if names == [f"f{j}" for j in range(len(names))]:
        return None
    if data.shape[1] != len(names):
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise InvalidInputError(
            f"a NumPy array has no column names and its {data.shape[1]} columns are not the "
            f"reference's {len(names)} features ({shown}); pass feature_names=[...] or a table "
            "with named columns"
        )
    return names


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
