"""The model recipe shared by the demo and the benchmarks: a scikit-learn MLP lineage on digits.

The root is trained on the base regime; each descendant continues from its parent's weights
(``partial_fit`` epochs on the next regime), so the whole family shares one basin of the loss
surface, which is what makes weight-space repair meaningful. A pruned branch zeroes the
smallest-magnitude weights of one member.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from driftline.datasets import DigitsScenario, Regime
from driftline.params import ModelParams
from driftline.params.sklearn import estimator_to_params


@dataclass(frozen=True)
class LineageMember:
    """One trained member: its parameters, the regime it learned, and how it was made."""

    name: str
    params: ModelParams
    regime: Regime
    parent: int | None
    transform: str
    settings: dict


def base_estimator(seed: int, epochs: int) -> MLPClassifier:
    return MLPClassifier((64,), max_iter=epochs, random_state=seed, alpha=1e-4)


def train_lineage(
    scenario: DigitsScenario,
    *,
    seed: int = 0,
    base_epochs: int = 200,
    finetune_epochs: int = 30,
    prune_fraction: float = 0.5,
) -> list[LineageMember]:
    """Root on ``scenario.base``, then one fine-tune per ``scenario.lineage`` regime, plus a
    magnitude-pruned copy of the first fine-tune (a side branch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = base_estimator(seed, base_epochs).fit(scenario.base.X, scenario.base.y)
        members = [
            LineageMember(
                "digits",
                ModelParams(*_params(est)),
                scenario.base,
                None,
                "train",
                {"epochs": base_epochs, "regime": scenario.base.name},
            )
        ]
        for regime in scenario.lineage:
            for _ in range(finetune_epochs):
                est.partial_fit(regime.X, regime.y)
            members.append(
                LineageMember(
                    "digits",
                    ModelParams(*_params(est)),
                    regime,
                    len(members) - 1,
                    "finetune",
                    {"epochs": finetune_epochs, "regime": regime.name},
                )
            )
    if prune_fraction and len(members) > 1:
        source = members[1]
        members.append(
            LineageMember(
                "digits-pruned",
                prune(source.params, prune_fraction),
                source.regime,
                1,
                "prune",
                {"fraction": prune_fraction, "criterion": "magnitude"},
            )
        )
    return members


def _params(est: MLPClassifier) -> tuple[dict, str, dict]:
    params, arch = estimator_to_params(est)
    return params, "sklearn", arch


def prune(mp: ModelParams, fraction: float) -> ModelParams:
    """Zero the ``fraction`` smallest-magnitude entries of every weight matrix."""
    out = {}
    for k, v in mp.params.items():
        if k.endswith(".weight"):
            cut = np.quantile(np.abs(v), fraction)
            v = np.where(np.abs(v) < cut, 0.0, v)
        out[k] = v
    return ModelParams(out, mp.framework, mp.architecture)


def accuracy(mp: ModelParams, X: np.ndarray, y: np.ndarray) -> float:
    from driftline.params.sklearn import params_to_estimator

    return float(np.mean(params_to_estimator(mp.params, mp.architecture).predict(X) == y))
