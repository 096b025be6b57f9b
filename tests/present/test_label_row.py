"""A label request is drawn as a picture only when it was asked with an image shape."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pytest

from driftline.cli.repair import parse_image_shape
from driftline.errors import InvalidInputError
from driftline.present.data import label_row
from driftline.store.labels import LabelRequest


def _request(features: np.ndarray, predictions: dict) -> LabelRequest:
    return LabelRequest(1, "h", 1, features, 0.5, "entropy", 0, "pending", predictions)


def test_square_features_without_a_shape_are_a_feature_table() -> None:
    """64 non-negative values used to be guessed as an 8×8 digit; now only an asked shape draws."""
    row = label_row(_request(np.arange(64, dtype=float), {}))
    assert "image" not in row and len(row["features"]) == 64


def test_an_asked_shape_draws_a_png_of_that_shape() -> None:
    row = label_row(_request(np.arange(12, dtype=float), {"image_shape": [3, 4]}))
    png = base64.b64decode(row["image"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (4 * 8, 3 * 8)  # scale 8


def test_parse_image_shape() -> None:
    assert parse_image_shape("8x8") == (8, 8) and parse_image_shape("3X4") == (3, 4)
    assert parse_image_shape(None) is None
    for bad in ("8", "8x", "0x8", "axb", "8x8x8"):
        with pytest.raises(InvalidInputError, match="HEIGHTxWIDTH"):
            parse_image_shape(bad)
