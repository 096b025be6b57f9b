"""Hugging Face-style sharded checkpoint folders and PEFT/LoRA adapters as adapter edges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.errors import InvalidInputError
from driftline.params.hf_folder import merge_lora
from driftline.params.identity import le_bytes, model_id
from driftline.params.io import save_safetensors
from driftline.repair.streaming import interpolate_into
from driftline.store import Store


def _base(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        f"layers.{i}.{k}": rng.standard_normal((8, 6) if k == "weight" else 8).astype(np.float32)
        for i in range(4)
        for k in ("weight", "bias")
    }


def _write_sharded(folder, params, shards: int = 3) -> None:
    folder.mkdir()
    names = sorted(params)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_safetensors({n: params[n] for n in part}, folder / fname)
        weight_map.update({n: fname for n in part})
    (folder / "model.safetensors.index.json").write_text(
        json.dumps(
            {
                "metadata": {"total_size": sum(v.nbytes for v in params.values())},
                "weight_map": weight_map,
            }
        )
    )
    (folder / "config.json").write_text(json.dumps({"model_type": "toy", "hidden_size": 6}))


def test_sharded_folder_round_trip(tmp_path) -> None:
    params = _base()
    _write_sharded(tmp_path / "ckpt", params)
    store = Store(tmp_path / "s")
    m = store.register(tmp_path / "ckpt", name="toy")
    assert m.id == model_id(params)
    assert m.architecture["hf_config"]["model_type"] == "toy"
    got = store.load(m.id)
    assert sorted(got) == sorted(params) and all(
        le_bytes(got[k]) == le_bytes(params[k]) for k in params
    )
    store.export(m.id, tmp_path / "out.safetensors")
    again = store.register(tmp_path / "out.safetensors", name="toy")
    assert again.id == m.id


def test_sharded_folder_with_a_missing_or_mislisted_shard_is_refused(tmp_path) -> None:
    _write_sharded(tmp_path / "ckpt", _base())
    (tmp_path / "ckpt" / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(InvalidInputError, match="copy every shard"):
        Store(tmp_path / "s").register(tmp_path / "ckpt", name="toy")
    _write_sharded(tmp_path / "c2", _base())
    index = json.loads((tmp_path / "c2" / "model.safetensors.index.json").read_text())
    index["weight_map"]["layers.0.bias"] = "model-00003-of-00003.safetensors"
    (tmp_path / "c2" / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidInputError, match="does not match"):
        Store(tmp_path / "s2").register(tmp_path / "c2", name="toy")


def test_lora_adapter_edge_stores_adapter_alone_and_repairs(tmp_path) -> None:
    base = _base()
    rng = np.random.default_rng(5)
    r, alpha = 2, 4
    adapter = {}
    for i in (0, 2):
        adapter[f"base_model.model.layers.{i}.lora_A.weight"] = rng.standard_normal((r, 6)).astype(
            np.float32
        )
        adapter[f"base_model.model.layers.{i}.lora_B.weight"] = rng.standard_normal((8, r)).astype(
            np.float32
        )
    folder = tmp_path / "lora"
    folder.mkdir()
    save_safetensors(adapter, folder / "adapter_model.safetensors")
    config = {"peft_type": "LORA", "r": r, "lora_alpha": alpha}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    store = Store(tmp_path / "s")
    mb = store.register(base, name="base")
    ma = store.register(folder, name="lora", parents=[mb.id], transform="adapter")
    assert ma.kind == "adapter" and ma.architecture["adapter_type"] == "lora"
    assert [e.kind for e in store.parents(ma.id)] == ["adapter"]
    assert sorted(store.load(ma.id)) == sorted(adapter)  # the adapter's tensors alone
    merged = merge_lora(store.load(mb.id), store.load(ma.id), ma.architecture["adapter_config"])
    for i in (0, 2):  # independent reference: W + (alpha/r)·B·A with einsum
        a = adapter[f"base_model.model.layers.{i}.lora_A.weight"].astype(np.float64)
        b = adapter[f"base_model.model.layers.{i}.lora_B.weight"].astype(np.float64)
        want = base[f"layers.{i}.weight"] + (alpha / r) * np.einsum("ik,kj->ij", b, a)
        np.testing.assert_allclose(merged[f"layers.{i}.weight"], want, rtol=1e-6, atol=1e-6)
    assert le_bytes(merged["layers.1.weight"]) == le_bytes(base["layers.1.weight"])
    # repair across the adapter edge: merge, then move part of the way back to the base
    half = interpolate_into(merged, base, 0.5)
    delta = merged["layers.0.weight"].astype(np.float64) - base["layers.0.weight"]
    np.testing.assert_allclose(
        half["layers.0.weight"], base["layers.0.weight"] + 0.5 * delta, rtol=1e-6, atol=1e-6
    )
    with pytest.raises(InvalidInputError, match="adapter"):
        merge_lora({"x.weight": np.zeros((8, 6), np.float32)}, adapter, config)
