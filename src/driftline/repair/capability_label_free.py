"""Zero labels in the capability path: the lineage's Bayes routing, proposed for approval.

Without labels no row of the candidate table can be scored, so the table is not built. What
needs no labels is the Bayes gate over the lineage (priors by EM on the window, ``T = 1``), the
row the labelled table calls ``routing T=1``:

* classifiers — the routed model over the drifted model and its nearest healthy ancestors
  (:func:`~driftline.repair.routed_model.build_routed`); the drifted model and the ancestor are
  ranked by their agreement with it on the window (:mod:`driftline.repair.proxy`);
* regressors — the gated mixture ``ŷ(x) = Σ_i w_i(x)·ŷ_i(x)`` of the drifted model and the
  ancestor, ``w_i(x) ∝ π_i·p_i(x)`` (:func:`~driftline.repair.output_space.bayes_gate`).

It is proposed only when it would change the served model: the drifted model's hard agreement
with the committee on the window (classifiers), or its EM prior (regressors), below
:data:`SAME_AS_DRIFTED`; and only when the lineage explains the window: a mixed window as it is,
a window one member dominates when the rows it claims match that member's training data
(:mod:`driftline.repair.window_fit`). A proposal is registered and waits for approval; it never deploys
on its own, and labels (``driftline repair --validation``) still choose among every row.
"""

from __future__ import annotations

from typing import Any

from driftline.errors import DriftlineError
from driftline.repair.capability_rows import BAYES_ROUTING, Candidate, Context
from driftline.repair.evaluation import classes_of, family_for
from driftline.repair.proxy import align_columns, committee_agreement, proxy_choice

__all__ = ["SAME_AS_DRIFTED", "propose_without_labels"]

#: at or above this agreement (or EM prior of the drifted model) routing is the drifted model
SAME_AS_DRIFTED = 0.99


def propose_without_labels(ctx: Context, result: Any) -> Candidate | None:
    """The label-free routing row, or None when there is none or it equals the drifted model
    (the reason is said through ``ctx.say``); fills ``result.proxy`` for classifiers."""
    if ctx.plan.task == "classifier":
        return _routed_classifier(ctx, result)
    return _gated_regressor(ctx)


def _routed_classifier(ctx: Context, result: Any) -> Candidate | None:
    from driftline.repair.routed_model import build_routed, choose_members

    members = choose_members(ctx.store, ctx.drifted.id, ctx.search.rows, max_members=3)
    if len(members) < 2:
        ctx.say("no label-free routing: fewer than two lineage members with signatures")
        return None
    try:
        bayes = build_routed(ctx.store, members, ctx.X_win, family=ctx.family)
    except DriftlineError as exc:
        ctx.say(f"no label-free routing: {exc}")
        return None
    committee = bayes.predict_proba(ctx.X_win)
    scores = {BAYES_ROUTING: committee_agreement(committee, committee)}
    for name, model in (("drifted", ctx.drifted), ("rollback", ctx.ancestor)):
        fam = family_for(model, ctx.family)
        proba = fam.predict_proba(ctx.store.load(model.id), ctx.X_win)
        proba = align_columns(proba, classes_of(fam, proba.shape[1]), bayes.classes)
        scores[name] = committee_agreement(committee, proba)
    result.proxy = {k: v[0] for k, v in scores.items()}
    result.candidates = {k: {} for k in scores}  # unscored rows: the proxy column ranks them
    result.selection["proxy_choice"] = proxy_choice(scores)
    if scores["drifted"][0] >= SAME_AS_DRIFTED:
        ctx.say("label-free routing agrees with the drifted model on the window")
        return None
    ids, refs = list(bayes.member_ids), list(bayes.member_refs)
    if not _explained(ctx, result, ids, refs, bayes.loglik(ctx.X_win), bayes.priors):
        return None
    return Candidate(BAYES_ROUTING, {}, info={"routed": bayes})


def _gated_regressor(ctx: Context) -> Candidate | None:
    from driftline.repair.model_input import input_names
    from driftline.repair.output_space import bayes_gate

    if ctx.drifted.signature_id is None or ctx.ancestor.signature_id is None:
        ctx.say("no label-free gate: the drifted model or the ancestor has no signature")
        return None
    from driftline.repair.routed_model import member_loglik

    sigs = [ctx.store.signature(ctx.drifted.id), ctx.store.signature(ctx.ancestor.id)]
    names = input_names(ctx.drifted, sigs[0])
    gate = bayes_gate(sigs, ctx.X_win, names)
    if float(gate.priors()[0]) >= SAME_AS_DRIFTED:
        ctx.say("label-free gate: the window is the drifted model's own regime")
        return None
    ids, refs = [ctx.drifted.id, ctx.ancestor.id], [ctx.drifted.ref, ctx.ancestor.ref]
    loglik = member_loglik(sigs, ctx.X_win, names=names)
    if not _explained(ctx, None, ids, refs, loglik, gate.priors()):
        return None
    return Candidate(BAYES_ROUTING, {}, info={"gate": gate, "temperature": 1.0})


def _explained(
    ctx: Context, result: Any, ids: list[str], refs: list[str], loglik: Any, priors: Any
) -> bool:
    """A mixed window (no prior ≥ ``policy.routing_mix_threshold``) is routed as it is; when
    one member dominates, the rows it claims must look like its training data
    (:func:`~driftline.repair.window_fit.dominant_member_fits`), else a regime no member has
    seen would get a proposal."""
    import numpy as np

    from driftline.repair.model_input import input_names
    from driftline.repair.window_fit import dominant_member_fits

    threshold = getattr(ctx.policy, "routing_mix_threshold", 0.9)
    if float(np.max(priors)) < threshold:
        return True
    sig = ctx.store.signature(ctx.drifted.id)
    names = input_names(ctx.drifted, sig) or list(sig.feature_names)
    table = dict(zip(names, np.asarray(ctx.X_win).T, strict=True))
    kwargs = ctx.policy.agent_kwargs() if hasattr(ctx.policy, "agent_kwargs") else {}
    fits, info = dominant_member_fits(ctx.store, ids, refs, loglik, priors, table, kwargs)
    if result is not None:
        result.routing = {**(result.routing or {}), "explains_window": info}
    if not fits:
        ctx.say(f"no label-free proposal: the window is not {info['member']}'s regime")
    return fits
