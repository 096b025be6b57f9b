"""Output-space interpolation: a lineage node that blends two members' predictions.

    classifier:  p(x) = (1 − α)·p_drifted(x) + α·p_ancestor(x)
    regressor:   ŷ(x) = (1 − α)·ŷ_drifted(x) + α·ŷ_ancestor(x)

It works for any family (trees, boosters, distilled children whose shapes differ from their
ancestor). The node's tensors are ``blend.members`` (the two member ids, ASCII) and
``blend.alpha``, so its id is the hash of its members and α; ``repair`` edges go from both.
Regressors (plain models) load as :class:`RegressorModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError
from driftline.jsonutil import jsonable
from driftline.params import ModelParams
from driftline.repair.evaluation import as_matrix, class_columns, union_classes
from driftline.repair.families import Predictor
from driftline.store import Model, Store

FRAMEWORK = "blend"
_ID_LEN = 64


@dataclass
class RegressorModel:
    """A stored regressor bound to its family: ``predict(X) = family.predict(params, X)``."""

    id: str
    ref: str
    family: Predictor
    params: dict[str, np.ndarray]
    feature_names: list[str] | None = None
    classes: None = None
    task: str = "regressor"

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.family.predict(self.params, as_matrix(X, self.feature_names)))  # type: ignore[attr-defined]


@dataclass
class Gate:
    """Per-input gates for a regression mixture: ``w_i(x) ∝ prior_i · exp(ℓ_i(x) / T)`` with
    ``ℓ_i`` the log-likelihood of x under member i's training signature (as routed classifiers)."""

    signatures: list[Any]
    log_priors: np.ndarray
    temperature: float
    names: list[str] | None = None  # the members' input columns (see member_loglik)
    atoms: bool = True  # likelihood with point masses (False: blends stored before them)

    def priors(self) -> np.ndarray:
        """``exp(log_priors)`` normalised."""
        p = np.exp(self.log_priors - np.max(self.log_priors))
        return p / p.sum()

    def weights(self, X: Any) -> np.ndarray:
        from driftline.repair.gates import routing_weights
        from driftline.repair.routed_model import member_loglik

        ll = member_loglik(self.signatures, X, names=self.names, atoms=self.atoms)
        return routing_weights(ll, self.priors(), self.temperature)


@dataclass
class BlendModel:
    """(1 − α)·drifted + α·ancestor in output space (probabilities or regression values); with a
    ``gate``, a gated mixture ŷ(x) = Σ_i w_i(x)·ŷ_i(x) of regressors instead."""

    id: str | None
    ref: str | None
    members: list[Any]
    alpha: float
    task: str = "classifier"
    gate: Gate | None = None

    @property
    def classes(self) -> np.ndarray | None:
        """Both members' classes (:func:`union_classes`: a child trained without one of its
        ancestor's classes, or with a new one, blends over all of them)."""
        own = [getattr(m, "classes", None) for m in self.members]
        return None if any(c is None for c in own) else union_classes(*own)

    def predict_proba(self, X: Any) -> np.ndarray:
        a, classes = self.alpha, self.classes
        d, p = (m.predict_proba(X) for m in self.members)
        if classes is not None:  # each member's columns in the blend's class order
            d = class_columns(d, self.members[0].classes, classes)
            p = class_columns(p, self.members[1].classes, classes)
        return (1 - a) * d + a * p

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "classifier":
            return np.asarray(self.classes)[np.argmax(self.predict_proba(X), axis=1)]
        if self.gate is not None:
            w = self.gate.weights(X)
            return np.sum(w * np.stack([m.predict(X) for m in self.members]), axis=0)
        a = self.alpha
        return (1 - a) * self.members[0].predict(X) + a * self.members[1].predict(X)


def blend_params(
    drifted_id: str, ancestor_id: str, alpha: float, gate: Gate | None = None
) -> dict[str, np.ndarray]:
    ids = (drifted_id + ancestor_id).encode("ascii")
    out: dict[str, np.ndarray] = {
        "blend.members": np.frombuffer(ids, dtype=np.uint8).copy(),
        "blend.alpha": np.array([float(alpha)], dtype=np.float64),
    }
    if gate is not None:
        out["blend.log_priors"] = np.asarray(gate.log_priors, dtype=np.float64)
        out["blend.temperature"] = np.array([gate.temperature], dtype=np.float64)
        if gate.atoms:
            out["blend.atoms"] = np.ones(1, dtype=np.uint8)
    return out


def fit_gate(
    signatures: list[Any],
    X_window: np.ndarray,
    preds: list[np.ndarray],
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    loss: str = "mse",
    names: list[str] | None = None,
) -> Gate:
    """Priors by EM on the window (T = 1), then the T on the routing grid that minimises the
    gated mixture's ``loss`` on the fit rows (``preds``: each member's predictions on them)."""
    from driftline.repair.alpha import regression_loss
    from driftline.repair.gates import default_temperature_grid, routing_weights
    from driftline.repair.routed_model import member_loglik

    bayes = bayes_gate(signatures, X_window, names)
    priors = bayes.priors()
    ll = member_loglik(signatures, X_fit, names=names)
    stack = np.stack(preds)
    grid = default_temperature_grid(X_fit.shape[1])
    losses = [
        regression_loss(y_fit, np.sum(routing_weights(ll, priors, t) * stack, axis=0), loss)
        for t in grid
    ]
    t = float(grid[int(np.argmin(losses))])
    return Gate(signatures, bayes.log_priors, t, names)


def bayes_gate(signatures: list[Any], X_window: np.ndarray, names: list[str] | None) -> Gate:
    """The label-free gate: priors by EM on the window, ``T = 1`` (nothing fitted to labels)."""
    from driftline.repair.gates import em_priors
    from driftline.repair.routed_model import member_loglik

    priors = em_priors(member_loglik(signatures, X_window, names=names))
    with np.errstate(divide="ignore"):
        log_priors = np.log(np.asarray(priors, dtype=np.float64))
    return Gate(signatures, np.maximum(log_priors, -1e300), 1.0, names)


def register_blend(
    store: Store,
    drifted: Model,
    ancestor: Model,
    alpha: float,
    *,
    task: str,
    metrics: Mapping[str, Any],
    edge_metrics: Mapping[str, Any],
    edge_params: Mapping[str, Any],
    data: Any = None,
    gate: Gate | None = None,
) -> Model:
    """The blend as a lineage node with ``repair`` edges from the drifted model and the ancestor."""
    arch = {
        "members": [drifted.id, ancestor.id],
        "member_refs": [drifted.ref, ancestor.ref],
        "alpha": float(alpha),
        "task": task,
    }
    for key in ("classes", "classes_dtype", "feature_names_in"):
        if key in drifted.architecture:
            arch[key] = drifted.architecture[key]
    if "classes" in arch and "classes" in ancestor.architecture:
        arch["classes"] = union_classes(arch["classes"], ancestor.architecture["classes"]).tolist()
    return store.register(
        ModelParams(blend_params(drifted.id, ancestor.id, alpha, gate), FRAMEWORK, arch),
        name=drifted.name,
        parents=[drifted.id, ancestor.id],
        transform="repair",
        params=jsonable(
            {
                "method": "routing" if gate else "output-interpolation",
                "alpha": float(alpha),
                **edge_params,
            }
        ),
        metrics=jsonable(metrics),
        edge_metrics=jsonable(edge_metrics),
        tags={"repair_of": drifted.ref},
        data=data,
    )


def load_blend(
    model: Model,
    params: Mapping[str, np.ndarray],
    load_member: Callable[[str], Any],
    load_signature: Callable[[str], Any] | None = None,
) -> BlendModel:
    """Rebuild a blend node; ``load_member(id)`` loads each member's predictor and
    ``load_signature(id)`` its training signature (gated mixtures)."""
    try:
        raw = bytes(np.asarray(params["blend.members"], dtype=np.uint8)).decode("ascii")
        alpha = float(params["blend.alpha"][0])
    except (KeyError, UnicodeDecodeError, IndexError) as exc:
        raise InvalidInputError(f"{model.ref} is not a valid output-space blend: {exc}") from exc
    ids = [raw[i : i + _ID_LEN] for i in range(0, len(raw), _ID_LEN)]
    members = [load_member(i) for i in ids]
    gate = None
    if "blend.temperature" in params and load_signature is not None:
        gate = Gate(
            [load_signature(i) for i in ids],
            np.asarray(params["blend.log_priors"]),
            float(params["blend.temperature"][0]),
            getattr(members[0], "feature_names", None),
            "blend.atoms" in params,
        )
    return BlendModel(
        model.id, model.ref, members, alpha, str(model.architecture.get("task", "classifier")), gate
    )
