"""User-facing errors. Each message says what went wrong and what to do next.

The CLI turns any :class:`DriftlineError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class DriftlineError(Exception):
    """Base class for errors a user can cause (bad input, unknown reference, ...)."""

    exit_code: int = 2


class InvalidInputError(DriftlineError, ValueError):
    """Input data or arguments are malformed."""


class UnknownReferenceError(DriftlineError, LookupError):
    """A model / deployment reference matches nothing in the store."""


class AmbiguousReferenceError(DriftlineError, LookupError):
    """An id prefix matches more than one model."""


class CycleError(DriftlineError):
    """An edge would create a cycle (or a self-edge) in the lineage DAG."""


class CorruptBlobError(DriftlineError):
    """A stored tensor's bytes do not hash to the key they are stored under."""


class SchemaVersionError(DriftlineError):
    """The store was written by a newer driftline (or is not a driftline store)."""


class ArchitectureMismatchError(DriftlineError, ValueError):
    """Two models' tensors differ in names, shapes or dtypes where they must match."""


class UnsupportedModelError(DriftlineError, TypeError):
    """The object is not a model driftline knows how to read or rebuild."""


class SchemaMismatchError(DriftlineError, ValueError):
    """A data batch's columns do not match the reference signature's features."""


class OptionalDependencyError(DriftlineError, ImportError):
    """An optional extra (e.g. ``driftline[torch]``) is needed for this operation."""


class DamagedStoreError(DriftlineError):
    """The store's database or blobs are damaged (missing tables, unreadable rows, a model
    whose tensors do not hash to its id); run ``driftline fsck`` and restore from backup."""


class BlobStoreError(DriftlineError):
    """The blob store (local folder or object store) cannot be reached, read or written."""


class ComputeEngineError(DriftlineError):
    """The distributed engine (a Dask scheduler) cannot be reached or failed."""
