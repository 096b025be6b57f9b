"""Points drawn as pictures: an 8-bit grayscale PNG (plain numpy + zlib) and its data URI.

Whether a request is drawn at all is an explicit option (``image_shape``, see
:mod:`driftline.active.records`); these functions only render.

>>> digit_png([0.0, 1.0, 1.0, 0.0], scale=1)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from driftline.errors import InvalidInputError

__all__ = ["digit_data_uri", "digit_png"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _grid(x: np.ndarray, shape: tuple[int, int] | None) -> tuple[int, int]:
    if shape is not None:
        h, w = int(shape[0]), int(shape[1])
        if h < 1 or w < 1 or h * w != x.size:
            raise InvalidInputError(f"{x.size} features do not form a {h}×{w} image")
        return h, w
    side = int(round(np.sqrt(x.size)))
    if side * side != x.size or side == 0:
        raise InvalidInputError(f"{x.size} features do not form a square image")
    return side, side


def digit_png(
    features: np.ndarray | Sequence[float],
    scale: int = 4,
    shape: tuple[int, int] | None = None,
) -> bytes:
    """An 8-bit grayscale PNG of an image given as flat features (``shape`` = (height, width);
    default square, 64 → 8×8), each pixel repeated ``scale`` times per side. Values are min-max
    scaled to [0, 1] unless they already lie in [0, 1]; ink (1) is drawn black on white."""
    x = np.asarray(features, dtype=np.float64).reshape(-1)
    h, w = _grid(x, shape)
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    img = np.round(255.0 * (1.0 - x)).astype(np.uint8).reshape(h, w)
    img = np.kron(img, np.ones((scale, scale), dtype=np.uint8))
    rows, cols = img.shape
    raw = b"".join(b"\x00" + img[i].tobytes() for i in range(rows))
    header = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def digit_data_uri(
    features: np.ndarray | Sequence[float],
    scale: int = 4,
    shape: tuple[int, int] | None = None,
) -> str:
    """``data:image/png;base64,...`` of :func:`digit_png`."""
    png = digit_png(features, scale, shape)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
