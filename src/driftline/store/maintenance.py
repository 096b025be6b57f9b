"""Store maintenance: ``fsck`` (verify everything, report damage) and ``gc`` (remove what
nothing references).

fsck checks every blob against its key, every model's tensor manifest against its Merkle id,
every JSON column, and every reference between tables (a signature, model or blob named but
absent is *dangling*). Unreferenced blobs (*orphans*, left by a crash between writing blobs
and committing their rows) and leftover temporary files are reported but are not damage.

gc removes orphan blobs and temporary files older than a grace period. It is safe while other
processes write: it decides and deletes inside a write transaction (writers are serialised),
and :meth:`driftline.store.Store.register` re-checks, under the same lock, that the blobs it
is about to reference still exist (re-writing any that gc removed after it stored them); the
grace period also spares blobs and temporaries a writer touched recently.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from driftline.errors import CorruptBlobError, DriftlineError
from driftline.store import deltas
from driftline.store.blob_owners import foreign_owners, store_id
from driftline.store.integrity import manifest_root
from driftline.store.models import TensorInfo
from driftline.store.schema import (
    blob_encodings,
    deployment_history,
    deployments,
    drift_reports,
    edges,
    models,
    signatures,
    tensors,
)

if TYPE_CHECKING:
    from driftline.store.store import Store

DEFAULT_GRACE_SECONDS = 3600.0
_JSON_COLUMNS = {
    models: ("architecture", "metrics", "tags"),
    edges: ("params", "metrics", "data_stats"),
    drift_reports: ("report",),
}


@dataclass
class FsckReport:
    """What :func:`fsck` found. ``damaged`` lists problems; orphans and temporaries are not."""

    models_checked: int = 0
    blobs_checked: int = 0
    damaged: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    temporaries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class GcReport:
    """What :func:`gc` removed (or would remove, with ``dry_run``) and what it spared."""

    removed_blobs: list[str] = field(default_factory=list)
    removed_temporaries: list[str] = field(default_factory=list)
    young_orphans: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fsck(store: Store) -> FsckReport:
    """Verify the whole store (see the module docstring)."""
    out = FsckReport()
    with store.read() as conn:
        manifests = _manifests(conn)
        refs = {
            (r.id, r.name, r.version): manifests.get(r.id, [])
            for r in conn.execute(sa.select(models.c.id, models.c.name, models.c.version))
        }
        out.damaged += _bad_json(conn)
        out.damaged += _dangling(conn)
        encoded = {r.blob for r in conn.execute(sa.select(blob_encodings.c.blob))}
        needed = encoded_references(conn)
        encoded_rows = deltas.encodings(conn, encoded)
    referenced: dict[str, str] = {}
    for (mid, name, version), infos in refs.items():
        out.models_checked += 1
        if infos and manifest_root(infos) != mid:
            out.damaged.append(
                f"model {name}@{version} ({mid[:12]}): its tensor manifest does not hash to its id"
            )
        for info in infos:
            referenced.setdefault(info.blob, f"model {name}@{version}, tensor {info.name!r}")
    for key in sorted(set(referenced) & encoded):  # rebuilt from its encoding and verified
        out.blobs_checked += 1
        try:
            deltas.read_blob(store.blobs, key, encoded_rows, context=referenced[key])
        except CorruptBlobError as exc:
            out.damaged.append(str(exc))
    referenced.update({k: "an encoded blob" for k in needed if k not in referenced})
    stored = set(store.blobs.keys())
    for key in sorted((set(referenced) - encoded) | stored):
        out.blobs_checked += 1
        if key not in stored:
            out.damaged.append(f"blob {key[:12]} is missing ({referenced[key]})")
        elif not store.blobs.verify(key):
            out.damaged.append(
                f"blob {key[:12]} is corrupt ({referenced.get(key, 'unreferenced')})"
            )
        elif key not in referenced:
            out.orphan_blobs.append(key)
    out.temporaries = store.blobs.temporaries(0.0)
    return out


def _manifests(conn: sa.Connection) -> dict[str, list[TensorInfo]]:
    out: dict[str, list[TensorInfo]] = defaultdict(list)
    q = sa.select(
        tensors.c.model_id,
        tensors.c.name,
        tensors.c.dtype,
        tensors.c.blob,
        sa.cast(tensors.c.shape, sa.Text),
    )
    for mid, name, dtype, blob, shape in conn.execute(q):
        try:
            dims = tuple(int(s) for s in json.loads(shape))
        except (TypeError, ValueError):
            dims = (-1,)  # unreadable: cannot hash to the id, reported there
        out[mid].append(TensorInfo(name, dtype, dims, blob))
    return out


def _bad_json(conn: sa.Connection) -> list[str]:
    """Rows whose JSON columns do not parse (read as text, so one bad row cannot hide others)."""
    found = []
    for table, columns in _JSON_COLUMNS.items():
        key = list(table.primary_key.columns)
        cols = [sa.cast(table.c[c], sa.Text).label(c) for c in columns]
        for row in conn.execute(sa.select(*key, *cols)):
            for c in columns:
                try:
                    json.loads(row._mapping[c])
                except (TypeError, ValueError, RecursionError):
                    pk = ", ".join(str(row._mapping[k.name])[:12] for k in key)
                    found.append(f"{table.name} row ({pk}): column {c} is not valid JSON")
    return found


def _dangling(conn: sa.Connection) -> list[str]:
    """References to rows that do not exist (foreign keys are not enforced everywhere)."""
    checks = [
        ("model signature", models.c.id, models.c.signature_id, signatures.c.id),
        ("tensor's model", tensors.c.model_id, tensors.c.model_id, models.c.id),
        ("edge parent", edges.c.child, edges.c.parent, models.c.id),
        ("edge child", edges.c.parent, edges.c.child, models.c.id),
        ("deployment", deployments.c.name, deployments.c.model_id, models.c.id),
        ("deployment history", deployment_history.c.id, deployment_history.c.model_id, models.c.id),
        ("drift report", drift_reports.c.id, drift_reports.c.model_id, models.c.id),
    ]
    found = []
    for what, owner, ref, target in checks:
        q = (
            sa.select(owner, ref)
            .select_from(ref.table.outerjoin(target.table, ref == target))
            .where(ref.is_not(None), target.is_(None))
            .limit(20)
        )
        for who, missing in conn.execute(q):
            found.append(f"{what} {str(who)[:12]} points at missing {str(missing)[:12]}")
    return found


def encoded_references(conn: sa.Connection) -> set[str]:
    """Stored keys that encoded blobs need: each encoded object and each delta's base."""
    rows = conn.execute(sa.select(blob_encodings.c.stored, blob_encodings.c.base)).all()
    return {r.stored for r in rows} | {r.base for r in rows if r.base}


def gc(
    store: Store, grace_seconds: float = DEFAULT_GRACE_SECONDS, *, dry_run: bool = False
) -> GcReport:
    """Remove unreferenced blobs and temporary files older than ``grace_seconds``."""
    out = GcReport(dry_run=dry_run)
    keys = list(store.blobs.keys())
    with store.write() as conn:  # writers wait: nothing gets referenced while we decide
        others = foreign_owners(store.blobs, store_id(conn, create=False), store.root)
        if others:
            raise DriftlineError(
                f"the blob folder {store.blobs.location} also holds the blobs of "
                f"{'; '.join(others)}: what this store does not reference may be the other "
                "store's; nothing removed. Give each store its own blob folder (--blobs, "
                "$DRIFTLINE_BLOBS)"
            )
        referenced = {r[0] for r in conn.execute(sa.select(tensors.c.blob).distinct())}
        referenced |= encoded_references(conn)  # delta-encoded objects and their bases
        for key in keys:
            if key in referenced:
                continue
            if store.blobs.age(key) <= grace_seconds:  # written or re-put recently
                out.young_orphans += 1
                continue
            out.removed_blobs.append(key)
            if not dry_run:
                store.blobs.delete(key)
    for name in store.blobs.temporaries(grace_seconds):
        out.removed_temporaries.append(name)
        if not dry_run:
            store.blobs.remove_temporary(name)
    return out
