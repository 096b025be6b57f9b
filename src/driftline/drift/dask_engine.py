"""Signatures and drift reports over data larger than memory, on Dask.

Map: every partition becomes its own signature (or drift-window state) on a worker. Reduce: the
results are merged **left to right in partition order** by a chain of tasks, never by Dask's
tree reduction, so the result does not depend on which worker finished first or how many there
were. The in-process twins do the same steps in one process:

* :func:`from_partitions` — the one-pass build: read partition 0, 1, 2, … in order, summarise
  each, merge it into the running signature. ``Signature.from_dask(ddf)`` is bit-identical to
  ``from_partitions`` over the same rows in the same partitions (same ``id``), and equal to
  ``Signature.from_data`` of the whole table within the sketch's stated ``rank_error`` (moments
  to rounding) in any order.
* :func:`drift_from_dask` is bit-identical to one :class:`DriftAgent` (``window=None``) updated
  with the same partitions in order, and equal to :func:`compare` on the whole table (counts-based
  metrics exactly, float sums to rounding).

A Parquet data set (a folder, a glob, or an fsspec URL such as ``s3://bucket/data/*.parquet``) is
read one file per partition, files sorted by name. Before any work, every file's schema is read
(footer only) and a file whose columns or column kinds differ from the first is named in a
:class:`SchemaMismatchError`. Without ``scheduler`` Dask's default scheduler runs the graph
(the active ``distributed.Client`` if any, else threads on this machine); with an address (``tcp://host:8786``) a ``distributed.Client`` does, and an unreachable
scheduler is one :class:`ComputeEngineError` line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from driftline.drift.agent import DriftAgent
from driftline.drift.agent_state import WindowState, merge_states
from driftline.drift.report import DriftReport
from driftline.drift.roles import RoleSpec
from driftline.drift.signature import DEFAULT_MAX_CATEGORIES, Signature
from driftline.errors import (
    ComputeEngineError,
    InvalidInputError,
    OptionalDependencyError,
    SchemaMismatchError,
)


@dataclass(frozen=True)
class SignatureSettings:
    """How each partition is summarised (the same for every partition)."""

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    max_categories: int = DEFAULT_MAX_CATEGORIES
    columns: tuple[str, ...] = ()  # expected columns, in order (empty: take the first's)
    names: tuple[str, ...] = field(default=(), compare=False)  # partition names for errors
    roles: RoleSpec | None = None  # declared column roles (target, id, ...), as from_data's


def _dask() -> Any:
    try:
        import dask
        import dask.dataframe  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise OptionalDependencyError(
            "the Dask engine needs dask: pip install 'driftline[dask]'"
        ) from exc
    return dask


# ---------------------------------------------------------------------------- map / reduce steps
def _check_partition(part: Any, index: int, settings: SignatureSettings) -> None:
    cols = tuple(str(c) for c in getattr(part, "columns", ()))
    if settings.columns and cols != settings.columns:
        name = settings.names[index] if index < len(settings.names) else f"partition {index}"
        missing = [c for c in settings.columns if c not in cols]
        extra = [c for c in cols if c not in settings.columns]
        raise SchemaMismatchError(
            f"{name} (partition {index}) has a different schema: missing {missing}, extra "
            f"{extra}; every partition needs the columns {list(settings.columns)}"
        )


def partition_signature(part: Any, index: int, settings: SignatureSettings) -> bytes:
    """Map step: the canonical bytes of one partition's signature."""
    _check_partition(part, index, settings)
    sig = Signature.from_data(
        part,
        categorical=settings.categorical or None,
        numeric=settings.numeric or None,
        max_categories=settings.max_categories,
        roles=settings.roles,
    )
    return sig.to_bytes()


def merge_signature_bytes(acc: bytes, nxt: bytes) -> bytes:
    """Reduce step: ``acc ∪ nxt`` as bytes (left to right)."""
    return Signature.from_bytes(acc).merge(Signature.from_bytes(nxt)).to_bytes()


def partition_state(
    part: Any,
    index: int,
    reference: bytes,
    settings: SignatureSettings,
    agent_kwargs: dict[str, Any],
) -> bytes:
    """Map step of drift: one partition's window state against the reference."""
    _check_partition(part, index, settings)
    agent = DriftAgent(Signature.from_bytes(reference), **{**agent_kwargs, "window": None})
    agent.update(part)
    return agent.state().to_bytes()


def merge_state_bytes(acc: bytes, nxt: bytes, reference: bytes) -> bytes:
    """Reduce step of drift: sum of two window states (left to right)."""
    agent = DriftAgent(Signature.from_bytes(reference), window=None)
    states = [WindowState.from_bytes(b, agent.refs, agent.reference_id) for b in (acc, nxt)]
    return merge_states(states).to_bytes()


# ---------------------------------------------------------------------------- in one process
def from_partitions(parts: Iterable[Any], settings: SignatureSettings | None = None) -> Signature:
    """The one-pass build: summarise each partition in order and merge it into the total."""
    acc: bytes | None = None
    for i, part in enumerate(parts):
        if settings is None:  # kinds and columns from the first partition, as on Dask
            settings = _settings_for(part, None, None, DEFAULT_MAX_CATEGORIES)
        b = partition_signature(part, i, settings)
        acc = b if acc is None else merge_signature_bytes(acc, b)
    if acc is None:
        raise InvalidInputError("no partitions: the data set is empty")
    return Signature.from_bytes(acc)


# ---------------------------------------------------------------------------- on Dask
def _settings_for(
    ddf: Any,
    categorical: Iterable[str] | None,
    numeric: Iterable[str] | None,
    max_categories: int,
    names: Sequence[str] = (),
) -> SignatureSettings:
    """Kinds from the Dask meta, so every partition summarises a column the same way."""
    from driftline.drift.columns import frame_kinds

    cat, num = set(categorical or ()), set(numeric or ())
    for col, kind in frame_kinds(getattr(ddf, "_meta", ddf)).items():  # as from_data does
        if col in cat or col in num:
            continue
        (num if kind == "numeric" else cat).add(col)
    cols = tuple(str(c) for c in ddf.columns)
    return SignatureSettings(
        tuple(c for c in cols if c in cat),
        tuple(c for c in cols if c in num),
        max_categories,
        cols,
        tuple(names),
    )


def _fold(dask: Any, mapped: list[Any], merge: Any, *extra: Any) -> Any:
    """A left-to-right chain of merge tasks over the mapped partitions."""
    acc = mapped[0]
    for nxt in mapped[1:]:
        acc = dask.delayed(merge, pure=True)(acc, nxt, *extra)
    return acc


def signature_from_dask(
    ddf: Any,
    *,
    categorical: Iterable[str] | None = None,
    numeric: Iterable[str] | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    scheduler: str | None = None,
    partition_names: Sequence[str] = (),
    roles: RoleSpec | None = None,
) -> Signature:
    """Per-partition signatures on Dask, merged in partition order (see module docstring);
    ``roles`` as for :meth:`Signature.from_data`."""
    dask = _dask()
    settings = _settings_for(ddf, categorical, numeric, max_categories, partition_names)
    settings = replace(settings, roles=roles)
    parts = ddf.to_delayed()
    if not parts:
        raise InvalidInputError("no partitions: the data set is empty")
    mapped = [
        dask.delayed(partition_signature, pure=True)(p, i, settings) for i, p in enumerate(parts)
    ]
    with _scheduler(scheduler) as kw:
        (out,) = dask.compute(_fold(dask, mapped, merge_signature_bytes), **kw)
    return Signature.from_bytes(out)


def drift_from_dask(
    reference: Signature,
    ddf: Any,
    *,
    scheduler: str | None = None,
    partition_names: Sequence[str] = (),
    **agent_kwargs: Any,
) -> DriftReport:
    """One drift report over the whole Dask DataFrame (a single window), per-partition window
    states merged in partition order; ``agent_kwargs`` as for :class:`DriftAgent`."""
    dask = _dask()
    settings = _settings_for(ddf, None, None, DEFAULT_MAX_CATEGORIES, partition_names)
    parts = ddf.to_delayed()
    if not parts:
        raise InvalidInputError("no partitions: the data set is empty")
    ref = dask.delayed(reference.to_bytes(), pure=True)
    kw = {k: v for k, v in agent_kwargs.items() if k != "window"}
    mapped = [
        dask.delayed(partition_state, pure=True)(p, i, ref, settings, kw)
        for i, p in enumerate(parts)
    ]
    with _scheduler(scheduler) as ckw:
        (merged,) = dask.compute(_fold(dask, mapped, merge_state_bytes, ref), **ckw)
    agent = DriftAgent(reference, **{**kw, "window": None})
    agent.load_state(merged)
    return agent.report()


@contextlib.contextmanager
def _scheduler(address: str | None) -> Iterator[dict[str, Any]]:
    """``dask.compute`` keywords: Dask's default (an active ``distributed.Client`` if there is
    one, else threads on this machine), or a client of the scheduler at ``address``."""
    if address is None:
        yield {}
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover
        raise OptionalDependencyError(
            "--scheduler needs dask.distributed: pip install 'driftline[dask]'"
        ) from exc
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ComputeEngineError(
            f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}; start one "
            "(dask scheduler) or drop --scheduler to run on this machine"
        ) from exc
    try:
        yield {"scheduler": client}
    finally:
        client.close()


# ---------------------------------------------------------------------------- Parquet data sets
def parquet_files(location: str | os.PathLike) -> tuple[Any, list[str]]:
    """The fsspec file system and the sorted Parquet files of a folder, glob or single file."""
    import fsspec

    loc = str(location)
    try:
        fs, root = fsspec.core.url_to_fs(loc)
        if any(ch in loc for ch in "*?["):
            files = fs.glob(root)
        elif fs.isdir(root):
            files = [f for f in fs.find(root) if f.endswith((".parquet", ".pq"))]
        elif fs.isfile(root):
            files = [root]
        else:
            files = []
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot list {loc}: {type(exc).__name__}: {exc}") from exc
    if not files:
        raise InvalidInputError(f"no Parquet files at {loc}")
    return fs, sorted(files)


def _arrow_kind(t: Any) -> str:
    import pyarrow as pa

    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    return "numeric" if numeric else "categorical"


def check_schemas(fs: Any, files: Sequence[str], columns: Sequence[str] | None = None) -> Any:
    """Read every file's schema (footer only) and return the first one. A file whose columns
    or column kinds differ from the first file's is named in the error."""
    import pyarrow.parquet as pq

    first: dict[str, str] | None = None
    first_schema = None
    for i, f in enumerate(files):
        with fs.open(f, "rb") as fh:
            schema = pq.read_schema(fh)
        kinds = {
            n: _arrow_kind(schema.field(n).type)
            for n in schema.names
            if columns is None or n in columns
        }
        if first is None:
            first, first_schema = kinds, schema
            continue
        if kinds != first:
            missing = [c for c in first if c not in kinds]
            extra = [c for c in kinds if c not in first]
            changed = [c for c in first if c in kinds and kinds[c] != first[c]]
            raise SchemaMismatchError(
                f"partition {i} ({f}) has a different schema from {files[0]}: missing "
                f"{missing}, extra {extra}, changed kind {changed}; rewrite it or leave it out"
            )
    return first_schema


def _read_file(path: str, fs: Any, columns: list[str] | None) -> Any:
    """One Parquet file as a pandas DataFrame (the partition unit, in Dask and in-process)."""
    import pyarrow.parquet as pq

    local = "file" in fs.protocol if isinstance(fs.protocol, tuple) else fs.protocol == "file"
    # local files: Arrow's own reader (memory-mapped, parallel); others through fsspec
    table = pq.read_table(path, columns=columns, filesystem=None if local else fs)
    return table.to_pandas()


def read_parquet_dask(
    location: str | os.PathLike, columns: Sequence[str] | None = None, drop: Sequence[str] = ()
) -> tuple[Any, list[str]]:
    """A Dask DataFrame with one partition per Parquet file (sorted by name), and the files."""
    dask = _dask()
    fs, files, keep, schema = _data_set(location, columns, drop)
    import dask.dataframe as dd

    meta = schema.empty_table().select(keep).to_pandas()  # no file is read on the client
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_map(_read_file, files, fs=fs, columns=keep, meta=meta, enforce_metadata=False)
    return ddf, files


def _data_set(
    location: str | os.PathLike, columns: Sequence[str] | None, drop: Sequence[str]
) -> tuple[Any, list[str], list[str], Any]:
    fs, files = parquet_files(location)
    schema = check_schemas(fs, files, columns)
    keep = [c for c in schema.names if (columns is None or c in columns) and c not in set(drop)]
    return fs, files, keep, schema


def iter_parquet_partitions(
    location: str | os.PathLike, columns: Sequence[str] | None = None, drop: Sequence[str] = ()
) -> Iterator[Any]:
    """The same partitions as :func:`read_parquet_dask`, read one after another in-process."""
    fs, files, keep, _ = _data_set(location, columns, drop)
    for f in files:
        yield _read_file(f, fs, keep)


# ---------------------------------------------------------------------------- CLI entry points
def signature_for_location(
    location: str | os.PathLike,
    *,
    drop: Sequence[str] = (),
    categorical: Iterable[str] | None = None,
    scheduler: str | None = None,
    roles: RoleSpec | None = None,
) -> Signature:
    """``driftline signature PATH --engine dask``: a Parquet data set's signature on Dask."""
    ddf, files = read_parquet_dask(location, drop=drop)
    return signature_from_dask(
        ddf, categorical=categorical, scheduler=scheduler, partition_names=files, roles=roles
    )


def drift_for_location(
    reference: Signature,
    location: str | os.PathLike,
    *,
    drop: Sequence[str] = (),
    scheduler: str | None = None,
    **agent_kwargs: Any,
) -> DriftReport:
    """``driftline drift REF PATH --engine dask``: one report over a Parquet data set."""
    ddf, files = read_parquet_dask(location, drop=drop)
    return drift_from_dask(
        reference, ddf, scheduler=scheduler, partition_names=files, **agent_kwargs
    )
