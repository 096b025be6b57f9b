"""Where a store's blobs live: recorded once in the database so that every client finds them.

Resolution when a store opens: an explicit location (``Store(..., blob_dir=...)``,
``driftline --blobs URL``, or ``$DRIFTLINE_BLOBS`` for database-URL stores) must agree with the one
recorded in ``driftline_meta.blobs_url``; the first explicit object-store URL is recorded (a local
folder names a place on one machine only, so it is used by that client and not recorded). Without an
explicit location the recorded one is used, then the store's default folder. Only the URL is
recorded, never credentials (see :func:`driftline.store.blobs.normalise_location`).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from driftline.errors import InvalidInputError
from driftline.store.blobs import BlobStore
from driftline.store.schema import get_setting, set_setting

BLOBS_KEY = "blobs_url"


def recorded_location(engine: sa.Engine) -> str | None:
    """The blob location recorded in the store's database, if any."""
    with engine.connect() as conn:
        return get_setting(conn, BLOBS_KEY)


def open_blob_store(
    engine: sa.Engine, explicit: BlobStore | None, fallback: str | os.PathLike | Path
) -> BlobStore:
    """The store's :class:`BlobStore` (see module docstring); records ``explicit`` if new."""
    recorded = recorded_location(engine)
    if explicit is None:
        return BlobStore(recorded if recorded is not None else fallback)
    if recorded is None and explicit.fs is None:
        return explicit  # a local folder means something on this machine only: not recorded
    if recorded is not None and recorded != explicit.location:
        raise InvalidInputError(
            f"this store keeps its blobs at {recorded}, not {explicit.location}; drop --blobs "
            "(or $DRIFTLINE_BLOBS) to use the recorded location"
        )
    if recorded is None:
        with engine.begin() as conn:
            if get_setting(conn, BLOBS_KEY) is None:
                set_setting(conn, BLOBS_KEY, explicit.location)
    return explicit
