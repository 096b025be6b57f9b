"""Re-fitting: the α candidate, fresh initialisations, and the fresh start on a new regime."""

from __future__ import annotations

import numpy as np

from driftline.active import fresh_params, refit
from driftline.repair import SklearnFamily


def test_refit_without_labels_is_the_alpha_candidate(lineage):
    store, sc, res = lineage
    fam = SklearnFamily(store.get(res.drifted_id).architecture)
    start = store.load(res.repaired_id)
    # refit without labels, fine-tuning off: the α-only candidate, scored on validation
    fit = refit(
        fam,
        start,
        np.zeros((0, 64)),
        np.zeros(0),
        classes=fam.classes,
        drifted=store.load(res.drifted_id),
        ancestor=store.load(res.ancestor_id),
        validation=(sc.validation.X, sc.validation.y),
        fine_tune_steps=0,
    )
    assert fit.alpha is not None and 0.0 <= fit.alpha <= 1.0 and not fit.fine_tuned
    assert fit.scores["n"] == len(sc.validation.y)


def test_fresh_params_shapes_bounds_and_seed(lineage):
    store, _, res = lineage
    fam = SklearnFamily(store.get(res.drifted_id).architecture)
    like = store.load(res.drifted_id)
    a, b, c = fresh_params(fam, like, 0), fresh_params(fam, like, 0), fresh_params(fam, like, 1)
    assert set(a) == set(like)
    for k, v in like.items():
        assert a[k].shape == v.shape and a[k].dtype == v.dtype
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])
    # sklearn's Glorot bound for relu units: sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (64 + 32))
    assert np.abs(a["layers.0.weight"]).max() <= np.sqrt(6 / 96)
    assert np.abs(a["layers.0.weight"]).max() > 0.9 * np.sqrt(6 / 96)


def test_refit_fresh_candidate_wins_on_a_new_regime(lineage):
    # inverted digits: the lineage's weights are a worse start than a fresh initialisation,
    # and validation says so
    store, sc, res = lineage
    fam = SklearnFamily(store.get(res.drifted_id).architecture)
    X, y = sc.current_train.X[:60], sc.current_train.y[:60]
    kw = dict(
        classes=fam.classes,
        drifted=store.load(res.drifted_id),
        ancestor=store.load(res.ancestor_id),
        validation=(sc.validation.X, sc.validation.y),
        fine_tune_steps=60,
        seed=0,
    )
    old = refit(fam, store.load(res.repaired_id), X, y, fresh=False, **kw)
    new = refit(fam, store.load(res.repaired_id), X, y, **kw)
    assert old.origin in ("alpha", "fine-tuned")
    assert new.origin == "fresh" and new.fine_tuned
    assert new.scores["accuracy"] > old.scores["accuracy"] + 0.1
    # without validation there is nothing to choose on: no fresh candidate
    blind = refit(fam, store.load(res.repaired_id), X, y, **{**kw, "validation": None})
    assert blind.origin == "fine-tuned"
