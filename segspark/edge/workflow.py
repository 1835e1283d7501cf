"""The steps both jobs share, from an input path to customers with every line accounted for.

Edge code (it reads a path and writes the quarantine), kept here so that scoring new orders runs
exactly the same ingest, rules and features as training did.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shlex
import time
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from segspark import refresh
from segspark.config import IN_CHECKOUT
from segspark.edge import inputs as segio
from segspark.edge import lakehouse, outputs, paths, runs, session, tables
from segspark.errors import InputError, NotPublished, QualityError, UsageError
from segspark.orders import accounting, feature_sets, features, formats
from segspark.orders.accounting import LineCounts
from segspark.orders.feature_sets import FeatureSet
from segspark.orders.features import PER_CUSTOMER, PER_ORDER
from segspark.orders.formats import SourceFormat
from segspark.orders.ingest import QUARANTINE_COLUMNS, UNPARSED_UNREAD_COLUMN, require_lines
from segspark.parallel import concurrently
from segspark.report import artifact, summary


@dataclass
class AccountedCustomers:
    """Customers with their features (persisted), the lines they came from, and where every line went."""

    customers: DataFrame
    counts: LineCounts
    usable_lines: DataFrame
    quarantined_lines: DataFrame
    _persisted: tuple[DataFrame, ...]
    #: summary.json's `features`: the set, its analysis date and customers raised to a floor
    features: dict = dataclasses.field(default_factory=dict)

    def release(self) -> None:
        for frame in self._persisted:
            frame.unpersist()


def input_option(args: Any) -> str | None:
    """The run's input from --input or --input-table (not both): a path, or a table as
    `inputs.table_source(name)`."""
    if args.input and args.input_table:
        raise UsageError("give --input or --input-table, not both")
    as_of = getattr(args, "input_as_of", None)
    if as_of is not None and not args.input_table:
        raise UsageError("--input-as-of reads a table's earlier state: give it with --input-table")
    if as_of is not None and not lakehouse.is_table_name(args.input_table):
        raise UsageError(f"--input-table {args.input_table!r}: not a table name (db.table or catalog.db.table)")
    if args.input_table:
        return segio.table_source(args.input_table, as_of and lakehouse.as_of_clause(as_of))
    return args.input


def qualified_input(spark: SparkSession, source: str) -> str:
    """An input path as the session's Hadoop qualifies it; a table as named, and a Delta or Iceberg
    table read as it is pinned to its current version, so that summary.json's `input` names exactly
    what the run read (a rerun with --input-as-of reads the same rows)."""
    table = segio.table_name(source)
    if table is None:
        return paths.qualified(spark, source)
    if segio.table_as_of(source) is None:
        version = lakehouse.table_version(spark, table)
        if version is not None:
            return segio.table_source(table, f"VERSION AS OF {version}")
    return source


def catalog_for(output: str, source: str | None, publish_tables: str | None, model: str | None = None) -> str | None:
    """The output folder whose built-in catalog the session gets where it has none of its own: for a
    run that reads or publishes tables (segspark.edge.session.start). A scoring run (`model`) shares
    the catalog of the output its model was trained in, so one shop's segment and score runs, and
    the tables they read, are in one catalog."""
    table = source and segio.table_name(source)
    in_session_catalog = (publish_tables and tables.catalog_of(publish_tables) == "spark_catalog") or (
        table and lakehouse.in_session_catalog(table)
    )
    if not in_session_catalog:
        return None  # no tables, or only a named catalog's (Iceberg's) and path tables (delta.`hdfs://...`)
    if model is not None:
        trained_in = model_output(model)
        local = ("", "file")
        if paths.scheme(trained_in) in local or paths.scheme(output) not in local:
            return trained_in  # not a remote model's folder for a local scoring run: no catalog there
    return output


def model_output(model: str) -> str:
    """The output folder a --model path belongs to, from the path alone (an output folder, one of its
    run folders, or a run's model/ folder)."""
    base = model.rstrip("/")
    if base.endswith("/model"):
        base = base[: -len("/model")]
    run = runs.RunFolder.of(base)
    return run.output if run is not None and run.output is not None else base


def prepare_tables(
    spark: SparkSession, database: str, output: str, job: str, catalog_output: str, feature_set: FeatureSet
) -> tables.Tables:
    """The database's tables made ready for `feature_set`'s runs (`tables.prepare`), with the
    built-in catalog's warehouse where the session uses `catalog_output`'s, to catch a copied output folder."""
    warehouse = session.built_in_warehouse(spark, catalog_output)
    prepared = tables.prepare(spark, database, output, job, warehouse, feature_set)
    return dataclasses.replace(prepared, built_in_output=catalog_output if warehouse else None)


def feature_set_of(spark: SparkSession, folder: runs.RunFolder, run_summary: dict) -> FeatureSet:
    """The feature set a complete run segmented or scored on: its model's (a segment run's own, a
    scoring run's the one it scored with)."""
    model_dir = folder.model_dir if job_of(run_summary) == "segment" else run_summary["scoring"]["model"]
    return artifact.trained_feature_set(outputs.read_model_metadata(spark, model_dir), model_dir)


def job_of(run_summary: dict) -> str:
    """Which job made a run: `score` (its summary has `scoring`) or `segment`."""
    return "score" if run_summary.get("scoring") else "segment"


def publish_run(
    spark: SparkSession,
    folder: runs.RunFolder,
    run_summary: dict,
    published: tables.Tables | None,
    prefix: str,
    again: bool = False,
) -> None:
    """A complete run (its summary.json written) made current: into the tables first, when asked,
    then LATEST, both under the database's publishing lock, so that the folder and the tables agree:
    where the tables fail, LATEST still names the run before (a scheduler's retry compares with the
    same run, and the tables' `previous_run` chain holds), and the error says how to finish.

    `again`: publishing a run that was published before, or stopped part way (`jobs/publish_run.py`).
    """
    if published is None:
        runs.publish(spark, folder)
        return
    job = job_of(run_summary)
    before = runs.current_run(spark, folder.output).run
    finish = publish_command(folder.path, published.database)
    in_tables = False
    started = time.monotonic()
    try:
        customers = spark.read.parquet(paths.glob_escaped(folder.file("customers")))
        segment_rows = (
            tables.segment_rows(
                folder.run_id,
                run_summary["model"],
                run_summary.get("refresh") or {},
                published.schema_features,
            )  # fmt: skip
            if job == "segment"
            else None
        )
        with tables.publishing(spark, published, f"run {folder.run_id}"):
            tables.publish(
                spark, published, run_summary, job, folder.path, customers, segment_names(spark, run_summary),
                segment_rows, again,
            )  # fmt: skip
            in_tables = True
            runs.VISIBLE.append(
                f"run {folder.run_id} is in the tables of {published.database} but LATEST was not replaced "
                f"(the folder's current run is still {before.run_id if before else 'none'}); finish with: {finish}"
            )
            runs.publish(spark, folder)
    except Exception as error:
        if in_tables:
            raise NotPublished(
                f"run {folder.run_id} is in the tables of {published.database}, but LATEST could not be replaced "
                f"(the folder's current run is still {before.run_id if before else 'none'}); finish with: {finish}"
            ) from error
        raise NotPublished(
            f"run {folder.run_id} is complete in {folder.path} but was not published: the tables of "
            f"{published.database} did not take it, and LATEST still names "
            f"{before.run_id if before else 'no run'}; once that is fixed, publish it with: {finish}"
        ) from error
    print(f"{prefix}: run {folder.run_id} published to the tables of {published.database} "
          f"({', '.join(tables.TABLES)}; view {tables.CURRENT}) in {time.monotonic() - started:.1f} s")  # fmt: skip
    hint = session.query_hint(published.database, published.built_in_output)
    if hint:
        print(f"{prefix}: {hint}")


def publish_command(run_folder: str, database: str) -> str:
    """The command that publishes an existing run into the tables and makes it current."""
    arguments = f"--run {shlex.quote(run_folder)} --publish-tables {database}"
    return f"./spark-submit.sh jobs/publish_run.py {arguments}" if IN_CHECKOUT else f"segspark-publish {arguments}"


def segment_names(spark: SparkSession, run_summary: dict) -> dict[int, str]:
    """segment id -> name: a segment run's own; a scoring run's from the run its model was trained in."""
    if run_summary.get("model"):
        return {int(s): described["name"] for s, described in run_summary["model"]["segments"].items()}
    if run_summary["scoring"].get("segment_names"):  # recorded since models carry them (and MLflow's do)
        return {int(s): name for s, name in run_summary["scoring"]["segment_names"].items()}
    training = runs.training_run(run_summary["scoring"]["model"])
    if training is None or not training.is_complete(spark):
        return {}
    segments = training.summary(spark).get("model", {}).get("segments", {})
    return {int(segment): described["name"] for segment, described in segments.items()}


def feature_options(
    name_or_path: str, source_format: SourceFormat, as_of: str | None
) -> tuple[FeatureSet, SourceFormat, datetime.date | None]:
    """The feature set (a name in conf/features/ or a file), the format with the order date mapped
    where the set needs one, and --as-of as a date; checked before Spark starts (exit 2 for a bad
    set or a format without dates, 64 for a malformed date)."""
    feature_set = (
        feature_sets.built_in(name_or_path)
        if not name_or_path.endswith(".toml")
        else feature_sets.load_feature_set(name_or_path)
    )
    date = as_of_date(as_of)
    return feature_set, format_for(feature_set, source_format, date), date


def as_of_date(as_of: str | None) -> datetime.date | None:
    """--as-of as a date (exit 64 for one that is not YYYY-MM-DD)."""
    if as_of is None:
        return None
    try:
        return datetime.date.fromisoformat(as_of)
    except ValueError:
        raise UsageError(f"--as-of {as_of!r}: give a date as YYYY-MM-DD") from None


def format_for(feature_set: FeatureSet, source_format: SourceFormat, as_of: datetime.date | None) -> SourceFormat:
    """The format with its order date mapped where the set needs one (exit 2 for a format without
    one, before Spark reads a line); --as-of refused for a set without date-based features."""
    if as_of is not None and not feature_set.needs_dates:
        raise UsageError(f"--as-of: feature set {feature_set.name!r} has no date-based feature")
    if not feature_set.needs_dates:
        return source_format
    return source_format.with_dates(f"feature set {feature_set.name!r} needs one ({feature_set.dated_features[0]})")


def load_source_format(name_or_path: str) -> SourceFormat:
    """A built-in format (conf/formats/<name>.toml) or a user's format file."""
    return formats.load_format(name_or_path)


def accounted_customers(
    spark: SparkSession,
    input_path: str,
    source_format: SourceFormat,
    quarantine_path: str,
    feature_set: FeatureSet | None = None,
    as_of: datetime.date | None = None,
    segmenting: bool = True,
) -> AccountedCustomers:
    """Read, quarantine and exclude lines, compute the features; counts reconcile or this raises.

    The reference's features (`seed`) come from segspark.orders.features as the reference method
    computes them; any other set's from its declared aggregates (segspark.orders.feature_sets), checked
    before the sweep: a definition Spark cannot analyse, or values no customer can be segmented on,
    is one line naming the feature (exit 2).
    """
    feature_set = feature_set or feature_sets.built_in("seed")
    returns_used = source_format.return_rate == PER_CUSTOMER if feature_set.built_in else feature_set.returns_used
    # Canonical lines, each marked with the first quarantine or exclusion rule that applies.
    marked = formats.to_canonical(segio.read_order_lines(spark, input_path, source_format), source_format).transform(
        lambda frame: features.mark_line_exclusions(frame, PER_CUSTOMER if returns_used else PER_ORDER)
    )
    # Persisted once, narrow (the columns the counts, the features and the report read): the counts,
    # the features and the top products all read it. A quarantined line's details (its file, reason
    # and text) keep every field of every line alive through the plan, which at 10M lines cost more
    # than the typing; they are computed, from the input again, only when some line was quarantined.
    lines = marked.select(*source_format.canonical, *LINE_RULE_COLUMNS).persist(StorageLevel.MEMORY_AND_DISK)
    line_outcomes, unparsed_unread = accounting.line_outcomes(lines)
    require_lines(sum(line_outcomes.values()), input_path)

    is_quarantined = F.col("quarantine_rule").isNotNull()
    is_usable = ~is_quarantined & F.col("exclusion_rule").isNull()
    quarantined_lines = marked.where(is_quarantined).select(*QUARANTINE_COLUMNS)
    if not any(outcome.startswith(accounting.QUARANTINE_PREFIX) for outcome in line_outcomes):
        quarantined_lines = spark.createDataFrame([], quarantined_lines.schema)  # none: no second read

    # One shuffle by customer: the order and product-type aggregations and their join then run
    # within those partitions. Persisted with each customer's rule: the counts and every later
    # pass read it; the kept customers are a filter over it, not a second copy. The quarantine
    # is written meanwhile.
    usable = lines.where(is_usable).repartition("customer_id")
    described: dict = {"set": feature_set.name}
    if feature_set.built_in:
        values = features.customer_features(usable, source_format.return_rate)
    else:
        feature_sets.definition_problems(usable, feature_set)  # analysis only: no job
        analysis_date = as_of or last_order_date(usable, input_path)
        values = feature_sets.customer_values(usable, feature_set, analysis_date)
        described["analysis_date"] = analysis_date.isoformat()
    all_customers = values.transform(features.mark_customer_exclusions).persist(StorageLevel.MEMORY_AND_DISK)
    _, customer_outcomes = concurrently(
        lambda: quarantined_lines.write.json(quarantine_path),
        lambda: accounting.customer_outcomes(all_customers),
    )
    counts = accounting.reconcile(
        line_outcomes, customer_outcomes, features.line_rule_names(source_format.rule_names), unparsed_unread
    )
    kept = all_customers.where(F.col("exclusion_rule").isNull())
    if feature_set.built_in:
        customers = kept.transform(features.with_log_features)
    else:
        stats = feature_sets.value_stats(kept, feature_set)
        problem = feature_sets.value_problems(stats, feature_set, segmenting)
        if problem:
            raise InputError(f"feature set {feature_set.name!r}: {problem}")
        described["clamped"] = {f.name: stats[f.name]["clamped"] for f in feature_set.features if f.floor is not None}
        customers = feature_sets.with_model_features(kept, feature_set)
    persisted = (all_customers, lines)
    return AccountedCustomers(customers, counts, lines.where(is_usable), quarantined_lines, persisted, described)


def last_order_date(usable_lines: DataFrame, input_path: str) -> datetime.date:
    """The analysis date by default: the last order date among the lines used (never the wall clock,
    so that a rerun on the same lines gives the same features). One small aggregate."""
    last = usable_lines.agg(F.max("order_date")).first()[0]
    if last is None:
        raise InputError(f"{input_path}: no line used has an order date: give --as-of DATE")
    return last


#: What later steps read of each line besides its canonical values (the features' inputs): the rules that
#: place the line, and its unread columns whose value did not parse (counted).
LINE_RULE_COLUMNS = ("quarantine_rule", "exclusion_rule", UNPARSED_UNREAD_COLUMN)


@dataclass
class Ingested:
    """Every line accounted for, the customers' features, and the quality gate's verdict
    (summary.json's `quality`)."""

    accounted: AccountedCustomers
    quality: dict


def ingest(
    spark: SparkSession,
    input_path: str,
    source_format: SourceFormat,
    run_folder: runs.RunFolder,
    max_share: float,
    accepted: bool,
    feature_set: FeatureSet | None = None,
    as_of: datetime.date | None = None,
    segmenting: bool = True,
) -> Ingested:
    """What both jobs do first: every line accounted for into the run's quarantine/, the features,
    and the quality gate (`check_quality`)."""
    quarantine = run_folder.file("quarantine")
    accounted = accounted_customers(spark, input_path, source_format, quarantine, feature_set, as_of, segmenting)
    return Ingested(accounted, check_quality(accounted, max_share, accepted, quarantine))


def check_quality(accounted: AccountedCustomers, max_share: float, accepted: bool, quarantine_path: str) -> dict:
    """The data-quality gate: summary.json's `quality`, or a QualityError when more than `max_share`
    of the input lines were quarantined and the run was not told to accept it.

    A common export quirk can quarantine half the lines and silently cost a sixth of the
    customers; such a run stops before publishing and says which rule, how often, and an example.
    """
    counts = accounted.counts
    share = counts.lines_quarantined / counts.lines_in if counts.lines_in else 0.0
    quality = {"max_quarantined_share": max_share, "quarantined_share": round(share, 6), "accepted": False}
    if share <= max_share:
        return quality
    if accepted:
        return {**quality, "accepted": True}
    rule, lines = max(counts.quarantined_by_rule.items(), key=lambda item: (item[1], item[0]))
    example = (
        accounted.quarantined_lines.where(F.col("quarantine_rule") == rule)
        .select("source_file", "quarantine_reason", "raw_line")
        .first()
    )
    raise QualityError(
        f"{share:.1%} of the {counts.lines_in:,} input lines were quarantined, more than the {max_share:.0%} "
        f"allowed ([quality] max_quarantined_share): most under {rule} ({lines:,} line{'s' * (lines != 1)}), e.g. "
        f"{example['source_file'].rsplit('/', 1)[-1]}: {example['quarantine_reason']} "
        f"(line: {example['raw_line'][:120]!r}). Nothing was published; the quarantined lines are in "
        f"{quarantine_path}. Fix the export or its format file, or pass --accept-quarantine to publish anyway."
    )


def previous_run(
    spark: SparkSession, path: str, source_format: SourceFormat, explicit: bool, feature_set: FeatureSet | None = None
) -> refresh.PreviousRun | refresh.NotCompared:
    """The run a refresh compares with, or why there is none (naming a run that is there but does
    not compare, so that the run can say its ids start again).

    `path` is an output folder (its current run: `runs.current_run`) or a run folder. Only a
    complete run with a model, made under the same definitions (format, features), is a previous
    run; otherwise the reason says why not. An explicit --previous that cannot be compared is an
    input error naming why: the user asked for that comparison. A previous run whose customers/
    was pruned is compared by its centres alone, and the refresh says so.
    """
    run = runs.RunFolder.of(path)
    if run is None and paths.exists(spark, paths.join(path, runs.SUMMARY)):  # a run folder kept elsewhere
        run = runs.RunFolder(path.rstrip("/"), path.rstrip("/").rsplit("/", 1)[-1])
    notes: list[str] = []
    if run is None:
        current = runs.current_run(spark, path)
        run, note = current.run, current.note
        if note:
            print(f"segment_customers: {note}")
            notes.append(note)
        if run is None:
            if explicit and note is None:
                raise InputError(
                    f"--previous {path}: no run there (give an output folder with LATEST, or a run folder)"
                )
            return _not_comparable(note or f"no previous run in {path} (this is its first)", path, explicit)
    if not run.is_complete(spark):
        return _not_comparable(
            f"{run.path} is not a complete run (no summary.json: it was stopped before publishing)",
            path, explicit, run.run_id,
        )  # fmt: skip
    if not run.has_model(spark):
        return _not_comparable(f"{run.path} has no model (a scoring run?)", path, explicit, run.run_id)
    reason = artifact.incompatibility(outputs.read_model_metadata(spark, run.model_dir), source_format, feature_set)
    if reason is not None:
        return _not_comparable(f"the previous run {run.run_id} does not compare: {reason}", path, explicit, run.run_id)
    run_summary = run.summary(spark)
    customers = None
    if run.has_customers(spark):
        customers = spark.read.parquet(paths.glob_escaped(run.file("customers")))
    else:
        note = f"the previous run {run.run_id} has no customers/ (pruned?): matched by centres, no migrations or drift"
        print(f"segment_customers: {note}")
        notes.append(note)
    model_summary = run_summary["model"]
    return refresh.PreviousRun(
        run_id=run.run_id,
        customers=customers,
        centres=summary.log_centres(model_summary),
        names={int(s): v["name"] for s, v in model_summary["segments"].items()},
        customer_count=run_summary["counts"]["customers"],
        notes=tuple(notes),
        highest_issued=_highest_issued(run_summary),
    )


def _highest_issued(run_summary: dict) -> int:
    """The highest segment id the run or any before it issued: recorded since this field was added; for an
    older run, the highest id its summary names (its segments, and those its own refresh retired)."""
    model_summary = run_summary["model"]
    if "highest_segment_id_issued" in model_summary:
        return int(model_summary["highest_segment_id_issued"])
    earlier = run_summary.get("refresh") or {}
    named = [*model_summary["segments"], *earlier.get("previous_segments", {}), *earlier.get("retired", [])]
    return max((int(s) for s in named), default=-1)


def _not_comparable(reason: str, path: str, explicit: bool, skipped_run: str | None = None) -> refresh.NotCompared:
    if explicit:
        raise InputError(f"--previous {path}: cannot compare with it: {reason}")
    return refresh.NotCompared(reason, skipped_run)


def use_remote(remote: str | None) -> None:
    """--remote sc://HOST:PORT: the session is a Spark Connect one (pyspark reads SPARK_REMOTE too)."""
    if remote:
        if not remote.startswith("sc://"):
            raise UsageError(f"--remote {remote}: a Spark Connect URL is sc://HOST:PORT")
        os.environ["SPARK_REMOTE"] = remote
