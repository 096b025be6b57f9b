"""The lineage store: models, edges, tensors, signatures, deployments."""

from driftline.store.graph import Relative
from driftline.store.models import Edge, Model, TensorInfo
from driftline.store.schema import SCHEMA_VERSION
from driftline.store.store import EDGE_KINDS, Store

__all__ = ["Store", "Model", "Edge", "TensorInfo", "Relative", "EDGE_KINDS", "SCHEMA_VERSION"]
