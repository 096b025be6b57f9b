"""``driftline init --deltas``: the delta settings are recorded in the store and used by every
later open (registrations through the CLI and through ``Store``)."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from driftline.params import save_safetensors
from driftline.params.identity import le_bytes
from driftline.store import Store
from driftline.store.deltas import Chain, DeltaSettings
from driftline.store.schema import blob_encodings


def _write(path, seed: int, base=None):
    rng = np.random.default_rng(seed)
    params = {f"w{i}": rng.standard_normal((64, 64), dtype=np.float32) for i in range(3)}
    if base is not None:
        params = {k: v + np.float32(1e-4) * params[k] for k, v in base.items()}
    save_safetensors(params, path)
    return params


def test_init_deltas_is_recorded_and_used_by_later_opens(cli, tmp_path) -> None:
    code, out, _ = cli("init", "--deltas", "--delta-every", "3", "--delta-chain", "keyframe")
    assert code == 0 and "on (a full copy every 3 versions" in out
    assert Store(tmp_path / ".driftline").deltas == DeltaSettings(every=3, chain=Chain.KEYFRAME)
    v0 = _write(tmp_path / "v0.safetensors", 0)
    v1 = _write(tmp_path / "v1.safetensors", 1, base=v0)
    assert cli("register", "v0.safetensors", "-n", "m")[0] == 0
    assert cli("register", "v1.safetensors", "-n", "m", "-p", "m@1")[0] == 0
    store = Store(tmp_path / ".driftline")
    with store.read() as conn:
        codecs = [r.codec for r in conn.execute(sa.select(blob_encodings))]
    assert codecs, "registrations after `init --deltas` store encoded tensors"
    got = store.load("m@2")
    assert all(le_bytes(got[k]) == le_bytes(v1[k]) for k in v1)


def test_init_no_deltas_turns_it_off_and_old_stores_stay_raw(cli, tmp_path) -> None:
    assert cli("init")[0] == 0
    assert Store(tmp_path / ".driftline").deltas is None  # nothing recorded: raw, as before
    assert cli("init", "--deltas")[0] == 0
    assert Store(tmp_path / ".driftline").deltas == DeltaSettings()
    code, out, _ = cli("init", "--no-deltas")
    assert code == 0 and "off" in out and "only its delta setting changed" in out
    assert Store(tmp_path / ".driftline").deltas is None
    # an explicit setting still wins for one session
    explicit = DeltaSettings(every=2)
    assert Store(tmp_path / ".driftline", deltas=explicit).deltas == explicit


def test_init_refuses_an_unknown_chain(cli) -> None:
    code, _, err = cli("init", "--deltas", "--delta-chain", "sideways")
    assert code == 2 and "unknown delta chain 'sideways'; use one of: parent, keyframe" in err
