"""scikit-learn Pipelines, ColumnTransformers, trees, forests and boosting via ``skops.io``.

Decision: skops.io (optional extra ``driftline[skops]``) with an explicit trusted-type list,
not a decoder of our own. skops never unpickles: it rebuilds objects from a JSON schema and
``.npy`` arrays read with ``allow_pickle=False``, and its audit refuses any type not trusted
(its defaults: scikit-learn estimators, numpy/scipy containers and primitives, plus
:data:`EXTRA_TRUSTED` here). A hand-written decoder would have to re-implement the same audit
for every Cython state (``Tree``, ``TreePredictor``, loss objects) and would be less reviewed.

Canonical storage (see :mod:`driftline.params.structured`): the skops schema is split into one
JSON part per nested scikit-learn object (pipeline step, transformer, tree), with skops'
memory-address ids renumbered per part and array file names replaced by tensor names; plain
numeric arrays become real tensors named by their attribute path (``sk.steps.1.1.coef_``),
other arrays keep their ``.npy`` bytes. So an unchanged pipeline step or tree is the same set
of blobs in every version that contains it, and ``coef_``/``mean_`` are interpolable tensors.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.params.identity import Params
from driftline.params.structured import (
    canonical_json,
    classes_meta,
    json_part,
    meta_of,
    require_extra,
    tensor_bytes,
    text_tensor,
    with_meta,
)

FORMAT = "skops"
ROOT = "sk.__schema__"
PART_KEY = "__driftline_part__"
#: types trusted on top of skops' defaults: fitted tree structures, dtype objects, the plain
#: Python holders CalibratedClassifierCV keeps per fold, and the ``partial(check_array, ...)``
#: HistGradientBoosting keeps when it has categorical features (skops audits a partial's
#: function and arguments as nodes of their own, so a partial of anything else is refused)
EXTRA_TRUSTED = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)
#: what to do instead, for types that stay untrusted (Cython state read without bounds checks)
UNTRUSTED_HINTS = {
    "sklearn.neighbors._kd_tree.KDTree": "fit nearest-neighbour models with algorithm='brute' "
    "(same predictions, no tree to store)",
    "sklearn.neighbors._ball_tree.BallTree": "fit nearest-neighbour models with "
    "algorithm='brute' (same predictions, no tree to store)",
}
#: estimators whose fitted state is all weights (weight-space interpolation makes sense)
PARAMETRIC = frozenset(
    {
        "Pipeline",
        "ColumnTransformer",
        "FeatureUnion",
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "SimpleImputer",
        "OneHotEncoder",
        "OrdinalEncoder",
        "FunctionTransformer",
        "LogisticRegression",
        "SGDClassifier",
        "SGDRegressor",
        "LinearRegression",
        "Ridge",
        "RidgeClassifier",
        "Lasso",
        "ElasticNet",
        "MLPClassifier",
        "MLPRegressor",
        "PCA",
        "LabelBinarizer",
    }
)


def require_skops() -> Any:
    """Import ``skops.io`` or say which extra to install."""
    return require_extra("skops.io", "skops", "scikit-learn pipelines, trees and boosting")


def is_sklearn_object(obj: object) -> bool:
    """A fitted-or-not scikit-learn estimator (any class from an ``sklearn.`` module)."""
    return type(obj).__module__.startswith("sklearn.") and hasattr(obj, "get_params")


class _Splitter:
    """Walks a skops schema, cutting nested sklearn objects into parts and arrays into tensors."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.tensors: Params = {}
        self.file_names: dict[tuple[str, str], str] = {}
        self.classes: set[str] = set()
        self.parts = ["sk"]

    def part(self, node: dict[str, Any], path: str) -> str:
        """Store ``node`` as its own JSON part; return the part's tensor name."""
        ids: dict[Any, int] = {}
        self.parts.append(path)
        body = self.walk(node, path, ids, top=True)
        self.parts.pop()
        name = f"{path}.__schema__"
        self.tensors[name] = text_tensor(canonical_json(body))
        return name

    def walk(self, node: Any, path: str, ids: dict[Any, int], top: bool = False) -> Any:
        if isinstance(node, list):
            return [self.walk(v, f"{path}.{i}", ids) for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        loader = node.get("__loader__")
        module = str(node.get("__module__") or "")
        if loader is not None and module:
            self.classes.add(str(node.get("__class__")))
        if not top and loader in ("ObjectNode", "ReduceNode") and module.startswith("sklearn."):
            return {PART_KEY: self.part(node, path)}
        if loader == "DictNode":
            node = _sorted_dict_node(node)
        out: dict[str, Any] = {}
        for key in sorted(node):
            value = node[key]
            if key == "__id__":
                # skops' ids are memory addresses: renumber in traversal order; immutable JSON
                # values are written in full, so they need no id at all
                if loader not in ("JsonNode", "TypeNode"):
                    out[key] = ids.setdefault(value, len(ids) + 1)
            elif key == "file" and loader == "NdArrayNode":
                out[key] = self.array(value, path)
            elif key == "content" and loader == "DictNode" and isinstance(value, dict):
                out[key] = {k: self.walk(v, f"{path}.{k}", ids) for k, v in value.items()}
            elif key == "content":
                out[key] = self.walk(value, path, ids)
            else:
                out[key] = self.walk(value, f"{path}.{key}", ids)
        return out

    def array(self, file: str, path: str) -> str:
        # an array shared by two parts is written once per part (same blob, stored once): parts
        # must decode on their own
        key = (self.parts[-1], file)
        if key in self.file_names:
            return self.file_names[key]
        raw = self.files[file]
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
        plain = arr.dtype.kind in "fiub" and arr.dtype.byteorder in "=<|"
        name = path if plain else f"{path}.npy"
        while name in self.tensors:
            name += "_"
        if arr.dtype.names:
            raw = _zero_padded_npy(arr)
        self.tensors[name] = np.array(arr) if plain else text_tensor(raw)
        self.file_names[key] = name
        return name


def _zero_padded_npy(arr: np.ndarray) -> bytes:
    """``.npy`` bytes of a structured array with its padding bytes zeroed (tree node arrays
    carry uninitialised padding, which would make equal trees hash differently)."""
    clean = np.zeros(arr.shape, dtype=arr.dtype)
    for field in arr.dtype.names or ():
        clean[field] = arr[field]
    buf = io.BytesIO()
    np.save(buf, clean, allow_pickle=False)
    return buf.getvalue()


def _sorted_dict_node(node: dict[str, Any]) -> dict[str, Any]:
    """A DictNode with its content keys sorted and ``key_types`` reordered to match (canonical
    JSON sorts keys; skops pairs ``key_types`` with the keys by position)."""
    content = node.get("content")
    types = node.get("key_types")
    if not isinstance(content, dict) or not isinstance(types, dict):
        return node
    keys = list(content)
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    out = dict(node)
    out["content"] = {keys[i]: content[keys[i]] for i in order}
    items = types.get("content")
    if isinstance(items, list) and len(items) == len(keys):
        out["key_types"] = {**types, "content": [items[i] for i in order]}
    return out


def estimator_to_parts(est: Any) -> tuple[Params, dict[str, Any]]:
    """A fitted scikit-learn object as ``(params, architecture)`` in the canonical skops layout."""
    sio = require_skops()
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except NotFittedError as exc:
        raise InvalidInputError(
            f"{type(est).__name__} is not fitted; call fit() before registering it"
        ) from exc
    try:
        data = sio.dumps(est)
    except Exception as exc:  # skops raises TypeError / its own UnsupportedTypeException
        raise UnsupportedModelError(
            f"{type(est).__name__} cannot be stored safely by skops: {exc}"
        ) from exc
    _check_trusted(sio, data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist() if n != "schema.json"}
        schema = json.loads(zf.read("schema.json"))
    schema.pop("_skops_version", None)
    splitter = _Splitter(files)
    body = splitter.walk(schema, "sk", {}, top=True)
    tensors = dict(splitter.tensors)
    tensors[ROOT] = text_tensor(canonical_json(body))
    meta = _meta(est, splitter.classes)
    return with_meta(tensors, meta), {"framework": "sklearn", **meta}


def _meta(est: Any, classes: set[str]) -> dict[str, Any]:
    from sklearn.base import is_classifier

    sk_classes = sorted(c for c in classes if c[:1].isupper())
    meta: dict[str, Any] = {
        "format": FORMAT,
        "estimator": type(est).__name__,
        "task": "classifier" if is_classifier(est) else "regressor",
        "parametric": all(c in PARAMETRIC or not _is_estimator_name(c) for c in sk_classes),
        "n_features_in": int(getattr(est, "n_features_in_", 0) or 0),
        **classes_meta(est),
    }
    if hasattr(est, "steps"):
        meta["steps"] = [f"{n}:{type(s).__name__}" for n, s in est.steps]
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        meta["feature_names_in"] = [str(f) for f in names]
    return meta


def _is_estimator_name(name: str) -> bool:
    return name not in {
        "dict",
        "list",
        "tuple",
        "str",
        "int",
        "float",
        "ndarray",
        "dtype",
        "float64",
        "int64",
        "bool",
        "NoneType",
        "slice",
        "type",
        "Tree",
        "TreePredictor",
    } and not name.startswith(("Half", "Cy", "_"))


def _check_trusted(sio: Any, data: bytes) -> list[str]:
    untrusted = sio.get_untrusted_types(data=data)
    bad = sorted(set(untrusted) - set(EXTRA_TRUSTED))
    if bad:
        hints = [UNTRUSTED_HINTS[b] for b in bad if b in UNTRUSTED_HINTS]
        todo = "; or ".join(
            [
                *dict.fromkeys(hints),
                "register its tensors as a dict of numpy arrays and repair it with "
                "family=CallableFamily(fn)",
            ]
        )
        raise UnsupportedModelError(
            f"refusing to load types that are not on the trusted list: {', '.join(bad)} "
            "(driftline loads scikit-learn estimators, numpy/scipy containers and the types in "
            f"driftline.params.skops_format.EXTRA_TRUSTED); to store this model, {todo}"
        )
    return list(untrusted)


class _Joiner:
    """Inverse of :class:`_Splitter`: inline the parts, renumber ids globally, collect arrays."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.files: dict[str, bytes] = {}
        self.next_id = 1

    def inline(self, node: Any, ids: dict[int, int]) -> Any:
        if isinstance(node, list):
            return [self.inline(v, ids) for v in node]
        if not isinstance(node, dict):
            return node
        if PART_KEY in node:
            return self.inline(json_part(self.params, str(node[PART_KEY]), "skops model"), {})
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__":
                if value not in ids:
                    ids[value] = self.next_id
                    self.next_id += 1
                out[key] = ids[value]
            elif key == "file" and node.get("__loader__") == "NdArrayNode":
                out[key] = self.array(str(value))
            else:
                out[key] = self.inline(value, ids)
        return out

    def array(self, name: str) -> str:
        file = f"{name}.npy" if not name.endswith(".npy") else name
        if file not in self.files:
            if name.endswith(".npy"):
                self.files[file] = tensor_bytes(self.params, name, "skops model")
            else:
                if name not in self.params:
                    raise InvalidInputError(f"skops model is missing tensor {name!r}")
                buf = io.BytesIO()
                np.save(buf, self.params[name], allow_pickle=False)
                self.files[file] = buf.getvalue()
        return file


def parts_to_estimator(params: Params) -> Any:
    """Rebuild the scikit-learn object; only trusted types are constructed."""
    sio = require_skops()
    import skops

    joiner = _Joiner(params)
    schema = joiner.inline(json_part(params, ROOT, "skops model"), {})
    schema["_skops_version"] = skops.__version__
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
        for file, raw in joiner.files.items():
            zf.writestr(file, raw)
    data = buf.getvalue()
    untrusted = _check_trusted(sio, data)
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:  # a malformed schema surfaces as any error inside skops
        raise InvalidInputError(f"the stored scikit-learn model cannot be rebuilt: {exc}") from exc


def load_skops_file(data: bytes) -> Any:
    """Load a ``.skops`` file's bytes after checking every type against the trusted list."""
    sio = require_skops()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InvalidInputError("not a .skops file (a zip archive with schema.json)")
    untrusted = _check_trusted(sio, data)
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise InvalidInputError(f"cannot load the .skops file: {exc}") from exc


def is_skops_params(params: Params) -> bool:
    return ROOT in params and meta_of(params).get("format") == FORMAT
