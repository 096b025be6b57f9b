"""``driftline deploy`` and ``rollback`` refuse a model whose stored tensors are damaged (one
line naming the blob, exit 2) and record nothing."""

from __future__ import annotations

import numpy as np

from driftline.cli import main
from driftline.store import Store


def P(i: int) -> dict[str, np.ndarray]:
    return {"w": np.random.default_rng(i).normal(size=(3, 2))}


def test_deploy_and_rollback_refuse_a_damaged_model(tmp_path, capsys):
    store = Store(tmp_path / "store")
    a, b = store.register(P(1), name="m"), store.register(P(2), name="m")
    store.deploy(a, "d")
    blob = store.manifest(b.id)[0].blob
    store.blobs.path(blob).write_bytes(b"rot")
    args = ["--store", str(tmp_path / "store")]
    assert main([*args, "deploy", "m@2", "--as", "d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and blob[:12] in err
    assert [e.model_id for e in store.deployment_history("d")] == [a.id]

    store.deploy(b, "e")  # the Python API records without reading tensors
    store.deploy(a, "e")
    store.blobs.path(blob).unlink()
    assert main([*args, "rollback", "e"]) == 2
    assert blob[:12] in capsys.readouterr().err
    assert store.get("deployment:e").id == a.id
    assert main([*args, "deploy", "m@1", "--as", "f"]) == 0
