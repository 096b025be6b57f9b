"""Routed models (the mixture itself): lineage members mixed per input by their training data's likelihood.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from driftline.drift.likelihood import DEFAULT_BINS, DEFAULT_FLOOR, log_likelihood
from driftline.drift.signature import Signature
from driftline.drift.tabular import to_columns
from driftline.errors import InvalidInputError, SchemaMismatchError, UnknownReferenceError
from driftline.repair.evaluation import as_matrix
from driftline.repair.families import Predictor
from driftline.repair.gates import (
    regime_mix,
    route_proba,
    routing_id,
    routing_weights,
)
from driftline.store import Model, Store

__all__ = [
    "FRAMEWORK",
    "ID_LEN",
    "KIND",
    "LEGACY_LIKELIHOOD",
    "LIKELIHOOD",
    "BoundModel",
    "MemberPredictor",
    "RoutedModel",
    "class_indices",
    "member_loglik",
    "resolve_members",
    "training_signature",
]

FRAMEWORK = "routed"
KIND = "routed"
LIKELIHOOD = "signature-marginals-atoms"  # see driftline.drift.likelihood (atoms)
#: routed models stored before atoms were added: their likelihood ignores point masses
LEGACY_LIKELIHOOD = "signature-marginals"
ID_LEN = 64


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
        self.settings = {
            "bins": DEFAULT_BINS,
            "floor": DEFAULT_FLOOR,
            "likelihood": LIKELIHOOD,
            **dict(self.settings),
        }
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
        """The input columns: the first member's (its fitted names, else its signature's)."""
        names = getattr(self.members[0], "feature_names", None)
        return list(names) if names else self.signatures[0].feature_names

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
            "likelihood": str(self.settings["likelihood"]),
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
            self.signatures,
            X,
            names=self.feature_names,
            bins=self.settings["bins"],
            floor=self.settings["floor"],
            atoms=self.settings["likelihood"] != LEGACY_LIKELIHOOD,
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
        if any(len(i) != ID_LEN for i in self.member_ids):
            raise InvalidInputError("member ids must be 64-character model ids to be stored.")
        settings = self.identity_settings()
        settings.pop("temperature")
        text = json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()
        return {
            "route.members": np.frombuffer(ids, dtype=np.uint8).reshape(-1, ID_LEN).copy(),
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
    names: Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
    atoms: bool = True,
) -> np.ndarray:
    """Stack of ``log_likelihood(signature_i, X)`` (members × n); ``X`` converted once.

    ``names`` are the model's input columns: they name a matrix ``X``'s columns, and only the
    signature features among them are summed (a label column summarised as a feature in
    training, which a served window lacks, is left out). Without ``names`` a matrix's columns
    are the first signature's features and every feature counts."""
    matrix_names = signatures[0].feature_names if names is None else list(names)
    cols = to_columns(X, matrix_names if isinstance(X, np.ndarray) else None)
    return np.stack(
        [
            log_likelihood(
                s,
                cols,
                features=None if names is None else _consumed(s, names),
                bins=bins,
                floor=floor,
                atoms=atoms,
            )
            for s in signatures
        ]
    )


def _consumed(signature: Signature, names: Sequence[str]) -> list[str]:
    """The signature's features the model consumes; an error when there are none."""
    used = [f for f in signature.feature_names if f in set(names)]
    if not used:
        raise SchemaMismatchError(
            f"the training signature's features {signature.feature_names[:5]} share no column "
            f"with the model's inputs {list(names)[:5]}; register the training data the model "
            "was fitted on"
        )
    return used


def class_indices(y: Any, classes: np.ndarray) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(classes.tolist())}
    yy = np.asarray(y).tolist()
    bad = sorted({v for v in yy if v not in lookup}, key=str)
    if bad:
        raise InvalidInputError(
            f"validation labels {bad[:5]} are not among the members' classes {classes.tolist()[:10]}"
        )
    return np.array([lookup[v] for v in yy], dtype=np.int64)


def training_signature(store: Store, mid: str) -> Signature:
    """The training signature of member ``mid`` (routing needs every member's)."""
    try:
        return store.signature(mid)
    except UnknownReferenceError as exc:
        raise UnknownReferenceError(
            f"{exc}; routing needs every member's training signature"
        ) from exc


def resolve_members(store: Store, refs: Sequence[str | Model], what: str) -> list[str]:
    """Distinct member ids of ``refs`` in order; ``what`` names the caller in the error."""
    ids: list[str] = []
    for r in refs:
        mid = store.resolve(r)
        if mid not in ids:
            ids.append(mid)
    if not ids:
        raise InvalidInputError(f"{what} needs at least one member.")
    return ids
