"""Model-aware parts of agent reports equal the library functions computed on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from driftline.drift import DriftAgent, Signature
from driftline.drift.likelihood import multivariate_drift
from driftline.drift.model_aware import ModelAwareSettings
from driftline.drift.performance import CBPE
from driftline.drift.report import DriftReport, report_table
from driftline.errors import InvalidInputError

NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.7, 6000) > 0).astype(int)
    clf = LogisticRegression().fit(X[:4000], y[:4000])
    cbpe = CBPE.fit(clf.predict_proba(X[4000:]), y[4000:])
    sig = Signature.from_data(X[:4000], feature_names=NAMES)

    def proba(cols):
        return clf.predict_proba(np.column_stack([cols[n] for n in NAMES]))

    return rng, clf, cbpe, sig, proba


def test_estimated_accuracy_and_multivariate_per_window(setup):
    rng, clf, cbpe, sig, proba = setup
    settings = ModelAwareSettings(predict_proba=proba, cbpe=cbpe, multivariate=True)
    agent = DriftAgent(sig, window=1000, model_aware=settings, feature_names=NAMES)
    data = np.vstack([rng.normal(size=(1000, 3)), rng.normal(0, 1.4, size=(1000, 3))])
    reports = [r for i in range(0, 2000, 300) for r in agent.update(data[i : i + 300])]
    assert len(reports) == 2
    for r, rows in zip(reports, (data[:1000], data[1000:]), strict=True):
        est = cbpe.estimate(clf.predict_proba(rows))
        assert r.model["estimated_accuracy"] == pytest.approx(est, abs=1e-12)
        assert r.model["estimated_drop"] == pytest.approx(cbpe.reference_accuracy - est, abs=1e-12)
        mv = multivariate_drift(sig, rows, feature_names=NAMES)
        assert r.model["multivariate_score"] == pytest.approx(mv.score, rel=1e-9, abs=1e-12)
        assert r.model["multivariate_z"] == pytest.approx(mv.z, rel=1e-7)
        assert r.model["multivariate_p"] == pytest.approx(mv.p_value, rel=1e-6, abs=1e-15)
    # wider spread: less likely under the signature, and the model is less sure of itself
    assert reports[1].model["multivariate_p"] < 0.01 < reports[0].model["multivariate_p"]
    back = DriftReport.from_dict(reports[1].to_dict())
    assert back.model == pytest.approx(reports[1].model)
    assert "est. accuracy" in report_table(reports[1]).caption


def test_sliding_panes_add_up_and_off_by_default(setup):
    rng, clf, cbpe, sig, proba = setup
    data = rng.normal(size=(1500, 3))
    sliding = DriftAgent(
        sig,
        window=1000,
        step=500,
        mode="sliding",
        feature_names=NAMES,
        model_aware=ModelAwareSettings(predict_proba=proba, cbpe=cbpe),
    )
    reps = sliding.update(data)
    assert len(reps) == 2
    est = cbpe.estimate(clf.predict_proba(data[500:1500]))
    assert reps[1].model["estimated_accuracy"] == pytest.approx(est, abs=1e-12)
    plain = DriftAgent(sig, window=1000, feature_names=NAMES).update(data)
    assert plain[0].model == {} and "multivariate" not in plain[0].to_dict()["model"]
    with pytest.raises(InvalidInputError, match="predict_proba"):
        DriftAgent(sig, model_aware=ModelAwareSettings(cbpe=cbpe))


def test_host_states_carry_and_merge_the_model_sums(setup):
    rng, clf, cbpe, sig, proba = setup
    settings = ModelAwareSettings(predict_proba=proba, cbpe=cbpe, multivariate=True)
    data = rng.normal(0.2, 1.2, size=(900, 3))
    hosts = [
        DriftAgent(sig, window=None, model_aware=settings, feature_names=NAMES) for _ in range(2)
    ]
    hosts[0].update(data[:400])
    hosts[1].update(data[400:])
    merger = DriftAgent(sig, window=None, model_aware=settings, feature_names=NAMES)
    merged = merger.merge([h.state().to_bytes() for h in hosts])
    single = DriftAgent(sig, window=None, model_aware=settings, feature_names=NAMES)
    single.update(data)
    whole = single.report()
    assert set(merged.model) == set(whole.model) and len(whole.model) == 6
    for k, v in whole.model.items():
        assert merged.model[k] == pytest.approx(v, rel=1e-9, abs=1e-12)


def test_lineage_estimate_is_reported_where_a_lineage_exists(setup):
    """Two regimes; the agent's figure is LineageCBPE's (uniform prior) on the window's rows."""
    from driftline.drift.likelihood import log_likelihood
    from driftline.drift.performance import LineageCBPE

    rng, clf, cbpe, sig, proba = setup

    def regime_b(n):  # shifted inputs whose labels the model gets wrong half the time
        x = rng.normal(4.0, 1.0, size=(n, 3))
        return x, rng.integers(0, 2, n)

    xb, yb = regime_b(3000)
    xa = rng.normal(size=(2000, 3))
    ya = (xa[:, 0] + 0.5 * xa[:, 1] > 0).astype(int)
    sigs = [sig, Signature.from_data(xb, feature_names=NAMES)]
    lc = LineageCBPE.fit([(clf.predict_proba(xa), ya), (clf.predict_proba(xb), yb)])
    settings = ModelAwareSettings(
        predict_proba=proba, cbpe=cbpe, lineage_cbpe=lc, regime_signatures=sigs
    )
    agent = DriftAgent(sig, window=None, model_aware=settings, feature_names=NAMES)
    wb, wyb = regime_b(500)
    window = np.vstack([rng.normal(size=(500, 3)), wb])
    for i in range(0, 1000, 250):
        agent.update(window[i : i + 250])
    rep = agent.report()
    p = clf.predict_proba(window)
    ll = np.column_stack([log_likelihood(s, window, feature_names=NAMES) for s in sigs])
    assert rep.model["estimated_accuracy"] == pytest.approx(lc.estimate(p, ll, iterations=0))
    assert rep.model["estimated_accuracy_cbpe"] == pytest.approx(cbpe.estimate(p))
    # regime B is a coin flip for the model: the lineage figure sees it, confidence alone not
    assert rep.model["estimated_accuracy"] < rep.model["estimated_accuracy_cbpe"] - 0.15
    with pytest.raises(InvalidInputError, match="one training signature per regime"):
        DriftAgent(
            sig,
            model_aware=ModelAwareSettings(
                predict_proba=proba, lineage_cbpe=lc, regime_signatures=sigs[:1]
            ),
        )
