"""`driftline label`: the interactive session (stdin), export/import, list, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from driftline.active import LabelQueue
from driftline.cli.common import STATE
from driftline.cli.label import register_commands, shade_rows
from driftline.store import Store


def make_app() -> typer.Typer:
    """The label commands on a root app (as `driftline` wires them)."""
    app = typer.Typer()

    @app.callback()
    def root(store: str = typer.Option(None, "--store")) -> None:
        STATE["store"] = store

    register_commands(app)
    return app


@pytest.fixture()
def store_path(tmp_path) -> Path:
    path = tmp_path / "store"
    q = LabelQueue(Store(path))
    rng = np.random.default_rng(0)
    preds = [
        {
            "label": i,
            "confidence": 0.5,
            "ref": "digits@5",
            "classes": list(range(10)),
            "image_shape": [8, 8],
            "members": [
                {"role": "current", "ref": "digits@5", "label": i, "confidence": 0.5},
                {"role": "drifted", "ref": "digits@4", "label": 9, "confidence": 0.9},
            ],
        }
        for i in range(3)
    ]
    q.request(
        rng.random((3, 64)),
        [0.9, 0.8, 0.7],
        strategy="qbc_vote",
        round=1,
        repair_id=1,
        predictions=preds,
    )
    q.request(
        rng.random((1, 3)),
        [0.5],
        strategy="margin",
        round=1,
        repair_id=2,
        predictions=[{"label": 1, "confidence": 0.6, "classes": [0, 1]}],
    )
    return path


def invoke(store_path: Path, args: list[str], input: str | None = None):
    return CliRunner().invoke(make_app(), ["--store", str(store_path), *args], input=input)


def test_shade_rendering():
    x = np.zeros(64)
    x[0], x[63] = 1.0, 0.5
    rows = shade_rows(x)
    assert len(rows) == 8 and all(len(r) == 16 for r in rows)
    assert rows[0].startswith("██") and rows[7].endswith("▒▒") and rows[3] == " " * 16


def test_interactive_session_stores_typed_labels(store_path):
    # bad label, then 7; skip; then quit
    res = invoke(
        store_path, ["label", "--repair", "1", "--annotator", "tester"], input="12\n7\ns\nq\n"
    )
    assert res.exit_code == 0, res.output
    assert "lineage predictions" in res.output and "digits@4" in res.output
    assert "██" in res.output or "▓" in res.output or "░" in res.output
    assert "not one of the model's classes" in res.output
    q = LabelQueue(Store(store_path))
    reqs = q.requests(1)
    assert [r.status for r in reqs] == ["labelled", "skipped", "pending"]
    assert reqs[0].label == 7 and reqs[0].annotator == "tester"
    # end of input behaves like quit; the labelled answer is kept
    res = invoke(store_path, ["label", "--repair", "1"], input="")
    assert res.exit_code == 0 and "still pending" in res.output
    # a non-image request shows a feature table
    res = invoke(store_path, ["label", "--repair", "2"], input="1\n")
    assert "features" in res.output and "f2" in res.output
    assert q.get(4).label == 1
    res = invoke(store_path, ["label"], input="")
    assert res.exit_code == 0


def test_session_in_a_real_process_saves_each_answer(store_path):
    """Driven through a subprocess's stdin, the way a terminal user would."""
    code = textwrap.dedent(f"""
        import sys, typer
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_cli_label import make_app
        make_app()(["--store", {str(store_path)!r}, "label", "--repair", "1"])
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        input="3\n5\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert out.returncode == 0, out.stderr
    assert LabelQueue(Store(store_path)).labelled(1)[1].tolist() == [3, 5]


def test_export_import_and_list(store_path, tmp_path):
    out = tmp_path / "tasks.json"
    res = invoke(
        store_path, ["label", "export", "--format", "label-studio", "-o", str(out), "--repair", "1"]
    )
    assert res.exit_code == 0, res.output
    tasks = json.loads(out.read_text())
    assert len(tasks) == 3 and (tmp_path / "tasks.label_config.xml").is_file()
    for t, v in zip(tasks, ["2", "4", "6"], strict=True):
        t["annotations"] = [{"result": [{"value": {"choices": [v]}}]}]
    out.write_text(json.dumps(tasks))
    res = invoke(store_path, ["label", "import", str(out)])
    assert res.exit_code == 0 and "labelled 3" in res.output
    assert LabelQueue(Store(store_path)).labelled(1)[1].tolist() == [2, 4, 6]
    csv_path = tmp_path / "r.csv"
    res = invoke(store_path, ["label", "export", "--format", "csv", "-o", str(csv_path)])
    assert res.exit_code == 0 and "1 request(s)" in res.output
    res = invoke(store_path, ["label", "list", "--json"])
    rows = json.loads(res.output)
    assert [r["status"] for r in rows] == ["labelled"] * 3 + ["pending"]
    res = invoke(store_path, ["label", "list"])
    assert res.exit_code == 0 and "3 labelled" in res.output
    res = invoke(store_path, ["label", "cancel", "4"])
    assert res.exit_code == 0
    assert LabelQueue(Store(store_path)).get(4).status == "cancelled"


def test_user_errors_are_driftline_errors(store_path, tmp_path):
    from driftline.errors import DriftlineError

    res = invoke(store_path, ["label", "export", "--format", "xml", "-o", str(tmp_path / "x")])
    assert isinstance(res.exception, DriftlineError) and "unknown format" in str(res.exception)
    res = invoke(store_path, ["label", "import", str(tmp_path / "missing.csv")])
    assert isinstance(res.exception, DriftlineError)
    res = invoke(store_path, ["label", "cancel", "99"])
    assert isinstance(res.exception, DriftlineError) and "#99" in str(res.exception)


def test_wired_into_driftline_main_when_registered(store_path, capsys):
    """Once cli/extra.py registers the group, errors are one line with exit code 2."""
    from driftline.cli import app, main

    names = {g.name for g in app.registered_groups}
    if "label" not in names:
        pytest.skip("the label group is not wired into the driftline app yet")
    code = main(["--store", str(store_path), "label", "cancel", "99"])
    err = capsys.readouterr().err
    assert code == 2 and "no label request #99" in err and "Traceback" not in err


def _waiting_repair(tmp_path: Path) -> tuple[Path, int, list[int]]:
    """A stored regressor repair whose 4 label requests wait for a human."""
    from sklearn.linear_model import Ridge

    import driftline
    from driftline.active import run_active_learning
    from driftline.repair import repair

    rng = np.random.default_rng(0)

    def regime(shift, n, w):
        X = rng.normal(size=(n, 3))
        X[:, 0] += shift
        return X, X @ np.asarray(w)

    path = tmp_path / "rstore"
    store = driftline.open(path)
    Xa, ya = regime(0, 300, [1.0, 2.0, 0.0])
    Xb, yb = regime(4, 300, [-1.0, 0.5, 1.0])
    base = store.register(Ridge().fit(Xa, ya), name="reg", data=Xa)
    child = store.register(Ridge().fit(Xb, yb), name="reg", parents=[base], data=Xb)
    store.deploy(child, "reg")
    Xw, _ = regime(-6, 200, [0.0, 1.0, 3.0])
    result = repair(store, "reg", Xw)
    out = run_active_learning(store, result, Xw, None, batch=4, budget=8)
    return path, int(result.repair_id), out.pending


def _record(path: Path, rid: int):
    from driftline.repair import load_repair

    return load_repair(Store(path), rid)


def test_cancel_and_answers_keep_the_repair_record_in_line(tmp_path):
    """After 'label cancel --repair N' the record still said waiting-for-labels with 4
    pending; answers through a file left the pending count stale too."""
    path, rid, pending = _waiting_repair(tmp_path)
    answers = tmp_path / "a.csv"
    answers.write_text(f"request_id,label\n{pending[0]},2.5\n")
    assert invoke(path, ["label", "import", str(answers)]).exit_code == 0
    rec = _record(path, rid)
    assert rec.status == "waiting-for-labels" and rec.active["pending"] == 3
    res = invoke(path, ["label", "cancel", "--repair", str(rid)])
    assert res.exit_code == 0 and "cancelled 3" in res.output
    rec = _record(path, rid)
    assert rec.status == "needs-labels" and rec.active["pending"] == 0
    assert "1 labelled" in rec.message and "3 cancelled" in rec.message
    again = invoke(path, ["label", "cancel", str(pending[1])])
    assert again.exit_code == 0 and "cancelled 0" in again.output
    assert "1 already cancelled" in again.output


@pytest.mark.parametrize(
    "args",
    [
        ["label", "--repair", "99"],
        ["label", "list", "--repair", "99"],
        ["label", "cancel", "--repair", "99"],
        ["label", "export", "-f", "csv", "-o", "OUT", "--repair", "99"],
    ],
)
def test_an_unknown_repair_is_an_error(store_path, tmp_path, args):
    """'--repair 99' of a repair that does not exist printed 'cancelled 0' / an empty list
    or file and exited 0."""
    args = [str(tmp_path / "x.csv") if a == "OUT" else a for a in args]
    from driftline.errors import DriftlineError

    res = invoke(store_path, args)
    assert isinstance(res.exception, DriftlineError) and res.exception.exit_code == 2
    assert "no repair #99" in str(res.exception)
    assert not (tmp_path / "x.csv").exists()


def test_a_request_cancelled_during_the_session_is_passed_over(store_path, monkeypatch):
    """A request cancelled elsewhere while the session showed it answered every label with
    'was cancelled; try again', forever; now the session moves on to the next request."""
    import driftline.cli.label as label_cli

    q = LabelQueue(Store(store_path))
    first = q.pending(1)[0].id
    asked = []
    real_ask = label_cli._ask

    def ask(prompt: str):
        if not asked:
            q.cancel(first)  # another annotator withdraws it
        asked.append(prompt)
        return real_ask(prompt)

    monkeypatch.setattr(label_cli, "_ask", ask)
    res = invoke(store_path, ["label", "--repair", "1"], input="3\n4\nq\n")
    assert res.exit_code == 0
    assert f"request #{first} is cancelled now" in res.output
    assert q.get(first).status == "cancelled"
    second = q.pending(1)[0] if q.pending(1) else None
    labelled = q.requests(1, "labelled")
    assert [r.label for r in labelled] == [4] and second is not None


def test_an_import_with_rejected_rows_exits_2_after_importing_the_rest(store_path, tmp_path):
    """Rows with an unknown class or request id were reported as 'skipped' with exit code 0,
    so 'driftline label import a.csv && driftline repair ...' went on without them."""
    from driftline.errors import DriftlineError

    path = tmp_path / "a.csv"
    path.write_text("request_id,label\n1,3\n2,33\n999,1\n")
    res = invoke(store_path, ["label", "import", str(path)])
    assert isinstance(res.exception, DriftlineError) and res.exception.exit_code == 2
    assert "2 row(s)" in str(res.exception) and "labelled 1" in res.output
    assert LabelQueue(Store(store_path)).get(1).label == 3
    path.write_text("request_id,label\n2,4\n")
    assert invoke(store_path, ["label", "import", str(path)]).exit_code == 0
