"""Feature sets: the features customers are segmented on, declared in TOML (conf/features/).

A set is a list of named features, each a Spark SQL aggregate per customer over the run's orders
(`order_view`: one row per order) or over its order lines, with a transform, a label and which
direction is better. `seed` is the reference method's three (computed by `segspark.orders.features`,
unchanged); `rfm` is recency, frequency and monetary; a user's file may `extend` either.

Everything here is checked before Spark reads a line (`load_feature_set`) or before the sweep
(`definition_problems` analyses the aggregates without running a job; `value_problems` is one job
over the customers' values).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException, ParseException

from segspark.config import conf_resource, read_toml
from segspark.errors import InputError

BUILT_IN_SETS = conf_resource("features")
OVER = ("orders", "lines")
TRANSFORMS = ("log1p", "none")
BETTER = ("higher", "lower", "none")
RFM_ROLES = ("recency", "frequency", "monetary")
FEATURE_KEYS = ("name", "sql", "over", "transform", "label", "better", "floor", "rfm")
SET_KEYS = ("description", "extends", "returns", "scale", "built_in", "features", "segments")
RETURNS = ("used", "excluded")

#: The per-order view a feature's SQL may name (`over = "orders"`), and the date every feature may.
ORDER_COLUMNS = (
    "customer_id", "order_id", "order_date", "ordered_units", "returned_units", "sales", "lines",
    "is_purchase", "analysis_date",
)  # fmt: skip
#: Canonical columns a format must map for a set whose SQL names them.
DATED_COLUMNS = ("order_date", "analysis_date")


@dataclass(frozen=True)
class Feature:
    """One feature: a Spark SQL aggregate per customer, and how the model and the report see it."""

    name: str
    sql: str
    over: str = "orders"
    transform: str = "log1p"
    label: str = ""
    better: str = "none"
    floor: float | None = None
    rfm: str | None = None

    @property
    def model_column(self) -> str:
        """The column KMeans sees before scaling: `log_<name>` under log1p, else the value itself."""
        return f"log_{self.name}" if self.transform == "log1p" else self.name


@dataclass(frozen=True)
class SegmentRule:
    """A named RFM segment: the R, F and M scores it takes (inclusive ranges); the first match wins."""

    name: str
    recency: tuple[int, int] = (1, 5)
    frequency: tuple[int, int] = (1, 5)
    monetary: tuple[int, int] = (1, 5)

    def holds(self, recency: int, frequency: int, monetary: int) -> bool:
        return all(low <= score <= high for score, (low, high) in zip((recency, frequency, monetary), self.ranges))

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        return (self.recency, self.frequency, self.monetary)


@dataclass(frozen=True)
class FeatureSet:
    name: str
    description: str
    features: tuple[Feature, ...]
    returns_used: bool = False
    scale: bool = True
    built_in: bool = False
    segments: tuple[SegmentRule, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    @property
    def model_columns(self) -> tuple[str, ...]:
        return tuple(feature.model_column for feature in self.features)

    @property
    def dated_features(self) -> tuple[str, ...]:
        """The features whose SQL names a date (`order_date`, `analysis_date`)."""
        return tuple(f.name for f in self.features if any(_names(f.sql, column) for column in DATED_COLUMNS))

    @property
    def needs_dates(self) -> bool:
        """Whether a format must map `order_date` for this set."""
        return bool(self.dated_features)

    @property
    def rfm(self) -> dict[str, str]:
        """role -> feature name, where the set has all three RFM roles; else empty."""
        roles = {feature.rfm: feature.name for feature in self.features if feature.rfm}
        return roles if set(roles) == set(RFM_ROLES) else {}

    def definitions(self) -> list[dict]:
        """What summary.json and a saved model record: enough to tell two sets' features apart."""
        return [
            {"name": f.name, "sql": f.sql, "over": f.over, "transform": f.transform, "floor": f.floor}
            for f in self.features
        ]

    def declaration(self) -> dict:
        """The set as a file would declare it (no `extends`): what a saved model carries, so that
        scoring computes the features it was trained on (`parse_feature_set` reads it back)."""
        features = [
            {
                key: value
                for key, value in (
                    ("name", f.name),
                    ("sql", f.sql),
                    ("over", f.over),
                    ("transform", f.transform),
                    ("label", f.label),
                    ("better", f.better),
                    ("floor", f.floor),
                    ("rfm", f.rfm),
                )
                if value is not None
            }  # fmt: skip
            for f in self.features
        ]
        segments = [
            {"name": rule.name, **{role[0]: f"{low}-{high}" for role, (low, high) in zip(RFM_ROLES, rule.ranges)}}
            for rule in self.segments
        ]
        declared = {
            "description": self.description,
            "returns": "used" if self.returns_used else "excluded",
            "scale": self.scale,
            "features": features,
        }
        return {**declared, "segments": segments} if segments else declared


def _names(expression: str, column: str) -> bool:
    return re.search(rf"(?<![\w`]){re.escape(column)}(?![\w`])|`{re.escape(column)}`", expression) is not None


def _score_range(value, where: str) -> tuple[int, int]:
    text = str(value)
    match = re.fullmatch(r"\s*([1-5])\s*(?:-\s*([1-5])\s*)?", text)
    if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
        raise InputError(f'{where}: {text!r} is not a score or a range of scores 1-5 (e.g. "5" or "3-5")')
    low = int(match.group(1))
    return low, int(match.group(2) or low)


def _parse_feature(entry: dict, where: str) -> Feature:
    for key in entry:
        if key not in FEATURE_KEYS:
            raise InputError(f"{where}: unknown key {key!r} in a [[features]] entry; known: {', '.join(FEATURE_KEYS)}")
    for key in ("name", "sql"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise InputError(f"{where}: a [[features]] entry has no {key!r}")
    name = entry["name"]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InputError(f"{where}: feature name {name!r}: use lower-case letters, digits and _ (a column name)")
    where = f"{where}: feature {name!r}"
    feature = Feature(
        name=name,
        sql=entry["sql"],
        over=entry.get("over", "orders"),
        transform=entry.get("transform", "log1p"),
        label=entry.get("label", name.replace("_", " ")),
        better=entry.get("better", "none"),
        floor=entry.get("floor"),
        rfm=entry.get("rfm"),
    )
    for key, allowed in (("over", OVER), ("transform", TRANSFORMS), ("better", BETTER)):
        if getattr(feature, key) not in allowed:
            raise InputError(f"{where}: {key} = {getattr(feature, key)!r}; use one of {', '.join(allowed)}")
    if feature.rfm is not None and feature.rfm not in RFM_ROLES:
        raise InputError(f"{where}: rfm = {feature.rfm!r}; use one of {', '.join(RFM_ROLES)}")
    if feature.floor is not None and (isinstance(feature.floor, bool) or not isinstance(feature.floor, (int, float))):
        raise InputError(f"{where}: floor = {feature.floor!r}: give a number")
    return feature


def parse_feature_set(data: dict, where: str, name: str, seen: tuple[str, ...] = ()) -> FeatureSet:
    """A FeatureSet from a file's contents; every mistake names the file and the feature."""
    for key in data:
        if key not in SET_KEYS:
            raise InputError(f"{where}: unknown key {key!r}; known: {', '.join(SET_KEYS)}")
    base = None
    if "extends" in data:
        if data["extends"] in seen:
            raise InputError(f"{where}: extends {data['extends']!r}, which extends it back")
        base = load_feature_set(data["extends"], seen=(*seen, name))
    features = list(base.features if base else ())
    for entry in data.get("features", []):
        features.append(_parse_feature(entry, where))
    names = [feature.name for feature in features]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise InputError(f"{where}: feature {duplicate!r} is defined twice")
    if len(features) < 2:
        raise InputError(f"{where}: {len(features)} feature(s); segmenting needs at least two")
    roles = [feature.rfm for feature in features if feature.rfm]
    if len(roles) != len(set(roles)):
        raise InputError(f"{where}: two features take the same rfm role")
    returns = data.get("returns", "used" if base and base.returns_used else "excluded")
    if returns not in RETURNS:
        raise InputError(f"{where}: returns = {returns!r}; use one of {', '.join(RETURNS)}")
    segments = tuple(
        SegmentRule(
            name=_require_text(rule, "name", f"{where}: a [[segments]] entry"),
            **{
                role: _score_range(rule.get(role[0], "1-5"), f"{where}: segment {rule['name']!r} {role[0]}")
                for role in RFM_ROLES
            },
        )  # fmt: skip
        for rule in data.get("segments", [])
    )
    return FeatureSet(
        name=name,
        description=data.get("description", base.description if base else name),
        features=tuple(features),
        returns_used=returns == "used",
        scale=bool(data.get("scale", base.scale if base else True)),
        built_in=bool(data.get("built_in", False)),
        segments=segments or (base.segments if base else ()),
    )


def _require_text(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where} has no {key!r}")
    return value


def load_feature_set(name_or_path: str, sets_dir=BUILT_IN_SETS, seen: tuple[str, ...] = ()) -> FeatureSet:
    """A built-in set by name (conf/features/<name>.toml) or a user's file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = sets_dir / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(sorted(p.name[: -len(".toml")] for p in sets_dir.iterdir() if p.name.endswith(".toml")))
            raise InputError(f"unknown feature set {name_or_path!r}; known: {known}, or a path to a .toml file")
    return parse_feature_set(read_toml(path), str(path), path.name.rsplit(".toml", 1)[0], seen)


@functools.cache
def built_in(name: str) -> FeatureSet:
    """A set of conf/features/ by name (`seed`, the reference's, is the default)."""
    return load_feature_set(name)


def unscored_combinations(feature_set: FeatureSet) -> list[tuple[int, int, int]]:
    """The (R, F, M) scores no segment rule names: a rule table must name every one."""
    return [
        (r, f, m)
        for r in range(1, 6)
        for f in range(1, 6)
        for m in range(1, 6)
        if not any(rule.holds(r, f, m) for rule in feature_set.segments)
    ]


# --- Spark: the views, the features, their checks ----------------------------------------------


def order_view(usable_lines: DataFrame, analysis_date) -> DataFrame:
    """One row per customer and order: its date (the earliest of its lines'), units ordered and
    returned, sales, lines, and whether it is a purchase (units ordered > 0; a cancellation or a
    return-only order is not), with the run's `analysis_date`."""
    date = F.min("order_date") if "order_date" in usable_lines.columns else F.lit(None).cast("date")
    return (
        usable_lines.groupBy("customer_id", "order_id")
        .agg(
            date.alias("order_date"),
            F.sum("ordered_item_quantity").alias("ordered_units"),
            F.sum("returned_item_quantity").alias("returned_units"),
            F.sum("total_sales").alias("sales"),
            F.count(F.lit(1)).alias("lines"),
        )
        .select(
            *ORDER_COLUMNS[:-2],
            (F.col("ordered_units") > 0).alias("is_purchase"),
            F.lit(analysis_date).cast("date").alias("analysis_date"),
        )
    )


def customer_values(usable_lines: DataFrame, feature_set: FeatureSet, analysis_date) -> DataFrame:
    """One row per customer: each feature's raw value (before floor and transform), the customer's
    ordered units and lines (for the customer rules and the accounting)."""
    orders = order_view(usable_lines, analysis_date)
    lines = usable_lines.withColumn("analysis_date", F.lit(analysis_date).cast("date"))
    per_order = [_aggregate(f) for f in feature_set.features if f.over == "orders"]
    per_line = [_aggregate(f) for f in feature_set.features if f.over == "lines"]
    customers = orders.groupBy("customer_id", "analysis_date").agg(
        *per_order,
        F.sum("ordered_units").cast("long").alias("ordered_units"),
        F.sum("lines").cast("long").alias("order_lines"),
    )
    if per_line:
        customers = customers.join(lines.groupBy("customer_id", "analysis_date").agg(*per_line), "customer_id", "left")
    return customers.select("customer_id", *feature_set.columns, "ordered_units", "order_lines")


def _aggregate(feature: Feature):
    return F.expr(feature.sql).cast("double").alias(feature.name)


def definition_problems(usable_lines: DataFrame, feature_set: FeatureSet) -> None:
    """Refuse, naming the feature, an aggregate Spark cannot analyse over its view (not an
    aggregate, an unknown column, a result that is not a number). Analysis only: no Spark job."""
    orders = order_view(usable_lines, "2000-01-01")
    lines = usable_lines.withColumn("analysis_date", F.lit("2000-01-01").cast("date"))
    for feature in feature_set.features:
        view = orders if feature.over == "orders" else lines
        where = f"feature {feature.name!r} ({feature.sql!r} over {feature.over})"
        try:
            kind = view.groupBy("customer_id", "analysis_date").agg(F.expr(feature.sql).alias("v")).schema["v"]
        except ParseException as error:
            raise InputError(f"{where}: not Spark SQL: {_first_line(error)}") from None
        except AnalysisException as error:
            text = str(error)
            if "UNRESOLVED_COLUMN" in text or "cannot be resolved" in text:
                known = ", ".join(view.columns if feature.over == "lines" else ORDER_COLUMNS)
                raise InputError(f"{where}: names a column its view does not have; it has: {known}") from None
            if "MISSING_AGGREGATION" in text or "not an aggregate" in text or "GROUP BY" in text:
                raise InputError(f"{where}: not an aggregate (use SUM, MAX, COUNT_IF, AVG, ...)") from None
            raise InputError(f"{where}: {_first_line(error)}") from None
        if kind.dataType.typeName() not in ("integer", "long", "double", "float", "decimal", "short", "byte"):
            raise InputError(f"{where}: gives {kind.dataType.simpleString()}, not a number")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def value_stats(customers: DataFrame, feature_set: FeatureSet) -> dict[str, dict]:
    """Per feature, over the customers a run segments (one Spark job): how many have no value (null
    or NaN), an infinite one, one below its floor, and no log1p (at or below -1 after the floor);
    the lowest and highest value after the floor."""
    aggregates = []
    for feature in feature_set.features:
        raw = F.col(feature.name)
        value = F.greatest(raw, F.lit(float(feature.floor))) if feature.floor is not None else raw
        missing = raw.isNull() | F.isnan(raw)
        infinite = raw.isin(float("inf"), float("-inf"))
        no_log = (value <= -1) if feature.transform == "log1p" else F.lit(False)
        finite = F.when(~missing & ~infinite, value)
        below = (raw < feature.floor) if feature.floor is not None else F.lit(False)
        aggregates += [
            F.count_if(missing).alias(f"{feature.name}|missing"),
            F.count_if(infinite).alias(f"{feature.name}|infinite"),
            F.count_if(below).alias(f"{feature.name}|clamped"),
            F.count_if(~missing & ~infinite & no_log).alias(f"{feature.name}|no_log"),
            F.min(finite).alias(f"{feature.name}|min"),
            F.max(finite).alias(f"{feature.name}|max"),
        ]
    row = customers.agg(*aggregates).first().asDict()
    stats: dict[str, dict] = {feature.name: {} for feature in feature_set.features}
    for key, value in row.items():
        name, stat = key.split("|")
        stats[name][stat] = value
    return stats


def value_problems(stats: dict[str, dict], feature_set: FeatureSet, segmenting: bool = True) -> str | None:
    """The first reason, in one line naming the feature, that the set cannot be segmented on (or,
    not `segmenting`, that customers cannot be placed: a constant feature is fine when scoring)."""
    for feature in feature_set.features:
        s = stats[feature.name]
        where = f"feature {feature.name!r} ({feature.sql!r})"
        if s["missing"]:
            return f"{where} has no value for {s['missing']:,} customers (null or NaN)"
        if s["infinite"]:
            return f"{where} is infinite for {s['infinite']:,} customers"
        if s["no_log"]:
            return f'{where} is at or below -1 for {s["no_log"]:,} customers, where log1p has no value (set floor or transform = "none")'
        if segmenting and s["min"] is not None and math.isclose(s["min"], s["max"], rel_tol=0, abs_tol=0):
            return f"{where} is {s['min']} for every customer: a constant feature cannot separate segments (remove it)"
    return None


def with_model_features(customers: DataFrame, feature_set: FeatureSet) -> DataFrame:
    """The customers' features after their floors, and each feature's model column (log1p or the
    value itself), in the set's order: what a run publishes and KMeans sees before scaling."""
    floored = [
        (F.greatest(F.col(f.name), F.lit(float(f.floor))) if f.floor is not None else F.col(f.name)).alias(f.name)
        for f in feature_set.features
    ]
    values = customers.select("customer_id", *floored)
    logs = [F.log1p(f.name).alias(f.model_column) for f in feature_set.features if f.transform == "log1p"]
    return values.select("customer_id", *feature_set.columns, *logs)
