"""Generate synthetic Shopify order lines (made in the executors, deterministic for a seed).

    ./spark-submit.sh jobs/generate_orders.py --lines 10000000 --output data/orders-10m --format parquet

The job is segspark.edge.generate's; this file is its spark-submit entry (also shipped in dist/).
"""

from __future__ import annotations

from segspark.edge import cli
from segspark.edge.generate import main

if __name__ == "__main__":
    cli.run(main, "generate_orders")
