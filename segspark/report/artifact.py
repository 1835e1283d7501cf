"""segspark-model.json: what scoring needs beside the saved PipelineModel, and what it must match.

A model is only meaningful for features computed the way it was trained: the same source format
mapping (canonical columns, rules, return-rate definition) and the same feature definitions. The
metadata records both, with its own `format_version` and the segspark that wrote it;
`check_compatible` refuses to score otherwise and says why, rather than placing customers by
numbers that mean something else. segspark's version is recorded but not compared: an upgrade that
keeps the definitions (0.2.0 to 0.2.1) keeps every model and segment id; one that changes what a
feature means raises FEATURES_VERSION, and one that changes this file's layout MODEL_FORMAT_VERSION.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import segspark
from segspark.clustering.segments import DISTANCE_QUANTILES
from segspark.clustering.space import SEED, FeatureSpace
from segspark.clustering.space import of as space_of
from segspark.errors import UsageError
from segspark.orders import feature_sets
from segspark.orders.feature_sets import FeatureSet
from segspark.orders.features import FEATURES_VERSION, RETURN_RATE_DEFINITIONS
from segspark.orders.formats import SourceFormat
from segspark.report.profiles import Profiles

MODEL_FORMAT_VERSION = 2


def format_definition(source_format: SourceFormat) -> dict[str, Any]:
    """The parts of a source format that decide the features: its mapping, rules and return rate."""
    return {
        "name": source_format.name,
        "canonical": dict(source_format.canonical),
        "rules": [[name, condition] for name, condition in source_format.rules],
        "return_rate": source_format.return_rate,
        "return_rate_definition": RETURN_RATE_DEFINITIONS[source_format.return_rate],
    }


def model_metadata(
    run_id: str,
    model: dict[str, Any],
    numbering: dict[int, int],
    segment_profiles: Profiles,
    source_format: SourceFormat,
    space: FeatureSpace = SEED,
    feature_set: FeatureSet | None = None,
    rfm_breakpoints: dict[str, dict] | None = None,
    segment_names: dict[int, str] | None = None,
) -> dict[str, Any]:
    """segspark-model.json: segments, centres, distances, and the definitions the model was trained
    under; for a declared set, the set itself (scoring computes its features from it) and, for RFM,
    the breakpoints its scores were cut at (scoring scores new customers on the same)."""
    declared = {}
    if feature_set is not None and not feature_set.built_in:
        declared["feature_set_declaration"] = feature_set.declaration()
    if rfm_breakpoints:
        declared["rfm_breakpoints"] = rfm_breakpoints
    return {
        "format_version": MODEL_FORMAT_VERSION,
        "segspark_version": segspark.__version__,
        "features_version": FEATURES_VERSION,
        "source_format": format_definition(source_format),
        "k": model["k"],
        "feature_columns": list(space.features),
        "log_feature_columns": list(space.model_columns),
        "feature_set": feature_set_definition(feature_set),
        "space": space.as_dict(),
        "segment_of_cluster": {str(c): s for c, s in sorted(numbering.items())},
        "centres": model["centres"],
        "distance_quantiles": {
            "levels": list(DISTANCE_QUANTILES),
            "by_segment": {str(s): q for s, q in sorted(segment_profiles.distance_quantiles.items())},
        },
        "trained_on_run": run_id,
        **({"segment_names": {str(s): n for s, n in sorted(segment_names.items())}} if segment_names else {}),
        **declared,
    }


def trained_feature_set(metadata: dict[str, Any], where: str) -> FeatureSet:
    """The feature set a model was trained on: the reference's (`seed`) where its metadata declares
    none (every model before feature sets), else the set it carries."""
    declared = metadata.get("feature_set_declaration")
    if declared is None:
        return feature_sets.built_in("seed")
    name = (metadata.get("feature_set") or {}).get("name", "declared")
    return feature_sets.parse_feature_set(declared, f"{where} (its feature set)", name)


def trained_space(metadata: dict[str, Any], feature_set: FeatureSet) -> FeatureSpace:
    """The space a model's KMeans worked in, with the z-score it was fitted with (the PipelineModel
    applies the same; the distances are measured on these columns)."""
    space = space_of(feature_set)
    scaling = (metadata.get("space") or {}).get("scaling")
    if not scaling:
        return space
    return replace(space, mean=tuple(scaling["mean"]), deviation=tuple(scaling["deviation"]))


def feature_set_definition(feature_set: FeatureSet | None) -> dict[str, Any]:
    """What decides a set's features: its name and, for a declared set, every definition."""
    if feature_set is None or feature_set.built_in:
        return {"name": "seed"}
    return {"name": feature_set.name, "returns": feature_set.returns_used, "definitions": feature_set.definitions()}


def incompatibility(
    metadata: dict[str, Any], source_format: SourceFormat, feature_set: FeatureSet | None = None
) -> str | None:
    """Why a model (or a run) trained under `metadata` cannot be set beside features of
    `source_format` (and `feature_set`, default the reference's) computed by this segspark, or None
    when it can."""
    trained_set = metadata.get("feature_set") or {"name": "seed"}  # before feature sets: the reference's
    here_set = feature_set_definition(feature_set)
    if "source_format" in metadata and trained_set != here_set:
        if trained_set.get("name") != here_set["name"]:
            return f"it was trained on feature set {trained_set.get('name')!r}, this run uses {here_set['name']!r}"
        return f"its feature set {here_set['name']!r} was defined otherwise then (a feature's SQL, transform or floor)"
    if "source_format" not in metadata:
        return "it does not record its source format, feature definitions or segspark version (segspark before 0.2)"
    if not isinstance(metadata.get("format_version"), int) or metadata["format_version"] > MODEL_FORMAT_VERSION:
        return (
            f"its metadata is format {metadata.get('format_version')!r}, which this segspark "
            f"({segspark.__version__}, format {MODEL_FORMAT_VERSION}) cannot read"
        )
    if metadata.get("features_version") != FEATURES_VERSION:
        return (
            f"its feature definitions are version {metadata.get('features_version')}, this segspark computes "
            f"version {FEATURES_VERSION}"
        )
    trained, here = metadata["source_format"], format_definition(source_format)
    for key, what in (("return_rate", "return rates"), ("canonical", "canonical columns"), ("rules", "rules")):
        if _comparable(key, trained.get(key)) != _comparable(key, here[key]):
            return (
                f"it was trained on format {trained.get('name')!r} whose {what} differ from format "
                f"{here['name']!r} used here ({_difference(trained.get(key), here[key])})"
            )
    return None


def check_compatible(
    metadata: dict[str, Any], source_format: SourceFormat, where: str, feature_set: FeatureSet | None = None
) -> None:
    """Refuse to score with a model trained under other definitions, saying which and how to fix it."""
    reason = incompatibility(metadata, source_format, feature_set)
    if reason is not None:
        trained_format = metadata.get("source_format", {}).get("name")
        fix = (
            f"score with --format {trained_format} (or its file), or " if "format" in reason and trained_format else ""
        )
        raise UsageError(
            f"{where}: the model cannot score this input: {reason}; {fix}train a model on this kind of input "
            "with this segspark (jobs/segment_customers.py)"
        )


_SQL_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|\w+|[^\s\w]")


def normalised_sql(expression: str) -> str:
    """A Spark SQL expression as Spark reads it, for comparing definitions: tokens one space apart,
    keywords and names lower-cased (Spark resolves both without regard to case), quoted text kept.
    `CAST(x AS double)` and `cast( x as DOUBLE )` are one definition; `'A'` and `'a'` are two."""
    return " ".join(token if token[0] in "'\"`" else token.lower() for token in _SQL_TOKEN.findall(expression))


def _comparable(key: str, value: Any) -> Any:
    """A format definition's part with its expressions normalised (`normalised_sql`)."""
    if key == "canonical" and isinstance(value, dict):
        return {name: normalised_sql(str(expression)) for name, expression in value.items()}
    if key == "rules" and isinstance(value, list):
        return [[rule[0], normalised_sql(str(rule[1]))] if len(rule) == 2 else rule for rule in value]
    return value


def _difference(trained: Any, here: Any) -> str:
    if isinstance(trained, dict) and isinstance(here, dict):
        for name in sorted(set(trained) | set(here)):
            if trained.get(name) != here.get(name):
                return f"{name}: {trained.get(name)!r} in the model, {here.get(name)!r} here"
    return f"{trained!r} in the model, {here!r} here"
