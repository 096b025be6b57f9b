"""Routed models in the store: :func:`build_routed` fits one (EM priors on the window,
temperature on validation labels), :func:`register_routed` stores it as a lineage node and
:func:`load_predictor` rebuilds plain and routed models alike, recursively.

The mixture itself (formulas, tensor encoding) is :mod:`driftline.repair.routed_mixture`; member
choice and the regime mix are :mod:`driftline.repair.routed_members` (both re-exported here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.drift.likelihood import DEFAULT_BINS, DEFAULT_FLOOR
from driftline.drift.signature import Signature
from driftline.errors import InvalidInputError
from driftline.jsonutil import jsonable
from driftline.params import ModelParams
from driftline.repair.evaluation import Families, classes_of, family_for
from driftline.repair.families import Predictor
from driftline.repair.gates import (
    calibrate_temperature,
    em_priors,
)
from driftline.repair.routed_members import choose_members, regime_mix_report
from driftline.repair.routed_mixture import (
    FRAMEWORK,
    ID_LEN,
    KIND,
    LEGACY_LIKELIHOOD,
    BoundModel,
    MemberPredictor,
    RoutedModel,
    class_indices,
    member_loglik,
    resolve_members,
    training_signature,
)
from driftline.store import Model, Store

__all__ = [
    "BoundModel",
    "MemberPredictor",
    "RoutedModel",
    "build_routed",
    "choose_members",
    "load_predictor",
    "member_loglik",
    "predict_proba",
    "regime_mix_report",
    "register_routed",
]

# ----------------------------------------------------------------------------- building


def _given_log_priors(priors: Sequence[float] | np.ndarray, m: int) -> np.ndarray:
    """ln of ``priors`` normalised; m non-negative finite numbers, not all 0."""
    p = np.asarray(priors, dtype=np.float64).reshape(-1)
    if p.shape != (m,) or np.any(p < 0) or not np.all(np.isfinite(p)) or p.sum() <= 0:
        raise InvalidInputError(f"priors must be {m} non-negative numbers, not all 0.")
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(p / p.sum()))


def build_routed(
    store: Store,
    member_refs: Sequence[str | Model],
    window: Any = None,
    validation: tuple[Any, Any] | None = None,
    *,
    family: Predictor | Families | None = None,
    temperature: float | None = None,
    priors: Sequence[float] | np.ndarray | None = None,
    fit_priors: bool = False,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
) -> RoutedModel:
    """A routed model over stored members (plain or routed), calibrated for today's data.

    * priors: given ``priors``; else EM mixture proportions of the members' training
      distributions on ``window`` (:func:`~driftline.repair.gates.em_priors`, T = 1); else
      uniform.
    * temperature: given ``temperature``; else, with ``validation = (X, y)``, the ``T``
      minimising the routed validation log-loss at those priors
      (:func:`~driftline.repair.gates.calibrate_temperature`; with ``fit_priors`` the priors are
      then fitted to the labels too, starting from EM on the validation rows); else ``T = 1``.

    Members must be distinct, share one input schema and one label set (columns are aligned
    to the first member's class order). Raises UnknownReferenceError for a member without a
    training signature.
    """
    memo: dict[str, Any] = {}
    ids = resolve_members(store, member_refs, "build_routed")
    members: list[MemberPredictor] = [_load(store, mid, family, memo) for mid in ids]
    sigs = [training_signature(store, mid) for mid in ids]
    refs = [store.get(mid).ref for mid in ids]
    info: dict[str, Any] = {"calibration": "uniform"}
    lp = np.zeros(len(ids))
    if priors is not None:
        lp, info["calibration"] = _given_log_priors(priors, len(ids)), "given"
    settings = {"bins": bins, "floor": floor}
    draft = RoutedModel(ids, members, sigs, lp, 1.0, settings, refs, info)
    # from here on, everything is in the draft's canonical (id) member order
    ids, members, sigs, refs = draft.member_ids, draft.members, draft.signatures, draft.member_refs
    if priors is None and window is not None:
        ll_win = draft.loglik(window)
        info["n_window"] = int(ll_win.shape[1])
        if ll_win.shape[1]:
            with np.errstate(divide="ignore"):
                lp = np.log(em_priors(ll_win, 1.0))
            info["calibration"] = "window-em"
            draft = RoutedModel(ids, members, sigs, lp, 1.0, settings, refs, info)
    if temperature is not None:
        info["calibration"] += "+given-temperature"
        return RoutedModel(
            ids, members, sigs, draft.log_priors, float(temperature), settings, refs, info
        )
    if validation is None:
        return draft
    return _calibrated(draft, validation, fit_priors, keep_priors=priors is not None)


def _calibrated(
    draft: RoutedModel, validation: tuple[Any, Any], fit_priors: bool, *, keep_priors: bool
) -> RoutedModel:
    """``draft`` with T (and, with ``fit_priors`` unless the priors were given) fitted to
    validation labels."""
    X_val, y_val = validation
    y_idx = class_indices(y_val, draft.classes)
    cal = calibrate_temperature(
        draft.loglik(X_val),
        draft.member_probas(X_val),
        y_idx,
        priors=None if (fit_priors and not keep_priors) else draft.priors,
        n_features=len(draft.feature_names),
        fit_priors=fit_priors,
    )
    with np.errstate(divide="ignore"):
        lp = np.log(np.asarray(cal.priors, dtype=np.float64))
    info = draft.info
    info.update(
        calibration=info["calibration"] + "+validation",
        n_validation=len(y_idx),
        validation_log_loss=float(cal.score),
        fit_priors=bool(fit_priors),
    )
    return RoutedModel(
        draft.member_ids,
        draft.members,
        draft.signatures,
        lp,
        float(cal.temperature),
        draft.settings,
        draft.member_refs,
        info,
    )


# ----------------------------------------------------------------------------- the store


def _arch_value(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def register_routed(
    store: Store,
    routed: RoutedModel,
    *,
    name: str,
    metrics: Mapping[str, Any] | None = None,
    edge_metrics: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Model:
    """Register ``routed`` as a composite lineage node (idempotent: same members and settings,
    same node). ``route`` edges go from every member (edge params: temperature, member count,
    routing id and ``params``); the node's training signature is the merge of the members'."""
    tensors = routed.to_params()
    arch = {
        "_kind": KIND,
        "members": list(routed.member_ids),
        "member_refs": list(routed.member_refs),
        "priors": [float(p) for p in routed.priors],
        "temperature": _arch_value(routed.temperature),
        "settings": routed.identity_settings(),
        "routing_id": routed.routing_id,
        "classes": routed.classes.tolist(),
        "feature_names": routed.feature_names,
        "info": jsonable(routed.info, keep_inf=True),
    }
    edge = {
        "temperature": _arch_value(routed.temperature),
        "members": len(routed.member_ids),
        "routing_id": routed.routing_id,
        **dict(params or {}),
    }
    return store.register(
        ModelParams(tensors, FRAMEWORK, arch),
        name=name,
        parents=list(routed.member_ids),
        transform="route",
        params=jsonable(edge, keep_inf=True),
        metrics=metrics,
        edge_metrics=edge_metrics,
        tags=tags,
        signature=Signature.merge_all(routed.signatures),
    )


def is_routed(model: Model) -> bool:
    return model.kind == KIND or model.framework == FRAMEWORK


def load_predictor(
    store: Store, ref: str | Model, family: Predictor | Families | None = None
) -> BoundModel | RoutedModel:
    """A predictor for any stored model: plain models through :func:`family_for` (``family``
    as for the repair pipeline), routed nodes rebuilt from their tensors, member signatures and
    member predictors (recursively). Both have ``classes`` and ``predict_proba(X)``."""
    return _load(store, store.resolve(ref), family, {})


def predict_proba(
    store: Store, ref: str | Model, X: Any, family: Predictor | Families | None = None
) -> np.ndarray:
    """``load_predictor(store, ref, family).predict_proba(X)``."""
    return load_predictor(store, ref, family).predict_proba(X)


def _load(
    store: Store, mid: str, family: Predictor | Families | None, memo: dict[str, Any]
) -> BoundModel | RoutedModel:
    if mid in memo:
        return memo[mid]
    model = store.get(mid)
    params = store.load(mid)
    if is_routed(model):
        out: BoundModel | RoutedModel = _load_routed(store, model, params, family, memo)
    elif model.framework == "blend":  # output-space repair (driftline.repair.output_space)
        from driftline.repair.output_space import load_blend

        out = load_blend(
            model,
            params,
            lambda i: _load(store, i, family, memo),  # type: ignore[assignment]
            lambda i: training_signature(store, i),
        )
    else:
        fam = family_for(model, family)
        from driftline.repair.model_input import input_names

        sig = store.signature(model.signature_id) if model.signature_id is not None else None
        names = input_names(model, sig)
        if getattr(fam, "task", "classifier") == "regressor":
            from driftline.repair.output_space import RegressorModel

            memo[mid] = RegressorModel(model.id, model.ref, fam, params, names)
            return memo[mid]
        n_cols = _n_columns(fam, params, names)
        out = BoundModel(model.id, model.ref, fam, params, classes_of(fam, n_cols), names)
    memo[mid] = out
    return out


def _n_columns(fam: Predictor, params: dict[str, np.ndarray], names: list[str] | None) -> int:
    classes = getattr(fam, "classes", None)
    if classes is not None:
        return len(classes)
    if names is None:
        raise InvalidInputError(
            "cannot tell the model's classes: give the family classes=... or attach a signature"
        )
    probe = np.zeros((1, len(names)))
    return int(np.asarray(fam.predict_proba(params, probe)).shape[1])


def _load_routed(
    store: Store,
    model: Model,
    params: dict[str, np.ndarray],
    family: Predictor | Families | None,
    memo: dict[str, Any],
) -> RoutedModel:
    try:
        ids = [bytes(row).decode("ascii") for row in params["route.members"].reshape(-1, ID_LEN)]
        settings = json.loads(bytes(params["route.settings"]).decode())
        log_priors = params["route.log_priors"].astype(np.float64)
        t = float(params["route.temperature"])
    except (KeyError, ValueError) as exc:
        raise InvalidInputError(f"{model.ref} is not a valid routed model: {exc}") from exc
    sig_ids = settings.get("signatures") or []
    if len(sig_ids) != len(ids):
        raise InvalidInputError(f"{model.ref}: routed settings lack member signature ids")
    members: list[MemberPredictor] = [_load(store, i, family, memo) for i in ids]
    sigs = [store.signature(s) for s in sig_ids]
    refs = [getattr(mb, "ref", None) or i[:12] for mb, i in zip(members, ids, strict=True)]
    routed = RoutedModel(
        ids,
        members,
        sigs,
        log_priors,
        t,
        {
            "bins": int(settings["bins"]),
            "floor": float(settings["floor"]),
            "likelihood": str(settings.get("likelihood", LEGACY_LIKELIHOOD)),
        },
        refs,
        dict(model.architecture.get("info") or {}),
        model.id,
        model.ref,
    )
    return routed
