"""Model families: how to turn a parameter dict into predictions (and gradient steps).

A family implements ``predict_proba(params, X) -> (n, K)`` and may implement
``prepare(params, X_window) -> params`` (called at every candidate α before predicting; PyTorch
uses it to re-estimate BatchNorm running statistics on the window).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.repair.vector import Params, interpolate

__all__ = [
    "CallableFamily",
    "Predictor",
    "SklearnFamily",
    "TorchFamily",
    "fine_tune",
    "predictor_at_alpha",
    "prepare_params",
]


@runtime_checkable
class Predictor(Protocol):
    """Anything with ``predict_proba(params, X)``; ``prepare`` is optional."""

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray: ...


def prepare_params(family: Predictor, params: Params, X_window: np.ndarray | None) -> Params:
    """``family.prepare(params, X_window)`` when the family has one and a window is given."""
    prep = getattr(family, "prepare", None)
    if prep is None or X_window is None:
        return params
    return prep(params, X_window)


def predictor_at_alpha(
    family: Predictor,
    drifted: Params,
    vector: Mapping[str, np.ndarray],
    X_window: np.ndarray | None = None,
) -> Callable[[float | Mapping[str, float], np.ndarray], np.ndarray]:
    """``(α, X) -> predict_proba(prepare(θ_d + α·r, window), X)``, the callback that
    :func:`driftline.repair.alpha.search_alpha` and ``per_tensor_alpha`` expect.

    When ``vector`` carries its exact target (a :class:`~driftline.repair.vector.RepairVector`
    from ``repair_vector``), every α is written into one reused set of arrays
    (:func:`driftline.repair.streaming.interpolator`, bit-identical to ``interpolate``) instead
    of a new model per evaluation; the arrays are only read by ``prepare`` and ``predict_proba``.
    """
    target = getattr(vector, "target", None)
    if target is not None and getattr(vector, "base", None) is not None:
        from driftline.repair.streaming import interpolator

        theta_at = interpolator(drifted, target)

        def at_streamed(alpha: float | Mapping[str, float], X: np.ndarray) -> np.ndarray:
            params = prepare_params(family, theta_at(alpha), X_window)
            return family.predict_proba(params, X)

        return at_streamed

    def at(alpha: float | Mapping[str, float], X: np.ndarray) -> np.ndarray:
        params = prepare_params(family, interpolate(drifted, vector, alpha), X_window)
        return family.predict_proba(params, X)

    return at


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SklearnFamily:
    """scikit-learn estimators rebuilt with ``params_to_estimator(params, architecture)``.

    Estimators without ``predict_proba`` (e.g. SGDClassifier with hinge loss) fall back to a
    softmax over ``decision_function`` (binary: σ(d) for the positive class)."""

    def __init__(self, architecture: Mapping[str, Any]) -> None:
        self.architecture = dict(architecture)
        classes = self.architecture.get("classes")
        if classes is None:
            raise UnsupportedModelError(
                f"{self.architecture.get('estimator')} is not a classifier; lineage repair "
                "chooses alpha on class probabilities"
            )
        self.classes = np.asarray(classes, dtype=np.dtype(self.architecture["classes_dtype"]))

    def estimator(self, params: Params) -> Any:
        from driftline.params.sklearn import params_to_estimator

        return params_to_estimator(params, self.architecture)

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        from driftline.repair.model_input import check_missing_inputs, named_input

        est = self.estimator(params)
        check_missing_inputs(est, X)  # one clear line, not the estimator's traceback
        X = named_input(est, X)  # the names it was fitted on, when it was fitted on a table
        if hasattr(est, "predict_proba"):
            try:
                return np.asarray(est.predict_proba(X))
            except AttributeError:
                pass
        d = np.asarray(est.decision_function(X), dtype=np.float64)
        if d.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-d))
            return np.column_stack([1.0 - p, p])
        return _softmax(d)


class TorchFamily:
    """PyTorch modules built by ``factory()`` (same architecture every call) and loaded with
    the params. ``output`` says what the module returns: "logits" (softmax applied; one column
    means a binary logit), or "proba". ``classes`` are the labels of the output columns
    (default 0..K−1). BatchNorm statistics are re-estimated in :meth:`prepare`."""

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        output: str = "logits",
        classes: np.ndarray | list | None = None,
        batch_size: int = 4096,
    ) -> None:
        from driftline.params.torch_adapter import require_torch

        self._torch = require_torch()
        if output not in ("logits", "proba"):
            raise InvalidInputError(f"output must be 'logits' or 'proba', got {output!r}")
        self.factory = factory
        self.output = output
        self.classes = None if classes is None else np.asarray(classes)
        self.batch_size = int(batch_size)
        self._module: Any = None

    def module(self, params: Params) -> Any:
        """The (cached) module with ``params`` loaded."""
        from driftline.params.torch_adapter import load_into_module

        if self._module is None:
            self._module = self.factory()
        return load_into_module(self._module, params)

    def _input(self, X: np.ndarray, module: Any) -> Any:
        torch = self._torch
        first = next(iter(module.parameters()), None)
        dtype = first.dtype if first is not None else torch.float32
        return torch.as_tensor(np.asarray(X), dtype=dtype)

    def _forward(self, module: Any, X: np.ndarray) -> Any:
        torch = self._torch
        xt = self._input(X, module)
        outs = [module(xt[i : i + self.batch_size]) for i in range(0, len(xt), self.batch_size)]
        return torch.cat(outs) if outs else module(xt)

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        torch = self._torch
        module = self.module(params)
        module.eval()
        with torch.no_grad():
            out = self._forward(module, X).double()
        if out.ndim == 1:
            out = out.reshape(-1, 1)
        if self.output == "proba":
            p = out.numpy()
        elif out.shape[1] == 1:
            p1 = torch.sigmoid(out).numpy()
            p = np.hstack([1.0 - p1, p1])
        else:
            p = torch.softmax(out, dim=1).numpy()
        return p

    def prepare(self, params: Params, X_window: np.ndarray) -> Params:
        """Re-estimate every BatchNorm's running mean/var on ``X_window``: reset the statistics,
        set momentum=None (cumulative average over batches), forward the window with only the
        BatchNorm layers in train mode (dropout etc. stay in eval) and no gradients, read back.
        With one batch (window ≤ ``batch_size``) running_mean is exactly the window mean of the
        layer's input and running_var its unbiased variance."""
        from driftline.params.torch_adapter import module_to_params

        torch = self._torch
        module = self.module(params)
        bns = [
            m
            for m in module.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        ]
        if not bns or len(X_window) == 0:
            return params
        saved = [(m, m.momentum) for m in bns]
        module.eval()
        try:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None
                m.train()
            with torch.no_grad():
                self._forward(module, X_window)
        finally:
            for m, mom in saved:
                m.momentum = mom
            module.eval()
        return module_to_params(module)


class CallableFamily:
    """Any ``fn(params, X) -> probabilities`` (and optionally ``prepare(params, X_window)``)."""

    def __init__(
        self,
        fn: Callable[[Params, np.ndarray], np.ndarray],
        prepare: Callable[[Params, np.ndarray], Params] | None = None,
        classes: np.ndarray | list | None = None,
    ) -> None:
        self.fn = fn
        self.classes = None if classes is None else np.asarray(classes)
        if prepare is not None:
            self.prepare = prepare

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(params, X))


class _Steps(NamedTuple):
    """How :func:`fine_tune` steps: count, L2 anchor, learning rate, pull, batch size, seed."""

    steps: int
    anchor: Params | None
    lr: float
    l2: float
    batch_size: int
    seed: int


def fine_tune(
    family: Predictor,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    steps: int,
    l2_pull_to: Params | None = None,
    lr: float = 1e-3,
    *,
    l2: float = 1e-2,
    batch_size: int = 32,
    seed: int = 0,
) -> Params:
    """A few gradient steps on (X, y) from ``params``; returns new params (inputs untouched).

    sklearn (MLPClassifier / SGDClassifier): ``steps`` passes of ``partial_fit`` on the rebuilt
    estimator (learning rate ``lr``); with ``l2_pull_to`` each pass is followed by the proximal
    step θ ← θ_0 + (θ − θ_0) / (1 + lr·l2·n_batches). LogisticRegression: ``steps`` full-batch
    Adam steps on CE + l2·‖θ − θ_0‖² (:mod:`driftline.repair.linear_fine_tune`).
    torch: ``steps`` Adam minibatch steps on cross-entropy + l2·Σ‖θ − θ_0‖² (θ_0 = l2_pull_to).
    """
    if steps < 0:
        raise InvalidInputError(f"steps must be >= 0, got {steps}")
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y) or len(X) == 0:
        raise InvalidInputError(
            f"fine_tune needs matching, non-empty X and y ({len(X)} vs {len(y)})"
        )
    how = _Steps(steps, l2_pull_to, lr, l2, batch_size, seed)
    if isinstance(family, SklearnFamily) and family.architecture.get("estimator") == LOGISTIC:
        from driftline.repair.linear_fine_tune import fine_tune_logistic

        return fine_tune_logistic(family, params, X, y, steps, l2_pull_to, lr, l2)
    if isinstance(family, SklearnFamily):
        return _fine_tune_sklearn(family, params, X, y, how)
    if isinstance(family, TorchFamily):
        return _fine_tune_torch(family, params, X, y, how)
    raise UnsupportedModelError(
        f"{type(family).__name__} has no gradient access; fine-tuning needs a SklearnFamily "
        "(MLP/SGD) or a TorchFamily"
    )


FINE_TUNABLE_SKLEARN = ("MLPClassifier", "SGDClassifier")
LOGISTIC = "LogisticRegression"  # full-batch Adam on its own form (repair.linear_fine_tune)


def supports_fine_tune(family: Predictor) -> bool:
    """Whether :func:`fine_tune` can take gradient steps for this family."""
    if isinstance(family, TorchFamily):
        return True
    if isinstance(family, SklearnFamily):
        return family.architecture.get("estimator") in (*FINE_TUNABLE_SKLEARN, LOGISTIC)
    return False


def _fine_tune_sklearn(
    family: SklearnFamily,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    how: _Steps,
) -> Params:
    steps, anchor, lr, l2, batch_size, seed = how
    from driftline.params.sklearn import estimator_to_params

    name = str(family.architecture.get("estimator"))
    if name not in FINE_TUNABLE_SKLEARN:
        raise UnsupportedModelError(
            f"{name} has no partial_fit; fine-tune an MLPClassifier or SGDClassifier"
        )
    est = family.estimator({k: np.array(v, copy=True) for k, v in params.items()})
    mlp = name.startswith("MLP")
    if mlp:
        # warm_start=False: with warm_start, partial_fit refuses a batch that lacks a class
        est.set_params(
            learning_rate_init=lr,
            batch_size=min(batch_size, len(X)),
            random_state=seed,
            shuffle=True,
            warm_start=False,
        )
    else:
        est.set_params(eta0=lr, learning_rate="constant", random_state=seed)
    if steps == 0:
        return {k: np.array(v, copy=True) for k, v in params.items()}
    if mlp and anchor is None and set(np.unique(y).tolist()) >= set(family.classes.tolist()):
        # every class present: one fit() call runs the `steps` passes (same minibatch Adam
        # as repeated partial_fit, without per-call validation overhead)
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        est.set_params(warm_start=True, max_iter=steps, n_iter_no_change=steps + 1, tol=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        steps = 0
    n_batches = max(1, int(np.ceil(len(X) / batch_size)))
    shrink = 1.0 / (1.0 + lr * l2 * n_batches)
    for _ in range(steps):
        if mlp:
            est.partial_fit(X, y)
        else:
            est.partial_fit(X, y, classes=family.classes)
        if anchor is not None:
            # proximal step θ ← θ_0 + (θ − θ_0)·shrink, in place (the optimiser keeps its state)
            arrays = (
                [(f"layers.{i}.weight", w) for i, w in enumerate(est.coefs_)]
                + [(f"layers.{i}.bias", b) for i, b in enumerate(est.intercepts_)]
                if mlp
                else [("coef", est.coef_), ("intercept", est.intercept_)]
            )
            for key, v in arrays:
                if key in anchor and v.dtype.kind == "f":
                    a = np.asarray(anchor[key], dtype=v.dtype).reshape(v.shape)
                    v[...] = a + (v - a) * shrink
    current, _ = estimator_to_params(est)
    return {
        k: np.asarray(v).astype(np.asarray(params[k]).dtype) if k in params else v
        for k, v in current.items()
    }


def _fine_tune_torch(
    family: TorchFamily,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    how: _Steps,
) -> Params:
    steps, anchor, lr, l2, batch_size, seed = how
    from driftline.params.torch_adapter import module_to_params

    torch = family._torch
    module = family.module(params)
    if family.classes is not None:
        cols = np.searchsorted(np.sort(family.classes), y)
        order = np.argsort(family.classes, kind="stable")
        target_np = order[np.clip(cols, 0, len(order) - 1)]
        if not np.all(family.classes[target_np] == y):
            raise InvalidInputError("fine_tune labels are not among the family's classes")
    else:
        target_np = y.astype(np.int64)
    xt = family._input(X, module)
    yt = torch.as_tensor(target_np, dtype=torch.long)
    named = dict(module.named_parameters())
    pulls = []
    if anchor is not None:
        for n, p in named.items():
            if n in anchor:
                pulls.append((p, torch.as_tensor(np.asarray(anchor[n]), dtype=p.dtype)))
    opt = torch.optim.Adam([p for p in named.values() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    module.train()
    n = len(xt)
    bs = min(batch_size, n)
    perm = torch.randperm(n, generator=gen)
    pos = 0
    for _ in range(steps):
        if pos + bs > n:
            perm = torch.randperm(n, generator=gen)
            pos = 0
        idx = perm[pos : pos + bs]
        pos += bs
        opt.zero_grad()
        out = module(xt[idx])
        if out.ndim == 2 and out.shape[1] == 1 or out.ndim == 1:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                out.reshape(-1), yt[idx].to(out.dtype)
            )
        elif family.output == "proba":
            loss = torch.nn.functional.nll_loss(torch.log(out.clamp_min(1e-12)), yt[idx])
        else:
            loss = torch.nn.functional.cross_entropy(out, yt[idx])
        if pulls:
            loss = loss + l2 * sum(((p - p0) ** 2).sum() for p, p0 in pulls)
        loss.backward()
        opt.step()
    module.eval()
    return module_to_params(module)
