"""The steps of :func:`driftline.repair.repair`, in order, each ``step(state) -> state``:

1. :func:`~.state.start` — resolve the target, read the window and validation data, the key;
2. :func:`~.detect.detect` — drift and performance checks (may finish: no drift, harmless);
3. :func:`~.search.search_lineage` — the healthy (or best-scoring) ancestor;
4. :func:`~.candidates.weight_candidates` — the candidate table for weight-space repairs
   (:func:`~.reroute.reroute` for routed models, :func:`~.candidates.capability_table` for
   trees, boosters, regressors …);
5. :func:`~.choose.choose` — the row the policy deploys (or active learning's starting row);
6. :func:`~.deploy.register_and_deploy` — the chosen row as a lineage node, the deployment
   staged; :func:`driftline.repair.records.save_repair` writes record and switch together.
"""
