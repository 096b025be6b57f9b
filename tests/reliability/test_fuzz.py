"""Fuzzing the command line in-process with hypothesis: bad files, bad numbers, bad names and
bad references to drift, signature, register, agent, label import and show.

Every input is invalid by construction. Each must give exit code 2 and exactly one line on
stderr, no traceback, within 10 s, and leave the store unchanged. The default run tries
2,100 inputs (350 per command); ``DRIFTLINE_FUZZ_EXAMPLES`` raises the count per command
(``-m slow`` runs 2,000 per command).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.cli import main
from driftline.store import Store

EXAMPLES = int(os.environ.get("DRIFTLINE_FUZZ_EXAMPLES", "350"))
NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]*")


CALLS = {"n": 0}


class Hang(BaseException):
    """Raised by the alarm: a command ran past 10 s."""


def _alarm(signum, frame):  # noqa: ANN001
    raise Hang()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store with model m@1 (training signature over columns alpha, beta), and a folder."""
    root = tmp_path_factory.mktemp("fuzz")
    store_dir = root / "store"
    rng = np.random.default_rng(0)
    with Store(store_dir) as store:
        m = store.register(
            {"w": np.ones((2, 2), np.float32)},
            name="m",
            data={"alpha": rng.normal(size=300), "beta": rng.normal(size=300)},
        )
    return {"root": root, "store": str(store_dir), "id": m.id}


def snapshot(store_dir: str) -> tuple:
    with Store(store_dir) as store:
        counts = {}
        with store.read() as conn:
            for t in (
                "models",
                "tensors",
                "edges",
                "signatures",
                "drift_reports",
                "deployments",
                "deployment_history",
                "label_requests",
                "labels",
            ):
                counts[t] = conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
        return counts, sorted(store.blobs.keys())


def run(world, argv: list[str], capfd) -> None:
    """Run one bad command line; check exit 2, one stderr line, no traceback, no hang."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        code = main(["--store", world["store"], *argv])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    CALLS["n"] += 1
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code == 2, f"{argv} gave {code}: {err[-300:]}"
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)


# ------------------------------------------------------------------ generators of bad files
BIG = st.sampled_from(["1" + "0" * 400, "-" + "9" * 5000, "1e400", "NaN", "[[[[[[[[", '"x"'])

ragged_csv = st.builds(
    lambda extra, vals: (
        "alpha,beta\n" + "1,2\n" + ",".join(["3"] * (3 + extra)) + "\n" + "\n".join(vals)
    ),
    st.integers(0, 5),
    st.lists(st.text(max_size=10), max_size=3),
)
binary = st.binary(min_size=1, max_size=400).map(lambda b: b"\x00\xff\xfe" + b)
bad_jsonl = st.one_of(
    st.builds(lambda v: f'{{"alpha": {v}, "beta": 1}}\n{{"alpha": 1}}\n[1, 2]\n', BIG),
    st.builds(lambda t: '{"alpha": 1, "beta": 2}\n' + t + "\n{", st.text(max_size=30)),
)
bad_npz = st.one_of(
    st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
    st.text(min_size=1, max_size=20).map(lambda s: _npz({"w": np.array([s, "x"])})),
    st.integers(1, 5)
    .map(lambda n: _npz({"w": np.empty((0,) * n)}) + b"\x00" * 7)
    .map(lambda b: b[: len(b) // 2]),
)
bad_safetensors = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda shape, n: _st_header(
            {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, n]}}
        ),
        st.lists(st.integers(-3, 10**12), max_size=4),
        st.integers(0, 64),
    ),
)


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _st_header(header: dict) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x01" * 16


def _pickle_zip() -> bytes:
    """A PyTorch-style zip checkpoint whose data.pkl would run os.system when unpickled."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"cos\nsystem\n(S'touch /tmp/driftline-pwned'\ntR.")
    return buf.getvalue()


table_file = st.one_of(
    st.tuples(st.just(".csv"), ragged_csv.map(str.encode)),
    st.tuples(st.sampled_from([".csv", ".jsonl", ".parquet"]), binary),
    st.tuples(st.just(".jsonl"), bad_jsonl.map(str.encode)),
    st.tuples(st.sampled_from([".csv", ".jsonl", ".parquet"]), st.just(b"")),
    st.tuples(st.sampled_from([".txt", ".xlsx", ""]), st.binary(max_size=50)),
)
param_file = st.one_of(
    st.tuples(st.just(".npz"), bad_npz),
    st.tuples(st.just(".safetensors"), bad_safetensors),
    st.tuples(
        st.sampled_from([".pt", ".bin", ".ckpt", ".pth"]), st.one_of(binary, st.just(_pickle_zip()))
    ),
    st.tuples(st.sampled_from([".pkl", ".joblib", ".h5", ""]), st.binary(max_size=50)),
)
bad_name = st.text(min_size=0, max_size=260).filter(
    lambda s: not (NAME_OK.fullmatch(s) and len(s) <= 200)
)
bad_number = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "-0.5", "1e999", "-5", "abc", "", "-" + "9" * 40]),
    st.text(max_size=8).filter(lambda s: not s.strip().isdigit()),
)


def put(world, suffix: str, data: bytes) -> str:
    path = Path(world["root"]) / f"in{suffix}"
    path.write_bytes(data)
    return str(path)


def bad_ref(world):
    mid = world["id"]
    return st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda n: f"m@{n}", st.one_of(st.integers(2, 10**30).map(str), st.text(max_size=5))
        ),
        st.builds(lambda t: f"deployment:{t}", st.text(max_size=20)),
        st.just("m@99999999999999999999999"),
    ).filter(
        lambda r: (
            r.strip() not in ("m", "m@1", "m@latest")
            and not (len(r.strip()) >= 4 and mid.startswith(r.strip()))
        )
    )


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def fuzz_case(world, capfd, make_argv):
    before, start = snapshot(world["store"]), CALLS["n"]
    make_argv()
    assert snapshot(world["store"]) == before
    assert not Path("/tmp/driftline-pwned").exists()
    with capfd.disabled():
        print(f" {CALLS['n'] - start} bad inputs, all one line and exit 2", end="")


def test_fuzz_drift(world, capfd):
    @FUZZ
    @given(
        st.one_of(
            st.tuples(st.just("file"), table_file, st.none()),
            st.tuples(st.just("share"), st.just((".csv", b"alpha,beta\n1,2\n3,4\n")), bad_number),
            st.tuples(st.just("ref"), st.just((".csv", b"alpha,beta\n1,2\n")), bad_ref(world)),
        )
    )
    def case(args):
        kind, (suffix, data), extra = args
        path = put(world, suffix, data)
        if kind == "share":
            return run(world, ["drift", "m@1", path, "--no-save", "--drift-share", extra], capfd)
        run(world, ["drift", extra if kind == "ref" else "m@1", path, "--no-save"], capfd)

    fuzz_case(world, capfd, case)


def test_fuzz_signature(world, capfd):
    @FUZZ
    @given(
        st.one_of(
            st.tuples(table_file, st.none()),
            st.tuples(st.just((".csv", b"alpha,beta\n1,2\n3,4\n")), bad_ref(world)),
        )
    )
    def case(args):
        (suffix, data), ref = args
        argv = ["signature", put(world, suffix, data), "--json"]
        run(world, argv + (["--attach", ref] if ref is not None else []), capfd)

    fuzz_case(world, capfd, case)


def test_fuzz_register(world, capfd):
    good = _npz({"w": np.arange(4.0)})

    @FUZZ
    @given(
        st.one_of(
            st.tuples(param_file, st.just("ok")),
            st.tuples(st.just((".npz", good)), bad_name),
        )
    )
    def case(args):
        (suffix, data), name = args
        run(world, ["register", put(world, suffix, data), "--name", name], capfd)

    fuzz_case(world, capfd, case)


def test_fuzz_agent(world, capfd):
    ok = (".csv", b"alpha,beta\n" + b"1,2\n" * 20)

    @FUZZ
    @given(
        st.one_of(
            # a stream may be empty or lack columns until a window completes: unparseable only
            st.tuples(
                st.one_of(
                    st.tuples(st.just(".csv"), ragged_csv.map(str.encode)),
                    st.tuples(st.just(".jsonl"), bad_jsonl.map(str.encode)),
                ),
                st.just("--window"),
                st.just("10"),
            ),
            st.tuples(
                st.just(ok),
                st.sampled_from(
                    ["--window", "--step", "--batch-rows", "--drift-share", "--window-seconds"]
                ),
                bad_number,
            ),
        )
    )
    def case(args):
        (suffix, data), opt, value = args
        argv = [
            "agent",
            "m@1",
            "--source",
            put(world, suffix, data),
            "--no-save",
            "--mode",
            "sliding",
            "--window",
            "10",
            opt,
            value,
        ]
        if opt == "--window-seconds":
            argv += ["--time-column", "alpha"]
        run(world, argv, capfd)

    fuzz_case(world, capfd, case)


def test_fuzz_label_import(world, capfd):
    @FUZZ
    @given(
        st.one_of(
            st.tuples(st.sampled_from([".csv", ".jsonl", ".json"]), binary),
            st.tuples(st.just(".json"), st.text(max_size=40).map(lambda t: ("[{" + t).encode())),
            st.tuples(st.sampled_from([".parquet", ".txt", ""]), st.binary(max_size=40)),
        )
    )
    def case(args):
        suffix, data = args
        run(world, ["label", "import", put(world, suffix, data)], capfd)

    fuzz_case(world, capfd, case)


def test_fuzz_show(world, capfd):
    @FUZZ
    @given(bad_ref(world))
    def case(ref):
        run(world, ["show", ref], capfd)

    fuzz_case(world, capfd, case)
