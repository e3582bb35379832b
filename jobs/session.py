"""The one module that wires Spark, Delta Lake and MLflow.

Locally it builds a Spark session with the Delta extension and catalog, the Delta jars resolved by
`configure_spark_with_delta_pip`, this interpreter as the Python worker and quiet logs. Under
spark-submit, on a cluster or on Databricks it takes the session it is given and forces nothing local.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    # Keeps the pseudonym key and tokens out of the UI, event logs and error messages.
    "spark.redaction.regex": "(?i)secret|password|token|access[.]key|pseudonym",
    # Plans, explain output and event logs show e-mail addresses and long digit runs (cards, phone
    # numbers) as *********(redacted), should a literal from the data ever reach a plan.
    "spark.redaction.string.regex": r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+|\+?\d(?:[ -]?\d){8,}",
    # One torch thread per Python worker: Spark already runs one worker per core.
    "spark.executorEnv.OMP_NUM_THREADS": "1",
    "spark.executorEnv.TOKENIZERS_PARALLELISM": "false",
}


def _launched_by_spark_submit() -> bool:
    # spark-submit (and Databricks) start the JVM first and hand Python its gateway.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def configured_master(spark_cfg: dict[str, Any]) -> str | None:
    """The master get_spark will start a session with, known before the JVM starts; None where
    spark-submit or an already running session decides it."""
    if _launched_by_spark_submit() or not spark_cfg["master"] or SparkSession.getActiveSession() is not None:
        return None
    return spark_cfg["master"]


def get_spark(spark_cfg: dict[str, Any]) -> SparkSession:
    """Return the active session, or build a local one with Delta Lake.

    Args:
        spark_cfg: the `spark` section of the config (app_name, master, shuffle_partitions, ...).

    Returns:
        A SparkSession that can read and write Delta tables.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(spark_cfg["app_name"])
    for key, value in DELTA_CONF.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(spark_cfg["arrow_batch_rows"]))
    if _launched_by_spark_submit() or not spark_cfg["master"]:
        # The cluster owns master, jars and Python; Delta jars come with --packages (README). The
        # shuffle width is a runtime setting, so the profile's value holds there too.
        spark = builder.getOrCreate()
        spark.conf.set("spark.sql.shuffle.partitions", str(spark_cfg["shuffle_partitions"]))
    else:
        spark = _local_session(builder, spark_cfg)
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _local_session(builder: SparkSession.Builder, spark_cfg: dict[str, Any]) -> SparkSession:
    from delta import configure_spark_with_delta_pip

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # The driver is the executor in local mode: cached tables, broadcasts and Delta snapshots share its
    # heap (the default 1g ran out of room for a broadcast late in the test suite).
    builder = builder.master(spark_cfg["master"]).config(
        "spark.sql.shuffle.partitions", str(spark_cfg["shuffle_partitions"])
    ).config("spark.driver.memory", spark_cfg["driver_memory"])
    for key, value in LOCAL_CONF.items():
        builder = builder.config(key, value)
    return configure_spark_with_delta_pip(builder).getOrCreate()


STAGE_PROPERTY = "affective.stage"


def describe_stage(spark: SparkSession, stage: str, run_id: str) -> None:
    """Name the Spark jobs from here on `affective <stage> <run id>` (the UI's job list); `step` adds to it."""
    label = f"affective {stage} {run_id}"
    spark.sparkContext.setLocalProperty(STAGE_PROPERTY, label)
    spark.sparkContext.setJobDescription(label)


@contextlib.contextmanager
def step(spark: SparkSession, what: str) -> Iterator[None]:
    """Name the Spark jobs of one step of a stage, so a long run shows in the UI where it is."""
    sc = spark.sparkContext
    sc.setJobDescription(f"{sc.getLocalProperty(STAGE_PROPERTY) or 'affective'}: {what}")
    try:
        yield
    finally:
        sc.setJobDescription(sc.getLocalProperty(STAGE_PROPERTY))


def progress_line(what: str, done: int, total: int, seconds: float) -> str:
    """`classify: 3,000/20,000 conversations (15%), 12.5/s, about 22m 40s left`."""
    share = done / total if total else 1.0
    rate = done / seconds if seconds > 0 else 0.0
    line = f"{what}: {done:,}/{total:,} ({share:.0%}), {rate:.1f}/s"
    if 0 < done < total and rate > 0:
        minutes, secs = divmod(round((total - done) / rate), 60)
        line += f", about {minutes}m {secs:02d}s left"
    return line


@contextlib.contextmanager
def progress(spark: SparkSession, what: str, total: int, every_seconds: float = 30.0,
             operator: str | None = None) -> Iterator[Any]:
    """Log rows done / total, rate and time left on the driver while the block runs.

    Yields an accumulator that the executors add their finished rows to. Spark merges a task's
    additions only when the task ends, so with `operator` (a query operator such as 'MapInPandas') the
    line also counts the rows that operator has handed on in running tasks, which the executors'
    heartbeats report (`spark.executor.heartbeatInterval`, 10 s). Only counts leave the executors.
    """
    import threading
    import time

    done = spark.sparkContext.accumulator(0)
    stop = threading.Event()
    started = time.monotonic()

    def count() -> int:
        live = live_output_rows(spark, operator) if operator else 0
        return min(max(done.value, live), total)

    def report() -> None:
        while not stop.wait(every_seconds):
            logger.info(progress_line(what, count(), total, time.monotonic() - started))

    reporter = threading.Thread(target=report, name=f"progress {what}", daemon=True)
    reporter.start()
    try:
        yield done
    finally:
        stop.set()
        reporter.join()
    logger.info(progress_line(what, min(done.value, total), total, time.monotonic() - started))


def live_output_rows(spark: SparkSession, operator: str) -> int:
    """Output rows of every `operator` node in the SQL queries running now, as far as the executors'
    heartbeats have reported them (Spark's SQL status store, which the UI's SQL tab reads; it is kept
    whether or not the UI runs). 0 where this Spark build does not expose the store."""
    try:
        store = spark._jsparkSession.sharedState().statusStore()
        executions = store.executionsList()
        rows = 0
        for i in range(executions.size()):
            execution = executions.apply(i)
            if execution.completionTime().isDefined():
                continue
            values = store.executionMetrics(execution.executionId())
            nodes = store.planGraph(execution.executionId()).allNodes()
            for j in range(nodes.size()):
                if nodes.apply(j).name() != operator:
                    continue
                metrics = nodes.apply(j).metrics()
                for k in range(metrics.size()):
                    value = values.get(metrics.apply(k).accumulatorId())
                    if metrics.apply(k).name() == "number of output rows" and value.isDefined():
                        rows += int(re.sub(r"[^0-9]", "", str(value.get()).splitlines()[0]) or 0)
        return rows
    except Exception as exc:  # noqa: BLE001 - a progress line must never fail the stage it reports on
        logger.debug("no live row counts from the SQL status store: %s", exc)
        return 0


@contextlib.contextmanager
def commit_metadata(spark: SparkSession, run_id: str) -> Iterator[None]:
    """Stamp every Delta commit made inside the block with the run id (visible in DESCRIBE HISTORY)."""
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, run_id)
    try:
        yield
    finally:
        spark.conf.unset(key)


TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


@contextlib.contextmanager
def idempotent_writes(spark: SparkSession, app_id: str) -> Iterator[None]:
    """Make each Delta write in the block a no-op on a table that a block with this app id already wrote.

    Delta records (app id, version 0) in the commit; a repeat of the block (the same command, stage and
    run id: a re-run after a crash, or by mistake) skips the tables it wrote and writes only those it had
    not reached. So a block writes each table at most once (`merge_new_rows` creates tables outside it).
    """
    spark.conf.set(TXN_APP_ID, app_id)
    spark.conf.set(TXN_VERSION, "0")
    try:
        yield
    finally:
        spark.conf.unset(TXN_APP_ID)
        spark.conf.unset(TXN_VERSION)


@contextlib.contextmanager
def _outside_transaction(spark: SparkSession) -> Iterator[None]:
    saved = {key: spark.conf.get(key, None) for key in (TXN_APP_ID, TXN_VERSION)}
    for key in saved:
        spark.conf.unset(key)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is not None:
                spark.conf.set(key, value)


def merge_new_rows(spark: SparkSession, df: DataFrame, path: str, keys: list[str], *, update: bool = False) -> None:
    """Insert the rows of df whose keys are not yet in the Delta table at path (created if absent);
    with update, also replace the rows whose keys are there.

    Re-running the same input therefore adds nothing: the write is idempotent on the keys.
    """
    from delta.tables import DeltaTable

    with step(spark, f"merge new rows into {Path(path).name}"):
        with _outside_transaction(spark):  # creating is idempotent itself and must not use up the app id
            DeltaTable.createIfNotExists(spark).location(path).addColumns(df.schema).execute()
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        merge = DeltaTable.forPath(spark, path).alias("t").merge(df.alias("s"), condition)
        (merge.whenMatchedUpdateAll() if update else merge).whenNotMatchedInsertAll().execute()


def materialize(df: DataFrame, path: str, *, what: str) -> DataFrame:
    """Write df once to a scratch Delta table at path and read it back; `what` names the Spark job.

    For results that are expensive to compute (model output) and read by several writes: Delta MERGE
    plans its source again instead of reading a cached DataFrame, which would run the model once per MERGE.
    """
    with step(df.sparkSession, what), _outside_transaction(df.sparkSession):
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return read_table(df.sparkSession, path)


def remove_path(spark: SparkSession, path: str) -> None:
    """Delete a folder on any Hadoop file system (local, HDFS, S3, ABFS, DBFS)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(hadoop_path, True)


def overwrite_table(df: DataFrame, path: str) -> None:
    """Replace a gold table in one Delta commit (its history keeps earlier versions)."""
    with step(df.sparkSession, f"write {Path(path).name}"):
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)


def stamp(df: DataFrame, *, model_version: str, run_id: str) -> DataFrame:
    return df.select("*", F.lit(model_version).alias("model_version"), F.lit(run_id).alias("run_id"),
                     F.current_timestamp().alias("computed_at"))


def read_table(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def is_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def read_table_if_any(spark: SparkSession, path: str) -> DataFrame | None:
    """The Delta table at path, or None where no stage has written it yet."""
    return read_table(spark, path) if is_table(spark, path) else None


def register_gold_views(spark: SparkSession, tables: dict[str, str], names: dict[str, str]) -> list[str]:
    """A temporary view per gold table that exists, named as the table (`SELECT * FROM topic_clusters`).

    Args:
        spark: the session the views are registered on.
        tables: config name -> table path.
        names: config name -> table name (the `tables` section of the config).

    Returns:
        The view names registered.
    """
    from jobs.tables import keys

    views = []
    for key in keys("gold"):
        if is_table(spark, tables[key]):
            read_table(spark, tables[key]).createOrReplaceTempView(names[key])
            views.append(names[key])
    return views


def _latest_commit(spark: SparkSession, path: str):
    """The table's latest commit as Delta's history states it (version, operationMetrics, ...)."""
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, path).history(1).first()


def table_version(spark: SparkSession, path: str) -> int:
    return _latest_commit(spark, path)["version"]


def written_rows(spark: SparkSession, path: str) -> int:
    """Rows written by the table's latest commit, from Delta's own commit metrics: after an overwrite, the
    table's size, without computing the data again to count it."""
    return int(_latest_commit(spark, path)["operationMetrics"].get("numOutputRows", 0))


def tracking_uri(configured: str, output_dir: str) -> str:
    """MLFLOW_TRACKING_URI wins, then the config, then a sqlite file in the output folder."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if configured:
        return configured
    return f"sqlite:///{Path(output_dir).resolve() / 'mlflow.db'}"


def start_mlflow(configured_uri: str, output_dir: str, experiment: str) -> None:
    import mlflow

    launched_with = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri(configured_uri, output_dir))
    # set_tracking_uri also exports MLFLOW_TRACKING_URI; undo that, or a later run in this process (a notebook,
    # an Airflow worker, the tests) would take this run's store for one the user chose.
    if launched_with is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = launched_with
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = (Path(output_dir).resolve() / "mlartifacts").as_uri()
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)


if __name__ == "__main__":
    # `python -m jobs.session --check`: start a local session once (fetching the Delta jars) and write a table.
    import tempfile

    from jobs.config import load_config

    spark = get_spark(load_config("local")["spark"])
    with tempfile.TemporaryDirectory() as tmp:
        spark.range(3).write.format("delta").save(f"{tmp}/check")
        assert read_table(spark, f"{tmp}/check").count() == 3
    spark.stop()
    print("spark + delta ok")
