"""One labelling round: committee weights, cold starts, selection and asking."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.active import RefineSettings, committee_weights
from driftline.active.labelling import RoundView, is_cold, labelling_round


def test_committee_weights():
    classes = np.arange(3)
    y = np.array([0, 1, 2, 0])
    good = np.eye(3)[y] * 0.9 + 0.1 / 3
    bad = np.eye(3)[[1, 2, 0, 1]] * 0.9 + 0.1 / 3
    w = committee_weights([good, bad], y, classes)
    # acc 1 → 1 − 1/3 + 0.01; acc 0 → 0.01
    assert w == pytest.approx(np.array([2 / 3 + 0.01, 0.01]) / (2 / 3 + 0.02))
    assert committee_weights([good, bad], None, classes) is None


def testis_cold():
    assert is_cold(0.5, 0, None) and is_cold(0.5, 0, 0.9)  # no labels yet: always cold
    assert is_cold(0.5, 10, 0.3) and not is_cold(0.5, 10, 0.6)
    assert not is_cold(0.5, 10, None)  # no validation: only the first round is cold
    assert not is_cold(None, 0, 0.0)


def _view(**kw) -> RoundView:
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.55, 0.45]])
    base = dict(
        round=1,
        k=2,
        members=[proba, proba[:, ::-1]],
        features=np.array([[0.0], [1.0], [2.0], [3.0]]),
        exclude=np.array([1], dtype=np.int64),
        n_labels=5,
        val_accuracy=0.9,
        classes=np.array([0, 1]),
        weighing=lambda: None,
    )
    return RoundView(**{**base, **kw})


def test_a_round_selects_then_asks():
    asked = []
    settings = RefineSettings(strategy="margin", diversity=False)
    got = labelling_round(_view(), settings, lambda sel, cold: asked.append((sel, cold)) or 7)
    # margin: row 1 (a tie) is excluded, then rows 3 and 2 are the closest calls
    assert got is not None and got.selection.indices.tolist() == [3, 2] and got.answer == 7
    assert not got.cold and asked[0][0] is got.selection
    # nothing left to ask: no call
    none_left = _view(exclude=np.arange(4))
    assert labelling_round(none_left, settings, lambda *_: pytest.fail("asked")) is None


def test_a_round_weighs_the_committee_only_for_committee_strategies():
    calls = []

    def weighing():
        calls.append(1)
        return [np.array([[0.9, 0.1]]), np.array([[0.1, 0.9]])], np.array([0])

    qbc = RefineSettings(strategy="qbc_vote", diversity=False)
    assert labelling_round(_view(weighing=weighing), qbc, lambda *_: None) is not None
    margin = RefineSettings(strategy="margin", diversity=False)
    assert labelling_round(_view(weighing=weighing), margin, lambda *_: None) is not None
    assert calls == [1]


def test_a_cold_round_takes_a_representative_batch():
    settings = RefineSettings(strategy="margin", diversity=False, cold_start=0.5)
    got = labelling_round(_view(n_labels=0), settings, lambda *_: None)
    assert got is not None and got.cold and len(got.selection) == 2
    warm = labelling_round(_view(val_accuracy=0.6), settings, lambda *_: None)
    assert warm is not None and not warm.cold
