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
:data:`SAME_AS_DRIFTED`. A proposal is registered and waits for approval; it never deploys
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
    return Candidate(BAYES_ROUTING, {}, info={"routed": bayes})


def _gated_regressor(ctx: Context) -> Candidate | None:
    from driftline.repair.model_input import input_names
    from driftline.repair.output_space import bayes_gate

    if ctx.drifted.signature_id is None or ctx.ancestor.signature_id is None:
        ctx.say("no label-free gate: the drifted model or the ancestor has no signature")
        return None
    sigs = [ctx.store.signature(ctx.drifted.id), ctx.store.signature(ctx.ancestor.id)]
    gate = bayes_gate(sigs, ctx.X_win, input_names(ctx.drifted, sigs[0]))
    if float(gate.priors()[0]) >= SAME_AS_DRIFTED:
        ctx.say("label-free gate: the window is the drifted model's own regime")
        return None
    return Candidate(BAYES_ROUTING, {}, info={"gate": gate, "temperature": 1.0})
