"""Input conversion and file / stream reading."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from driftline.drift import DriftAgent, Signature, iter_batches, read_table, to_columns
from driftline.errors import InvalidInputError

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


def test_numpy_dict_and_rows():
    a = np.arange(6, dtype=float).reshape(3, 2)
    cols = to_columns(a)
    assert list(cols) == ["f0", "f1"] and cols["f1"].tolist() == [1.0, 3.0, 5.0]
    cols = to_columns(a, ["x", "y"])
    assert cols["y"].flags.c_contiguous
    rows = [{"x": 1, "c": "a"}, {"x": None, "c": None}, {"x": 2.5, "c": "b", "z": True}]
    cols = to_columns(rows)
    assert cols["x"].dtype == np.float64 and np.isnan(cols["x"][1])
    assert cols["c"].tolist() == ["a", None, "b"]
    assert cols["z"].tolist() == [None, None, "True"]
    with pytest.raises(InvalidInputError):
        to_columns(np.zeros(3))
    with pytest.raises(InvalidInputError):
        to_columns(a, ["only_one"])
    with pytest.raises(InvalidInputError):
        to_columns(42)


def test_pandas_types():
    df = pd.DataFrame(
        {
            "f": [1.0, np.nan, 3.0],
            "i": pd.array([1, None, 3], dtype="Int64"),
            "cat": pd.Categorical(["a", None, "b"]),
            "s": ["x", "y", None],
            "b": [True, False, True],
        }
    )
    cols = to_columns(df)
    assert cols["f"].dtype == np.float64 and cols["i"].dtype == np.float64
    assert np.isnan(cols["i"][1])
    assert cols["cat"].tolist() == ["a", None, "b"]
    assert cols["s"].tolist() == ["x", "y", None]
    assert cols["b"].tolist() == ["True", "False", "True"]
    sig = Signature.from_data(df)
    assert sig.kinds == {
        "f": "numeric",
        "i": "numeric",
        "cat": "categorical",
        "s": "categorical",
        "b": "categorical",
    }


def test_arrow_and_polars_if_installed():
    t = pa.table({"x": [1, 2, None], "c": pa.array(["a", "b", "a"]).dictionary_encode()})
    cols = to_columns(t)
    assert np.isnan(cols["x"][2]) and cols["c"].tolist() == ["a", "b", "a"]
    try:
        import polars as pl
    except ImportError:
        return
    cols = to_columns(pl.DataFrame({"x": [1.0, 2.0], "c": ["u", "v"]}))
    assert cols["c"].tolist() == ["u", "v"]


def test_declared_categorical_normalises_numbers():
    cols = to_columns({"k": np.array([1.0, 2.0, np.nan])}, categorical=["k"])
    assert cols["k"].tolist() == ["1", "2", None]


def test_read_table_formats_and_folder(tmp_path):
    df = pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "c": ["a", "b", "a", "c"]})
    df.iloc[:2].to_csv(tmp_path / "01.csv", index=False)
    df.iloc[2:].to_parquet(tmp_path / "02.parquet")
    (tmp_path / "03.jsonl").write_text('{"x": 9.0, "c": "z"}\n')
    (tmp_path / "notes.txt").write_text("ignored")
    cols = read_table(tmp_path)
    assert cols["x"].tolist() == [1.5, 2.5, 3.5, 4.5, 9.0]
    assert cols["c"].tolist() == ["a", "b", "a", "c", "z"]
    assert read_table(tmp_path / "01.csv")["x"].tolist() == [1.5, 2.5]
    with pytest.raises(InvalidInputError):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(InvalidInputError):
        read_table(tmp_path / "notes.txt")


def test_iter_batches_files_and_streams(tmp_path):
    n = 25
    df = pd.DataFrame({"x": np.arange(n, dtype=float), "c": ["a"] * n})
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for p in ("d.csv", "d.parquet"):
        sizes = [len(b["x"]) for b in iter_batches(tmp_path / p, batch_rows=10)]
        assert sizes == [10, 10, 5]
    text = "\n".join(json.dumps({"x": float(i), "c": "a"}) for i in range(7)) + "\n"
    batches = list(iter_batches(io.StringIO(text), batch_rows=3))
    assert [len(b["x"]) for b in batches] == [3, 3, 1]
    csv = io.BytesIO(b"x,c\n1,a\n2,b\n\n3,a\n")
    got = list(iter_batches(csv, batch_rows=2))
    assert got[1]["x"].tolist() == [3.0] and got[0]["c"].tolist() == ["a", "b"]


def _epoch(*ymd: int) -> float:
    import datetime as dt

    return dt.datetime(*ymd, tzinfo=dt.UTC).timestamp()


def test_datetimes_are_epoch_seconds_whatever_the_zone_or_unit(tmp_path):
    # tz-aware columns are instants (UTC epoch seconds), not an error; far-off sentinel dates
    # (9999-12-31) are kept exactly instead of overflowing nanoseconds or failing the read
    oslo = pd.Series(pd.to_datetime(["2024-01-01 01:00", None]).tz_localize("Europe/Oslo"))
    far = np.array(["1500-01-01", "9999-12-31"], dtype="datetime64[s]")
    cols = to_columns(pd.DataFrame({"oslo": oslo, "far": far}))
    assert cols["oslo"][0] == _epoch(2024, 1, 1) and np.isnan(cols["oslo"][1])
    assert cols["far"].tolist() == [_epoch(1500, 1, 1), _epoch(9999, 12, 31)]
    t = pa.table(
        {
            "day": pa.array([far[1].astype("datetime64[D]").astype(int), None], pa.date32()),
            "utc": pa.array([int(_epoch(9999, 12, 31)), 0], pa.timestamp("s", tz="UTC")),
        }
    )
    cols = to_columns(t)
    assert cols["day"][0] == _epoch(9999, 12, 31) and np.isnan(cols["day"][1])
    assert cols["utc"].tolist() == [_epoch(9999, 12, 31), 0.0]
    path = tmp_path / "dates.csv"
    path.write_text("d,t\n2024-01-01,2024-01-01T01:00:00+01:00\n9999-12-31,\n")
    cols = read_table(path)
    assert cols["d"].tolist() == [_epoch(2024, 1, 1), _epoch(9999, 12, 31)]
    assert cols["t"][0] == _epoch(2024, 1, 1) and np.isnan(cols["t"][1])
    assert Signature.from_data(pd.DataFrame({"oslo": oslo})).kinds == {"oslo": "numeric"}


def test_pandas_arrow_backed_columns_read_as_arrow_reads_them():
    # pandas.read_csv(..., dtype_backend="pyarrow") gives ArrowDtype columns: dates, zoned
    # timestamps and decimals are numbers exactly as the same Arrow table gives them
    t = pa.table(
        {
            "n": pa.array([1, None, 3], pa.int64()),
            "day": pa.array([19723, None, 2932896], pa.date32()),
            "t": pa.array([0, None, 86_400], pa.timestamp("s", tz="Europe/Oslo")),
            "dur": pa.array([1_500, None, 0], pa.duration("ms")),
            "dec": pa.array([None, 1, 2], pa.decimal128(5, 2)),
            "s": pa.array(["a", None, "b"]),
            "b": pa.array([True, None, False]),
        }
    )
    df = t.to_pandas(types_mapper=pd.ArrowDtype)
    got, want = to_columns(df), to_columns(t)
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype
        assert got[name].tolist() == pytest.approx(want[name].tolist(), nan_ok=True)
    assert got["day"].tolist()[::2] == [_epoch(2024, 1, 1), _epoch(9999, 12, 31)]
    assert got["dur"].tolist()[::2] == [1.5, 0.0] and got["s"].tolist() == ["a", None, "b"]


def test_json_rows_with_iso_dates_read_like_the_same_csv(tmp_path):
    # JSON has no date type: dates arrive as ISO text. They must be the timestamps the CSV
    # reader makes of the same text, or a JSON-lines window is "type_changed" against a
    # signature built from CSV (and a signature built from JSON takes them for ids)
    rng = np.random.default_rng(3)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, 300), unit="s")
    frame = pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "at": days.strftime("%Y-%m-%d %H:%M:%S"),
            "zoned": days.tz_localize("Asia/Kolkata").strftime("%Y-%m-%dT%H:%M:%S%z"),
            "word": rng.choice(["2024-x", "b"], 300),
        }
    )
    frame.loc[5, "at"] = None
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    csv, jsonl = read_table(tmp_path / "t.csv"), read_table(tmp_path / "t.jsonl")
    assert {k: v.dtype for k, v in jsonl.items()} == {k: v.dtype for k, v in csv.items()}
    for name in ("day", "at", "zoned"):
        np.testing.assert_array_equal(jsonl[name], csv[name])
    assert jsonl["zoned"][0] == days[0].tz_localize("Asia/Kolkata").timestamp()
    assert jsonl["word"].dtype == object
    sig = Signature.from_data(csv)
    agent = DriftAgent(sig, window=300)
    (rep,) = agent.update(frame.to_dict("records"))
    assert rep.schema_issues == [] and not rep.drift


def test_json_file_holding_an_array_of_records(tmp_path):
    # a .json file is as often one array of records (pandas' to_json(orient="records"),
    # most APIs' exports) as JSON lines; both read as the same table, whole or in batches
    from driftline.drift.tabular import read_frame

    df = pd.DataFrame({"x": [1.5, 2.5, None, 4.5], "c": ["a", "b", None, "c"]})
    df.to_json(tmp_path / "one_line.json", orient="records")
    (tmp_path / "pretty.json").write_text(json.dumps(df.to_dict("records"), indent=2))
    df.to_json(tmp_path / "lines.jsonl", orient="records", lines=True)
    want = read_table(tmp_path / "lines.jsonl")
    for name in ("one_line.json", "pretty.json"):
        got = read_table(tmp_path / name)
        np.testing.assert_array_equal(got["x"], want["x"])
        assert got["c"].tolist() == want["c"].tolist() == ["a", "b", None, "c"]
        sizes = [len(b["x"]) for b in iter_batches(tmp_path / name, batch_rows=3)]
        assert sizes == [3, 1]
        assert read_frame(tmp_path / name).shape == (4, 2)
    (tmp_path / "numbers.json").write_text("[1, 2, 3]")
    with pytest.raises(InvalidInputError, match="numbers.json.*object"):
        read_table(tmp_path / "numbers.json")


def test_duplicate_column_names_are_one_clear_error(tmp_path):
    # a CSV header 'a,a,b' silently kept only the second 'a'; a DataFrame with two 'a'
    # columns raised AttributeError
    (tmp_path / "dup.csv").write_text("a,a,b\n1,2,3\n4,5,6\n")
    with pytest.raises(InvalidInputError, match="'a' more than once"):
        read_table(tmp_path / "dup.csv")
    with pytest.raises(InvalidInputError, match="'a' more than once"):
        list(iter_batches(tmp_path / "dup.csv"))
    df = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "a", "b"])
    with pytest.raises(InvalidInputError, match="'a' more than once"):
        Signature.from_data(df)


def test_decimal_objects_are_numbers():
    # database reads (pandas.read_sql of NUMERIC columns) give Decimal objects; they were
    # categories, so a price column became an 'id' or a huge category set, and disagreed with
    # the same column read from Parquet (decimal128 -> numeric)
    from decimal import Decimal

    prices = [Decimal("19.99"), None, Decimal("5.00"), Decimal("120.50")]
    cols = to_columns(pd.DataFrame({"price": pd.Series(prices, dtype=object)}))
    assert cols["price"].dtype == np.float64
    np.testing.assert_array_equal(cols["price"], [19.99, np.nan, 5.0, 120.5])
    assert to_columns([{"p": p} for p in prices])["p"].dtype == np.float64
    arrow = to_columns(pa.table({"p": pa.array(prices, pa.decimal128(6, 2))}))["p"]
    np.testing.assert_allclose(arrow, cols["price"], rtol=1e-15)
