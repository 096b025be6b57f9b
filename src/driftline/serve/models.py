"""The model server: one immutable :class:`Serving` per deployment, swapped atomically.

A request reads ``live[name]`` once and uses that snapshot for its whole life, so a swap (deploy,
rollback, repair) never lets a request see a half-loaded model: the new predictor is fully built
from the store (:func:`driftline.repair.routed_model.load_predictor`) *before* the dict entry is
replaced. Loaded predictors are cached by model id, so swapping back (rollback) is instant.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.store import Store


@dataclass(frozen=True)
class Serving:
    """What one deployment serves right now."""

    deployment: str
    model_id: str
    model_ref: str
    kind: str
    predictor: Any
    feature_names: list[str] | None
    classes: np.ndarray
    since: float


@dataclass(frozen=True)
class Prediction:
    """Predicted labels, class probabilities and the snapshot that produced them."""

    serving: Serving
    X: np.ndarray
    labels: np.ndarray
    proba: np.ndarray


def rows_to_matrix(rows: Sequence[Any], names: list[str] | None) -> np.ndarray:
    """``n × d`` float matrix from JSON rows: objects keyed by feature name (extra keys are
    ignored), or arrays in feature order."""
    if not rows:
        raise InvalidInputError("no rows: send at least one row")
    if all(isinstance(r, Mapping) for r in rows):
        if names is None:
            raise InvalidInputError(
                "this model has no training signature, so columns have no names: send rows as "
                "arrays in training column order"
            )
        missing = sorted({n for r in rows for n in names if n not in r})
        if missing:
            raise InvalidInputError(
                f"rows lack the model's feature column(s): {', '.join(missing[:5])}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        table: Sequence[Any] = [[r[n] for n in names] for r in rows]
    elif all(isinstance(r, list) for r in rows):
        width = len(names) if names is not None else len(rows[0])
        if any(len(r) != width for r in rows):
            raise InvalidInputError(f"every row must have {width} values (the model's features)")
        table = rows
    else:
        raise InvalidInputError("rows must all be objects (name: value) or all be arrays")
    try:
        X = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"feature values must be numbers or null: {exc}") from None
    return X


def columns_to_matrix(cols: Mapping[str, Any], names: list[str] | None) -> np.ndarray:
    """``n × d`` float matrix from a columnar table (Arrow / Parquet) in feature order."""
    from driftline.repair.evaluation import as_matrix

    return as_matrix(dict(cols), names)


class _Prebuilt:
    """A family whose estimator is built once for the params it serves (a serving snapshot
    never changes its params), instead of once per call; everything else is delegated."""

    def __init__(self, family: Any) -> None:
        self.family = family
        self._params: Any = None
        self._est: Any = None

    def predict_proba(self, params: Any, X: np.ndarray) -> np.ndarray:
        if params is not self._params:
            self._est, self._params = self.family.estimator(params), params
        if not hasattr(self._est, "predict_proba"):  # the family's own fallbacks
            return self.family.predict_proba(params, X)
        return np.asarray(self._est.predict_proba(X))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.family, name)


def prebuilt(pred: Any) -> Any:
    """``pred`` (plain or routed) with estimator families built once, for serving."""
    import dataclasses

    from driftline.repair.routed_model import BoundModel, RoutedModel

    if isinstance(pred, BoundModel) and hasattr(pred.family, "estimator"):
        return dataclasses.replace(pred, family=_Prebuilt(pred.family))
    if isinstance(pred, RoutedModel):
        return dataclasses.replace(pred, members=[prebuilt(m) for m in pred.members])
    return pred


class ModelServer:
    """Deployments served from ``store``; see the module docstring for the swap contract."""

    def __init__(self, store: Store, cache_size: int = 8) -> None:
        self.store = store
        self.live: dict[str, Serving] = {}
        self._swap_lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._cache_size = cache_size
        self.swaps = 0

    def prepare(self, model_id: str) -> None:
        """Load (and cache) the predictor of ``model_id``: its blobs are read and verified, so
        a damaged model raises here, before anything records it as deployed."""
        with self._swap_lock:
            self._predictor(model_id)

    def classes_of(self, model_id: str) -> np.ndarray:
        """The class labels of a stored model (empty for a model without classes)."""
        classes = getattr(self._predictor(model_id)[1], "classes", None)
        return np.asarray([] if classes is None else classes)

    def _predictor(self, model_id: str) -> tuple[Any, Any]:
        hit = self._cache.get(model_id)
        if hit is None:
            from driftline.repair.routed_model import load_predictor

            model = self.store.get(model_id)
            hit = (model, prebuilt(load_predictor(self.store, model_id)))
            self._cache[model_id] = hit
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(model_id)
        return hit

    def _build(self, name: str, model_id: str) -> Serving:
        model, pred = self._predictor(model_id)
        names = getattr(pred, "feature_names", None)
        return Serving(
            name,
            model.id,
            model.ref,
            model.kind,
            pred,
            list(names) if names else None,
            np.asarray(pred.classes),
            time.time(),
        )

    def current(self, name: str) -> Serving:
        """The snapshot serving ``name`` (loaded on first use)."""
        s = self.live.get(name)
        if s is None:
            deployed = {d.name: d.model_id for d in self.store.deployments()}
            if name not in deployed:
                raise UnknownReferenceError(
                    f"no deployment {name!r}; deploy a model first (POST "
                    f"/v1/deployments/{name}/deploy or 'driftline deploy REF --as {name}')"
                )
            s = self.swap(name, deployed[name])
        return s

    def swap(self, name: str, model_id: str) -> Serving:
        """Build the new snapshot fully, then replace the old one in one assignment."""
        with self._swap_lock:
            cur = self.live.get(name)
            if cur is not None and cur.model_id == model_id:
                return cur
            s = self._build(name, model_id)
            self.live[name] = s
            self.swaps += 1
            return s

    def sync(self) -> list[Serving]:
        """Pick up deployments switched outside this process; returns the new snapshots."""
        out = []
        for d in self.store.deployments():
            cur = self.live.get(d.name)
            if cur is not None and cur.model_id != d.model_id:
                out.append(self.swap(d.name, d.model_id))
        return out

    def predict(
        self, name: str, rows: Sequence[Any] | None = None, columns: Mapping[str, Any] | None = None
    ) -> Prediction:
        """Predict JSON ``rows`` or a columnar table with the model serving ``name`` now."""
        s = self.current(name)
        X = (
            rows_to_matrix(rows, s.feature_names)
            if rows is not None
            else columns_to_matrix(columns or {}, s.feature_names)
        )
        X = numeric_where_possible(X, s.feature_names)
        text = [] if X.dtype != object else _names_of(X, s.feature_names)
        if not text and not np.all(np.isfinite(X)):
            raise InvalidInputError("feature values must be finite numbers (no null, NaN or inf)")
        try:
            proba = np.asarray(s.predictor.predict_proba(X), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            if not text:
                raise
            raise InvalidInputError(
                f"the model could not take the text in column(s) {', '.join(text)}: {exc}; "
                "send numbers there"
            ) from None
        return Prediction(s, X, s.classes[np.argmax(proba, axis=1)], proba)


def numeric_where_possible(X: np.ndarray, names: list[str] | None) -> np.ndarray:
    """A columnar body's ``object`` matrix as floats when every value is a number (decimals and
    numeric text included, None as NaN); else with its text columns kept as text, for models
    that encode categories themselves. Values that are neither (lists, structs, bytes) are an
    error naming the column."""
    if X.dtype != object:
        return X
    out = X.copy()
    for j in range(X.shape[1]):
        col = X[:, j]
        try:
            out[:, j] = [np.nan if v is None else float(v) for v in col]
            continue
        except (TypeError, ValueError):
            pass
        bad = next((v for v in col if v is not None and not isinstance(v, str)), None)
        if bad is not None:
            name = names[j] if names else f"column {j}"
            raise InvalidInputError(
                f"column {name!r} holds {type(bad).__name__} values; send numbers "
                "(or text for a model that encodes categories itself)"
            )
    try:
        return out.astype(np.float64)
    except (TypeError, ValueError):
        return out


def _names_of(X: np.ndarray, names: list[str] | None) -> list[str]:
    """Names of the columns of an ``object`` matrix holding text."""
    return [
        names[j] if names else f"column {j}"
        for j in range(X.shape[1])
        if any(isinstance(v, str) for v in X[:, j])
    ]
