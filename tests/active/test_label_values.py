"""Label values: typed text becomes the model's label type."""

from __future__ import annotations

import pytest

from driftline.active import coerce_label
from driftline.errors import InvalidInputError


def test_coerce_label():
    assert coerce_label("3", like=7) == 3
    assert coerce_label(" 3.0 ", like=7) == 3
    assert coerce_label("cat", like="dog") == "cat"
    assert coerce_label("2.5", like=1.0) == 2.5
    assert coerce_label("4") == 4 and coerce_label("x") == "x"
    with pytest.raises(InvalidInputError):
        coerce_label("3.5", like=7)
    with pytest.raises(InvalidInputError, match="not one of"):
        coerce_label("12", classes=list(range(10)))
