"""Continued training of scikit-learn ensembles on a few labels (warm_start)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import driftline

pytest.importorskip("skops")

ENSEMBLES = (
    "RandomForestClassifier(5, random_state=0)",
    "ExtraTreesClassifier(5, random_state=0)",
    "GradientBoostingClassifier(n_estimators=5, random_state=0)",
    "HistGradientBoostingClassifier(max_iter=5)",
)


def test_warm_start_on_labels_missing_a_class_is_refused_not_corrupted():
    """warm_start on labels without one of the model's classes grows trees with fewer outputs:
    forests then fail to predict, GradientBoosting silently forgets the class and
    HistGradientBoosting corrupts memory (the process aborts). Run in a subprocess so an abort
    fails the test instead of the test run."""
    code = textwrap.dedent(
        f"""
        import numpy as np, tempfile
        from sklearn.ensemble import *
        from driftline.errors import InvalidInputError
        from driftline.repair.continued import continue_training
        from driftline.repair.evaluation import family_for
        from driftline.store import Store
        X = np.random.default_rng(0).normal(size=(300, 4))
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
        with Store(tempfile.mkdtemp()) as store:
            for make in {ENSEMBLES!r}:
                m = store.register(eval(make).fit(X, y), name="m")
                fam, params = family_for(m), store.load(m.id)
                try:
                    continue_training(fam, params, X[y != 2][:40], y[y != 2][:40])
                except InvalidInputError as exc:
                    assert "2" in str(exc), exc
                    print("refused", end=" ")
                new = continue_training(fam, params, X[:60], y[:60])  # every class: continues
                p = fam.predict_proba(new, X)
                assert p.shape == (300, 3) and np.allclose(p.sum(axis=1), 1.0)
                print("continued", flush=True)
        """
    )
    src = str(Path(driftline.__file__).resolve().parents[1])  # this checkout's source
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert out.stdout.splitlines() == ["refused continued"] * len(ENSEMBLES)
