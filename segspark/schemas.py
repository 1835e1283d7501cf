"""Explicit schemas: the Shopify order-line export and the customers table a run publishes."""

from pyspark.sql import types as T

#: The Shopify "sales by product variant" export, in its column order. Returns are negative.
SHOPIFY_ORDER_LINES = T.StructType(
    [
        T.StructField("product_title", T.StringType()),
        T.StructField("product_type", T.StringType()),
        T.StructField("variant_title", T.StringType()),
        T.StructField("variant_sku", T.StringType()),
        T.StructField("variant_id", T.LongType()),
        T.StructField("customer_id", T.LongType()),
        T.StructField("order_id", T.LongType()),
        T.StructField("day", T.DateType()),
        T.StructField("net_quantity", T.LongType()),
        T.StructField("gross_sales", T.DoubleType()),
        T.StructField("discounts", T.DoubleType()),
        T.StructField("returns", T.DoubleType()),
        T.StructField("net_sales", T.DoubleType()),
        T.StructField("taxes", T.DoubleType()),
        T.StructField("total_sales", T.DoubleType()),
        T.StructField("returned_item_quantity", T.LongType()),
        T.StructField("ordered_item_quantity", T.LongType()),
    ]
)

#: Columns a line cannot do without: the features are computed from them. A missing customer_id
#: is not in this list: such a line is excluded by its own rule, not quarantined.
FEATURE_INPUT_COLUMNS = (
    "order_id",
    "total_sales",
    "returned_item_quantity",
    "ordered_item_quantity",
)

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
