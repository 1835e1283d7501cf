"""A second reference: the features in DuckDB's SQL, then the same scikit-learn elbow.

What a user who stays on one machine would pick: DuckDB reads the CSV or Parquet export with its own
multi-threaded reader and computes the three features in one query; the elbow is the pandas
reference's (`benchmarks.reference_method.elbow`). Timed beside segspark and pandas in
`benchmarks/run.py`, with no target: a picture of the limit on this hardware.

    python -m benchmarks.reference_duckdb --input data/bench/S --n-init 10 --result costs.json
"""

from __future__ import annotations

import glob
import os

import numpy as np

from benchmarks.reference_method import LOG_FEATURES, run

FEATURES = """
WITH lines AS (
    SELECT customer_id, order_id, product_type, returned_item_quantity, ordered_item_quantity, total_sales
    FROM {source}
    WHERE ordered_item_quantity > 0 AND customer_id IS NOT NULL
),
per_order AS (
    SELECT customer_id,
           -SUM(returned_item_quantity)::DOUBLE / SUM(ordered_item_quantity) AS order_return_rate
    FROM lines GROUP BY customer_id, order_id
),
rates AS (SELECT customer_id, AVG(order_return_rate) AS average_return_rate FROM per_order GROUP BY customer_id),
totals AS (
    SELECT customer_id, COUNT(DISTINCT product_type) AS products_ordered, SUM(total_sales) AS total_spending
    FROM lines GROUP BY customer_id
)
SELECT customer_id, products_ordered, average_return_rate, total_spending,
       LN(1 + products_ordered) AS log_products_ordered,
       LN(1 + average_return_rate) AS log_average_return_rate,
       LN(1 + total_spending) AS log_total_spending
FROM totals JOIN rates USING (customer_id)
WHERE total_spending > -1
ORDER BY customer_id
"""


def source(path: str) -> str:
    """DuckDB's table function for the export(s) at `path` (a file or a folder of part files)."""
    if os.path.isdir(path) and glob.glob(os.path.join(path, "*.parquet")):
        return f"read_parquet('{os.path.join(path, '*.parquet')}')"
    files = os.path.join(path, "*.csv") if os.path.isdir(path) else path
    return (
        f"read_csv('{files}', header = true, "
        "types = {'customer_id': 'BIGINT', 'order_id': 'BIGINT', 'returned_item_quantity': 'BIGINT', "
        "'ordered_item_quantity': 'BIGINT', 'total_sales': 'DOUBLE', 'day': 'VARCHAR'})"
    )


def log_features(path: str) -> np.ndarray:
    import duckdb  # a benchmark dependency (the `bench` extra), not the product's

    columns = duckdb.connect().sql(FEATURES.format(source=source(path))).fetchnumpy()
    return np.column_stack([columns[name] for name in LOG_FEATURES]).astype("float64")


def main(argv: list[str] | None = None) -> int:
    return run(log_features, "the DuckDB + scikit-learn reference: features and elbow", argv)


if __name__ == "__main__":
    raise SystemExit(main())
