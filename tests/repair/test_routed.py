"""Routed models: per-input routing between stored lineage members, stored as composite nodes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from driftline.errors import InvalidInputError
from driftline.repair.routed_model import (
    BoundModel,
    RoutedModel,
    build_routed,
    choose_members,
    load_predictor,
    predict_proba,
    regime_mix_report,
    register_routed,
)
from driftline.store import Store

D = 4
SHIFT = 8.0


def _regime(which: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Regime A: x ~ N(0, I), y = [x0 > 0]. Regime B: x ~ N(8, I), y = [x1 < 8] (another rule,
    so a model of one regime is at chance on the other)."""
    if which == 0:
        X = rng.normal(0.0, 1.0, (n, D))
        return X, (X[:, 0] > 0).astype(int)
    X = rng.normal(SHIFT, 1.0, (n, D))
    return X, (X[:, 1] < SHIFT).astype(int)


def _mixed(n: int, share_a: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    na = int(round(n * share_a))
    Xa, ya = _regime(0, na, rng)
    Xb, yb = _regime(1, n - na, rng)
    regime = np.r_[np.zeros(na, int), np.ones(n - na, int)]
    perm = rng.permutation(n)
    return np.vstack([Xa, Xb])[perm], np.r_[ya, yb][perm], regime[perm]


@pytest.fixture(scope="module")
def lineage(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """root (regime A) -> drifted (fine-tuned on regime B), both with training signatures."""
    path = tmp_path_factory.mktemp("routed-store")
    store = Store(path)
    rng = np.random.default_rng(0)
    Xa, ya = _regime(0, 800, rng)
    Xb, yb = _regime(1, 800, rng)
    ma = LogisticRegression().fit(Xa, ya)
    mb = LogisticRegression().fit(Xb, yb)
    root = store.register(ma, name="toy", data=Xa)
    drifted = store.register(mb, name="toy", parents=[root], data=Xb)
    return {"store": store, "path": path, "root": root, "drifted": drifted, "ma": ma, "mb": mb}


def _accuracy(p: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    return float(np.mean(classes[p.argmax(1)] == y))


def test_routing_picks_the_member_whose_training_data_the_input_resembles(lineage):
    store = lineage["store"]
    X, y, regime = _mixed(600, 0.7, seed=1)
    routed = build_routed(store, [lineage["root"].id, lineage["drifted"].id], window=X)
    w = routed.weights(X)
    assert w.shape == (2, len(X))
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    # member order is canonical (by id): find the root's row
    root_row = routed.member_ids.index(lineage["root"].id)
    picked_root = w[root_row] > 0.5
    assert np.mean(picked_root == (regime == 0)) > 0.99
    # unsupervised EM priors recover the mix
    assert routed.priors[root_row] == pytest.approx(0.7, abs=0.03)
    # routing beats each member alone by a wide margin
    acc = _accuracy(routed.predict_proba(X), y, routed.classes)
    single = [_accuracy(lineage[k].predict_proba(X), y, lineage[k].classes_) for k in ("ma", "mb")]
    assert acc > 0.95
    assert max(single) < 0.85
    mix = routed.regime_mix(X)
    assert mix[lineage["root"].ref] == pytest.approx(0.7, abs=0.02)


def test_routed_probabilities_are_the_weighted_member_mixture(lineage):
    store = lineage["store"]
    X, _, _ = _mixed(200, 0.5, seed=2)
    routed = build_routed(store, [lineage["root"], lineage["drifted"]], window=X, temperature=50.0)
    w = routed.weights(X)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-12)
    assert 0.0 < w.min() and w.max() < 1.0  # soft at high T
    by_id = {lineage["root"].id: lineage["ma"], lineage["drifted"].id: lineage["mb"]}
    expected = sum(
        w[i][:, None] * by_id[mid].predict_proba(X) for i, mid in enumerate(routed.member_ids)
    )
    np.testing.assert_allclose(routed.predict_proba(X), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(routed.predict_proba(X).sum(axis=1), 1.0, atol=1e-12)


def test_routed_node_round_trips_through_the_store(lineage):
    store = lineage["store"]
    X, y, _ = _mixed(300, 0.6, seed=3)
    Xv, yv, _ = _mixed(100, 0.6, seed=4)
    routed = build_routed(
        store, [lineage["drifted"], lineage["root"]], window=X, validation=(Xv, yv)
    )
    assert routed.info["calibration"] == "window-em+validation"
    node = register_routed(store, routed, name="toy-routed")
    assert node.kind == "routed" and node.framework == "routed"
    assert node.architecture["members"] == sorted([lineage["root"].id, lineage["drifted"].id])
    before = routed.predict_proba(X)
    again = load_predictor(store, node.ref)
    assert isinstance(again, RoutedModel)
    assert again.id == node.id
    assert np.array_equal(again.predict_proba(X), before)
    assert np.array_equal(again.classes, routed.classes)
    fresh = Store(lineage["path"])
    assert np.array_equal(predict_proba(fresh, node.id, X), before)
    # the composite node carries its members' merged training signature
    assert store.signature(node.id).n_rows == 1600


def test_identity_is_members_plus_settings(lineage):
    store = lineage["store"]
    X, _, _ = _mixed(300, 0.7, seed=5)
    ids = [lineage["root"].id, lineage["drifted"].id]
    a = register_routed(store, build_routed(store, ids, window=X), name="toy-id")
    b = register_routed(store, build_routed(store, ids[::-1], window=X), name="toy-id")
    assert a.id == b.id and a.version == b.version  # same members + settings: same node
    c = register_routed(store, build_routed(store, ids, window=X, temperature=3.0), name="toy-id")
    assert c.id != a.id
    d = register_routed(store, build_routed(store, ids, window=X, bins=20), name="toy-id")
    assert d.id not in (a.id, c.id)
    e = register_routed(store, build_routed(store, ids, priors=[0.5, 0.5]), name="toy-id")
    assert e.id not in (a.id, c.id, d.id)


def test_route_edges_from_every_member(lineage):
    store = lineage["store"]
    X, _, _ = _mixed(100, 0.5, seed=6)
    node = register_routed(
        store,
        build_routed(store, [lineage["root"], lineage["drifted"]], window=X),
        name="toy-edges",
    )
    parents = store.parents(node.id)
    assert {e.parent for e in parents} == {lineage["root"].id, lineage["drifted"].id}
    assert {e.kind for e in parents} == {"route"}
    assert all(e.params["members"] == 2 for e in parents)


def test_routed_members_can_be_routed_themselves(lineage):
    store = lineage["store"]
    X, y, _ = _mixed(300, 0.5, seed=7)
    inner = register_routed(
        store,
        build_routed(store, [lineage["root"], lineage["drifted"]], window=X),
        name="toy-inner",
    )
    rng = np.random.default_rng(8)
    Xc, yc = _regime(1, 400, rng)
    other = store.register(
        LogisticRegression(C=0.1).fit(Xc, yc),
        name="toy-other",
        parents=[lineage["drifted"]],
        data=Xc,
    )
    outer = build_routed(store, [inner, other], window=X)
    node = register_routed(store, outer, name="toy-outer")
    loaded = load_predictor(store, node.id)
    kinds = sorted(type(m).__name__ for m in loaded.members)
    assert kinds == ["BoundModel", "RoutedModel"]
    assert np.array_equal(loaded.predict_proba(X), outer.predict_proba(X))
    assert _accuracy(loaded.predict_proba(X), y, loaded.classes) > 0.9


def test_members_must_share_a_label_set(lineage):
    store = lineage["store"]
    rng = np.random.default_rng(9)
    Xa, ya = _regime(0, 200, rng)
    three = store.register(
        LogisticRegression().fit(Xa, ya + 2 * (Xa[:, 2] > 1)), name="toy3", data=Xa
    )
    with pytest.raises(InvalidInputError, match="label set"):
        build_routed(store, [lineage["root"], three])


def test_member_columns_are_aligned_to_one_class_order(lineage):
    store = lineage["store"]
    X, _, _ = _mixed(50, 0.5, seed=10)
    a = BoundModel("a" * 64, "a@1", _Fixed([0.2, 0.8]), {}, np.array([0, 1]))
    b = BoundModel("b" * 64, "b@1", _Fixed([0.9, 0.1]), {}, np.array([1, 0]))
    sig = store.signature(lineage["root"].id)
    routed = RoutedModel([a.id, b.id], [a, b], [sig, sig], np.log([0.5, 0.5]), 1.0)
    np.testing.assert_allclose(routed.predict_proba(X), np.tile([0.15, 0.85], (50, 1)))


class _Fixed:
    def __init__(self, row: list[float]) -> None:
        self.row = np.asarray(row)

    def predict_proba(self, params: dict, X: np.ndarray) -> np.ndarray:
        return np.tile(self.row, (len(X), 1))


def test_choose_members_and_regime_mix_report(lineage):
    store = lineage["store"]
    rows = [
        {
            "id": lineage["root"].id,
            "hops": 1,
            "healthy": False,
            "drifted_share": 0.2,
            "drift": {"psi": 0.1},
        },
    ]
    chosen = choose_members(store, lineage["drifted"].id, rows)
    assert chosen == [lineage["drifted"].id, lineage["root"].id]
    assert choose_members(store, lineage["drifted"].id, rows, max_members=1) == [
        lineage["drifted"].id
    ]
    # a repaired model joins; duplicates collapse
    chosen = choose_members(
        store, lineage["drifted"].id, rows + rows, repaired_id=lineage["root"].id
    )
    assert chosen == [lineage["drifted"].id, lineage["root"].id]
    X, _, _ = _mixed(400, 0.25, seed=11)
    mix = regime_mix_report(store, [lineage["root"].id, lineage["drifted"].id], X)
    assert set(mix) == {lineage["root"].ref, lineage["drifted"].ref}
    assert mix[lineage["root"].ref] == pytest.approx(0.25, abs=0.02)
    assert sum(mix.values()) == pytest.approx(1.0)


def test_given_priors_follow_their_members_in_canonical_order(lineage):
    store = lineage["store"]
    routed = build_routed(store, [lineage["drifted"], lineage["root"]], priors=[0.9, 0.1])
    i = routed.member_ids.index(lineage["drifted"].id)
    assert routed.priors[i] == pytest.approx(0.9)
    assert routed.temperature == 1.0 and routed.info["calibration"] == "given"
    with pytest.raises(InvalidInputError):
        build_routed(store, [lineage["drifted"], lineage["root"]], priors=[1.0])


def test_loglik_uses_the_model_inputs_by_name_not_the_signature_order():
    """A model fitted on [hours, site, temp] whose training table (signature order site, hours,
    temp, fault) also held the label: ℓ(x) of its input matrix equals the likelihood of the
    named table under a signature of the model's columns alone."""
    from driftline.drift import Signature
    from driftline.drift.likelihood import log_likelihood
    from driftline.repair.routed_mixture import member_loglik

    rng = np.random.default_rng(3)
    n = 400
    table = {
        "site": rng.choice(["east", "west"], n).astype(object),
        "hours": rng.normal(8, 2, n),
        "temp": rng.normal(0, 1, n),
        "fault": rng.integers(0, 2, n),
    }
    full = Signature.from_data(table)
    inputs = ["hours", "site", "temp"]
    alone = Signature.from_data({k: table[k] for k in ("site", "hours", "temp")})
    matrix = np.column_stack([table[k] for k in inputs]).astype(object)
    got = member_loglik([full], matrix[:50], names=inputs)[0]
    want = log_likelihood(alone, {k: np.asarray(table[k])[:50] for k in inputs})
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(Exception, match="share no column"):
        member_loglik([full], matrix[:5, :1], names=["wind"])


def test_a_routed_node_stored_before_atoms_keeps_its_likelihood(lineage):
    """Routed nodes record their likelihood kind; one recorded as the older marginal form
    ("signature-marginals", no point masses) is rebuilt with it, so its predictions and id
    do not change when the default likelihood does."""
    from driftline.repair.routed_mixture import LEGACY_LIKELIHOOD, LIKELIHOOD, member_loglik

    store = lineage["store"]
    X, _, _ = _mixed(200, 0.5, seed=9)
    routed = build_routed(store, [lineage["root"], lineage["drifted"]], window=X, temperature=2.0)
    assert routed.identity_settings()["likelihood"] == LIKELIHOOD
    old = RoutedModel(
        routed.member_ids,
        routed.members,
        routed.signatures,
        routed.log_priors,
        2.0,
        {**routed.settings, "likelihood": LEGACY_LIKELIHOOD},
        routed.member_refs,
    )
    np.testing.assert_array_equal(
        old.loglik(X), member_loglik(routed.signatures, X, names=old.feature_names, atoms=False)
    )
    assert old.routing_id != routed.routing_id
    node = register_routed(store, old, name="toy-legacy")
    again = load_predictor(store, node.ref)
    assert again.settings["likelihood"] == LEGACY_LIKELIHOOD
    np.testing.assert_array_equal(again.predict_proba(X), old.predict_proba(X))
