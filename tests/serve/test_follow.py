"""``driftline agent --follow``: the agent beside a model served elsewhere reads rows as they
are appended, and reports the same windows as a one-shot run over the finished file."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
from conftest import FEATURES, make_data

from driftline.cli import main
from driftline.serve.follow import follow_batches


def _csv_lines(X: np.ndarray) -> list[str]:
    return [",".join(repr(float(v)) for v in row) + "\n" for row in X]


def test_follow_reads_appended_rows_like_a_one_shot_run(tmp_path, store_path, capsys):
    X, _ = make_data(400, shift=0.8, seed=21)
    lines = _csv_lines(X)
    src = tmp_path / "requests.csv"
    src.write_text(",".join(FEATURES) + "\n" + "".join(lines[:150]))

    def writer() -> None:
        time.sleep(0.4)
        with open(src, "a") as fh:
            fh.write(lines[150][:7])  # a writer mid-line: the agent must wait for the rest
            fh.flush()
            time.sleep(0.3)
            fh.write(lines[150][7:] + "".join(lines[151:]))

    t = threading.Thread(target=writer)
    t.start()
    args = [
        "--store",
        str(store_path),
        "agent",
        "clf@2",
        "--source",
        str(src),
        "--window",
        "200",
        "--batch-rows",
        "64",
        "--json",
        "--no-save",
    ]
    code = main([*args, "--follow", "--idle-exit", "1.5"])
    t.join()
    followed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code in (0, 1)
    assert [(r["start_row"], r["end_row"]) for r in followed] == [(0, 200), (200, 400)]
    main(args)
    once = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(once) == 2
    for a, b in zip(followed, once, strict=True):
        # equal up to the window sketch's approximation (batches of 64 vs whole chunks)
        assert a["drift"] == b["drift"] and a["n_rows"] == b["n_rows"] == 200
        for name in FEATURES:
            ma, mb = a["features"][name]["metrics"], b["features"][name]["metrics"]
            assert ma.keys() == mb.keys()
            for k in ma:
                assert abs(ma[k] - mb[k]) <= 0.02 * max(1.0, abs(mb[k])), (name, k)


def test_follow_stdin_flushes_promptly_and_stops_when_closed(monkeypatch):
    r, w = os.pipe()

    class FakeStdin:
        def fileno(self) -> int:
            return r

    monkeypatch.setattr("sys.stdin", FakeStdin())
    got: list[dict] = []

    def reader() -> None:
        got.extend(follow_batches("-", batch_rows=1000, poll=0.05))

    t = threading.Thread(target=reader)
    t.start()
    os.write(w, b'{"a": 1.0, "b": 2}\n{"a": 3.5, "b": 4}\n')
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(got) == 1 and list(got[0]["a"]) == [1.0, 3.5]  # flushed before 1000 rows
    os.write(w, b'{"a": 5.0, "b": 6}')  # no final newline: still a row once stdin closes
    os.close(w)
    t.join(timeout=5)
    assert not t.is_alive()
    assert [list(b["a"]) for b in got] == [[1.0, 3.5], [5.0]]
    os.close(r)
