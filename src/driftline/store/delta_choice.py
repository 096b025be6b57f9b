"""Which encodings of a tensor are worth writing in full (:func:`shortlist`).

A register tries up to three encodings of every tensor (``planes-zstd`` and the deltas worth
trying against its parent) and keeps the smallest. On a large tensor each is first encoded on a
sample of it (:data:`CHUNKS` runs of :data:`CHUNK` elements, evenly spread, the same elements
of the base and the anchor); only those within :data:`MARGIN` of the smallest sample are encoded
in full, and the smallest of them is kept, as before. Samples of the same tensor rank the codecs
as the whole does unless two are close, and close ones stay on the list.
"""

from __future__ import annotations

import numpy as np

from driftline.store.delta_codecs import Codec, encode

CHUNKS = 8  # runs of elements in a sample
CHUNK = 4096  # elements per run
MARGIN = 1.1  # a codec whose sample is more than 10% over the smallest is not written in full
Candidate = tuple[Codec, tuple[str, str] | None]  # codec (PLANES: no base), dtypes of a cast


def shortlist(
    raw: np.ndarray,
    itemsize: int,
    base: np.ndarray | None,
    anchor: np.ndarray | None,
    level: int,
    candidates: list[Candidate],
) -> list[Candidate]:
    """The ``candidates`` worth encoding in full for ``raw`` (flat uint8 of ``itemsize``-byte
    elements) against ``base`` (and a grouped delta's ``anchor``): all of them for a tensor
    under 4 samples' worth of elements, else those whose sample is within :data:`MARGIN`."""
    n = raw.size // itemsize
    if len(candidates) < 2 or n < 4 * CHUNKS * CHUNK or raw.size % itemsize:
        return candidates
    starts = np.linspace(0, n - CHUNK, CHUNKS).astype(np.int64)

    def sample(buf: np.ndarray) -> np.ndarray:
        rows = buf.reshape(n, -1)  # one row per element, whatever its width (a cast base)
        return np.concatenate([rows[s : s + CHUNK] for s in starts]).reshape(-1)

    part = sample(raw)
    part_base = None if base is None else sample(base)
    part_anchor = None if anchor is None else sample(anchor)
    sizes = []
    for codec, dtypes in candidates:
        if codec is Codec.PLANES or part_base is None:
            sizes.append(len(encode(part, itemsize, None, level)))
        else:
            sizes.append(len(encode(part, itemsize, part_base, level, codec, dtypes, part_anchor)))
    low = min(sizes)
    return [c for c, size in zip(candidates, sizes, strict=True) if size <= MARGIN * low]
