"""Opening a store, its transactions and its model references (the base of
:class:`~driftline.store.Store`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import sqlalchemy as sa

from driftline.errors import DriftlineError
from driftline.store import engine as engine_mod
from driftline.store.blob_config import open_blob_store
from driftline.store.blobs import BlobStore
from driftline.store.engine import (
    DB_FILE,
    check_folder,
    default_location,
    is_url,
    redact,
    sqlite_url,
)
from driftline.store.integrity import open_engine
from driftline.store.models import Model, model_from_row
from driftline.store.references import Node, resolve_node
from driftline.store.schema import models


class StoreBase:
    """The database and blob store of a driftline store (see :class:`~driftline.store.Store`),
    with transactions and reference resolution."""

    def __init__(
        self,
        location: str | os.PathLike | None = None,
        *,
        blob_dir: str | os.PathLike | None = None,
        create: bool = True,
    ) -> None:
        loc = str(location) if location is not None else default_location()
        must_exist = False
        if blob_dir is None and is_url(loc):
            blob_dir = os.environ.get("DRIFTLINE_BLOBS")
        # an explicit blob location is probed before anything is written (fails with one line)
        explicit = BlobStore(blob_dir) if blob_dir is not None else None
        self.root: Path | None
        self.read_only = False
        if is_url(loc):
            self.url, self.root = loc, None
            blobs = Path(".driftline") / "blobs"
        else:
            self.root = Path(loc)
            must_exist = check_folder(self.root, blob_dir, create)
            self.read_only = (self.root / DB_FILE).is_file() and not engine_mod.writable(self.root)
            self.url = sqlite_url(self.root, self.read_only)
            blobs = self.root / "blobs"
        self.engine = open_engine(self.url, must_exist=must_exist)
        self.blobs = open_blob_store(self.engine, explicit, blobs)

    def __repr__(self) -> str:
        return f"Store({str(self.root) if self.root else redact(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------
    def check_writable(self) -> None:
        """One clear error when the store was opened read-only (a read-only folder)."""
        if self.read_only:
            raise DriftlineError(
                f"the store at {self.root} is read-only (its folder cannot be written to): it "
                "can be read but not changed; copy it to a writable folder to change it"
            )

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE). Everything in it commits or nothing."""
        self.check_writable()
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- references ---------------------------------------------------------------------------
    def resolve(self, ref: str | Model, conn: sa.Connection | None = None) -> str:
        """Model id for a full id, a unique id prefix, ``name@version``, ``name`` (latest
        version) or ``deployment:NAME``; a name no node has may be an alias (identical content
        registered under it, :func:`~driftline.store.aliases.resolve_alias`)."""
        if isinstance(ref, Model):
            return ref.id
        return self._node(ref, conn)[0]

    def _node(self, ref: str | Model, conn: sa.Connection | None = None) -> Node:
        """``(id, seq)`` of a reference (see :mod:`driftline.store.references`)."""
        ref = ref.id if isinstance(ref, Model) else ref
        if conn is not None:
            return resolve_node(conn, ref)
        with self.read() as c:
            return resolve_node(c, ref)

    def get(self, ref: str | Model) -> Model:
        """The model node for a reference."""
        with self.read() as conn:
            mid = self.resolve(ref, conn)
            row = conn.execute(sa.select(models).where(models.c.id == mid)).one()
        return model_from_row(row)

    def list_models(self, name: str | None = None) -> list[Model]:
        q = sa.select(models).order_by(models.c.name, models.c.version)
        if name:
            q = q.where(models.c.name == name)
        with self.read() as conn:
            return [model_from_row(r) for r in conn.execute(q)]
