"""Candidate-table rows when the drifted model and its ancestor predict different class sets
(a child fine-tuned on data missing one of its ancestor's classes, or adding one)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from driftline.errors import InvalidInputError
from driftline.repair import repair
from driftline.repair.capability import Capability, plan_repair
from driftline.repair.continued import continue_training
from driftline.repair.evaluation import class_columns, family_for, union_classes
from driftline.repair.output_space import BlendModel
from driftline.repair.routed_model import load_predictor
from driftline.store import Store

pytest.importorskip("skops")
LABELS = np.array(["ant", "bee", "cat", "dog"])


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store") as s:
        yield s


def _regimes(seed=0):
    """Regime A (today's data again) and regime B (shifted inputs, labels rotated by one)."""
    X, y = make_classification(
        2400, 8, n_informative=5, n_redundant=1, n_classes=4, n_clusters_per_class=1,
        class_sep=1.5, random_state=seed,
    )  # fmt: skip
    q = len(X) // 4
    a = (X[:q], LABELS[y[:q]])
    xb = X[q : 2 * q].copy()
    xb[:, :3] += 2.0
    b = (xb, LABELS[(y[q : 2 * q] + 1) % 4])
    val = (X[2 * q : 2 * q + 200], LABELS[y[2 * q : 2 * q + 200]])
    test = (X[3 * q :], LABELS[y[3 * q :]])
    return a, b, X[2 * q : 3 * q], val, test


def _without(data, label):
    keep = data[1] != label
    return data[0][keep], data[1][keep]


def _lineage_and_repair(store, name, make, a, b, window, val):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root, child = make().fit(*a), make().fit(*b)
    r = store.register(root, name=name, data=a[0])
    c = store.register(child, name=name, parents=[r], data=b[0])
    store.deploy(c, name)
    return root, child, repair(store, name, window=window, validation=val)


@pytest.mark.parametrize("which", ["child", "root"])
def test_forest_whose_child_lacks_a_class_of_its_ancestor(store, which):
    """A child trained without 'dog' (or a root without 'ant') is repaired, not refused: the
    table's columns are the union of both models' classes."""
    a, b, window, val, test = _regimes()
    if which == "child":
        b = _without(b, "dog")
    else:
        a = _without(a, "ant")
    root, child, res = _lineage_and_repair(
        store, "rf", lambda: RandomForestClassifier(30, random_state=0), a, b, window, val
    )
    assert res.status == "deployed", res.message
    assert {"drifted", "rollback", "output-interpolation"} <= set(res.candidates)
    repaired = load_predictor(store, res.repaired_id).predict(test[0])
    assert repaired.dtype.kind == "U" and repaired.shape == test[1].shape
    drifted_acc = np.mean(child.predict(test[0]) == test[1])
    assert np.mean(repaired == test[1]) > drifted_acc + 0.3


def test_equal_shapes_other_labels_never_mix_weights(store):
    """Root {ant, bee, cat}, child {ant, bee, dog}: the coefficients have the same shapes but
    their rows belong to other classes, so the repair compares outputs aligned by label."""
    a, b, window, val, test = _regimes(1)
    a, b = _without(a, "dog"), _without(b, "cat")
    val, test = _without(val, "dog"), _without(test, "dog")
    root, child, res = _lineage_and_repair(
        store, "lr", lambda: LogisticRegression(max_iter=500), a, b, window, val
    )
    drifted = store.resolve("lr@2")
    plan = plan_repair(store, store.get(drifted), store.resolve("lr@1"))
    assert plan.capability is Capability.CANDIDATE_TABLE and "classes" in plan.reason
    assert "weight-interpolation" not in res.candidates
    assert res.status == "deployed", res.message
    repaired = load_predictor(store, res.repaired_id).predict(test[0])
    assert np.mean(repaired == test[1]) > np.mean(child.predict(test[0]) == test[1]) + 0.3


def test_blend_of_members_with_other_classes_uses_the_union():
    class Member:
        def __init__(self, classes, row):
            self.classes, self.row = np.asarray(classes), np.asarray(row, dtype=float)

        def predict_proba(self, X):
            return np.tile(self.row, (len(X), 1))

    d = Member(["bee", "cat"], [0.25, 0.75])
    p = Member(["cat", "ant", "bee"], [0.5, 0.3, 0.2])
    blend = BlendModel(None, None, [d, p], 0.5)
    assert blend.classes.tolist() == ["bee", "cat", "ant"]
    np.testing.assert_allclose(blend.predict_proba(np.zeros((2, 1))), [[0.225, 0.625, 0.15]] * 2)
    assert blend.predict(np.zeros((1, 1))).tolist() == ["cat"]
    assert union_classes([1, 2], [3, 1]).tolist() == [1, 2, 3]
    np.testing.assert_allclose(
        class_columns(np.array([[0.4, 0.6]]), [2, 1], [1, 2, 3]), [[0.6, 0.4, 0]]
    )


def test_continued_training_refuses_labels_outside_the_classes(store):
    a, _, _, val, _ = _regimes()
    a = _without(a, "dog")
    model = store.register(RandomForestClassifier(10, random_state=0).fit(*a), name="rf")
    fam = family_for(model)
    with pytest.raises(InvalidInputError, match="not among the model's classes"):
        continue_training(fam, store.load(model.id), val[0], val[1])
