"""The space KMeans works in: a feature set's features after their transform and, where the set
asks, a z-score (mean 0, deviation 1 over all customers).

The reference's features (`SEED`) are clustered on their log1p as the reference method does; any
other set is standardised by default, so that days, counts and money weigh alike. The z-score is
a fitted spark.ml `StandardScalerModel` in the saved `PipelineModel` (assembler -> scaler ->
KMeans): scoring applies the same. The sweep reads the same values as columns (`point_columns`),
computed exactly as the scaler computes them: (x - mean) * (1 / deviation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from segspark.orders.feature_sets import FeatureSet
from segspark.schemas import FEATURE_COLUMNS

MODEL_VECTOR = "model_features"
SCALED_VECTOR = "scaled_features"


@dataclass(frozen=True)
class FeatureSpace:
    """Features in their own units, how each is transformed, and the z-score after it (if any)."""

    features: tuple[str, ...]
    transforms: tuple[str, ...]
    labels: tuple[str, ...]
    order_feature: str  # segments are numbered by their customers' mean of it
    mean: tuple[float, ...] | None = None
    deviation: tuple[float, ...] | None = None
    scaler: Any = field(default=None, compare=False, repr=False)  # the fitted StandardScalerModel

    @property
    def model_columns(self) -> tuple[str, ...]:
        """The transformed features: `log_<name>` under log1p, else the feature itself."""
        return tuple(f"log_{f}" if t == "log1p" else f for f, t in zip(self.features, self.transforms))

    @property
    def scaled(self) -> bool:
        return self.mean is not None

    @property
    def point_columns(self) -> tuple[str, ...]:
        """The columns the sweep clusters: the z-scores (`z_<name>`), or the model columns."""
        return tuple(f"z_{f}" for f in self.features) if self.scaled else self.model_columns

    @property
    def working_columns(self) -> tuple[str, ...]:
        """What placing customers in the space adds and a run does not publish: the assembled
        vector before the z-score and the z-score columns."""
        return (MODEL_VECTOR, *(c for c in self.point_columns if c not in self.model_columns))

    @property
    def order_axis(self) -> int:
        return self.features.index(self.order_feature)

    def with_points(self, customers: DataFrame) -> DataFrame:
        """The customers with the point columns (the z-scores, where scaled)."""
        if not self.scaled:
            return customers
        scale = [1.0 / d for d in self.deviation]
        return customers.withColumns(
            {
                z: (F.col(model) - F.lit(m)) * F.lit(s)
                for z, model, m, s in zip(self.point_columns, self.model_columns, self.mean, scale)
            }
        )

    def to_model(self, point: Sequence[float]) -> list[float]:
        """A point (a centre) in the transformed features' space: the z-score undone."""
        if not self.scaled:
            return [float(v) for v in point]
        return [float(v) * d + m for v, m, d in zip(point, self.mean, self.deviation)]

    def to_original(self, point: Sequence[float]) -> list[float]:
        """A point in the features' own units: the z-score and the transform undone."""
        return [math.expm1(v) if t == "log1p" else v for v, t in zip(self.to_model(point), self.transforms)]

    def stages(self) -> list:
        """The pipeline's stages before KMeans: the assembler, then the scaler where there is one."""
        if not self.scaled:
            return [VectorAssembler(inputCols=list(self.model_columns), outputCol="features")]
        return [VectorAssembler(inputCols=list(self.model_columns), outputCol=MODEL_VECTOR), self.scaler]

    def as_dict(self) -> dict:
        """summary.json's and the model metadata's `space`."""
        return {
            "features": list(self.features),
            "transforms": list(self.transforms),
            "model_columns": list(self.model_columns),
            "scaling": (
                {"method": "z-score", "mean": list(self.mean), "deviation": list(self.deviation)}
                if self.scaled
                else None
            ),
        }


#: The reference method's space: log1p of its three features, unscaled, segments by spending.
SEED = FeatureSpace(
    features=FEATURE_COLUMNS,
    transforms=("log1p",) * 3,
    labels=("Products ordered (distinct product types)", "Average return rate", "Total spending"),
    order_feature="total_spending",
)


def of(feature_set: FeatureSet) -> FeatureSpace:
    """The set's space before scaling. Segments are numbered by the monetary feature (RFM), else the
    first feature where higher is better, else the first."""
    if feature_set.built_in and feature_set.columns == FEATURE_COLUMNS:
        return SEED
    higher = [f.name for f in feature_set.features if f.better == "higher"]
    order = feature_set.rfm.get("monetary") or (higher[0] if higher else feature_set.columns[0])
    return FeatureSpace(
        features=feature_set.columns,
        transforms=tuple(f.transform for f in feature_set.features),
        labels=tuple(f.label for f in feature_set.features),
        order_feature=order,
    )


def standardised(space: FeatureSpace, customers: DataFrame) -> FeatureSpace:
    """The space with a z-score fitted on every customer (one Spark job: spark.ml's StandardScaler,
    the sample deviation). A deviation of 0 cannot happen: constant features are refused earlier."""
    assembled = VectorAssembler(inputCols=list(space.model_columns), outputCol=MODEL_VECTOR).transform(customers)
    scaler = StandardScaler(withMean=True, withStd=True, inputCol=MODEL_VECTOR, outputCol="features").fit(assembled)
    return replace(
        space,
        mean=tuple(float(v) for v in scaler.mean.toArray()),
        deviation=tuple(float(v) for v in scaler.std.toArray()),
        scaler=scaler,
    )
