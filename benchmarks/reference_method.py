"""The reference method: the pandas notebook's customer features, as it computes them.

segspark must give the same features (tests/test_parity.py) and is timed against this method in
the benchmarks. It is deliberately plain pandas, one machine, everything in memory.
"""

from __future__ import annotations

import glob
import os

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
    """The CSV export(s) at `path` (a file or a folder of part files) as one pandas frame."""
    files = sorted(glob.glob(os.path.join(path, "*.csv"))) if os.path.isdir(path) else [path]
    return pd.concat((pd.read_csv(file, dtype=EXPORT_DTYPES) for file in files), ignore_index=True)


def customer_features(orders: pd.DataFrame) -> pd.DataFrame:
    """products_ordered, average_return_rate, total_spending and their log1p, per customer."""
    ordered = orders[(orders["ordered_item_quantity"] > 0) & orders["customer_id"].notna()]
    by_customer = ordered.groupby("customer_id")
    per_order = ordered.groupby(["customer_id", "order_id"])[
        ["returned_item_quantity", "ordered_item_quantity"]
    ].sum()
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
