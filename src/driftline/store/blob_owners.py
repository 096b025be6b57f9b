"""Which stores keep their blobs in a blob folder, so that ``gc`` never takes another store's
blobs for orphans.

A database-URL store uses ``./.driftline/blobs`` unless told otherwise, so a PostgreSQL store
used where a folder store lives shares that store's blob folder; ``--blobs`` can point two
stores at one folder too. Each store has an id (a random UUID kept in ``driftline_meta``,
made by its first registration), and every registration claims the folder it writes to with
an empty marker ``ROOT/.owners/ID``. :func:`foreign_owners` names what else uses the folder:
other claims, and a folder store the folder belongs to (``lineage.db`` beside ``blobs/``,
which may predate the markers).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from driftline.store.schema import get_setting, set_setting

if TYPE_CHECKING:
    from driftline.store.blobs import BlobStore

STORE_ID_KEY = "store_id"
OWNERS = ".owners"


def store_id(conn: sa.Connection, *, create: bool) -> str | None:
    """The store's id; with ``create`` (in a write transaction) made when it has none."""
    sid = get_setting(conn, STORE_ID_KEY)
    if sid is None and create:
        sid = uuid.uuid4().hex
        set_setting(conn, STORE_ID_KEY, sid)
    return sid


def claim(blobs: BlobStore, sid: str) -> None:
    """Mark ``blobs`` as holding blobs of store ``sid`` (once; one stat when already done)."""
    if blobs.fs is None:
        marker = blobs.root / OWNERS / sid
        if not marker.exists():
            marker.parent.mkdir(exist_ok=True)
            marker.touch()
        return
    path = f"{blobs.root}/{OWNERS}/{sid}"
    if not blobs.fs.exists(path):
        blobs.fs.pipe_file(path, b"")


def _claims(blobs: BlobStore) -> set[str]:
    if blobs.fs is None:
        folder = blobs.root / OWNERS
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    try:
        return {p.rsplit("/", 1)[-1] for p in blobs.fs.ls(f"{blobs.root}/{OWNERS}", detail=False)}
    except FileNotFoundError:
        return set()


def foreign_owners(blobs: BlobStore, sid: str | None, root: Path | None) -> list[str]:
    """What else keeps blobs in ``blobs``, for the store with id ``sid`` and folder ``root``
    (None for a database-URL store): one description per other store."""
    out = [f"store {other[:12]}" for other in sorted(_claims(blobs) - {sid})]
    if blobs.fs is None:
        beside = blobs.root.parent
        mine = root is not None and root.resolve() == beside.resolve()
        if not mine and (beside / "lineage.db").exists():
            out.append(f"the folder store {beside}")
    return out
