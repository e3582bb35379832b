"""Faults: whatever fails and whenever, every table ends with each input row exactly once.

One output folder goes through runs A, B and C of overlapping inputs (conversations 0-9, 5-14, 12-19,
plus malformed records, some repeated): A dies between the two ingest writes and is re-run under a new
run id; B has every task of the parsing and model stages fail on its first attempt (Spark, in
local[4,4], retries it), and is then re-run under the same run id; C, a job of its own, dies after the
model stage wrote its Parquet files but before their Delta commit, and is re-run under the same run id. After each, every
table is checked against the input: no conversation lost, none twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from jobs import pipeline
from jobs.cli import STAGE_COMMANDS
from jobs.config import load_config

pytestmark = pytest.mark.e2e

FAULTS = Path(__file__).parent / "faults"
STAGES = ("ingest", "classify", "aggregate")
GOLD = ("prevalence", "pushback", "pushback_reasons", "referral", "sentiment_shift")
USER_TEXTS = ["I feel lonely and sad since my move, nobody calls me.", "Can you help me fix this Python error?",
              "Write a short poem about autumn rain.", "My boss keeps yelling at me, what should I do?"]


def _conversation(i: int) -> str:
    messages = []
    for turn in range(3):
        messages += [{"role": "user", "content": f"{USER_TEXTS[(i + turn) % 4]} (day {turn})"},
                     {"role": "assistant", "content": "I hear you. Let's work through it together."}]
    return json.dumps({"conversation_id": f"f{i:02d}", "user_id": f"user-{i % 6}", "messages": messages})


BAD = ['{"conversation_id": "bad-1", "messages": [',
       json.dumps({"conversation_id": "bad-2", "user_id": "u", "messages": [{"role": "narrator", "content": "x"}]})]
INPUTS = {"a": [*map(_conversation, range(0, 10)), BAD[0]],
          "b": [*map(_conversation, range(5, 15)), BAD[0], BAD[1]],
          "c": [*map(_conversation, range(12, 20)), BAD[1]]}


class Crash(RuntimeError):
    """The job dies here."""


def _write(root: Path, name: str) -> str:
    folder = root / "in" / name
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("\n".join(INPUTS[name]) + "\n")
    return str(folder)


def _overrides(root: Path) -> list[str]:
    return [f"paths.state={root / 'state'}", f"paths.mlflow_tracking_uri=sqlite:///{root / 'mlflow.db'}",
            "aggregate.bootstrap_replicates=100", "privacy.min_users=2", "privacy.min_conversations=4",
            "spark.shuffle_partitions=2"]


def _run(spark, root: Path, input_path: str, run_id: str, stages: tuple[str, ...] = STAGES) -> dict:
    cfg = load_config("local", overrides=_overrides(root))
    ctx = pipeline.new_context(cfg, str(root / "out"), input_path=input_path, run_id=run_id)
    return pipeline.run_stages(ctx, stages)


def _rows(spark, root: Path, table: str) -> list:
    path = root / "out" / "tables" / table
    return spark.read.format("delta").load(str(path)).collect() if (path / "_delta_log").is_dir() else []


def _versions(spark, root: Path) -> dict[str, int]:
    from jobs.session import table_version

    tables = sorted(p for p in (root / "out" / "tables").iterdir() if (p / "_delta_log").is_dir())
    return {p.name: table_version(spark, str(p)) for p in tables}


def assert_each_row_once(spark, root: Path, names: str) -> None:
    """Every table against the inputs named: each clean conversation once in bronze and silver (and its
    user messages once each), each malformed record once in quarantine, each gold row once."""
    records = list(dict.fromkeys(line for name in names for line in INPUTS[name]))
    clean = sorted(json.loads(r)["conversation_id"] for r in records if r not in BAD)
    assert sorted(r["conversation_id"] for r in _rows(spark, root, "conversations")) == clean
    assert sorted(r["record_id"] for r in _rows(spark, root, "conversations_quarantine")) == sorted(
        hashlib.sha256(r.encode()).hexdigest() for r in records if r in BAD)
    assert sorted(r["conversation_id"] for r in _rows(spark, root, "conversation_labels")) == clean
    assert sorted((r["conversation_id"], r["message_index"]) for r in _rows(spark, root, "message_sentiment")) == \
        sorted((cid, index) for cid in clean for index in (0, 2, 4))
    assert _rows(spark, root, "classify_quarantine") == []
    (everyone,) = [r for r in _rows(spark, root, "pushback") if r["segment"] == "all"]
    assert everyone["conversations"] == len(clean)
    prevalence = [(r["measure"], r["population"]) for r in _rows(spark, root, "prevalence")]
    assert len(prevalence) == len(set(prevalence)) and prevalence
    assert all(r["denominator"] == len(clean) for r in _rows(spark, root, "prevalence")
               if r["population"] == "all conversations")
    suppressed = [r["table_name"] for r in _rows(spark, root, "suppressed_rows")]
    assert len(suppressed) == len(set(suppressed)) and set(GOLD) <= set(suppressed)


def _output_with_heads(folder: Path, heads) -> Path:
    """An output folder holding the session's seed-set heads, so its first run does not train them again."""
    heads.save(folder / "out" / "models" / heads.version)
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory, heads):
    return _output_with_heads(tmp_path_factory.mktemp("faults"), heads)


@pytest.fixture(scope="module")
def run_a(spark, root):
    """A dies between its two ingest writes (conversations written, quarantine not), then runs again."""
    from jobs import session

    merge = session.merge_new_rows

    def dies_after_conversations(spark_, df, path, keys, **kwargs):
        merge(spark_, df, path, keys, **kwargs)
        if path.endswith("/conversations"):
            raise Crash("between the conversations and quarantine writes")

    input_path = _write(root, "a")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session, "merge_new_rows", dies_after_conversations)
        with pytest.raises(Crash):
            _run(spark, root, input_path, "a")
    after_crash = {t: len(_rows(spark, root, t)) for t in ("conversations", "conversations_quarantine")}
    return after_crash, _run(spark, root, input_path, "a-again")


def test_a_job_that_died_between_two_writes_is_completed_by_a_new_run(spark, root, run_a):
    after_crash, stats = run_a
    assert after_crash == {"conversations": 10, "conversations_quarantine": 0}
    assert stats["ingest"]["rows_already_ingested"] == 10
    assert_each_row_once(spark, root, "a")


@pytest.fixture(scope="module")
def run_b(spark, root, run_a):
    """B overlaps A; every task that parses records or runs the model fails on its first attempt."""
    markers = root / "markers"
    markers.mkdir()
    environment = spark.sparkContext.environment
    environment.update(PYTHONPATH=str(FAULTS), AFFECTIVE_FAULT=f"first-attempt:{markers}")
    try:
        stats = _run(spark, root, _write(root, "b"), "b")
    finally:
        for key in ("PYTHONPATH", "AFFECTIVE_FAULT"):
            environment.pop(key)
    return stats, sorted(p.name.split("-")[0] for p in markers.iterdir())


def test_tasks_failing_on_their_first_attempt_are_retried_without_loss_or_duplicates(spark, root, run_b):
    stats, failures = run_b
    assert {"parse", "classify"} <= set(failures)  # the faults did fire, in both stages
    assert stats["ingest"]["rows_already_ingested"] == 5  # conversations 5-9 were in A
    assert stats["classify"]["conversations_classified"] == 5
    assert_each_row_once(spark, root, "ab")


def test_rerunning_the_same_run_id_changes_no_table(spark, root, run_b):
    before = _versions(spark, root)
    rows_before = {t: sorted(map(str, _rows(spark, root, t))) for t in before}
    _run(spark, root, str(root / "in" / "b"), "b")
    assert _versions(spark, root) == before
    assert {t: sorted(map(str, _rows(spark, root, t))) for t in before} == rows_before


@pytest.fixture(scope="module")
def crash_before_commit(spark, tmp_path_factory) -> Path:
    """tests/faults/CrashBeforeCommit.java, compiled against the Delta and Hadoop jars of this session."""
    jvm = spark.sparkContext._jvm
    classpath = [jvm.java.lang.Class.forName(name, False, jvm.java.lang.Thread.currentThread().getContextClassLoader())
                 .getProtectionDomain().getCodeSource().getLocation().getPath()
                 for name in ("io.delta.storage.LocalLogStore", "org.apache.hadoop.conf.Configuration")]
    build = tmp_path_factory.mktemp("crash-store")
    subprocess.run(["javac", "-d", str(build), "-cp", ":".join(classpath), str(FAULTS / "CrashBeforeCommit.java")],
                   check=True)
    subprocess.run(["jar", "cf", str(build / "crash.jar"), "-C", str(build), "CrashBeforeCommit.class"], check=True)
    return build / "crash.jar"


@pytest.fixture(scope="module")
def run_c(spark, spark_submit, crash_before_commit, root, run_b):
    """C is submitted as its own job whose driver JVM dies at the labels' Delta commit, after the label
    files were written (tests/faults/CrashBeforeCommit.java), then runs again under the same run id."""
    labels = root / "out" / "tables" / "conversation_labels"
    versions = _versions(spark, root)
    input_path = _write(root, "c")
    options = ["--master", "local[4,4]", "--jars", str(crash_before_commit),
               "--conf", "spark.delta.logStore.file.impl=CrashBeforeCommit",
               "--conf", "spark.hadoop.affective.crashBeforeCommitTo=conversation_labels"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    died = spark_submit(Path(pipeline.__file__).parent / "cli.py",
                        ["run", "--profile", "local", "--input", input_path, "--output", str(root / "out"), "--run-id", "c",
                         *[arg for override in _overrides(root) for arg in ("--set", override)]],
                        options=options, cwd=root, env=env)
    on_disk = {p.name for p in labels.glob("*.parquet")}
    committed = {Path(f).name for f in spark.read.format("delta").load(str(labels)).inputFiles()}
    state = {"returncode": died.returncode, "versions": _versions(spark, root),
             "uncommitted_files": len(on_disk - committed), "labels": len(_rows(spark, root, "conversation_labels"))}
    _run(spark, root, input_path, "c", STAGE_COMMANDS["run"])  # the same job again, as an orchestrator retries it
    return versions, state


def test_a_job_that_died_before_a_commit_leaves_the_table_as_it_was_and_its_rerun_completes(spark, root, run_c):
    before, state = run_c
    assert state["returncode"] != 0
    assert state["uncommitted_files"] >= 1  # the label files were written: the job died at the commit
    assert state["versions"]["conversation_labels"] == before["conversation_labels"]
    assert state["labels"] == 15  # A and B only
    assert state["versions"]["message_sentiment"] == before["message_sentiment"] + 1  # written before the labels
    assert _versions(spark, root)["message_sentiment"] == before["message_sentiment"] + 1  # and not again
    assert_each_row_once(spark, root, "abc")


def test_a_model_failure_on_one_conversation_quarantines_only_that_one(spark, heads, tmp_path):
    """The encoder fails on one conversation inside the Spark job: it goes to classify_quarantine with the
    reason, and every other conversation is labelled."""
    _output_with_heads(tmp_path, heads)
    records = [*map(_conversation, range(4)),
               json.dumps({"conversation_id": "poisoned", "user_id": "user-9", "messages": [
                   {"role": "user", "content": "zebra zebra my secret diary"}, {"role": "assistant", "content": "ok"}]})]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part-0.jsonl").write_text("\n".join(records) + "\n")
    environment = spark.sparkContext.environment
    environment.update(PYTHONPATH=str(FAULTS), AFFECTIVE_FAULT="poison:zebra")
    try:
        cfg = load_config("local", overrides=[f"paths.state={tmp_path / 'state'}",
                                              f"paths.mlflow_tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"])
        ctx = pipeline.new_context(cfg, str(tmp_path / "out"), input_path=str(tmp_path / "in"), run_id="poison")
        stats = pipeline.run_stages(ctx, ("ingest", "classify"))
    finally:
        for key in ("PYTHONPATH", "AFFECTIVE_FAULT"):
            environment.pop(key)
    tables = tmp_path / "out" / "tables"
    read = lambda name: spark.read.format("delta").load(str(tables / name)).collect()  # noqa: E731
    (failed,) = read("classify_quarantine")
    assert failed["conversation_id"] == "poisoned"
    assert failed["_errors"] == ["encoder: OutOfMemoryError: CUDA out of memory (injected)"]
    assert sorted(r["conversation_id"] for r in read("conversation_labels")) == ["f00", "f01", "f02", "f03"]
    assert "poisoned" not in {r["conversation_id"] for r in read("message_sentiment")}
    assert (stats["classify"]["conversations_classified"], stats["classify"]["conversations_quarantined"]) == (4, 1)
