"""RFM scores and named segments (segspark/clustering/rfm.py) against pandas and by hand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from segspark.clustering import rfm
from segspark.orders.feature_sets import load_feature_set

RFM = load_feature_set("rfm")

#: The R x F grid as RFM notebooks write it (regular expressions over "<R><F>"): an independent
#: statement of conf/features/rfm.toml's table.
GRID = {
    r"[1-2][1-2]": "Hibernating",
    r"[1-2][3-4]": "At Risk",
    r"[1-2]5": "Can't Lose Them",
    r"3[1-2]": "About To Sleep",
    r"33": "Need Attention",
    r"[3-4][4-5]": "Loyal Customers",
    r"41": "Promising",
    r"51": "New Customers",
    r"[4-5][2-3]": "Potential Loyalists",
    r"5[4-5]": "Champions",
}


def grid_name(r: int, f: int) -> str:
    names = [name for pattern, name in GRID.items() if re.fullmatch(pattern, f"{r}{f}")]
    assert len(names) == 1
    return names[0]


def test_the_built_in_table_is_the_grid_for_every_score():
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                assert rfm.name_of(RFM.segments, r, f, m) == grid_name(r, f)


@pytest.mark.parametrize(
    "histogram, cuts",
    [
        # most customers order once: 60% at 1, then 2, 3, 4, 7 orders
        ([(1, 60), (2, 15), (3, 10), (4, 10), (7, 5)], [1.0, 2.0, 3.0, 4.0]),
        # five values: every one but the last is a cut, whatever the shares (0.3, 0.45, 0.55, 0.85)
        ([(1, 30), (2, 15), (3, 10), (5, 30), (8, 15)], [1.0, 2.0, 3.0, 5.0]),
        # seven values: 0.1 0.2 0.3 0.6 0.8 0.9 1.0 -> cuts at shares 0.2, 0.3 (nearest 0.4 after 0.2), 0.6, 0.8
        ([(1, 10), (2, 10), (3, 10), (4, 30), (5, 20), (6, 10), (9, 10)], [2.0, 3.0, 4.0, 5.0]),
        # three values give three scores
        ([(1, 80), (2, 15), (3, 5)], [1.0, 2.0]),
        ([(4, 10)], []),
    ],
)
def test_cut_points_by_hand(histogram, cuts):
    assert rfm.cut_points(histogram) == cuts


def test_score_of():
    cuts = [10.0, 20.0, 30.0, 40.0]
    assert [rfm.score_of(v, cuts) for v in (5, 10, 10.5, 25, 40, 41)] == [1, 1, 2, 3, 4, 5]
    assert [rfm.score_of(v, cuts, reverse=True) for v in (5, 41)] == [5, 1]


def customers_frame(n: int = 500, seed: int = 11) -> pd.DataFrame:
    """Customers' RFM values: recency spread over a year, frequency mostly 1 (ties), monetary skewed."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "recency_days": rng.integers(0, 365, n).astype(float),
            "purchase_orders": np.minimum(rng.geometric(0.55, n), 12).astype(float),
            "net_spending": np.round(rng.lognormal(4, 1.2, n), 2),
        }
    )


def pandas_scores(frame: pd.DataFrame, cuts_of) -> pd.DataFrame:
    """Scores in pandas: percentile breakpoints (linear, numpy's default) unless tied, then `cuts_of`."""
    out = frame[["customer_id"]].copy()
    breakpoints = {}
    for role, column, reverse in (("recency", "recency_days", True), ("frequency", "purchase_orders", False),
                                  ("monetary", "net_spending", False)):  # fmt: skip
        cuts = list(np.quantile(frame[column], rfm.QUINTILES))
        if len(set(cuts)) < 4:
            counts = frame[column].value_counts().sort_index()
            cuts = cuts_of(list(zip(counts.index, counts.values)))
        breakpoints[role] = cuts
        score = 1 + sum((frame[column] > cut).astype(int) for cut in cuts)
        out[rfm.SCORE_COLUMNS[role]] = 6 - score if reverse else score
    out["rfm_segment"] = [grid_name(r, f) for r, f in zip(out["r_score"], out["f_score"])]
    return out, breakpoints


def test_scores_and_names_equal_pandas(spark):
    frame = customers_frame()
    customers = spark.createDataFrame(frame)
    found = rfm.breakpoints(customers, RFM)
    scored = rfm.with_scores(customers, found).withColumn("rfm_segment", rfm.segment_name(RFM.segments))
    got = scored.select("customer_id", "r_score", "f_score", "m_score", "rfm_segment").orderBy("customer_id").toPandas()
    expected, breakpoints = pandas_scores(frame, rfm.cut_points)
    for role, cuts in breakpoints.items():
        assert found[role]["breakpoints"] == pytest.approx(cuts, rel=1e-12), role
    assert found["frequency"]["method"] == "distinct values (tied percentiles)"
    assert found["monetary"]["method"] == "percentiles"
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
    # five scores of each where the data allows: frequency's ties included
    assert {column: sorted(got[column].unique()) for column in ("r_score", "f_score", "m_score")} == {
        column: [1, 2, 3, 4, 5] for column in ("r_score", "f_score", "m_score")
    }
    assert got["rfm_segment"].notna().all()
