"""Input checks shared by every layer, in scikit-learn's spirit: fail early, say what to do.

Each helper raises :class:`~driftline.errors.InvalidInputError` with one sentence naming the bad
value and the accepted ones, so the CLI can print it as its one-line error.

>>> check_choice("format", "csv", ("csv", "jsonl"))
'csv'
>>> check_choice("format", "xml", ("csv", "jsonl"))
Traceback (most recent call last):
...
driftline.errors.InvalidInputError: unknown format 'xml'; use one of: csv, jsonl
"""

from __future__ import annotations

from collections.abc import Iterable, Sized
from typing import TypeVar

from driftline.errors import InvalidInputError

__all__ = ["check_choice", "check_same_length"]

T = TypeVar("T")


def check_choice(kind: str, value: T, options: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``options``; else raise "unknown KIND 'v'; use one of: ..."."""
    allowed = list(options)
    if value not in allowed:
        raise InvalidInputError(
            f"unknown {kind} {value!r}; use one of: {', '.join(str(o) for o in allowed)}"
        )
    return value


def check_same_length(
    labels: Sized, rows: Sized, *, what: str = "labels", per: str = "rows"
) -> None:
    """Raise "N labels for M rows" unless ``len(labels) == len(rows)``.

    >>> check_same_length([0, 1], [[1.0], [2.0], [3.0]], what="validation labels")
    Traceback (most recent call last):
    ...
    driftline.errors.InvalidInputError: 2 validation labels for 3 rows; give one per row
    """
    if len(labels) != len(rows):
        raise InvalidInputError(f"{len(labels)} {what} for {len(rows)} {per}; give one per row")
