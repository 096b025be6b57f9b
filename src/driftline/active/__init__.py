"""Active learning: query strategies over the lineage, the persistent label queue, oracles
(simulated, humans), label files (CSV, JSON lines, Label Studio) and refinement of a repair with
the labels.

Modules: ``strategies`` (scores, selection), ``diversity`` (k-center, representative batches),
``labelling`` (one labelling round), ``refit`` (α, fine-tuning, fresh start), ``refine`` (the
store loop) with ``run_inputs``, ``members`` (the lineage committee, round nodes) and
``results``, ``curve`` (accuracy vs labels), ``settings`` (:class:`RefineSettings`), ``queue``
(the label queue; rows in :mod:`driftline.store.labels`), ``oracles``, ``label_values`` /
``label_files`` / ``label_studio`` (answers from people and files), ``records`` / ``images``
(how a request is shown), ``regression`` / ``regression_round`` (regressors).
"""

from driftline.active.curve import LabelCurve, accuracy_vs_labels
from driftline.active.diversity import kcenter_greedy, representative
from driftline.active.images import digit_data_uri, digit_png
from driftline.active.label_files import EXPORT_FORMATS, export_requests, import_labels
from driftline.active.label_studio import (
    export_label_studio,
    import_label_studio,
    label_studio_config,
)
from driftline.active.label_values import ImportSummary, coerce_label
from driftline.active.labelling import committee_weights
from driftline.active.oracles import HumanOracle, Oracle, SimulatedOracle
from driftline.active.queue import STATUSES, LabelQueue, LabelRequest, point_hash
from driftline.active.refine import run_active_learning
from driftline.active.refit import Refit, fresh_params, refit
from driftline.active.results import ActiveLearningResult, RoundRecord
from driftline.active.settings import RefineSettings
from driftline.active.strategies import (
    STRATEGIES,
    Selection,
    consensus_entropy,
    entropy,
    least_confidence,
    margin,
    max_kl_to_consensus,
    random_scores,
    select,
    vote_entropy,
)

__all__ = [
    "EXPORT_FORMATS",
    "STATUSES",
    "ActiveLearningResult",
    "HumanOracle",
    "ImportSummary",
    "LabelCurve",
    "LabelQueue",
    "LabelRequest",
    "Oracle",
    "RefineSettings",
    "Refit",
    "RoundRecord",
    "STRATEGIES",
    "SimulatedOracle",
    "accuracy_vs_labels",
    "coerce_label",
    "committee_weights",
    "fresh_params",
    "digit_data_uri",
    "digit_png",
    "export_label_studio",
    "export_requests",
    "import_label_studio",
    "import_labels",
    "label_studio_config",
    "point_hash",
    "refit",
    "run_active_learning",
    "Selection",
    "consensus_entropy",
    "entropy",
    "kcenter_greedy",
    "least_confidence",
    "margin",
    "max_kl_to_consensus",
    "random_scores",
    "representative",
    "select",
    "vote_entropy",
]
