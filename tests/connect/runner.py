"""The Connect side of tests/connect: `python -m tests.connect.runner sc://HOST:PORT TASK REQUEST ANSWER`.

Runs one task through segspark.engine on a Spark Connect session and writes what it found as JSON,
with whether this process ever started a JVM or imported segspark.jvm (it must do neither).
"""

from __future__ import annotations

import json
import sys
import time

from pyspark.sql import SparkSession

from segspark import engine
from segspark.clustering import model


def lloyd(spark: SparkSession, request: dict) -> dict:
    connect = engine.of(spark)
    points = connect.training_points(spark.read.parquet(request["points"]), request["columns"])
    fits = {}
    for k, seeds in request["seeds"].items():
        started = time.monotonic()
        centres, cost, iterations = connect.lloyd(points, seeds, request["max_iter"], request["tol"])
        fits[k] = {"centres": centres, "cost": cost, "iterations": iterations, "seconds": time.monotonic() - started}
    connect.release(points)
    return {"fits": fits}


def kmeans_model(spark: SparkSession, request: dict) -> dict:
    built = engine.of(spark).kmeans_model(request["centres"], model.FEATURES_VECTOR, model.CLUSTER)
    points = model.assembler(request["columns"]).transform(spark.read.parquet(request["points"]))
    built.transform(points).select("point_id", model.CLUSTER).write.parquet(request["predictions"])
    return {"centres": [[float(v) for v in centre] for centre in built.clusterCenters()], "k": built.getK()}


def sweep(spark: SparkSession, request: dict) -> dict:
    settings = model.KMeansSettings(**request["settings"])
    customers = spark.read.parquet(request["customers"])
    training = model.training_set(customers, request["customers_count"], settings, request["columns"])
    started = time.monotonic()
    fits = model.fit_ks(engine.of(spark), training, request["ks"], settings)
    return {
        "seconds": time.monotonic() - started,
        "fits": {
            k: {"centres": f.centres, "cost": f.training_cost, "iterations": f.iterations} for k, f in fits.items()
        },
    }


def query(spark: SparkSession, request: dict) -> dict:
    """Each query's result written as Parquet, for the tests' session to read (the server's catalog,
    a Derby metastore, is one process's), after the request's statements."""
    for statement in request.get("statements", []):
        spark.sql(statement)
    for sql, folder in request.get("queries", {}).items():
        spark.sql(sql).write.parquet(folder)
    return {"tables": sorted(row.tableName for row in spark.sql(f"SHOW TABLES IN {request['database']}").collect())}


def publishing_lock(spark: SparkSession, request: dict) -> dict:
    """A second publisher while the first holds the database's lock (a view over Connect)."""
    from segspark.edge import tables
    from segspark.errors import InputError

    published = tables.prepare(spark, request["database"], request["output"], "score")
    message = None
    with tables.publishing(spark, published, "run 20261205T000000Z-aaaaaa"):
        held = spark.catalog.tableExists(f"{request['database']}.segspark_publishing")
        try:
            with tables.publishing(spark, published, "run 20261205T000000Z-bbbbbb", wait_seconds=1):
                pass
        except InputError as error:
            message = str(error)
    left = spark.catalog.tableExists(f"{request['database']}.segspark_publishing")
    return {"message": message, "held": held, "left": left}


TASKS = {"lloyd": lloyd, "model": kmeans_model, "sweep": sweep, "query": query, "lock": publishing_lock}


def main(remote: str, task: str, request_file: str, answer_file: str) -> None:
    spark = SparkSession.builder.remote(remote).getOrCreate()
    with open(request_file, encoding="utf-8") as handle:
        request = json.load(handle)
    answer = TASKS[task](spark, request)
    from pyspark import SparkContext

    answer["engine"] = engine.of(spark).name
    answer["jvm_started"] = SparkContext._gateway is not None or SparkContext._jvm is not None
    answer["segspark_jvm_imported"] = "segspark.jvm" in sys.modules
    with open(answer_file, "w", encoding="utf-8") as handle:
        json.dump(answer, handle)
    # A spark.ml model still referenced at interpreter exit asks the server to drop it from a
    # finalizer, where gRPC can no longer start its thread, and the process hangs; a stopped session
    # makes pyspark skip that call (the server drops the session's models with it).
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
