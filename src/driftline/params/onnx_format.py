"""ONNX models (optional extra ``driftline[onnx]``), run with onnxruntime.

Float initializers become the node's tensors (``onnx.<initializer name>``), so identity and
weight interpolation treat an ONNX MLP like any parametric model; the graph without them is the
``onnx.graph`` part (protobuf, deterministic serialisation). Protobuf never executes code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError
from driftline.params.identity import Params
from driftline.params.structured import (
    meta_of,
    require_extra,
    tensor_bytes,
    text_tensor,
    with_meta,
)

PREFIX = "onnx."
GRAPH = "onnx.graph"


def require_onnx() -> Any:
    return require_extra("onnx", "onnx", "ONNX models")


def is_onnx(obj: object) -> bool:
    return type(obj).__name__ == "ModelProto" and type(obj).__module__.startswith("onnx")


def onnx_to_parts(model: Any, *, task: str | None = None) -> tuple[Params, dict[str, Any]]:
    """An ``onnx.ModelProto`` (or its bytes) as float tensors plus the stripped graph."""
    onnx = require_onnx()
    from onnx import numpy_helper

    if isinstance(model, bytes | bytearray):
        try:
            model = onnx.load_model_from_string(bytes(model))
        except Exception as exc:  # protobuf DecodeError
            raise InvalidInputError(f"not an ONNX model: {exc}") from exc
    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    params: Params = {}
    keep = []
    for init in proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f":
            params[PREFIX + init.name] = np.array(arr)
        else:
            keep.append(init)
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    params[GRAPH] = text_tensor(proto.SerializeToString(deterministic=True))
    outputs = [o.name for o in proto.graph.output]
    prob = [o for o in outputs if "prob" in o.lower()]
    meta = {
        "format": "onnx",
        "inputs": [i.name for i in proto.graph.input if i.name not in {k.name for k in keep}],
        "outputs": outputs,
        "output": prob[0] if prob else outputs[-1],
        "task": task or ("classifier" if prob else "regressor"),
        "n_float_initializers": len(params) - 1,
    }
    if meta["task"] == "classifier":
        meta.update(_class_labels(proto))
    return with_meta(params, meta), {"framework": "onnx", **meta}


#: attributes of ai.onnx.ml classifiers and ZipMap naming the probability columns' labels
_LABEL_ATTRS = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


def _class_labels(proto: Any) -> dict[str, Any]:
    """``classes`` / ``classes_dtype`` of a classifier graph, in probability-column order: a
    ZipMap's labels, else the last ai.onnx.ml classifier's, else the labels initializer an
    ``ArrayFeatureExtractor`` picks the predicted label from (skl2onnx's MLP); {} when the graph
    names none (columns are then 0..K−1)."""
    from onnx import helper, numpy_helper

    found: list[Any] = []
    for node in sorted(proto.graph.node, key=lambda n: n.op_type != "ZipMap"):
        attrs = {a.name: a for a in node.attribute}
        hit = next((attrs[k] for k in _LABEL_ATTRS if k in attrs), None)
        if hit is not None:
            found = list(helper.get_attribute_value(hit))
            if node.op_type == "ZipMap":
                break
    if not found:
        inits = {i.name: i for i in proto.graph.initializer}
        for node in proto.graph.node:
            if node.op_type == "ArrayFeatureExtractor" and node.input and node.input[0] in inits:
                found = numpy_helper.to_array(inits[node.input[0]]).reshape(-1).tolist()
    if not found:
        return {}
    labels = [v.decode("utf-8") if isinstance(v, bytes) else v for v in found]
    arr = np.asarray(labels)
    return {"classes": arr.tolist(), "classes_dtype": arr.dtype.str}


def onnx_model_bytes(params: Params) -> bytes:
    """The full model again: graph plus the float initializers."""
    onnx = require_onnx()
    from onnx import numpy_helper

    proto = onnx.load_model_from_string(tensor_bytes(params, GRAPH, "ONNX model"))
    for name in sorted(params):
        if name.startswith(PREFIX) and name != GRAPH:
            proto.graph.initializer.append(
                numpy_helper.from_array(params[name], name[len(PREFIX) :])
            )
    return proto.SerializeToString()


@dataclass
class OnnxModel:
    """An onnxruntime session with scikit-learn style ``predict``/``predict_proba``."""

    session: Any
    meta: dict[str, Any]

    @property
    def classes_(self) -> np.ndarray | None:
        if "classes" in self.meta:
            return np.asarray(self.meta["classes"], dtype=np.dtype(self.meta["classes_dtype"]))
        return None

    def run(self, X: Any) -> np.ndarray:
        inp = self.session.get_inputs()[0]
        dtype = np.float64 if "double" in inp.type else np.float32
        out = self.session.run([self.meta["output"]], {inp.name: np.asarray(X, dtype=dtype)})[0]
        if isinstance(out, list):  # ZipMap: a list of {class: probability}
            keys = self.meta.get("classes") or sorted(out[0])
            out = np.array([[row[k] for k in keys] for row in out])
        return np.asarray(out, dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self.run(X)
        return p if p.ndim == 2 and p.shape[1] > 1 else np.column_stack([1 - p.ravel(), p.ravel()])

    def predict(self, X: Any) -> np.ndarray:
        if self.meta.get("task") == "classifier":
            p = self.predict_proba(X)
            classes = self.classes_ if self.classes_ is not None else np.arange(p.shape[1])
            return classes[np.argmax(p, axis=1)]
        return self.run(X).reshape(len(X), -1).squeeze(1) if len(X) else np.zeros(0)


def restore_onnx(params: Params) -> OnnxModel:
    ort = require_extra("onnxruntime", "onnx", "ONNX models")
    try:
        sess = ort.InferenceSession(onnx_model_bytes(params), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own error types
        raise InvalidInputError(f"the stored ONNX model cannot be loaded: {exc}") from exc
    return OnnxModel(sess, meta_of(params))
