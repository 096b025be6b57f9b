"""The driftline command: happy paths and one-line user errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from driftline.params import load_safetensors, model_id, save_safetensors


def write_params(path: Path, value: float) -> Path:
    save_safetensors({"w": np.full((2, 3), value, dtype=np.float32), "b": np.zeros(3)}, path)
    return path


def write_csv(path: Path, X: np.ndarray, names=("a", "b", "c")) -> Path:
    lines = [",".join(names)] + [",".join(f"{v:.6f}" for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_register_lineage_and_listings(cli, tmp_path):
    assert cli("init")[0] == 0
    for i in range(3):
        write_params(tmp_path / f"m{i}.safetensors", float(i))
    assert cli("register", "m0.safetensors", "--name", "m", "--metric", "acc=0.5")[0] == 0
    code, out, _ = cli(
        "register", "m1.safetensors", "-n", "m", "-p", "m@1", "--param", "lr=0.01", "--json"
    )
    assert code == 0 and json.loads(out)["ref"] == "m@2"
    assert cli("register", "m2.safetensors", "-n", "m", "-p", "m@2", "-t", "prune")[0] == 0
    code, out, _ = cli("ancestors", "m@3", "--json")
    assert [(r["ref"], r["hops"]) for r in json.loads(out)] == [("m@2", 1), ("m@1", 2)]
    code, out, _ = cli("descendants", "m@1", "--json")
    assert [r["ref"] for r in json.loads(out)] == ["m@2", "m@3"]
    code, out, _ = cli("show", "m@2", "--json")
    shown = json.loads(out)
    assert shown["parents"][0]["params"] == {"lr": 0.01}
    assert {t["name"] for t in shown["tensors"]} == {"w", "b"}
    code, out, _ = cli("lineage", "m@2")
    assert code == 0 and "prune" in out and "m@3" in out and "◀" in out
    code, out, _ = cli("list", "--json")
    assert len(json.loads(out)) == 3
    # prefix reference, export round trip
    full = shown["id"]
    assert cli("export", full[:8], "-o", "out.safetensors")[0] == 0
    assert model_id(load_safetensors(tmp_path / "out.safetensors")) == full


def test_graph_formats(cli, tmp_path):
    cli("init")
    write_params(tmp_path / "a.safetensors", 1.0)
    write_params(tmp_path / "b.safetensors", 2.0)
    cli("register", "a.safetensors", "-n", "m")
    cli("register", "b.safetensors", "-n", "m", "-p", "m@1")
    code, out, _ = cli("graph", "m@2", "--format", "json")
    g = json.loads(out)
    assert len(g["nodes"]) == 2 and g["edges"][0]["kind"] == "finetune"
    cli("graph", "m@2", "--format", "graphml", "-o", "g.graphml")
    G = nx.read_graphml(tmp_path / "g.graphml")
    assert G.number_of_nodes() == 2 and G.number_of_edges() == 1
    code, out, _ = cli("graph", "m@1", "--format", "dot")
    assert out.startswith("digraph") and "finetune" in out
    code, out, _ = cli("graph", "m@1", "--format", "mermaid")
    assert out.startswith("graph TD") and "-->|finetune|" in out


@pytest.mark.parametrize(
    "args",
    [
        ("show", "nope"),
        ("register", "missing.safetensors", "-n", "m"),
        ("register", "bad.safetensors", "-n", "m"),
        ("register", "a.safetensors", "-n", "m", "-t", "teleport"),
        ("graph", "m@1", "--format", "png"),
        ("rollback", "prod"),
        ("show", "m@x"),
        ("repair", "m", "--window", "a.safetensors", "--continued-steps", "-1"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(cli, tmp_path, args):
    cli("init")
    write_params(tmp_path / "a.safetensors", 1.0)
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    cli("register", "a.safetensors", "-n", "m")
    code, out, err = cli(*args)
    assert code == 2
    assert (
        "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error:")
    )


def test_cycle_and_corrupt_blob_are_refused(cli, tmp_path):
    cli("init")
    write_params(tmp_path / "a.safetensors", 1.0)
    write_params(tmp_path / "b.safetensors", 2.0)
    cli("register", "a.safetensors", "-n", "m")
    cli("register", "b.safetensors", "-n", "m", "-p", "m@1")
    code, _, err = cli("register", "a.safetensors", "-n", "m", "-p", "m@2")
    assert code == 2 and "cycle" in err
    code, out, _ = cli("show", "m@1", "--json")
    blob = next(t["blob"] for t in json.loads(out)["tensors"] if t["name"] == "w")
    path = tmp_path / ".driftline" / "blobs" / blob[:2] / blob[2:]
    path.write_bytes(b"\xff" + path.read_bytes()[1:])
    code, _, err = cli("export", "m@1", "-o", "x.safetensors")
    assert code == 2 and "corrupt" in err and "m@1" in err
    assert not (tmp_path / "x.safetensors").exists()
    assert cli("export", "m@2", "-o", "y.safetensors")[0] == 0  # the rest of the store is intact


def test_drift_agent_and_reports(cli, tmp_path):
    rng = np.random.default_rng(0)
    cli("init")
    write_params(tmp_path / "a.safetensors", 1.0)
    cli("register", "a.safetensors", "-n", "m")
    write_csv(tmp_path / "train.csv", rng.normal(size=(4000, 3)))
    write_csv(tmp_path / "same.csv", rng.normal(size=(2000, 3)))
    shifted = rng.normal(size=(2000, 3))
    shifted[:, 1] += 0.6
    write_csv(tmp_path / "shifted.csv", shifted)
    code, out, _ = cli("signature", "train.csv", "--attach", "m@1", "-o", "sig.bin")
    assert code == 0 and (tmp_path / "sig.bin").stat().st_size > 0
    assert cli("drift", "m@1", "same.csv")[0] == 0
    code, out, _ = cli("drift", "m@1", "shifted.csv", "--json")
    assert code == 1
    assert json.loads(out)["features"]["b"]["fired"]
    stream = np.vstack([rng.normal(size=(3000, 3)), shifted, shifted])
    write_csv(tmp_path / "stream.csv", stream)
    code, out, _ = cli("agent", "m@1", "--source", "stream.csv", "--window", "1000", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 7
    assert [r["drift"] for r in lines] == [False] * 3 + [True] * 4
    code, out, _ = cli("reports", "m@1", "--json")
    assert len(json.loads(out)) == 2 + 7  # two drift checks + seven windows


def test_deploy_and_rollback(cli, tmp_path):
    cli("init")
    for i in range(2):
        write_params(tmp_path / f"m{i}.safetensors", float(i))
        cli("register", f"m{i}.safetensors", "-n", "m")
    assert cli("deploy", "m@1", "--as", "prod", "--reason", "first")[0] == 0
    assert cli("deploy", "m@2", "--as", "prod")[0] == 0
    code, out, _ = cli("show", "deployment:prod", "--json")
    assert json.loads(out)["ref"] == "m@2"
    assert cli("rollback", "prod")[0] == 0
    code, out, _ = cli("deployments", "--json")
    assert json.loads(out)[0]["ref"] == "m@1"
    code, out, _ = cli("deployments", "--history", "prod", "--json")
    assert [e["action"] for e in json.loads(out)] == ["deploy", "deploy", "rollback"]


def _novel_regime_lineage(cli, tmp_path):
    """A store with clf@1 (regime A) → clf@2 (regime B, deployed), and ``regime(shift, n,
    axis)`` drawing rows whose label is the sign of column ``axis``."""
    from sklearn.linear_model import LogisticRegression

    import driftline

    rng = np.random.default_rng(0)

    def regime(shift: float, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.normal(0, 1, size=(n, 3))
        X[:, 0] += shift
        return X, (X[:, axis] > 0).astype(int)

    cli("init")
    store = driftline.open(tmp_path / ".driftline")
    Xa, ya = regime(0.0, 1500, 1)
    Xb, yb = regime(4.0, 1500, 1)
    base = store.register(LogisticRegression().fit(Xa, ya), name="clf", data=Xa)
    child = store.register(LogisticRegression().fit(Xb, yb), name="clf", parents=[base], data=Xb)
    store.deploy(child, "clf")
    return store, regime, base, child


def test_repair_needing_labels_queues_requests_and_resumes(cli, tmp_path):
    from driftline.active import LabelQueue

    store, regime, base, child = _novel_regime_lineage(cli, tmp_path)
    Xw, yw = regime(-8.0, 400, 2)  # a regime no ancestor saw, with another decision rule
    Xv, yv = regime(-8.0, 60, 2)
    write_csv(tmp_path / "window.csv", Xw, names=("f0", "f1", "f2"))
    (tmp_path / "val.csv").write_text(
        "f0,f1,f2,label\n"
        + "".join(f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{c}\n" for r, c in zip(Xv, yv, strict=True))
    )
    args = (
        "repair",
        "clf",
        "--window",
        "window.csv",
        "--validation",
        "val.csv",
        "--ask",
        "5",
        "--continued-steps",
        "0",  # no continued-training row: the labels go to active learning (α re-fit only)
        "--json",
    )
    code, out, _ = cli(*args)
    first = json.loads(out)
    # the repair's record says what it waits for, as the active-learning loop does (#12)
    assert code == 0 and first["status"] == "waiting-for-labels" and not first["healthy_ancestor"]
    assert first["active_learning"]["status"] == "waiting-for-labels"
    queue = LabelQueue(store)
    pending = queue.pending(first["repair_id"])
    assert len(pending) == 5
    truth = {tuple(np.round(r, 6)): int(c) for r, c in zip(Xw, yw, strict=True)}
    for req in pending:  # a human answers
        queue.label(req.id, truth[tuple(np.round(req.features, 6))])
    code, out, _ = cli(*args)
    again = json.loads(out)
    assert again["repair_id"] == first["repair_id"]  # same inputs: the stored repair
    rounds = again["active_learning"]["rounds"]
    assert rounds and rounds[0]["labels"] == 5
    assert len(queue.pending(first["repair_id"])) == 5  # the next round waits for the human


def test_agent_adds_estimated_accuracy_and_multivariate_score(cli, tmp_path):
    from sklearn.linear_model import LogisticRegression

    import driftline
    from driftline.drift.likelihood import multivariate_drift

    rng = np.random.default_rng(1)
    cli("init")
    store = driftline.open(tmp_path / ".driftline")
    X = rng.normal(size=(3000, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    model = store.register(clf, name="clf", data=X)
    stream = np.vstack([rng.normal(size=(1000, 3)), rng.normal(0, 2.0, size=(1000, 3))])
    write_csv(tmp_path / "stream.csv", stream, names=("f0", "f1", "f2"))
    args = ("agent", "clf@1", "--source", "stream.csv", "--window", "1000", "--no-save")
    code, out, _ = cli(*args, "--estimate-accuracy", "--multivariate", "--json")
    reps = [json.loads(line) for line in out.splitlines()]
    assert len(reps) == 2
    rows = np.round(stream, 6)
    sig = store.signature(model.id)  # the stored training signature
    for r, w in zip(reps, (rows[:1000], rows[1000:]), strict=True):
        est = clf.predict_proba(w).max(axis=1).mean()  # no 'cbpe' metric: raw confidence
        assert r["model"]["estimated_accuracy"] == pytest.approx(est, abs=1e-9)
        mv = multivariate_drift(sig, w)
        assert r["model"]["multivariate_score"] == pytest.approx(mv.score, rel=1e-6)
    code, out, _ = cli(*args, "--estimate-accuracy", "--multivariate")
    assert "est. accuracy" in out and "multivariate" in out
    code, out, _ = cli(*args, "--json")
    assert all(json.loads(line)["model"] == {} for line in out.splitlines())


def test_a_replayed_repair_says_when_its_deployment_has_moved_on(cli, tmp_path):
    """Same inputs after a rollback: the stored result said 'deployed clf@1 as clf' while clf
    served clf@2; the command now says what serves and how to serve the repair again."""
    from sklearn.linear_model import LogisticRegression

    import driftline

    rng = np.random.default_rng(0)

    def regime(shift: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.normal(0, 1, size=(n, 3))
        X[:, 0] += shift
        return X, (X[:, 0] > shift).astype(int)

    cli("init")
    store = driftline.open(tmp_path / ".driftline")
    Xa, ya = regime(0.0, 1500)
    Xb, yb = regime(4.0, 1500)
    base = store.register(LogisticRegression().fit(Xa, ya), name="clf", data=Xa)
    child = store.register(LogisticRegression().fit(Xb, yb), name="clf", parents=[base], data=Xb)
    store.deploy(child, "clf")
    Xw, _ = regime(0.0, 400)  # the ancestor's regime is back
    Xv, yv = regime(0.0, 60)
    write_csv(tmp_path / "window.csv", Xw, names=("f0", "f1", "f2"))
    (tmp_path / "val.csv").write_text(
        "f0,f1,f2,label\n"
        + "".join(f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{c}\n" for r, c in zip(Xv, yv, strict=True))
    )
    args = ("repair", "clf", "--window", "window.csv", "--validation", "val.csv", "--approve")
    code, out, _ = cli(*args, "--json")
    first = json.loads(out)
    assert code == 0 and first["status"] == "deployed" and "serving_now" not in first
    assert cli("rollback", "clf")[0] == 0
    code, out, _ = cli(*args, "--json")
    again = json.loads(out)
    assert again["repair_id"] == first["repair_id"] and again["serving_now"] == "clf@2"
    code, out, _ = cli(*args)
    assert code == 0 and "clf serves clf@2 now" in " ".join(out.split())
    # the list of repairs says it too (it showed a bare 'deployed' after the rollback)
    code, out, _ = cli("repairs", "--json")
    listed = {r["repair_id"]: r for r in json.loads(out)}
    assert listed[first["repair_id"]]["serving_now"] == "clf@2"
    code, out, _ = cli("repairs")
    assert code == 0 and "deployed (now clf@2)" in out
    assert cli("deploy", first["repaired_ref"], "--as", "clf")[0] == 0
    code, out, _ = cli("repairs", "--json")
    assert "serving_now" not in json.loads(out)[0]


def test_active_learning_keeps_the_repairs_target_accuracy(cli, tmp_path, monkeypatch):
    """'driftline repair ... --target-accuracy 0.95 --approve' deployed a refined model at
    0.867 once the label budget was spent: the target never reached active learning, whose
    floor is only the drifted model's accuracy."""
    import driftline.active as active

    seen = {}
    real = active.run_active_learning

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(active, "run_active_learning", spy)
    store, regime, base, child = _novel_regime_lineage(cli, tmp_path)
    write_csv(tmp_path / "window.csv", regime(-8.0, 300, 2)[0], names=("f0", "f1", "f2"))
    code, out, _ = cli(
        "repair",
        "clf",
        "--window",
        "window.csv",
        "--target-accuracy",
        "0.95",
        "--ask",
        "3",
        "--approve",
        "--json",
    )
    assert code == 0 and json.loads(out)["active_learning"]["status"] == "waiting-for-labels"
    assert seen["target_accuracy"] == 0.95 and seen["deploy"] is True
