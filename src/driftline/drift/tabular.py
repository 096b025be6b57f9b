"""Tables in: CSV / Parquet / JSON-lines files or folders, read whole or in batches, as the
column dicts of :mod:`driftline.drift.columns` (whose conversion helpers are re-exported here, the
import path callers have used since the first release).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from driftline.drift.columns import (
    Columns,
    Kind,
    as_categorical,
    as_numeric,
    column_kind,
    concat_columns,
    convert_column,
    infer_kind,
    n_rows,
    slice_columns,
    to_columns,
)
from driftline.errors import InvalidInputError, SchemaMismatchError

__all__ = [
    "TABLE_SUFFIXES",
    "Columns",
    "Kind",
    "as_categorical",
    "as_numeric",
    "column_kind",
    "concat_columns",
    "convert_column",
    "infer_kind",
    "iter_batches",
    "n_rows",
    "read_frame",
    "read_table",
    "slice_columns",
    "to_columns",
]

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


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
    except InvalidInputError as exc:
        if str(path) in str(exc):
            raise
        raise InvalidInputError(f"{path}: {exc}") from exc
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
    return to_columns(_json_rows(data))


def _json_rows(data: bytes) -> list[Any]:
    """The records of JSON-lines text, or of one JSON array of records (a ``.json`` export)."""
    if data.lstrip().startswith(b"["):
        rows = json.loads(data)
    else:
        rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    bad = next((r for r in rows if not isinstance(r, dict)), None)
    if bad is not None:
        raise InvalidInputError(
            f"a JSON row is {json.dumps(bad)[:40]}, not an object: give one object "
            '{"column": value, ...} per line, or one array of such objects'
        )
    return rows


def _sniff(first: bytes) -> str:
    return "jsonl" if first.lstrip()[:1] in (b"{", b"[") else "csv"


def _iter_lines(
    stream: io.BufferedIOBase | io.RawIOBase | Any, batch_rows: int, fmt: str | None
) -> Iterator[Columns]:
    header: bytes | None = None
    buf: list[bytes] = []
    first = True
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
        if fmt == "jsonl" and first and line.lstrip().startswith(b"["):
            # one JSON array of records: not streamable, read to its end
            yield from _array_batches(line + b"".join(_stream_bytes(stream)), batch_rows)
            return
        first = False
        buf.append(line)
        if len(buf) >= batch_rows:
            yield _parse_text_chunk(b"".join(buf), fmt, header)
            buf = []
    if buf and fmt is not None:
        yield _parse_text_chunk(b"".join(buf), fmt, header)


def _stream_bytes(stream: Any) -> Iterator[bytes]:
    """The rest of a text or binary line stream, as bytes."""
    for raw in stream:
        yield raw.encode("utf-8") if isinstance(raw, str) else raw


def _array_batches(data: bytes, batch_rows: int) -> Iterator[Columns]:
    """Batches of the records of one JSON array."""
    try:
        rows = _json_rows(data)
    except InvalidInputError:
        raise
    except ValueError as exc:  # json.JSONDecodeError
        raise InvalidInputError(f"cannot parse a JSON array of rows: {exc}") from exc
    for start in range(0, len(rows), batch_rows):
        yield to_columns(rows[start : start + batch_rows])


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
                frames.append(pd.DataFrame(_json_rows(f.read_bytes())))
        except Exception as exc:  # pyarrow raises many types for malformed files
            raise InvalidInputError(f"cannot read {f}: {exc}") from exc
    if len(frames) > 1 and any(list(fr.columns) != list(frames[0].columns) for fr in frames):
        raise SchemaMismatchError(
            f"files in {path} have different columns; make every file share one schema"
        )
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
