"""What an operator sees: the masked config, Spark job descriptions per step, progress lines."""
from __future__ import annotations

import logging
import os

from jobs.config import load_config, masked
from jobs.session import describe_stage, live_output_rows, progress, progress_line, step


def test_masked_hides_credentials_and_secret_named_keys_only():
    cfg = load_config("cluster", overrides=["paths.mlflow_tracking_uri=https://bob:hunter2@mlflow.example.com/api",
                                            "model.backends.use.path=s3://models/use?versionId=3&sig=abc123",
                                            "privacy.key_file=/run/secrets/pseudonym.key"])
    shown = masked(cfg)
    assert shown["paths"]["mlflow_tracking_uri"] == "https://***@mlflow.example.com/api"
    assert shown["model"]["backends"]["use"]["path"] == "s3://models/use?versionId=3&sig=***"
    assert shown["privacy"]["key_file"] == "/run/secrets/pseudonym.key"  # where the key is, not the key
    assert masked({"auth": {"api_token": "t0k3n", "password": "", "n": 3}}) == \
        {"auth": {"api_token": "***", "password": "", "n": 3}}
    assert cfg["paths"]["mlflow_tracking_uri"].startswith("https://bob:hunter2@")  # the config itself is untouched


def test_progress_line_gives_share_rate_and_time_left():
    assert progress_line("classify", 3000, 20000, 240.0) == \
        "classify: 3,000/20,000 (15%), 12.5/s, about 22m 40s left"
    assert progress_line("classify", 0, 20000, 5.0) == "classify: 0/20,000 (0%), 0.0/s"
    assert progress_line("classify", 0, 0, 0.0) == "classify: 0/0 (100%), 0.0/s"


def test_progress_counts_what_the_executors_report(spark, caplog):
    with caplog.at_level(logging.INFO, logger="jobs.session"):
        with progress(spark, "rows", 1000, every_seconds=3600) as done:
            spark.range(0, 1000, numPartitions=4).foreachPartition(lambda rows: done.add(sum(1 for _ in rows)))
    assert caplog.messages[-1].startswith("rows: 1,000/1,000 (100%), ")


def test_rows_a_running_task_has_handed_on_are_counted_before_it_ends(spark, tmp_path):
    """The progress line's live count: a task hands on 5 of its 10 rows, then waits until the driver has
    seen them (heartbeats report them within spark.executor.heartbeatInterval) before it finishes."""
    import threading
    import time

    seen = tmp_path / "seen"

    def slow(batches):
        for pdf in batches:
            yield pdf.iloc[:5].assign(pad="x" * 100_000)  # large enough to leave Python's output buffer
            deadline = time.monotonic() + 120
            while not seen.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            yield pdf.iloc[5:].assign(pad="")

    counts: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not seen.exists() and time.monotonic() < deadline:
            counts.append(live_output_rows(spark, "MapInPandas"))
            if counts[-1]:
                seen.touch()
            time.sleep(0.5)

    watcher = threading.Thread(target=watch)
    watcher.start()
    spark.range(10, numPartitions=1).mapInPandas(slow, "id long, pad string").write.format("noop").mode(
        "overwrite").save()
    watcher.join()
    assert seen.exists() and max(counts) == 5
    assert live_output_rows(spark, "MapInPandas") == 0  # nothing is running now


def test_steps_name_spark_jobs_under_their_stage(spark):
    sc = spark.sparkContext
    describe_stage(spark, "classify", "r1")
    with step(spark, "label 10 conversations"):
        assert sc.getLocalProperty("spark.job.description") == "affective classify r1: label 10 conversations"
    assert sc.getLocalProperty("spark.job.description") == "affective classify r1"


def test_each_run_in_one_process_tracks_to_its_own_store(tmp_path, monkeypatch):
    import mlflow

    from jobs.session import start_mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in ("first", "second"):
        start_mlflow("", str(tmp_path / name), "affective")
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / name / 'mlflow.db'}"
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_a_tracking_uri_the_user_exported_still_wins(tmp_path, monkeypatch):
    import mlflow

    from jobs.session import start_mlflow

    chosen = f"sqlite:///{tmp_path / 'chosen.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    start_mlflow("", str(tmp_path / "out"), "affective")
    assert mlflow.get_tracking_uri() == chosen


def test_a_local_session_gets_the_configured_heap(spark):
    from jobs.config import load_config

    assert spark.sparkContext.getConf().get("spark.driver.memory") == load_config("local")["spark"]["driver_memory"]
