"""Opening a store's database safely and verifying what comes out of it.

A database that cannot be read, or that lost its tables, is reported as damaged
(:class:`~driftline.errors.DamagedStoreError`), never silently recreated as an empty store;
a model's manifest must hash to its Merkle id, so a manifest row pointing at another valid blob
is caught on load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from driftline.errors import DamagedStoreError, DriftlineError
from driftline.params.identity import leaf_from_manifest
from driftline.store.engine import make_engine, redact
from driftline.store.migrations import create_or_check

if TYPE_CHECKING:
    from driftline.store.models import Model, TensorInfo


def open_engine(url: str, *, must_exist: bool = False) -> sa.Engine:
    """Engine for ``url`` with the store's tables created or checked (see
    :func:`~driftline.store.migrations.create_or_check`); unreadable databases raise
    :class:`DamagedStoreError`, unreachable servers a one-line :class:`DriftlineError`."""
    try:
        engine = make_engine(url)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise StoreLocationError(
            f"cannot use store URL {redact(url)!r}: {exc}; give a folder or a SQLAlchemy URL "
            "such as postgresql+psycopg://user@host/db"
        ) from exc
    try:
        create_or_check(engine, must_exist=must_exist)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        if url.startswith("sqlite"):
            raise DamagedStoreError(
                _first_line(exc, "the store's database cannot be read")
            ) from exc
        raise StoreLocationError(
            f"cannot connect to {redact(url)}: {_first_line(exc, 'connection failed')}"
        ) from exc
    except sa.exc.DatabaseError as exc:
        engine.dispose()
        raise DamagedStoreError(
            f"the store's database is damaged ({_first_line(exc, 'unreadable')}); restore it "
            "from backup"
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return engine


class StoreLocationError(DriftlineError):
    """``--store`` names a database that cannot be reached or a URL that is not valid."""


def _first_line(exc: BaseException, fallback: str) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:300] or fallback


def manifest_root(infos: Sequence[TensorInfo]) -> str:
    """Merkle root of a manifest: SHA-256 over the leaves (name, dtype, shape, blob key) in
    name order; equal to the model id when every blob holds its key's bytes (see
    :mod:`driftline.params.identity`)."""
    root = hashlib.sha256()
    for info in sorted(infos, key=lambda i: i.name):
        root.update(leaf_from_manifest(info.name, info.dtype, tuple(info.shape), info.blob))
    return root.hexdigest()


def verify_manifest(model: Model, infos: Sequence[TensorInfo]) -> None:
    """Raise :class:`DamagedStoreError` unless the manifest hashes to ``model.id``. Together
    with the per-blob hash check on read this proves the loaded tensors are the model's.
    Models without tensors (imported metadata-only nodes) have nothing to check."""
    if not infos:
        return
    actual = manifest_root(infos)
    if actual != model.id:
        raise DamagedStoreError(
            f"model {model.ref}: its tensor manifest hashes to {actual[:12]}, not to its id "
            f"{model.id[:12]} (a row points at the wrong blob, or a dtype/shape was changed); "
            "run 'driftline fsck' and restore the database from backup"
        )
