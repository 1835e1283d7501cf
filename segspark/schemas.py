"""Explicit schemas of what segspark publishes. Input schemas are the source formats' (conf/formats/)."""

from pyspark.sql import types as T

#: One row per customer, as published in a run's customers/ folder.
CUSTOMER_FEATURES = T.StructType(
    [
        T.StructField("customer_id", T.LongType(), nullable=False),
        T.StructField("products_ordered", T.LongType(), nullable=False),
        T.StructField("average_return_rate", T.DoubleType(), nullable=False),
        T.StructField("total_spending", T.DoubleType(), nullable=False),
        T.StructField("log_products_ordered", T.DoubleType(), nullable=False),
        T.StructField("log_average_return_rate", T.DoubleType(), nullable=False),
        T.StructField("log_total_spending", T.DoubleType(), nullable=False),
    ]
)

FEATURE_COLUMNS = ("products_ordered", "average_return_rate", "total_spending")
LOG_FEATURE_COLUMNS = tuple(f"log_{name}" for name in FEATURE_COLUMNS)
