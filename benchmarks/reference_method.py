"""The reference method: the pandas notebook's customer features and scikit-learn elbow.

segspark must give the same features (tests/test_parity.py) and is timed against this method in
the benchmarks. It is deliberately plain pandas + scikit-learn, one machine, everything in memory:

    python -m benchmarks.reference_method --input data/bench/S --n-init 10 --result costs.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from typing import Callable

import numpy as np
import pandas as pd

EXPORT_DTYPES = {
    "customer_id": "Int64",
    "order_id": "Int64",
    "returned_item_quantity": "Int64",
    "ordered_item_quantity": "Int64",
    "total_sales": "float64",
}


def read_export(path: str) -> pd.DataFrame:
    """The CSV or Parquet export(s) at `path` (a file or a folder of part files) as one frame."""
    if os.path.isdir(path) and glob.glob(os.path.join(path, "*.parquet")):
        return pd.read_parquet(path)
    files = sorted(glob.glob(os.path.join(path, "*.csv"))) if os.path.isdir(path) else [path]
    return pd.concat((pd.read_csv(file, dtype=EXPORT_DTYPES) for file in files), ignore_index=True)


def customer_features(orders: pd.DataFrame) -> pd.DataFrame:
    """products_ordered, average_return_rate, total_spending and their log1p, per customer."""
    ordered = orders[(orders["ordered_item_quantity"] > 0) & orders["customer_id"].notna()]
    by_customer = ordered.groupby("customer_id")
    per_order = ordered.groupby(["customer_id", "order_id"])[["returned_item_quantity", "ordered_item_quantity"]].sum()
    order_return_rate = -per_order["returned_item_quantity"] / per_order["ordered_item_quantity"]
    customers = pd.DataFrame(
        {
            "products_ordered": by_customer["product_type"].nunique(),
            "average_return_rate": order_return_rate.astype("float64").groupby(level="customer_id").mean(),
            "total_spending": by_customer["total_sales"].sum(),
        }
    ).reset_index()
    customers = customers[customers["total_spending"] > -1]  # log1p is undefined below
    for name in ("products_ordered", "average_return_rate", "total_spending"):
        customers[f"log_{name}"] = np.log1p(customers[name].astype("float64"))
    return customers.astype({"customer_id": "int64"}).sort_values("customer_id").reset_index(drop=True)


def elbow(log_features: np.ndarray, ks: range, n_init: int, seed: int = 0) -> dict[int, float]:
    """scikit-learn KMeans (k-means++, `n_init` runs, best kept) inertia for every k."""
    from sklearn.cluster import (
        KMeans,  # a benchmark and test dependency, not the product's
    )

    costs = {}
    for k in ks:
        if k == 1:
            costs[k] = float(((log_features - log_features.mean(axis=0)) ** 2).sum())
        else:
            costs[k] = float(KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(log_features).inertia_)
    return costs


LOG_FEATURES = [f"log_{n}" for n in ("products_ordered", "average_return_rate", "total_spending")]


def run(log_features_of: Callable[[str], np.ndarray], description: str, argv: list[str] | None = None) -> int:
    """A reference's command line: its log features of --input, then the elbow; costs and timings
    to --result. Both references (pandas here, DuckDB in reference_duckdb.py) are this with their
    own features."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input", required=True)
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--k-max", type=int, default=15)
    parser.add_argument("--result", required=True, help="JSON file for the costs and timings")
    args = parser.parse_args(argv)
    started = time.monotonic()
    points = log_features_of(args.input)
    featured = time.monotonic()
    costs = elbow(points, range(1, args.k_max + 1), args.n_init)
    result = {
        "customers": len(points),
        "feature_seconds": featured - started,
        "elbow_seconds": time.monotonic() - featured,
        "costs": costs,
    }
    with open(args.result, "w") as out:
        json.dump(result, out, indent=1)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(
        lambda path: customer_features(read_export(path))[LOG_FEATURES].to_numpy(dtype="float64"),
        "the pandas + scikit-learn reference: features and elbow",
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
