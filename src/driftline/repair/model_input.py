"""A window is a table all the way through: the one place where it becomes a model's input.

Contract:

* :func:`window_table` keeps the window as named columns (a bare 2-D array gets the reference
  signature's feature names, in order, as before);
* :func:`input_names` is the model's recorded input schema: the column names it was fitted on
  (scikit-learn ``feature_names_in_``, stored at registration) or else its training signature's
  feature columns (roles excluded) in signature order;
* :func:`model_matrix` puts exactly those columns, by name and in that order, into a matrix;
  a missing column is a :class:`SchemaMismatchError` naming it, extra columns (ids, the label,
  columns the model does not use) are ignored;
* :func:`named_input` hands an estimator fitted on a DataFrame a DataFrame with its fitted names
  (so scikit-learn sees the names it knows); a Pipeline with a ColumnTransformer gets the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.drift.tabular import (
    Columns,
    as_categorical,
    as_numeric,
    column_kind,
    to_columns,
)
from driftline.errors import DriftlineError, InvalidInputError, SchemaMismatchError


def window_table(data: Any, signature: Any = None) -> Columns:
    """``data`` as named columns; a 2-D array's columns are named after ``signature``'s
    features when the widths agree (else ``f0, f1, ...``). Feature columns take the kind they
    had in training: numbers stay numbers (a column that now holds text is a clear error),
    categories stay categories."""
    names = None
    if isinstance(data, np.ndarray) and data.ndim == 2 and signature is not None:
        feats = signature.feature_names
        names = feats if len(feats) == data.shape[1] else None
    cols = to_columns(data, names)
    for name, f in signature.features.items() if signature is not None else ():
        col = cols.get(name)
        if col is None or column_kind(col) == f.kind:
            continue
        if f.kind == "categorical":
            cols[name] = as_categorical(col)
            continue
        try:
            cols[name] = as_numeric(col, name)
        except InvalidInputError:
            bad = next(v for v in col if v is not None and not _is_number(v))
            raise InvalidInputError(
                f"column {name!r} held numbers in the training data but this data holds {bad!r}: "
                "its type changed; fix the data (or retrain with the new type)"
            ) from None
    return cols


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def input_names(model: Any, signature: Any = None) -> list[str] | None:
    """The model's input columns, in its order (see module docstring); None if unknown."""
    fitted = (getattr(model, "architecture", None) or {}).get("feature_names_in")
    if fitted:
        return [str(n) for n in fitted]
    return list(signature.feature_names) if signature is not None else None


def model_matrix(data: Any, names: list[str] | None) -> np.ndarray:
    """The matrix of ``names`` taken from ``data`` by name (a 2-D array passes through).

    Numeric columns are floats and boolean ones 0/1 (NaN for missing). A column of text (a
    model that encodes categories itself, e.g. a scikit-learn Pipeline fitted on a DataFrame)
    makes the matrix an ``object`` array of floats, strings and None, which
    :func:`named_input` hands to the estimator as a DataFrame with its fitted names.
    Raises :class:`SchemaMismatchError` for missing columns (naming them)."""
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise InvalidInputError(f"expected a 2-D array of rows, got shape {data.shape}")
        if names is not None and data.shape[1] != len(names):
            raise SchemaMismatchError(
                f"the model takes {len(names)} columns ({', '.join(names[:5])}...) but the array "
                f"has {data.shape[1]}; pass a table with named columns"
            )
        return data if data.dtype == object else data.astype(np.float64, copy=False)
    cols = data if _is_columns(data) else to_columns(data)
    names = list(names) if names is not None else list(cols)
    missing = [n for n in names if n not in cols]
    if missing:
        raise SchemaMismatchError(
            f"the data lacks the model's feature column(s) {', '.join(missing[:8])}; "
            f"it has {', '.join(list(cols)[:12])}"
        )
    parts = [_model_column(cols[n]) for n in names]
    rows = len(cols[names[0]]) if names else 0
    dtype = object if any(p.dtype == object for p in parts) else np.float64
    out = np.empty((rows, len(names)), dtype=dtype)
    for j, p in enumerate(parts):
        out[:, j] = p
    return out


def _model_column(col: np.ndarray) -> np.ndarray:
    """A float column as it is; ``"True"/"False"`` categories as 1.0 / 0.0; text unchanged."""
    if col.dtype.kind == "f":
        return col
    values = {v for v in col if v is not None}
    if values <= {"True", "False"}:
        return np.array([np.nan if v is None else float(v == "True") for v in col])
    return col


def _is_columns(data: Any) -> bool:
    return isinstance(data, dict) and all(
        isinstance(v, np.ndarray) and v.ndim == 1 for v in data.values()
    )


def named_input(estimator: Any, X: Any) -> Any:
    """``X`` for ``estimator``: a pandas DataFrame with its ``feature_names_in_`` when it was
    fitted on named columns and ``X`` is a matrix of that width; otherwise ``X`` unchanged."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != len(names):
        return X
    import pandas as pd

    df = pd.DataFrame(X, columns=[str(n) for n in names], copy=False)
    return df.infer_objects() if X.dtype == object else df


def window_signature(table: Columns, reference: Any) -> Any:
    """The signature of a window with the reference's column roles (for a repaired model's
    training signature); role columns absent from the window are left out, except the target:
    a window has no label column, and without the name a later repair of the repaired model
    could not find the label column of its validation file."""
    from driftline.drift import Signature
    from driftline.drift.roles import RoleAssignment

    sig = Signature(max_categories=getattr(reference, "max_categories", 256))
    decisions = {
        c: d for c, d in getattr(reference, "roles", {}).items() if c in table or d.role == "target"
    }
    sig.set_roles(RoleAssignment([c for c in table if c not in decisions], decisions))
    sig.update(table)
    return sig


def table_embedding(pool: Any, signature: Any) -> np.ndarray | None:
    """Every feature column of a named pool as numbers, for distances (active learning's
    diversity and cold-start steps); None for a bare array (it is used as it is).

    Numeric (and datetime) features: ``z = (x − mean) / std`` with the training signature's
    moments, missing -> 0 plus a missing indicator; categorical (and boolean, string)
    features: one-hot over the signature's categories plus one "unseen" cell, scaled by
    ``1/√2`` so that changing a category moves a point by 1, like one standard deviation.
    """
    if isinstance(pool, np.ndarray) or signature is None or not signature.features:
        return None
    from driftline.drift.signature import OTHER, NumericSummary
    from driftline.drift.tabular import as_categorical, as_numeric

    cols = window_table(pool, signature)
    blocks: list[np.ndarray] = []
    for name, summary in signature.features.items():
        if name not in cols:
            continue
        if isinstance(summary, NumericSummary):
            x = as_numeric(cols[name], name)
            sd = summary.std if summary.std == summary.std and summary.std > 0 else 1.0
            miss = ~np.isfinite(x)
            blocks.append(np.where(miss, 0.0, (x - summary.mean) / sd))
            blocks.append(miss.astype(np.float64))
            continue
        labels = [k for k in summary.counts if k != OTHER]
        pos = {k: j for j, k in enumerate(labels)}
        onehot = np.zeros((len(cols[name]), len(labels) + 1))
        for i, v in enumerate(as_categorical(cols[name])):
            if v is not None:
                onehot[i, pos.get(v, len(labels))] = 1.0 / np.sqrt(2.0)
        blocks.extend(onehot.T)
    return np.column_stack(blocks) if blocks else None


def check_missing_inputs(estimator: Any, X: Any) -> None:
    """Raise :class:`InvalidInputError` naming the input columns with missing values when the
    estimator cannot take them (scikit-learn's ``allow_nan`` tag), instead of its traceback."""
    try:
        from sklearn.utils import get_tags

        allow = bool(get_tags(estimator).input_tags.allow_nan)
    except (ImportError, AttributeError, TypeError, ValueError):
        return
    if allow:
        return
    arr = np.asarray(X)
    if arr.dtype == object:
        miss = (
            np.vectorize(lambda v: v is None or (isinstance(v, float) and v != v), otypes=[bool])(
                arr
            )
            if arr.size
            else np.zeros(arr.shape, bool)
        )
    else:
        miss = ~np.isfinite(arr)
    if not miss.any():
        return
    names = [str(n) for n in getattr(estimator, "feature_names_in_", [])] or [
        f"f{j}" for j in range(arr.shape[1])
    ]
    per_col = miss.sum(axis=0)
    bad = [f"{names[j]} ({int(c)} rows)" for j, c in enumerate(per_col) if c]
    raise InvalidInputError(
        f"missing values in the model's input column(s) {', '.join(bad[:8])}, and "
        f"{type(estimator).__name__} cannot take missing values: impute them (e.g. a "
        "Pipeline with SimpleImputer) or drop those rows"
    )


def preflight(store: Any, model: Any, family: Any, X: Any) -> None:
    """Before anything is stored: a scikit-learn model that cannot take missing values gets
    none (:func:`check_missing_inputs` on the window it is about to be repaired for)."""
    if getattr(model, "framework", None) != "sklearn" or X is None:
        return
    from driftline.repair.evaluation import family_for

    build = getattr(family_for(model, family), "estimator", None)
    if build is not None:
        check_missing_inputs(build(store.load(model.id)), X)


def check_label_vocabulary(store: Any, model: Any, family: Any, X: Any, y: Any) -> None:
    """Before anything is stored: validation labels of which not one is a class ``model``
    predicts are labels of another vocabulary (names for a model file that records only
    class indices, or the reverse), not drift; say how to give them."""
    from driftline.repair.routed_model import load_predictor

    if X is None or not len(y):
        return
    try:
        found = load_predictor(store, model, family).classes
    except DriftlineError:  # no family to predict with: the pipeline says so itself
        return
    if found is None:  # a regressor
        return
    classes = np.asarray(found)
    labels = list(dict.fromkeys(np.asarray(y).tolist()))
    if set(labels) & set(classes.tolist()):  # Python equality: 1.0 is the class 1
        return
    hint = "give the labels the model was trained on"
    if classes.dtype.kind in "iu" and classes.tolist() == list(range(len(classes))):
        hint = (
            "its file records no label names: give the labels as class indices "
            f"0..{len(classes) - 1} in the model's order, or register the fitted estimator "
            "from Python (e.g. LGBMClassifier) so its classes are recorded"
        )
    raise InvalidInputError(
        f"none of the validation labels ({', '.join(map(str, labels[:5]))}) is a class "
        f"{model.ref} predicts ({', '.join(str(c) for c in classes[:10].tolist())}); {hint}"
    )
