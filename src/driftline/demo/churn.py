"""A tabular lineage on the generated churn table (:func:`driftline.datasets.churn_table`):
the files behind ``driftline example churn DIR`` (and the README's CLI tour), the models of the
tabular demo scenario, and the fixtures of the end-to-end tests.

The model is a scikit-learn ``LogisticRegression`` fitted on a pandas DataFrame of three named
numeric columns (``CHURN_MODEL_INPUTS``); the other columns (categories, booleans, dates, an id,
the label) are in the tables as users have them and are drift-tested or carried by role.
Lineage: ``churn@1`` on the original customers, ``churn@2`` and ``churn@3`` fine-tuned on a
promotion season; today's customers look like the original ones again (with a little drift of
their own), so ``churn@1`` is the healthy ancestor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.datasets import CHURN_MODEL_INPUTS, churn_table
from driftline.errors import InvalidInputError

TARGET = "churned"
#: files ``driftline example churn`` writes, and what each is for
EXAMPLE_FILES = {
    "model.safetensors": "churn@1: LogisticRegression on the original customers",
    "tuned.safetensors": "churn@2: fine-tuned on the promotion season",
    "train.csv": "training table of churn@1 (with the label churned)",
    "promo.csv": "training table of churn@2",
    "today.csv": "today's customers, unlabelled",
    "stream.csv": "a stream: original customers, then the promotion season",
    "labelled.csv": "a few hundred of today's customers with their label",
}


@dataclass(frozen=True)
class ChurnTables:
    """The tables of one seed: training tables per version, today's window and labels."""

    base: Any
    promo: Any
    promo2: Any
    today: Any
    labelled: Any
    test: Any


def churn_tables(seed: int = 0, n: int = 2000) -> ChurnTables:
    """Disjoint generated tables (different generator streams per table)."""
    return ChurnTables(
        base=churn_table(n, regime="base", seed=seed),
        promo=churn_table(n, regime="promo", seed=seed),
        promo2=churn_table(n, regime="promo", seed=seed + 101),
        today=churn_table(n, regime="today", seed=seed + 1),
        labelled=churn_table(400, regime="today", seed=seed + 2),
        test=churn_table(n, regime="today", seed=seed + 3),
    )


def fit_churn_model(table: Any, warm_from: Any = None, max_iter: int = 2000) -> Any:
    """LogisticRegression fitted on the named input columns (a DataFrame, so it records
    ``feature_names_in_``); ``warm_from`` starts from another model's coefficients."""
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression(max_iter=max_iter, warm_start=warm_from is not None)
    if warm_from is not None:
        est.coef_ = warm_from.coef_.copy()
        est.intercept_ = warm_from.intercept_.copy()
        est.classes_ = warm_from.classes_
    return est.fit(table[list(CHURN_MODEL_INPUTS)], table[TARGET])


def register_churn_lineage(store: Any, tables: ChurnTables, name: str = "churn") -> list[Any]:
    """Register churn@1 (base) -> @2 (promo) -> @3 (more promo), each with its training
    signature (target ``churned`` recorded, ``customer_id`` detected as an id)."""
    from driftline.drift import Signature
    from driftline.drift.roles import input_schema

    m1 = fit_churn_model(tables.base)
    m2 = fit_churn_model(tables.promo, warm_from=m1)
    m3 = fit_churn_model(tables.promo2, warm_from=m2)
    out: list[Any] = []
    for est, data, season in (
        (m1, tables.base, "base"),
        (m2, tables.promo, "promo"),
        (m3, tables.promo2, "promo"),
    ):
        sig = Signature.from_data(data, target=TARGET)
        out.append(
            store.register(
                est,
                name=name,
                parents=[out[-1]] if out else [],
                transform="finetune",
                params={"season": season},
                data=data,
                signature=sig,
                architecture={"input_schema": input_schema(data, sig)},
                metrics={
                    "accuracy": float(est.score(data[list(CHURN_MODEL_INPUTS)], data[TARGET]))
                },
            )
        )
    return out


def write_churn_example(folder: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write :data:`EXAMPLE_FILES` into ``folder`` (created; existing files are refused)."""
    from driftline.params import as_model_params, save_safetensors
    from driftline.params.file_meta import architecture_metadata

    out = Path(folder)
    clash = [f for f in EXAMPLE_FILES if (out / f).exists()]
    if clash:
        raise InvalidInputError(f"{out} already holds {', '.join(clash)}; choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    t = churn_tables(seed)
    m1 = fit_churn_model(t.base)
    m2 = fit_churn_model(t.promo, warm_from=m1)
    for fname, est in (("model.safetensors", m1), ("tuned.safetensors", m2)):
        mp = as_model_params(est)
        save_safetensors(
            mp.params, out / fname, architecture_metadata(mp.framework, mp.architecture)
        )
    t.base.to_csv(out / "train.csv", index=False)
    t.promo.to_csv(out / "promo.csv", index=False)
    t.today.drop(columns=[TARGET]).to_csv(out / "today.csv", index=False)
    import pandas as pd

    stream = pd.concat(
        [
            churn_table(1000, regime="base", seed=seed + 7),
            churn_table(2000, regime="promo", seed=seed + 8),
        ]
    )
    stream.drop(columns=[TARGET]).to_csv(out / "stream.csv", index=False)
    t.labelled.to_csv(out / "labelled.csv", index=False)
    return {f: out / f for f in EXAMPLE_FILES}
