"""Refinement: turn human labels into a better repair, round by round.

One round (``r = 1, 2, ...``):

1. **Select** ``k`` pool points with a strategy (:func:`driftline.active.select`). Uncertainty
   strategies read the current model's probabilities; committee strategies read the lineage
   committee: the current model, the previous round's model, the repaired model, the drifted
   model, the ancestor and other ancestors of the drifted model (≤ ``committee_hops`` hops).
   Member ``m`` gets weight ``w_m ∝ max(acc_m − 1/C, 0) + 0.01`` with ``acc_m`` its accuracy on
   the labels collected so far plus the validation set (uniform weights before any label).
   **Cold start**: while there are no labels yet, or the current model's validation accuracy
   is below ``cold_start`` (0.5 by default), the round picks a representative batch instead
   (:func:`driftline.active.representative`: k-means medoids of the unlabelled pool): a model
   that is mostly wrong is uncertain about the wrong points.
2. **Ask**: queue the points (:class:`LabelQueue`); a simulated oracle answers at once, a human
   oracle later (the loop then returns ``waiting-for-labels``; call again to resume).
3. **Re-fit α** on all labels so far (+ validation): θ(α) = θ_d + α·(θ_a − θ_d), global α by
   grid + golden section on log-loss, then per-layer α by coordinate search.
4. **Fine-tune** when still short of the target: ``E = min(max_epochs, ⌈steps / ⌈n/32⌉⌉)`` epochs of minibatch
   gradient steps on the collected labels from θ(α), with an L2 pull toward θ(α)
   (:func:`driftline.repair.families.fine_tune`), for each learning rate in ``lrs``; the
   candidate (α-only or fine-tuned) with the best validation accuracy (then log-loss) wins.
   With validation data a third candidate is a freshly initialised model trained on the labels
   alone (``fresh``, :func:`fresh_params`): it wins when no lineage member is a useful start
   (a truly new regime). Without validation data the fine-tuned candidate is kept.
5. **Record**: the round's model is a lineage node with a ``repair`` edge from the previous
   round's model (params: round, strategy, labels used, α, fine-tuning; metrics: validation
   before/after).

The loop ends when the validation accuracy reaches ``target_accuracy``, the label budget is
spent, or the pool is exhausted; the final model is deployed when the policy is met (validation
accuracy ≥ target, or without a target ≥ the drifted model's) and the repair had a deployment.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from driftline.active.oracles import Oracle, SimulatedOracle
from driftline.active.queue import LabelQueue, point_hash
from driftline.active.records import attach_records
from driftline.active.repair_record import record_active
from driftline.active.start import best_start
from driftline.active.strategies import STRATEGIES, Selection, select
from driftline.errors import CycleError, InvalidInputError, UnsupportedModelError
from driftline.params import ModelParams, model_id
from driftline.repair.alpha import per_tensor_alpha, search_alpha
from driftline.repair.evaluation import Families, Scores, as_matrix, classes_of, family_for, score
from driftline.repair.families import (
    Predictor,
    SklearnFamily,
    TorchFamily,
    fine_tune,
    predictor_at_alpha,
    prepare_params,
    supports_fine_tune,
)
from driftline.repair.model_input import (
    input_names,
    table_embedding,
    window_signature,
    window_table,
)
from driftline.repair.pipeline import RepairResult
from driftline.repair.vector import Params, interpolate, layer_groups, repair_vector
from driftline.store import Store

__all__ = [
    "ActiveLearningResult",
    "LabelCurve",
    "Refit",
    "RoundRecord",
    "accuracy_vs_labels",
    "committee_weights",
    "fresh_params",
    "refit",
    "run_active_learning",
]

Progress = Callable[[str], None]
_EPS_WEIGHT = 0.01


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Limit BLAS to one thread: the matrices here are tiny and threads only add overhead."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=1):
        yield


# ----------------------------------------------------------------------------- re-fitting


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


def _ft_family(family: Predictor) -> Predictor:
    """The family used for gradient steps: scikit-learn MLPs rebuilt with ``warm_start=False``
    (with warm_start, ``partial_fit`` refuses label sets missing a class)."""
    if isinstance(family, SklearnFamily):
        init = dict(family.architecture.get("init", {}))
        if init.get("warm_start"):
            return SklearnFamily({**family.architecture, "init": {**init, "warm_start": False}})
    return family


def _scores(
    family: Predictor, params: Params, X: np.ndarray, y: np.ndarray, classes: np.ndarray
) -> Scores:
    return score(family.predict_proba(params, X), y, classes)


def _better(a: Scores, b: Scores) -> bool:
    """a beats b: higher accuracy, ties broken by lower log-loss."""
    if a.accuracy != b.accuracy:
        return a.accuracy > b.accuracy
    return a.log_loss < b.log_loss


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
    target_accuracy: float | None = None,
    fine_tune_steps: int = 300,
    lrs: Sequence[float] = (1e-2,),
    l2: float = 1e-2,
    per_tensor: bool = True,
    alpha_evals: int = 10,
    max_epochs: int = 30,
    fresh: bool = True,
    fresh_lr: float = 3e-3,
    fresh_steps: int = 1000,
    fresh_epochs: tuple[int, int] = (50, 200),
    seed: int = 0,
) -> Refit:
    """Re-fit a repair on labelled data (see the module docstring, steps 3–4).

    With ``drifted`` and ``ancestor``, α is re-chosen on ``(X_lab, y_lab) ∪ validation``;
    otherwise ``start`` is the α-only candidate. ``fine_tune_steps`` is the number of minibatch
    updates (batch 32) per learning rate, spread over at most ``max_epochs`` epochs (each epoch
    is one ``partial_fit`` pass for scikit-learn, whose per-call overhead dominates small data;
    PyTorch takes ``fine_tune_steps`` Adam steps); 0 disables fine-tuning.

    With ``fresh`` and validation data, one more candidate is a freshly initialised model
    (:func:`fresh_params`) trained on the labels only: ``fresh_steps`` minibatch updates at
    ``fresh_lr`` (scikit-learn: ``⌈fresh_steps / ⌈n/32⌉⌉`` epochs clipped to ``fresh_epochs``).
    It wins only on validation, which is what happens when no lineage member is a useful start
    (a truly new regime): there the old weights are a worse prior than a fresh initialisation.
    """
    X_lab = np.asarray(X_lab, dtype=np.float64)
    y_lab = np.asarray(y_lab)
    X_val = y_val = None
    if validation is not None and len(validation[1]):
        X_val, y_val = np.asarray(validation[0], dtype=np.float64), np.asarray(validation[1])
    parts_X = [a for a in (X_lab if len(y_lab) else None, X_val) if a is not None]
    parts_y = [a for a in (y_lab if len(y_lab) else None, y_val) if a is not None]
    alpha: float | None = None
    pt: dict[str, float] | None = None
    base = start
    if drifted is not None and ancestor is not None and parts_y:
        X_fit, y_fit = np.vstack(parts_X), np.concatenate(parts_y)
        vector = repair_vector(drifted, ancestor, strict=False)
        if vector:
            at = predictor_at_alpha(family, drifted, vector, window)
            res = search_alpha(at, X_fit, y_fit, labels=classes, max_evals=alpha_evals)
            alpha = float(res.alpha)
            chosen: float | dict[str, float] = alpha
            if per_tensor and len(layer_groups(list(vector))) > 1:
                ptr = per_tensor_alpha(
                    at,
                    X_fit,
                    y_fit,
                    layer_groups(list(vector)),
                    alpha,
                    labels=classes,
                    max_evals=alpha_evals + 2,
                    start_value=res.value,
                )
                if ptr.value < res.value:
                    pt = dict(ptr.group_alphas)
                    chosen = dict(ptr.alphas)
            base = prepare_params(family, interpolate(drifted, vector, chosen), window)
    alpha_scores = _scores(family, base, X_val, y_val, classes) if y_val is not None else None
    best, best_scores, best_lr = base, alpha_scores, None
    short = (
        alpha_scores is None or target_accuracy is None or alpha_scores.accuracy < target_accuracy
    )
    tunable = supports_fine_tune(family)  # e.g. LogisticRegression: only alpha is re-fitted
    if short and tunable and fine_tune_steps > 0 and len(y_lab) > 0:
        ft = _ft_family(family)
        n_batches = max(1, math.ceil(len(y_lab) / 32))
        epochs = min(max_epochs, max(1, math.ceil(fine_tune_steps / n_batches)))
        for lr in lrs:
            n_steps = fine_tune_steps if isinstance(family, TorchFamily) else epochs
            cand = fine_tune(
                ft, base, X_lab, y_lab, n_steps, l2_pull_to=base, lr=float(lr), l2=l2, seed=seed
            )
            cand = prepare_params(family, cand, window)
            if y_val is None:
                best, best_lr = cand, float(lr)  # nothing to compare on: keep the last
                continue
            s = _scores(family, cand, X_val, y_val, classes)
            if best_scores is None or _better(s, best_scores):
                best, best_scores, best_lr = cand, s, float(lr)
    origin = "fine-tuned" if best_lr is not None else "alpha"
    init = (
        fresh_params(_ft_family(family), base, seed)
        if short and tunable and fresh and y_val is not None and len(y_lab) > 0
        else None
    )
    if init is not None:
        n_batches = max(1, math.ceil(len(y_lab) / 32))
        lo, hi = fresh_epochs
        n_steps = (
            fresh_steps
            if isinstance(family, TorchFamily)
            else min(hi, max(lo, math.ceil(fresh_steps / n_batches)))
        )
        cand = prepare_params(
            family,
            fine_tune(
                _ft_family(family), init, X_lab, y_lab, n_steps, lr=float(fresh_lr), seed=seed
            ),
            window,
        )
        s = _scores(family, cand, X_val, y_val, classes)
        if best_scores is None or _better(s, best_scores):
            best, best_scores, best_lr, origin = cand, s, float(fresh_lr), "fresh"
    return Refit(
        params=best,
        alpha=alpha,
        per_tensor_alpha=pt,
        fine_tuned=best_lr is not None,
        lr=best_lr,
        alpha_scores={} if alpha_scores is None else alpha_scores.to_dict(),
        scores={} if best_scores is None else best_scores.to_dict(),
        origin=origin,
    )


# ----------------------------------------------------------------------------- the committee


def committee_weights(
    probas: Sequence[np.ndarray], y: np.ndarray | None, classes: np.ndarray
) -> np.ndarray | None:
    """Member weights ``w_m ∝ max(acc_m − 1/C, 0) + 0.01`` from each member's probabilities on
    labelled points ``y`` (None without labels: equal weights)."""
    if y is None or len(y) == 0:
        return None
    chance = 1.0 / max(len(classes), 1)
    w = np.array([max(score(p, y, classes).accuracy - chance, 0.0) + _EPS_WEIGHT for p in probas])
    return w / w.sum()


def _choose(
    strategy: str,
    k: int,
    proba: np.ndarray,
    committee: Sequence[np.ndarray],
    weights: np.ndarray | None,
    pool: np.ndarray,
    exclude: np.ndarray,
    diversity: bool,
    seed: int,
    cold: bool = False,
) -> Selection:
    kw: dict[str, Any] = {
        "exclude": exclude,
        "seed": seed,
        "diversity": diversity,
        "features": pool if diversity or cold else None,
        "cold_start": cold,
    }
    if strategy.startswith("qbc"):
        return select(strategy, k, committee=list(committee), weights=weights, proba=proba, **kw)
    return select(strategy, k, proba=proba, **kw)


# ----------------------------------------------------------------------------- accuracy vs labels


@dataclass(frozen=True)
class LabelCurve:
    """Test accuracy after each checkpoint's number of labels (``labels[0] = 0``: the start
    model), with the validation accuracy and the mean seconds per round."""

    strategy: str
    diversity: bool
    labels: list[int]
    accuracy: list[float]
    val_accuracy: list[float]
    seconds_per_round: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_cold(cold_start: float | None, n_labels: int, val_accuracy: float | None) -> bool:
    """A cold-start round: no labels yet, or the current model's validation accuracy is below
    ``cold_start`` (None disables cold starts)."""
    if cold_start is None:
        return False
    if n_labels == 0:
        return True
    return val_accuracy is not None and val_accuracy < cold_start


def _schedule(checkpoints: Sequence[int], batch: int | None) -> list[int]:
    """Label counts after each round: batches of ``batch`` (default ``max(10, n/2)``) that land
    on every checkpoint."""
    out: list[int] = []
    n = 0
    for cp in sorted(set(int(c) for c in checkpoints if c > 0)):
        while n < cp:
            step = batch if batch is not None else max(10, n // 2)
            n = min(cp, n + max(1, int(step)))
            out.append(n)
    return out


def accuracy_vs_labels(
    family: Predictor,
    start: Params,
    pool: np.ndarray,
    oracle: SimulatedOracle | Callable[[np.ndarray], np.ndarray],
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    strategy: str = "qbc_vote",
    diversity: bool = False,
    checkpoints: Sequence[int] = (10, 20, 50, 100, 200),
    batch: int | None = None,
    drifted: Params | None = None,
    ancestor: Params | None = None,
    committee: Sequence[Params] = (),
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    fine_tune_steps: int = 300,
    lrs: Sequence[float] = (1e-2,),
    per_tensor: bool = True,
    cold_start: float | None = None,
    fresh: bool = True,
    seed: int = 0,
) -> LabelCurve:
    """Simulate active learning without a store: test accuracy versus the number of labels.

    Each round selects with ``strategy`` (committee: current model, previous round's model,
    ``start``, ``drifted``, ``ancestor`` and ``committee``), labels with ``oracle(X) -> y``,
    and :func:`refit`\\ s on all labels so far. Rounds follow :func:`_schedule`; test accuracy
    is recorded at each checkpoint (and at 0 labels for ``start``). ``cold_start``: while there
    are no labels, or the current model's validation accuracy is below this value, a round picks
    a representative batch (:func:`driftline.active.representative`) instead of using the
    strategy's scores. ``fresh``: :func:`refit` may also train a freshly initialised model.
    """
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}"
        )
    pool = np.asarray(pool, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    y_test = np.asarray(y_test)
    classes = classes_of(family, family.predict_proba(start, pool[:1]).shape[1])
    statics = [start, *(p for p in (drifted, ancestor) if p is not None), *committee]
    with _single_thread():
        static_pool = [family.predict_proba(p, pool) for p in statics]
        static_val = (
            [family.predict_proba(p, validation[0]) for p in statics]
            if validation is not None
            else []
        )
        current = start
        cur_pool = static_pool[0]
        labelled = np.zeros(0, dtype=np.int64)
        y_lab = np.zeros(0, dtype=np.asarray(y_test).dtype)
        targets = set(int(c) for c in checkpoints)
        labels_out = [0]
        acc_out = [score(family.predict_proba(start, X_test), y_test, classes).accuracy]
        val_out = [
            score(static_val[0], validation[1], classes).accuracy
            if validation is not None
            else float("nan")
        ]
        prev_pool = prev_val = None
        cur_val = static_val[0] if validation is not None else None
        times: list[float] = []
        for r, n_after in enumerate(_schedule(checkpoints, batch), start=1):
            t0 = time.perf_counter()
            k = n_after - len(labelled)
            probas = [cur_pool, *([prev_pool] if prev_pool is not None else []), *static_pool]
            weights = None
            if strategy.startswith("qbc") and (len(labelled) or validation is not None):
                rows = [[p[labelled]] for p in probas]
                y_w = [y_lab]
                if validation is not None:
                    vals = [cur_val, *([prev_val] if prev_val is not None else []), *static_val]
                    for acc, v in zip(rows, vals, strict=True):
                        acc.append(v)
                    y_w.append(np.asarray(validation[1]))
                weights = committee_weights(
                    [np.vstack(r) for r in rows], np.concatenate(y_w), classes
                )
            cold = _is_cold(
                cold_start,
                len(labelled),
                score(cur_val, validation[1], classes).accuracy if cur_val is not None else None,
            )
            sel = _choose(
                strategy,
                k,
                cur_pool,
                probas,
                weights,
                pool,
                labelled,
                diversity,
                seed * 7919 + r,
                cold,
            )
            if len(sel) == 0:
                break
            new_y = np.asarray(oracle(pool[sel.indices]))
            labelled = np.concatenate([labelled, sel.indices])
            y_lab = np.concatenate([y_lab, new_y]) if len(y_lab) else new_y
            fit = refit(
                family,
                start,
                pool[labelled],
                y_lab,
                classes=classes,
                drifted=drifted,
                ancestor=ancestor,
                validation=validation,
                window=pool,
                fine_tune_steps=fine_tune_steps,
                lrs=lrs,
                per_tensor=per_tensor,
                fresh=fresh,
                seed=seed + r,
            )
            current = fit.params
            prev_pool, cur_pool = cur_pool, family.predict_proba(current, pool)
            if validation is not None:
                prev_val, cur_val = cur_val, family.predict_proba(current, validation[0])
            times.append(time.perf_counter() - t0)
            if len(labelled) in targets:
                labels_out.append(int(len(labelled)))
                acc_out.append(
                    score(family.predict_proba(current, X_test), y_test, classes).accuracy
                )
                val_out.append(
                    score(cur_val, validation[1], classes).accuracy
                    if cur_val is not None
                    else float("nan")
                )
    return LabelCurve(
        strategy, diversity, labels_out, acc_out, val_out, float(np.mean(times)) if times else 0.0
    )


# ----------------------------------------------------------------------------- the store loop


@dataclass
class RoundRecord:
    """One refinement round: labels used so far, the round's model, α, fine-tuning, and
    validation scores of the previous round's model (``before``) and this one (``after``).
    ``origin``: which candidate won (alpha | fine-tuned | fresh)."""

    round: int
    labels: int
    strategy: str
    model_id: str
    model_ref: str
    alpha: float | None
    per_tensor_alpha: dict[str, float] | None
    fine_tuned: bool
    lr: float | None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    origin: str = "alpha"


@dataclass
class ActiveLearningResult:
    """What the loop did. ``status``: waiting-for-labels | target-met | deployed |
    budget-exhausted | pool-exhausted."""

    status: str
    repair_id: int
    start_id: str
    final_id: str
    final_ref: str
    rounds: list[RoundRecord] = field(default_factory=list)
    labels_used: int = 0
    pending: list[int] = field(default_factory=list)
    requested: list[int] = field(default_factory=list)
    deployed: bool = False
    deployment: str | None = None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    message: str = ""

    @property
    def waiting(self) -> bool:
        return self.status == "waiting-for-labels"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Member:
    role: str
    ref: str
    id: str
    params: Params


def _committee(
    store: Store,
    result: RepairResult,
    family: Predictor,
    start: _Member,
    probe: np.ndarray,
    hops: int,
    limit: int,
) -> list[_Member]:
    """Static committee: start (repaired), drifted, ancestor, then nearby ancestors of the
    drifted model with the same tensors, at most ``limit`` members."""
    members = [start]
    seen = {start.id}
    names = set(start.params)

    def add(mid: str, role: str) -> None:
        if mid in seen or len(members) >= limit:
            return
        seen.add(mid)
        try:
            params = store.load(mid)
            if set(params) != names:
                return
            family.predict_proba(params, probe)
        except (UnsupportedModelError, InvalidInputError, ValueError, KeyError):
            return
        members.append(_Member(role, store.get(mid).ref, mid, params))

    add(result.drifted_id, "drifted")
    if result.ancestor_id:
        add(result.ancestor_id, "ancestor")
    for rel in store.ancestors(result.drifted_id, max_hops=hops):
        add(rel.id, f"ancestor-{rel.hops}")
    return members


def _predictions(
    members: Sequence[tuple[str, str, np.ndarray]],
    idx: np.ndarray,
    classes: np.ndarray,
    model: tuple[str, str],
) -> list[dict[str, Any]]:
    """Per point: the current model's label/confidence and every member's."""
    out = []
    cls = [c.item() if isinstance(c, np.generic) else c for c in classes.tolist()]
    for i in idx:
        mem = []
        for role, ref, p in members:
            j = int(np.argmax(p[i]))
            mem.append({"role": role, "ref": ref, "label": cls[j], "confidence": float(p[i, j])})
        first = mem[0]
        out.append(
            {
                "model_id": model[0],
                "ref": model[1],
                "label": first["label"],
                "confidence": first["confidence"],
                "classes": cls,
                "members": mem,
            }
        )
    return out


def _meets(after: Mapping[str, float], target: float | None, floor: float | None) -> bool:
    if not after:
        return False
    acc = after["accuracy"]
    if target is not None:
        return acc >= target
    return floor is None or acc >= floor


def run_active_learning(
    store: Store,
    result: RepairResult,
    pool: Any,
    oracle: Oracle | None,
    *,
    budget: int = 100,
    batch: int = 20,
    strategy: str = "qbc_vote",
    diversity: bool = True,
    target_accuracy: float | None = None,
    validation: tuple[Any, Any] | None = None,
    family: Predictor | Families | None = None,
    fine_tune_steps: int = 300,
    lrs: Sequence[float] = (1e-2,),
    per_tensor: bool = True,
    committee_hops: int = 3,
    committee_size: int = 6,
    cold_start: float | None = 0.5,
    fresh: bool = True,
    deploy: bool = True,
    actor: str = "driftline",
    seed: int = 0,
    progress: Progress | None = None,
) -> ActiveLearningResult:
    """Refine a stored repair with labels on ``pool`` (the current window's unlabelled rows).

    ``oracle``: a :class:`SimulatedOracle` answers inside the loop; an interactive one (or None)
    makes the loop queue one batch and return ``waiting-for-labels``. Calling again after the
    humans answered resumes: labels already in the queue for this repair are used first, and
    ``budget`` counts every label requested for the repair (pending + labelled). Rounds, models
    and deployment follow the module docstring. Deterministic for a given ``seed``. When it
    deploys, ``result`` becomes ``status="deployed"`` and its stored repair record is updated
    (``active["deployed_ref"]``/``after`` name the deployed round model; switch and record are
    one transaction). While labels wait for a human the record's status is ``waiting-for-labels``.
    """
    say = progress or (lambda _m: None)
    if result.repair_id is None:
        raise InvalidInputError("the repair result has no id: run repair(...) first (it stores it)")
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}"
        )
    if budget < 1 or batch < 1:
        raise InvalidInputError("budget and batch must be >= 1")
    rid = int(result.repair_id)
    drifted = store.get(result.drifted_id)
    fam = family_for(drifted, family)
    try:
        drifted_sig = store.signature(drifted.id)
    except Exception:  # no signature: take the pool as a plain array
        drifted_sig = None
    feature_names = input_names(drifted, drifted_sig)
    X_pool = as_matrix(pool, feature_names)
    # distances for diversity / cold start over every column of a named pool, not only the
    # model's inputs (categories, booleans and dates included)
    X_div = table_embedding(pool, drifted_sig)
    X_div = X_pool if X_div is None else X_div
    if len(X_pool) == 0:
        raise InvalidInputError("the pool of unlabelled points is empty")
    if getattr(fam, "task", "classifier") == "regressor":  # committee variance, no refit
        from driftline.active.regression_round import queue_regression_round

        fields = queue_regression_round(
            store,
            result,
            pool,
            X_pool,
            X_div,
            oracle,
            budget=budget,
            batch=batch,
            diversity=diversity,
            hops=committee_hops,
            limit=committee_size,
            say=say,
        )
        return ActiveLearningResult(
            repair_id=rid,
            start_id=drifted.id,
            final_id=drifted.id,
            final_ref=drifted.ref,
            deployment=result.deployment,
            **fields,
        )
    X_val = y_val = None
    if validation is not None:
        X_val = as_matrix(validation[0], feature_names)
        y_val = np.asarray(validation[1])
        if len(X_val) != len(y_val):
            raise InvalidInputError(f"{len(y_val)} validation labels for {len(X_val)} rows")
    val = (X_val, y_val) if y_val is not None else None
    queue = LabelQueue(store)
    theta_d = store.load(drifted.id)
    theta_a = store.load(result.ancestor_id) if result.ancestor_id else None
    start_id = result.repaired_id or drifted.id
    theta_s = store.load(start_id) if start_id != drifted.id else theta_d
    if set(theta_s) != set(theta_d):
        # a routed (composite) repair has no single parameter set to refine: start from the
        # drifted model; the α re-fit moves it toward the ancestor again
        start_id, theta_s = drifted.id, theta_d
    classes = classes_of(fam, fam.predict_proba(theta_s, X_pool[:1]).shape[1])
    best = best_start(store, result, fam, set(theta_d), val, classes, committee_hops)
    if best is not None:  # the best of the table: repair, drifted, ancestor or a lineage member
        start_id, theta_s = best[0], best[1]
    role = {result.repaired_id: "repaired", drifted.id: "drifted"}.get(start_id, "lineage")
    start = _Member(role, store.get(start_id).ref, start_id, theta_s)

    with _single_thread():
        statics = _committee(store, result, fam, start, X_pool[:1], committee_hops, committee_size)
        static_pool = [fam.predict_proba(m.params, X_pool) for m in statics]

        def val_scores(params: Params) -> dict[str, float]:
            return {} if val is None else _scores(fam, params, X_val, y_val, classes).to_dict()

        existing = queue.requests(rid)
        last_round = max((r.round for r in existing), default=0)
        current = start
        latest = [r for r in existing if r.round == last_round and r.predictions.get("model_id")]
        if latest:
            mid = latest[0].predictions["model_id"]
            with contextlib.suppress(Exception):
                current = _Member("current", store.get(mid).ref, mid, store.load(mid))
        previous: _Member | None = None
        drifted_val = val_scores(theta_d)
        out = ActiveLearningResult(
            status="budget-exhausted",
            repair_id=rid,
            start_id=start_id,
            final_id=current.id,
            final_ref=current.ref,
            deployment=result.deployment,
            before=val_scores(start.params),
        )
        window_sig = None
        fitted_n = 0
        rnd = last_round
        while True:
            pend = queue.pending(rid)
            # humans still owe answers: refine on those given so far, then wait
            human = oracle is None or getattr(oracle, "interactive", True)
            waiting = pend if pend and human else None
            if pend and oracle is not None and waiting is None:
                say(f"round {rnd}: asking the oracle for {len(pend)} label(s)")
                oracle.answer(queue, pend)
                continue_after_answer = queue.pending(rid)
                if continue_after_answer and len(continue_after_answer) == len(pend):
                    out.status = "waiting-for-labels"
                    out.pending = [r.id for r in continue_after_answer]
                    out.message = "the oracle answered none of the pending requests"
                    break
            X_lab, y_lab = queue.labelled(rid)
            n_lab = len(y_lab)
            if n_lab > fitted_n:
                t0 = time.perf_counter()
                say(f"round {rnd}: re-fitting on {n_lab} label(s)")
                fit = refit(
                    fam,
                    start.params,
                    X_lab,
                    y_lab,
                    classes=classes,
                    drifted=theta_d,
                    ancestor=theta_a,
                    validation=val,
                    window=X_pool,
                    target_accuracy=target_accuracy,
                    fine_tune_steps=fine_tune_steps,
                    lrs=lrs,
                    per_tensor=per_tensor,
                    fresh=fresh,
                    seed=seed + rnd,
                )
                fitted_n = n_lab
                before = val_scores(current.params)
                after = fit.scores or val_scores(fit.params)
                if window_sig is None:  # named columns and roles, as the drifted model's
                    window_sig = window_signature(window_table(pool, drifted_sig), drifted_sig)
                node_id, node_ref = _register_round(
                    store,
                    drifted,
                    current.id,
                    fit,
                    rid=rid,
                    rnd=rnd,
                    strategy=strategy,
                    diversity=diversity,
                    n_labels=n_lab,
                    before=before,
                    after=after,
                    signature=window_sig,
                    start_ref=start.ref,
                )
                previous, current = current, _Member("current", node_ref, node_id, fit.params)
                out.rounds.append(
                    RoundRecord(
                        rnd,
                        n_lab,
                        strategy,
                        node_id,
                        node_ref,
                        fit.alpha,
                        fit.per_tensor_alpha,
                        fit.fine_tuned,
                        fit.lr,
                        before,
                        after,
                        time.perf_counter() - t0,
                        fit.origin,
                    )
                )
                out.after = after
                if target_accuracy is not None and _meets(after, target_accuracy, None):
                    out.status = "target-met"
                    break
            if waiting:
                out.status = "waiting-for-labels"
                out.pending = [r.id for r in waiting]
                out.message = (
                    f"{len(waiting)} label request(s) for repair #{rid} wait for a "
                    "human: run 'driftline label' (or export them), then resume; "
                    f"{n_lab} answered label(s) are in use"
                )
                break
            counts = queue.counts(rid)
            used = counts["pending"] + counts["labelled"]
            out.labels_used = counts["labelled"]
            if used >= budget:
                out.status = "budget-exhausted"
                break
            asked = {r.point_hash for r in queue.requests(rid)}
            exclude = np.array(
                [i for i, row in enumerate(X_pool) if point_hash(row) in asked], dtype=np.int64
            )
            cur_pool = fam.predict_proba(current.params, X_pool)
            members = [("current", current.ref, cur_pool)]
            if previous is not None and previous.id != current.id:
                members.append(
                    ("previous", previous.ref, fam.predict_proba(previous.params, X_pool))
                )
            members += [
                (m.role, m.ref, p)
                for m, p in zip(statics, static_pool, strict=True)
                if m.id != current.id
            ]
            weights = None
            if strategy.startswith("qbc"):
                lab_X = [a for a in (X_lab if n_lab else None, X_val) if a is not None]
                lab_y = [a for a in (y_lab if n_lab else None, y_val) if a is not None]
                if lab_y:
                    Xw, yw = np.vstack(lab_X), np.concatenate(lab_y)
                    params_of = {
                        "current": current.params,
                        "previous": previous.params if previous else None,
                    }
                    params_of.update({m.role: m.params for m in statics})
                    weights = committee_weights(
                        [fam.predict_proba(params_of[role], Xw) for role, _, _ in members],
                        yw,
                        classes,
                    )
            rnd += 1
            cold = _is_cold(cold_start, n_lab, val_scores(current.params).get("accuracy"))
            sel = _choose(
                strategy,
                min(batch, budget - used),
                cur_pool,
                [p for _, _, p in members],
                weights,
                X_div,
                exclude,
                diversity,
                seed * 7919 + rnd,
                cold,
            )
            if len(sel) == 0:
                out.status = "pool-exhausted"
                break
            say(
                f"round {rnd}: queueing {len(sel)} point(s) chosen by "
                + (
                    "a representative cold start"
                    if cold
                    else strategy + (" + diversity" if diversity else "")
                )
            )
            ids = queue.request(
                X_pool[sel.indices],
                sel.scores,
                strategy=strategy,
                round=rnd,
                repair_id=rid,
                predictions=attach_records(
                    _predictions(members, sel.indices, classes, (current.id, current.ref)),
                    pool,
                    sel.indices,
                ),
            )
            out.requested.extend(ids)

    out.final_id, out.final_ref = current.id, current.ref
    out.labels_used = queue.counts(rid)["labelled"]
    if out.status == "waiting-for-labels" and result.status != "deployed":
        record_active(store, result, out, None, None, actor)  # the record says what it waits for
    if out.status != "waiting-for-labels" and out.rounds:
        floor = max([drifted_val.get("accuracy", -1.0), out.before.get("accuracy", -1.0)])
        meets = val is not None and _meets(out.after, target_accuracy, floor)
        if meets and deploy and result.deployment:
            out.status, out.deployed = "deployed", True
            record_active(store, result, out, current.id, current.ref, actor)
        acc = out.after.get("accuracy")
        out.message = (
            f"{len(out.rounds)} round(s), {out.labels_used} label(s): {current.ref}"
            + (f" validation accuracy {acc:.3f}" if acc is not None else "")
            + (
                f", deployed as {result.deployment}"
                if out.deployed
                else ("" if meets else ", below the policy: not deployed")
            )
        )
    return out


def _register_round(
    store: Store,
    drifted: Any,
    parent_id: str,
    fit: Refit,
    *,
    rid: int,
    rnd: int,
    strategy: str,
    diversity: bool,
    n_labels: int,
    before: dict[str, float],
    after: dict[str, float],
    signature: Any,
    start_ref: str,
) -> tuple[str, str]:
    """Register the round's model with a ``repair`` edge from ``parent_id``; identical
    parameters (or parameters equal to an ancestor) reuse the existing node."""
    mid = model_id(fit.params)
    if mid == parent_id:
        return mid, store.get(mid).ref
    edge = {
        "active_learning": True,
        "repair_id": rid,
        "round": rnd,
        "strategy": strategy,
        "diversity": diversity,
        "labels_used": n_labels,
        "alpha": fit.alpha,
        "per_tensor_alpha": fit.per_tensor_alpha,
        "fine_tuned": fit.fine_tuned,
        "lr": fit.lr,
        "origin": fit.origin,
    }
    try:
        node = store.register(
            ModelParams(fit.params, drifted.framework, drifted.architecture),
            name=drifted.name,
            parents=[parent_id],
            transform="repair",
            params=edge,
            metrics={f"val_{k}": v for k, v in after.items() if k != "n"},
            edge_metrics={"before": before, "after": after},
            signature=signature,
            tags={"active_learning_of": start_ref, "repair_id": rid},
        )
    except CycleError:  # the parameters are an ancestor's (e.g. α = 0, no fine-tuning)
        return mid, store.get(mid).ref
    return node.id, node.ref
