"""Active learning for a regressor's repair: ask for the labels the lineage disagrees on most.

Called by :func:`driftline.active.run_active_learning` when the drifted model is a regressor.
The committee is the lineage: the repaired model (if any), the drifted model, the chosen
ancestor and the drifted model's ancestors within ``hops`` hops (each predicting with its own
family, so trees, pipelines and linear models can sit in one committee). One round:

1. score every unasked pool row by committee variance ``v(x) = (1/m) Σ_i (ŷ_i(x) − ȳ(x))²``
   (:func:`driftline.active.regression.select_regression`, diversified by greedy k-center over
   the pool's table embedding when ``diversity``);
2. queue the top ``min(batch, budget − asked)`` rows with every member's prediction, the
   variance and the lineage disagreement (max − min);
3. a non-interactive oracle answers at once; otherwise the result is ``waiting-for-labels``.

Re-fitting a regressor on the collected labels is not part of this module: the labels are
used by repairing again with them as validation rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from driftline.active.oracles import Oracle
from driftline.active.queue import LabelQueue, point_hash
from driftline.active.records import attach_records
from driftline.active.regression import lineage_disagreement, select_regression
from driftline.active.settings import RefineSettings
from driftline.errors import UnsupportedModelError
from driftline.repair.evaluation import family_for
from driftline.repair.vector import Params
from driftline.statuses import LabelStatus, RefinementStatus
from driftline.store import Store

STRATEGY = "committee_variance"


@runtime_checkable
class _Regressor(Protocol):
    def predict(self, params: Params, X: np.ndarray) -> np.ndarray: ...


def regression_committee(
    store: Store, result: Any, X: np.ndarray, hops: int, limit: int
) -> list[tuple[str, str, np.ndarray]]:
    """``(role, ref, ŷ on X)`` of the lineage members that can predict on ``X``."""
    ids = [
        ("repaired", result.repaired_id),
        ("drifted", result.drifted_id),
        ("ancestor", result.ancestor_id),
    ]
    ids += [(f"ancestor-{r.hops}", r.id) for r in store.ancestors(result.drifted_id, max_hops=hops)]
    out: list[tuple[str, str, np.ndarray]] = []
    seen: set[str] = set()
    for role, mid in ids:
        if not mid or mid in seen or len(out) >= limit:
            continue
        seen.add(mid)
        node = store.get(mid)
        try:
            fam = family_for(node)
            if not isinstance(fam, _Regressor):
                continue
            pred = np.asarray(fam.predict(store.load(mid), X), np.float64).ravel()
        except (UnsupportedModelError, ValueError, KeyError):
            continue  # a composite (routed) node or a member of another shape
        if pred.shape == (len(X),) and np.all(np.isfinite(pred)):
            out.append((role, node.ref, pred))
    return out


def _request_info(
    members: list[tuple[str, str, np.ndarray]], sel: np.ndarray, model_id: str
) -> list[dict[str, Any]]:
    """Per chosen row: the first member's prediction, the committee variance and spread, and
    every member's prediction."""
    preds = [p for _, _, p in members]
    var = np.var(np.vstack(preds), axis=0)
    spread = lineage_disagreement(preds)
    _, first_ref, first = members[0]
    return [
        {
            "model_id": model_id,
            "ref": first_ref,
            "label": float(first[i]),
            "variance": float(var[i]),
            "disagreement": float(spread[i]),
            "members": [{"role": r, "ref": ref, "label": float(p[i])} for r, ref, p in members],
        }
        for i in sel
    ]


def queue_regression_round(
    store: Store,
    result: Any,
    pool: Any,
    X_pool: np.ndarray,
    X_div: np.ndarray,
    oracle: Oracle | None,
    settings: RefineSettings,
    say: Callable[[str], Any],
) -> dict[str, Any]:
    """Queue one round of requests (see module docstring); the fields of the loop's result.

    ``settings``: ``budget``, ``batch``, ``diversity``, ``committee_hops``, ``committee_size``
    and ``image_shape`` apply."""
    rid = int(result.repair_id)
    queue = LabelQueue(store)
    budget = settings.budget
    members = regression_committee(
        store, result, X_pool, settings.committee_hops, settings.committee_size
    )
    if len(members) < 2:
        return {
            "status": RefinementStatus.POOL_EXHAUSTED,
            "message": "fewer than two lineage members predict "
            "on this window: no committee to choose labels by",
        }
    counts = queue.counts(rid)
    used = counts[LabelStatus.PENDING] + counts[LabelStatus.LABELLED]
    asked = {r.point_hash for r in queue.requests(rid)}
    exclude = [i for i, row in enumerate(X_pool) if point_hash(row) in asked]
    k = min(settings.batch_size(used), budget - used)
    preds = [p for _, _, p in members]
    sel = (
        select_regression(preds, k, features=X_div if settings.diversity else None, already=exclude)
        if k > 0
        else np.empty(0, np.int64)
    )
    if len(sel):
        say(
            f"queueing {len(sel)} point(s) chosen by committee variance over {len(members)} "
            "lineage members"
        )
        info = _request_info(members, sel, result.repaired_id or result.drifted_id)
        queue.request(
            X_pool[sel],
            [d["variance"] for d in info],
            strategy=STRATEGY,
            round=1,
            repair_id=rid,
            predictions=attach_records(info, pool, sel, settings.image_shape),
        )
    pend = queue.pending(rid)
    if pend and (oracle is None or getattr(oracle, "interactive", True)):
        n = queue.counts(rid)[LabelStatus.LABELLED]
        return {
            "status": RefinementStatus.WAITING_FOR_LABELS,
            "pending": [r.id for r in pend],
            "labels_used": n,
            "message": f"{len(pend)} label request(s) for repair #{rid} (a regressor, chosen "
            f"by committee variance) wait for a human: run 'driftline label'; {n} answered "
            "so far (a regressor is not re-fitted on them: repair again with them as "
            "validation rows)",
        }
    if pend and oracle is not None:
        oracle.answer(queue, pend)
    n = queue.counts(rid)[LabelStatus.LABELLED]
    return {
        "status": (
            RefinementStatus.BUDGET_EXHAUSTED
            if used + len(sel) >= budget
            else RefinementStatus.POOL_EXHAUSTED
        ),
        "labels_used": n,
        "message": f"{n} label(s) collected for the regressor; repair again with them as "
        "validation rows (re-fitting a regressor on labels is not automatic)",
    }
