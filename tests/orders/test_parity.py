"""segspark's features equal the reference pandas method's for every customer of a generated file."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import reference_method
from segspark.edge import inputs as segio
from segspark.edge import outputs
from segspark.orders import datagen, features, formats
from segspark.schemas import CUSTOMER_FEATURES

pytestmark = pytest.mark.spark_lines  # also run on every Spark line (make test-spark-lines)

FEATURE_NAMES = [name for name in CUSTOMER_FEATURES.fieldNames() if name != "customer_id"]


def test_features_equal_the_reference_method_to_1e_9(spark, tmp_path):
    path = str(tmp_path / "orders")
    outputs.write_order_lines(datagen.as_export_text(datagen.generate_order_lines(spark, 8_000, seed=5)), path, "csv")

    shopify = formats.built_in("shopify")
    typed = segio.read_order_lines(spark, path, shopify)
    lines = formats.to_canonical(typed, shopify).transform(features.mark_line_exclusions)
    usable = lines.where("quarantine_rule is null and exclusion_rule is null")
    ours = (
        features.customer_features(usable)
        .transform(features.mark_customer_exclusions)
        .where("exclusion_rule is null")
        .transform(features.with_log_features)
        .toPandas()
        .sort_values("customer_id")
        .reset_index(drop=True)
    )
    reference = reference_method.customer_features(reference_method.read_export(path))

    assert len(ours) > 2_000
    assert ours["customer_id"].tolist() == reference["customer_id"].tolist()
    assert (ours["products_ordered"].to_numpy() == reference["products_ordered"].to_numpy()).all()
    for name in FEATURE_NAMES:
        difference = np.abs(ours[name].to_numpy(dtype=float) - reference[name].to_numpy(dtype=float))
        assert difference.max() <= 1e-9, f"{name} differs by {difference.max()}"
    # Money to the cent, exactly.
    assert (ours["total_spending"].round(2) == reference["total_spending"].round(2)).all()
    # The generated file has returns, so the rates are not trivially all zero.
    assert (reference["average_return_rate"] > 0).mean() > 0.1
