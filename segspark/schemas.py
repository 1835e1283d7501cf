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


def _fields(*pairs: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(name, data_type, nullable=True) for name, data_type in pairs])


#: The tables `--publish-tables DATABASE` appends to (segspark.edge.tables), each with `run_id`.
#: One row per published run, written after the run's other rows: a run is in the tables once its row is.
RUNS_TABLE = _fields(
    ("run_id", T.StringType()),
    ("job", T.StringType()),  # segment or score
    ("published_at", T.TimestampType()),
    ("input", T.StringType()),
    ("source_format", T.StringType()),
    ("k", T.IntegerType()),
    ("k_rule", T.StringType()),
    ("lines_in", T.LongType()),
    ("lines_used", T.LongType()),
    ("lines_excluded", T.LongType()),
    ("lines_quarantined", T.LongType()),
    ("customers", T.LongType()),
    ("customers_excluded", T.LongType()),
    ("previous_run", T.StringType()),
    ("model_run", T.StringType()),
    ("run_folder", T.StringType()),
    # each data table's version once the run's rows were in it (Delta's version, Iceberg's snapshot
    # id): SELECT ... VERSION AS OF reads the table as of this run; null for tables without versions
    ("table_versions", T.MapType(T.StringType(), T.LongType())),
    ("feature_set", T.StringType()),  # the feature set the run segmented on (null in rows before sets: seed)
)


def customer_segments_table(customer_columns: tuple[tuple[str, T.DataType], ...]) -> T.StructType:
    """Per run and customer: the run's customers/ (`customer_columns`: its id, features, their model
    columns and any RFM scores) with the segment's name (and, for scoring, out_of_range)."""
    return _fields(
        *customer_columns,
        ("segment", T.IntegerType()),
        ("segment_name", T.StringType()),
        ("distance_to_centre", T.DoubleType()),
        ("out_of_range", T.BooleanType()),
        ("run_id", T.StringType()),  # the partition column: last, as the catalog keeps it
    )


def segments_table(features: tuple[str, ...]) -> T.StructType:
    """Per segment run and segment: its name and action, size, centre and medians in the features'
    own units, the previous run's segment it was matched with and its resampling stability."""
    return _fields(
        ("run_id", T.StringType()),
        ("segment", T.IntegerType()),
        ("name", T.StringType()),
        ("action", T.StringType()),
        ("customers", T.LongType()),
        *((f"centre_{name}", T.DoubleType()) for name in features),
        *((f"median_{name}", T.DoubleType()) for name in features),
        ("previous_segment", T.IntegerType()),
        ("stability", T.DoubleType()),
    )


#: The seed set's tables (the reference's three features).
CUSTOMER_SEGMENTS_TABLE = customer_segments_table(tuple((f.name, f.dataType) for f in CUSTOMER_FEATURES.fields))
SEGMENTS_TABLE = segments_table(FEATURE_COLUMNS)
#: Per refresh: how many customers of both runs went from a previous segment to a current one.
MIGRATIONS_TABLE = _fields(
    ("run_id", T.StringType()),
    ("previous_run", T.StringType()),
    ("from_segment", T.IntegerType()),
    ("to_segment", T.IntegerType()),
    ("customers", T.LongType()),
)
