"""Re-fitting a repair on collected labels: the α step, then fine-tuning, then a fresh start.

Given labels ``(X_lab, y_lab)`` and optional validation data:

1. **α**: with the drifted model ``θ_d`` and the ancestor ``θ_a``, θ(α) = θ_d + α·(θ_a − θ_d)
   with a global α by grid + golden section on log-loss over labels ∪ validation, then per-layer
   α by coordinate search (kept when it lowers the log-loss). Otherwise ``start`` is θ(α).
2. **Fine-tune** while short of the target: ``E = min(max_epochs, ⌈steps / ⌈n/32⌉⌉)`` epochs
   (PyTorch: ``steps`` Adam steps) of minibatch gradient steps from θ(α) with an L2 pull toward
   θ(α), one candidate per learning rate. A family without gradient steps (a Pipeline, a
   booster) is trained further by its own trainer instead
   (:func:`~driftline.repair.continued.continue_training`, from the best candidate so far).
3. **Fresh**: with validation data, a freshly initialised model (:func:`fresh_params`) trained
   on the labels alone; it wins only on validation (a truly new regime).

The candidate with the best validation accuracy (then log-loss) wins; without validation data
the last fine-tuned candidate is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from driftline.active.settings import RefineSettings
from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.repair.alpha import per_tensor_alpha, search_alpha
from driftline.repair.evaluation import Scores, score
from driftline.repair.families import (
    Predictor,
    SklearnFamily,
    TorchFamily,
    fine_tune,
    predictor_at_alpha,
    prepare_params,
    supports_fine_tune,
)
from driftline.repair.vector import Params, interpolate, layer_groups, repair_vector

__all__ = ["Refit", "fresh_params", "refit"]

_MINIBATCH = 32


@dataclass(frozen=True)
class Refit:
    """The result of one re-fit: parameters, the α chosen (``None`` without an ancestor),
    per-layer α (or None), whether fine-tuning won (and at which lr), and validation scores
    of the α-only and final candidates (empty without validation data)."""

    params: Params
    alpha: float | None
    per_tensor_alpha: dict[str, float] | None
    fine_tuned: bool
    lr: float | None
    alpha_scores: dict[str, float]
    scores: dict[str, float]
    origin: str = "alpha"


def fresh_params(family: Predictor, like: Params, seed: int = 0) -> Params | None:
    """Freshly initialised parameters with the shapes of ``like``, or None when the family
    cannot say how to initialise them.

    scikit-learn MLPs: sklearn's own Glorot-uniform scheme (weights and biases uniform in
    ``±sqrt(f / (fan_in + fan_out))``, ``f = 2`` for logistic units, else 6); linear
    (SGD) models: zeros; PyTorch: a new module from the family's factory (``torch.manual_seed``
    = ``seed``, the module's own initialisers). Deterministic for a given seed."""
    if isinstance(family, SklearnFamily):
        return _fresh_sklearn(family, like, seed)
    if isinstance(family, TorchFamily):
        from driftline.params.torch_adapter import module_to_params

        torch = family._torch
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            params = module_to_params(family.factory())
        finally:
            torch.random.set_rng_state(state)
        return params if set(params) == set(like) else None
    return None


def _fresh_sklearn(family: SklearnFamily, like: Params, seed: int) -> Params | None:
    name = str(family.architecture.get("estimator"))
    if name == "SGDClassifier":
        return {k: np.zeros_like(np.asarray(v)) for k, v in like.items()}
    if name != "MLPClassifier":
        return None
    act = family.architecture.get("init", {}).get("activation", "relu")
    rng = np.random.default_rng(seed)
    out: Params = {}
    i = 0
    while f"layers.{i}.weight" in like:
        w = np.asarray(like[f"layers.{i}.weight"])
        b = np.asarray(like[f"layers.{i}.bias"])
        bound = math.sqrt((2.0 if act == "logistic" else 6.0) / (w.shape[0] + w.shape[1]))
        out[f"layers.{i}.weight"] = rng.uniform(-bound, bound, w.shape).astype(w.dtype)
        out[f"layers.{i}.bias"] = rng.uniform(-bound, bound, b.shape).astype(b.dtype)
        i += 1
    return out if set(out) == set(like) else None


def _ft_family(family: Predictor) -> Predictor:
    """The family used for gradient steps: scikit-learn MLPs rebuilt with ``warm_start=False``
    (with warm_start, ``partial_fit`` refuses label sets missing a class)."""
    if isinstance(family, SklearnFamily):
        init = dict(family.architecture.get("init", {}))
        if init.get("warm_start"):
            return SklearnFamily({**family.architecture, "init": {**init, "warm_start": False}})
    return family


def better(a: Scores, b: Scores) -> bool:
    """a beats b: higher accuracy, ties broken by lower log-loss."""
    if a.accuracy != b.accuracy:
        return a.accuracy > b.accuracy
    return a.log_loss < b.log_loss


@dataclass(frozen=True)
class _Data:
    """Labels, optional validation pair, the window (for statistics re-estimation), classes."""

    X_lab: np.ndarray
    y_lab: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    window: np.ndarray | None
    classes: np.ndarray

    def val_scores(self, family: Predictor, params: Params) -> Scores | None:
        if self.X_val is None or self.y_val is None:
            return None
        return score(family.predict_proba(params, self.X_val), self.y_val, self.classes)


@dataclass(frozen=True)
class _Alpha:
    params: Params
    alpha: float | None = None
    per_tensor: dict[str, float] | None = None


def _alpha_step(
    family: Predictor,
    start: Params,
    drifted: Params | None,
    ancestor: Params | None,
    data: _Data,
    settings: RefineSettings,
) -> _Alpha:
    """Step 1: θ(α) re-chosen on labels ∪ validation (``start`` without a lineage pair)."""
    parts = [
        (X, y)
        for X, y in ((data.X_lab, data.y_lab), (data.X_val, data.y_val))
        if y is not None and len(y)
    ]
    if drifted is None or ancestor is None or not parts:
        return _Alpha(start)
    vector = repair_vector(drifted, ancestor, strict=False)
    if not vector:
        return _Alpha(start)
    X_fit = np.vstack([X for X, _ in parts if X is not None])
    y_fit = np.concatenate([y for _, y in parts])
    at = predictor_at_alpha(family, drifted, vector, data.window)
    res = search_alpha(at, X_fit, y_fit, labels=data.classes, max_evals=settings.alpha_evals)
    alpha = float(res.alpha)
    chosen: float | dict[str, float] = alpha
    pt: dict[str, float] | None = None
    groups = layer_groups(list(vector))
    if settings.per_tensor and len(groups) > 1:
        ptr = per_tensor_alpha(
            at,
            X_fit,
            y_fit,
            groups,
            alpha,
            labels=data.classes,
            max_evals=settings.alpha_evals + 2,
            start_value=res.value,
        )
        if ptr.value < res.value:
            pt = dict(ptr.group_alphas)
            chosen = dict(ptr.alphas)
    return _Alpha(
        prepare_params(family, interpolate(drifted, vector, chosen), data.window), alpha, pt
    )


@dataclass
class _Best:
    params: Params
    scores: Scores | None
    lr: float | None = None
    origin: str = "alpha"

    def offer(self, params: Params, s: Scores | None, lr: float, origin: str) -> None:
        """Keep the candidate if it scores better (always, without validation scores)."""
        if s is None or self.scores is None or better(s, self.scores):
            self.params, self.scores, self.lr, self.origin = params, s, lr, origin


def _fine_tune_step(
    family: Predictor, base: Params, data: _Data, settings: RefineSettings, seed: int, best: _Best
) -> None:
    """Step 2: one fine-tuned candidate per learning rate, offered to ``best``."""
    ft = _ft_family(family)
    n_batches = max(1, math.ceil(len(data.y_lab) / _MINIBATCH))
    epochs = min(settings.max_epochs, max(1, math.ceil(settings.fine_tune_steps / n_batches)))
    n_steps = settings.fine_tune_steps if isinstance(family, TorchFamily) else epochs
    for lr in settings.lrs:
        cand = fine_tune(
            ft,
            base,
            data.X_lab,
            data.y_lab,
            n_steps,
            l2_pull_to=base,
            lr=float(lr),
            l2=settings.l2,
            seed=seed,
        )
        cand = prepare_params(family, cand, data.window)
        best.offer(cand, data.val_scores(family, cand), float(lr), "fine-tuned")


def _fresh_step(
    family: Predictor, base: Params, data: _Data, settings: RefineSettings, seed: int, best: _Best
) -> None:
    """Step 3: a freshly initialised model trained on the labels only, offered to ``best``."""
    init = fresh_params(_ft_family(family), base, seed)
    if init is None:
        return
    n_batches = max(1, math.ceil(len(data.y_lab) / _MINIBATCH))
    lo, hi = settings.fresh_epochs
    n_steps = (
        settings.fresh_steps
        if isinstance(family, TorchFamily)
        else min(hi, max(lo, math.ceil(settings.fresh_steps / n_batches)))
    )
    trained = fine_tune(
        _ft_family(family),
        init,
        data.X_lab,
        data.y_lab,
        n_steps,
        lr=float(settings.fresh_lr),
        seed=seed,
    )
    cand = prepare_params(family, trained, data.window)
    best.offer(cand, data.val_scores(family, cand), float(settings.fresh_lr), "fresh")


def _continue_step(
    family: Predictor, base: Params, data: _Data, settings: RefineSettings, seed: int, best: _Best
) -> None:
    """Step 2 for a family without gradient steps (a Pipeline, a booster, a forest): the
    model trained further on the labels by its own trainer
    (:func:`driftline.repair.continued.continue_training`), offered to ``best``."""
    from driftline.repair.continued import ContinueSettings, can_continue, continue_training

    if settings.fine_tune_steps <= 0 or not can_continue(family):
        return
    how = ContinueSettings(seed=seed)
    try:
        cand = continue_training(family, base, data.X_lab, data.y_lab, how)
        s = data.val_scores(family, cand)
    except (UnsupportedModelError, InvalidInputError, ValueError):
        return  # e.g. one class among the labels: nothing this trainer can fit
    best.offer(cand, s, how.learning_rate, "continued")


def refit(
    family: Predictor,
    start: Params,
    X_lab: np.ndarray,
    y_lab: np.ndarray,
    *,
    classes: np.ndarray,
    drifted: Params | None = None,
    ancestor: Params | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    window: np.ndarray | None = None,
    settings: RefineSettings | None = None,
    seed: int | None = None,
    **changes: object,
) -> Refit:
    """Re-fit a repair on labelled data (module docstring, steps 1–3).

    With ``drifted`` and ``ancestor``, α is re-chosen on ``(X_lab, y_lab) ∪ validation``;
    otherwise ``start`` is the α-only candidate. ``settings`` (plus keyword ``changes`` of its
    fields, e.g. ``fine_tune_steps=0`` to switch fine-tuning off) give the step sizes;
    ``seed`` (default ``settings.seed``) seeds the gradient steps and the fresh start.
    """
    s = (settings or RefineSettings()).with_changes(**changes)
    seed = s.seed if seed is None else seed
    X_val = y_val = None
    if validation is not None and len(validation[1]):
        X_val, y_val = np.asarray(validation[0], dtype=np.float64), np.asarray(validation[1])
    data = _Data(
        np.asarray(X_lab, dtype=np.float64), np.asarray(y_lab), X_val, y_val, window, classes
    )
    a = _alpha_step(family, start, drifted, ancestor, data, s)
    alpha_scores = data.val_scores(family, a.params)
    best = _Best(a.params, alpha_scores)
    target = s.target_accuracy
    short = best.scores is None or target is None or best.scores.accuracy < target
    trainable = short and supports_fine_tune(family) and len(data.y_lab) > 0
    if trainable and s.fine_tune_steps > 0:
        _fine_tune_step(family, a.params, data, s, seed, best)
    if trainable and s.fresh and y_val is not None:
        _fresh_step(family, a.params, data, s, seed, best)
    if short and not supports_fine_tune(family) and len(data.y_lab) > 0:
        _continue_step(family, best.params, data, s, seed, best)
    return Refit(
        params=best.params,
        alpha=a.alpha,
        per_tensor_alpha=a.per_tensor,
        fine_tuned=best.lr is not None,
        lr=best.lr,
        alpha_scores={} if alpha_scores is None else alpha_scores.to_dict(),
        scores={} if best.scores is None else best.scores.to_dict(),
        origin=best.origin,
    )
