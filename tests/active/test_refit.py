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


def test_a_pipeline_learns_from_the_labels_not_only_alpha(tmp_path):
    """A Pipeline(StandardScaler, LogisticRegression) has no gradient fine-tuning, so a round
    only moved α between the drifted model and its ancestor: on a regime where both are
    wrong, every label a human gave changed nothing. Its own trainer now continues it on the
    labels, and that candidate wins on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import driftline
    from driftline.repair.evaluation import family_for

    rng = np.random.default_rng(0)

    def regime(sign, n):
        X = rng.normal(size=(n, 3))
        return X, (sign * X[:, 0] > 0).astype(int)

    store = driftline.open(tmp_path / "s")
    fit_on = lambda X, y: make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)  # noqa: E731
    base = store.register(fit_on(*regime(1, 300)), name="p")
    child = store.register(fit_on(*regime(1, 300)), name="p", parents=[base])
    fam = family_for(store.get(child.id))
    X_lab, y_lab = regime(-1, 40)  # today the concept is flipped
    X_val, y_val = regime(-1, 60)
    args = dict(
        classes=np.array([0, 1]),
        drifted=store.load(child.id),
        ancestor=store.load(base.id),
        validation=(X_val, y_val),
    )
    alpha_only = refit(fam, store.load(child.id), X_lab, y_lab, fine_tune_steps=0, **args)
    assert alpha_only.origin == "alpha" and alpha_only.scores["accuracy"] < 0.5
    fit = refit(fam, store.load(child.id), X_lab, y_lab, **args)
    assert fit.origin == "continued" and fit.fine_tuned
    assert fit.scores["accuracy"] > 0.8
    np.testing.assert_allclose(
        fam.predict_proba(fit.params, X_val).sum(axis=1), np.ones(len(y_val)), rtol=1e-9
    )
