"""Images: the PNG encoder writes a valid grayscale image, square or of a given shape."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from driftline.active import digit_png
from driftline.errors import InvalidInputError


def _png_pixels(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + n
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[i * (w + 1) : (i + 1) * (w + 1)] for i in range(h)]
    assert all(r[0] == 0 for r in rows)
    return np.array([list(r[1:]) for r in rows], dtype=np.uint8)


def test_digit_png_is_a_valid_grayscale_image():
    x = np.zeros(64)
    x[9] = 1.0  # row 1, col 1: ink
    px = _png_pixels(digit_png(x, scale=2))
    assert px.shape == (16, 16)
    assert px[2, 2] == 0 and px[0, 0] == 255  # ink dark on white


def test_image_shape_is_explicit():
    x = np.arange(6, dtype=float) / 5.0
    px = _png_pixels(digit_png(x, scale=1, shape=(2, 3)))
    assert px.shape == (2, 3) and px[0, 0] == 255 and px[1, 2] == 0
    with pytest.raises(InvalidInputError, match="do not form a 3×3 image"):
        digit_png(x, shape=(3, 3))
    with pytest.raises(InvalidInputError, match="square"):
        digit_png(x)
