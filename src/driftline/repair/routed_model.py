"""Routed models: lineage members mixed per input by their training data's likelihood.

A :class:`RoutedModel` holds members ``i = 1..m`` (stored models, possibly routed themselves),
each with its training :class:`~driftline.drift.Signature`. For an input ``x``

    ℓ_i(x)  = log_likelihood(signature_i, x)                     (sum over features)
    w_i(x)  = prior_i · exp(ℓ_i(x) / T) / Σ_j prior_j · exp(ℓ_j(x) / T)
    p(y|x)  = Σ_i w_i(x) · p_i(y|x)

(:func:`driftline.repair.gates.routing_weights` / ``route_proba``). Priors come from EM on
the current window (mixture proportions, no labels) and ``T`` is 1 without labels (the gates are
then the Bayes posterior of the lineage mixture) or calibrated on validation labels.

A routed model is a lineage node (:func:`register_routed`): its tensors encode the routing

    route.members      uint8 (m, 64)   member ids (ASCII hex), in id order
    route.log_priors   float64 (m,)    ln prior_i
    route.temperature  float64 ()      T
    route.settings     uint8 (k,)      canonical JSON: likelihood bins/floor, signature ids

so its Merkle id is a hash of the member ids and the routing settings; framework ``"routed"``,
kind ``"routed"``, one ``route`` edge from every member, and as training signature the merge of
its members' signatures (so it can itself be monitored, searched and routed).
:func:`load_predictor` rebuilds plain and routed models alike, recursively.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from driftline.drift.likelihood import DEFAULT_BINS, DEFAULT_FLOOR, log_likelihood
from driftline.drift.signature import Signature
from driftline.drift.tabular import to_columns
from driftline.errors import InvalidInputError, SchemaMismatchError, UnknownReferenceError
from driftline.jsonutil import jsonable
from driftline.params import ModelParams
from driftline.repair.evaluation import Families, as_matrix, classes_of, family_for
from driftline.repair.families import Predictor
from driftline.repair.gates import (
    calibrate_temperature,
    em_priors,
    regime_mix,
    route_proba,
    routing_id,
    routing_weights,
)
from driftline.store import Model, Store

__all__ = [
    "BoundModel",
    "MemberPredictor",
    "RoutedModel",
    "build_routed",
    "choose_members",
    "load_predictor",
    "predict_proba",
    "regime_mix_report",
    "register_routed",
]

FRAMEWORK = "routed"
KIND = "routed"
LIKELIHOOD = "signature-marginals"
_ID_LEN = 64


class MemberPredictor(Protocol):
    """What a routed model needs from a member: class labels and ``predict_proba(X)``."""

    classes: np.ndarray

    def predict_proba(self, X: Any) -> np.ndarray: ...


# ----------------------------------------------------------------------------- plain models


@dataclass
class BoundModel:
    """A stored (non-routed) model bound to its family: ``predict_proba(X) =
    family.predict_proba(params, X)`` with ``X``'s columns put in ``feature_names`` order."""

    id: str
    ref: str
    family: Predictor
    params: dict[str, np.ndarray]
    classes: np.ndarray
    feature_names: list[str] | None = None

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(
            self.family.predict_proba(self.params, as_matrix(X, self.feature_names)),
            dtype=np.float64,
        )

    def predict(self, X: Any) -> np.ndarray:
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]


# ----------------------------------------------------------------------------- routed models


@dataclass
class RoutedModel:
    """Per-input mixture of lineage members (see the module docstring for the formulas).

    Members are kept in id order (the canonical order, so identical routings predict
    bit-identically however they were built). ``log_priors`` is the stored quantity; ``priors``
    is ``exp(log_priors)`` normalised. ``classes`` are the output columns (the first member's
    order); every member's columns are permuted to it. ``settings`` holds the likelihood's
    ``bins`` and ``floor``; ``info`` is provenance (calibration, window size) that does not
    affect predictions or identity.
    """

    member_ids: list[str]
    members: list[MemberPredictor]
    signatures: list[Signature]
    log_priors: np.ndarray
    temperature: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)
    member_refs: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    ref: str | None = None
    classes: np.ndarray = field(init=False)
    _columns: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m = len(self.member_ids)
        if m == 0:
            raise InvalidInputError("a routed model needs at least one member.")
        if not (len(self.members) == len(self.signatures) == m):
            raise InvalidInputError("member ids, members and signatures must align one to one.")
        if len(set(self.member_ids)) != m:
            raise InvalidInputError("member ids must be distinct.")
        lp = np.asarray(self.log_priors, dtype=np.float64).reshape(-1)
        if lp.shape != (m,) or np.any(np.isnan(lp)) or np.any(lp == np.inf):
            raise InvalidInputError(f"log_priors must be {m} numbers < +inf.")
        if not np.any(np.isfinite(lp)):
            raise InvalidInputError("every prior is zero; give one member a positive prior.")
        t = float(self.temperature)
        if math.isnan(t) or t < 0:
            raise InvalidInputError(f"temperature must be >= 0, got {t}.")
        refs = list(self.member_refs) or [i[:12] for i in self.member_ids]
        if len(refs) != m:
            raise InvalidInputError("member_refs must have one entry per member.")
        order = sorted(range(m), key=lambda i: self.member_ids[i])
        self.member_ids = [str(self.member_ids[i]) for i in order]
        self.members = [self.members[i] for i in order]
        self.signatures = [self.signatures[i] for i in order]
        self.member_refs = [refs[i] for i in order]
        self.log_priors = lp[order]
        self.temperature = t
        self.settings = {"bins": DEFAULT_BINS, "floor": DEFAULT_FLOOR, **dict(self.settings)}
        names = self.signatures[0].feature_names
        for ref, sig in zip(self.member_refs, self.signatures, strict=True):
            if sig.feature_names != names:
                raise SchemaMismatchError(
                    f"member {ref} was trained on features {sig.feature_names[:5]}..., the first "
                    f"member on {names[:5]}...; route only between models of one input schema"
                )
        self.classes, self._columns = _align_classes(self.members, self.member_refs)

    # -- derived ---------------------------------------------------------------------------
    @property
    def priors(self) -> np.ndarray:
        """``exp(log_priors)`` normalised to sum to one."""
        p = np.exp(self.log_priors - np.max(self.log_priors))
        return p / p.sum()

    @property
    def feature_names(self) -> list[str]:
        return self.signatures[0].feature_names

    @property
    def families(self) -> list[Predictor | None]:
        """Each member's family (None for routed members)."""
        return [getattr(mb, "family", None) for mb in self.members]

    @property
    def params(self) -> list[dict[str, np.ndarray] | None]:
        """Each member's parameters (None for routed members)."""
        return [getattr(mb, "params", None) for mb in self.members]

    @property
    def signature_ids(self) -> list[str]:
        return [s.id for s in self.signatures]

    @property
    def routing_id(self) -> str:
        """:func:`~driftline.repair.gates.routing_id` of members, priors and settings."""
        return routing_id(self.member_ids, self.identity_settings(with_priors=True))

    def identity_settings(self, *, with_priors: bool = False) -> dict[str, Any]:
        """What (besides member ids) determines the predictions: likelihood settings, signature
        ids, temperature (and priors when asked)."""
        t = self.temperature
        out: dict[str, Any] = {
            "likelihood": LIKELIHOOD,
            "bins": int(self.settings["bins"]),
            "floor": float(self.settings["floor"]),
            "signatures": self.signature_ids,
            "temperature": t if math.isfinite(t) else "inf",
        }
        if with_priors:
            out["priors"] = [float(x) for x in self.log_priors]
        return out

    # -- predictions -------------------------------------------------------------------------
    def loglik(self, X: Any) -> np.ndarray:
        """``ℓ_i(x)`` for every member and row (members × n)."""
        return member_loglik(
            self.signatures, X, bins=self.settings["bins"], floor=self.settings["floor"]
        )

    def weights(self, X: Any) -> np.ndarray:
        """Routing gates ``w_i(x)`` (members × n); every column sums to one."""
        return routing_weights(self.loglik(X), self.priors, self.temperature)

    def member_probas(self, X: Any) -> list[np.ndarray]:
        """Each member's probabilities with columns in :attr:`classes` order."""
        return [
            mb.predict_proba(X)[:, cols]
            for mb, cols in zip(self.members, self._columns, strict=True)
        ]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``Σ_i w_i(x) p_i(y|x)`` (n × classes)."""
        return route_proba(self.member_probas(X), self.weights(X))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]

    def regime_mix(self, X: Any) -> dict[str, float]:
        """Share of rows whose likelihood is highest under each member's training data
        (``ref -> share``; priors not applied)."""
        mix = regime_mix(self.loglik(X))
        return {r: float(s) for r, s in zip(self.member_refs, mix, strict=True)}

    # -- storage -------------------------------------------------------------------------------
    def to_params(self) -> dict[str, np.ndarray]:
        """The stored tensors (see the module docstring)."""
        ids = "".join(self.member_ids).encode("ascii")
        if any(len(i) != _ID_LEN for i in self.member_ids):
            raise InvalidInputError("member ids must be 64-character model ids to be stored.")
        settings = self.identity_settings()
        settings.pop("temperature")
        text = json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()
        return {
            "route.members": np.frombuffer(ids, dtype=np.uint8).reshape(-1, _ID_LEN).copy(),
            "route.log_priors": np.asarray(self.log_priors, dtype=np.float64).copy(),
            "route.temperature": np.asarray(self.temperature, dtype=np.float64),
            "route.settings": np.frombuffer(text, dtype=np.uint8).copy(),
        }


def _align_classes(
    members: Sequence[MemberPredictor], refs: Sequence[str]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The common class labels (first member's order) and each member's column permutation."""
    base = np.asarray(members[0].classes)
    cols = []
    for ref, mb in zip(refs, members, strict=True):
        c = np.asarray(mb.classes)
        pos = {v: i for i, v in enumerate(c.tolist())}
        if len(pos) != len(c) or set(pos) != set(base.tolist()) or len(c) != len(base):
            raise InvalidInputError(
                f"member {ref} predicts classes {c.tolist()[:10]} but {refs[0]} predicts "
                f"{base.tolist()[:10]}; routed members must share one label set"
            )
        cols.append(np.array([pos[v] for v in base.tolist()], dtype=np.intp))
    return base, cols


def member_loglik(
    signatures: Sequence[Signature],
    X: Any,
    *,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
) -> np.ndarray:
    """Stack of ``log_likelihood(signature_i, X)`` (members × n); ``X`` converted once."""
    names = signatures[0].feature_names
    cols = to_columns(X, names if isinstance(X, np.ndarray) else None)
    return np.stack([log_likelihood(s, cols, bins=bins, floor=floor) for s in signatures])


def _class_indices(y: Any, classes: np.ndarray) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(classes.tolist())}
    yy = np.asarray(y).tolist()
    bad = sorted({v for v in yy if v not in lookup}, key=str)
    if bad:
        raise InvalidInputError(
            f"validation labels {bad[:5]} are not among the members' classes {classes.tolist()[:10]}"
        )
    return np.array([lookup[v] for v in yy], dtype=np.int64)


# ----------------------------------------------------------------------------- building


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
    ids: list[str] = []
    for r in member_refs:
        mid = store.resolve(r)
        if mid not in ids:
            ids.append(mid)
    if not ids:
        raise InvalidInputError("build_routed needs at least one member reference.")
    members = [_load(store, mid, family, memo) for mid in ids]
    sigs = [_training_signature(store, mid) for mid in ids]
    refs = [store.get(mid).ref for mid in ids]
    info: dict[str, Any] = {"calibration": "uniform"}
    lp = np.zeros(len(ids))
    if priors is not None:
        p = np.asarray(priors, dtype=np.float64).reshape(-1)
        if p.shape != (len(ids),) or np.any(p < 0) or not np.all(np.isfinite(p)) or p.sum() <= 0:
            raise InvalidInputError(f"priors must be {len(ids)} non-negative numbers, not all 0.")
        with np.errstate(divide="ignore"):
            lp = np.log(p / p.sum())
        info["calibration"] = "given"
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
    X_val, y_val = validation
    y_idx = _class_indices(y_val, draft.classes)
    fixed = None if (fit_priors and priors is None) else draft.priors
    cal = calibrate_temperature(
        draft.loglik(X_val),
        draft.member_probas(X_val),
        y_idx,
        priors=fixed,
        n_features=len(draft.feature_names),
        fit_priors=fit_priors,
    )
    with np.errstate(divide="ignore"):
        lp = np.log(np.asarray(cal.priors, dtype=np.float64))
    info.update(
        calibration=info["calibration"] + "+validation",
        n_validation=len(y_idx),
        validation_log_loss=float(cal.score),
        fit_priors=bool(fit_priors),
    )
    return RoutedModel(ids, members, sigs, lp, float(cal.temperature), settings, refs, info)


def _training_signature(store: Store, mid: str) -> Signature:
    try:
        return store.signature(mid)
    except UnknownReferenceError as exc:
        raise UnknownReferenceError(
            f"{exc}; routing needs every member's training signature"
        ) from exc


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
            lambda i: _training_signature(store, i),
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
        ids = [bytes(row).decode("ascii") for row in params["route.members"].reshape(-1, _ID_LEN)]
        settings = json.loads(bytes(params["route.settings"]).decode())
        log_priors = params["route.log_priors"].astype(np.float64)
        t = float(params["route.temperature"])
    except (KeyError, ValueError) as exc:
        raise InvalidInputError(f"{model.ref} is not a valid routed model: {exc}") from exc
    sig_ids = settings.get("signatures") or []
    if len(sig_ids) != len(ids):
        raise InvalidInputError(f"{model.ref}: routed settings lack member signature ids")
    members = [_load(store, i, family, memo) for i in ids]
    sigs = [store.signature(s) for s in sig_ids]
    refs = [mb.ref or i[:12] for mb, i in zip(members, ids, strict=True)]
    routed = RoutedModel(
        ids,
        members,
        sigs,
        log_priors,
        t,
        {"bins": int(settings["bins"]), "floor": float(settings["floor"])},
        refs,
        dict(model.architecture.get("info") or {}),
        model.id,
        model.ref,
    )
    return routed


# ----------------------------------------------------------------------------- lineage helpers


def _row_get(row: Any, key: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(key, default)
    return getattr(row, key, default)


def choose_members(
    store: Store,
    drifted_id: str | Model,
    search_rows: Any,
    repaired_id: str | Model | None = None,
    *,
    max_members: int = 3,
) -> list[str]:
    """Candidate members for routing: the drifted model, its healthy ancestors (nearest first;
    when none is healthy, the least drifted one), then the repaired model, deduplicated, at
    most ``max_members`` in the priority order drifted, nearest healthy (or least drifted)
    ancestor, repaired, further healthy ancestors.

    ``search_rows`` are the healthy-ancestor search's rows (``AncestorSearch``, its ``.rows``,
    or ``RepairResult.search["rows"]`` dicts); ancestors without a training signature are
    skipped.

    Pass ``repaired_id`` only for a repaired model whose signature describes its training data:
    the repair pipeline registers interpolated models with the *window* as their signature, and
    such a member explains every regime of a mixed window and absorbs its rows (digits, 70/30:
    routed accuracy 0.94 without it, 0.77 with it).
    """
    if max_members < 1:
        raise InvalidInputError("max_members must be >= 1")
    rows = (
        _row_get(search_rows, "rows", search_rows)
        if not isinstance(search_rows, list)
        else search_rows
    )
    rows = [r for r in (rows or []) if _row_get(r, "has_signature", True)]

    def key(r: Any) -> tuple[float, float]:
        drift = _row_get(r, "drift", {}) or {}
        share = _row_get(r, "drifted_share", math.inf)
        share = (
            math.inf
            if share is None or (isinstance(share, float) and math.isnan(share))
            else float(share)
        )
        psi = drift.get("psi", math.inf)
        return share, math.inf if psi is None or psi != psi else float(psi)

    healthy = sorted(
        (r for r in rows if _row_get(r, "healthy")),
        key=lambda r: (int(_row_get(r, "hops", 0)), *key(r)),
    )
    ancestors = [str(_row_get(r, "id")) for r in healthy] or [
        str(_row_get(r, "id"))
        for r in sorted(rows, key=lambda r: (*key(r), _row_get(r, "hops", 0)))[:1]
    ]
    repaired = [] if repaired_id is None else [store.resolve(repaired_id)]
    ranked = [store.resolve(drifted_id), *ancestors[:1], *repaired, *ancestors[1:]]
    out: list[str] = []
    for mid in ranked:
        if mid not in out:
            out.append(mid)
    return out[:max_members]


def regime_mix_report(
    store: Store,
    member_ids: Sequence[str | Model],
    window: Any,
    *,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
) -> dict[str, float]:
    """Regime mix of ``window``: for each member (``name@version``), its EM mixture proportion
    (:func:`em_priors` at T = 1: the mean posterior responsibility of the member, the maximum
    likelihood share of the window under the lineage mixture of training signatures). Counting
    the rows each member explains best under-reports a regime where members overlap (#12).
    Shares sum to one for a non-empty window."""
    ids: list[str] = []
    for r in member_ids:
        mid = store.resolve(r)
        if mid not in ids:
            ids.append(mid)
    if not ids:
        raise InvalidInputError("regime_mix_report needs at least one member.")
    sigs = [_training_signature(store, mid) for mid in ids]
    mix = em_priors(member_loglik(sigs, window, bins=bins, floor=floor), 1.0)
    return {store.get(mid).ref: float(s) for mid, s in zip(ids, mix, strict=True)}
