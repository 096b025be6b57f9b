"""The README's CLI tour (the churn part) runs as written, command by command, on the files of
``driftline example churn``. The one human step (annotating the exported tasks) is done with the
generator's true labels, matched by customer id."""

from __future__ import annotations

import csv
import io
import re
import shlex
from pathlib import Path

from driftline.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### Your own model: the churn example"


def tour_commands() -> list[str]:
    """The ``driftline`` command lines of the churn tour block, comments stripped."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index(SECTION) :]
    block = block[block.index("```bash") + len("```bash") :]
    block = block[: block.index("```")]
    out = []
    for line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def annotate(folder: Path) -> None:
    """What the human does: fill tasks.csv's label column, save it as annotated.csv."""
    from driftline.demo.churn import TARGET, churn_tables

    today = churn_tables(0).today
    truth = dict(zip(today["customer_id"], today[TARGET], strict=True))
    with (folder / "tasks.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "the tour's repair should have queued label requests"
    with (folder / "annotated.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "label": truth[r["customer_id"]]})


def test_tour_is_in_the_readme():
    cmds = tour_commands()
    assert cmds[0].startswith("driftline example churn")
    for needed in (
        "register model.safetensors",
        "signature train.csv",
        "drift churn@2 today.csv",
        "agent churn@2",
        "repair churn",
        "label import annotated.csv",
        "approve 1",
    ):
        assert any(needed in c for c in cmds), needed


def test_readme_cli_tour_runs_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLINE_STORE", raising=False)
    outputs: dict[str, tuple[int, str]] = {}
    cmds = tour_commands()
    for line in cmds:
        for part in line.split("&&"):
            argv = shlex.split(part)
            if argv[0] == "cd":
                monkeypatch.chdir(Path.cwd() / argv[1])
                continue
            assert argv[0] == "driftline", line
            if argv[1:3] == ["label", "import"]:
                annotate(Path.cwd())
            if argv[1:] == ["label"]:
                monkeypatch.setattr("sys.stdin", io.StringIO("1\nq\n"))
            code = main(argv[1:])
            out, err = capsys.readouterr()
            outputs[part.strip()] = (code, out + err)
            # drift / agent exit 1 when they find drift; everything else must succeed
            allowed = (0, 1) if argv[1] in ("drift", "agent") else (0,)
            assert code in allowed, f"{part!r} exited {code}:\n{out}\n{err}"
    # what the tour promises along the way
    sig_out = outputs["driftline signature train.csv --attach churn@1 --target churned"][1]
    assert "customer_id: id" in sig_out and "churned: target (declared)" in sig_out
    code, out = outputs["driftline drift churn@2 today.csv"]
    assert code == 1 and "monthly_charges" in out and "missing_column" not in out
    code, out = outputs["driftline drift churn@1 labelled.csv"]
    assert "missing_column" not in out and "extra_column" not in out
    assert (
        "deployed"
        in outputs["driftline repair churn --window today.csv --validation labelled.csv --approve"][
            1
        ]
    )
    assert (
        "waits for approval" in outputs["driftline repair churn --window today.csv"][1]
        or "approve" in outputs["driftline repair churn --window today.csv"][1]
    )
    imported = outputs["driftline label import annotated.csv"][1]
    assert re.search(r"\b20\b", imported), imported
    final = outputs[cmds[-1]][1]
    assert "refinement with your labels" in final and "deployed" in final, final
