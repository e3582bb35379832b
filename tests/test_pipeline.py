"""End to end: synthetic conversations plus malformed records through `affective run`, twice."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable as DeltaReader

from jobs.cli import main as affective
from jobs.synth import synth_conversations, write_synth

pytestmark = pytest.mark.e2e

N = 300
# ~130 conversations come out affective; a scope's topic clusters are released only when all siblings
# can be, which these thresholds allow at this size (the unit tests cover the suppression rules).
MIN_USERS, MIN_CONVERSATIONS = 5, 10
MALFORMED = {
    "bad_json": '{"conversation_id": "m1", "user_id": "x", "messages": [',
    "missing_conversation_id": json.dumps({"user_id": "x", "messages": [{"role": "user", "content": "hi"}]}),
    "missing_user_id": json.dumps({"conversation_id": "m3", "messages": [{"role": "user", "content": "hi"}]}),
    "empty_messages": json.dumps({"conversation_id": "m4", "user_id": "x", "messages": []}),
    "unknown_role": json.dumps({"conversation_id": "m5", "user_id": "x", "messages": [
        {"role": "user", "content": "hi"}, {"role": "narrator", "content": "meanwhile"}]}),
    "non_text_content": json.dumps({"conversation_id": "m6", "user_id": "x", "messages": [{"role": "user", "content": [1]}]}),
    "bad_timestamp": json.dumps({"conversation_id": "m7", "user_id": "x", "created_at": "someday",
                                 "messages": [{"role": "user", "content": "hi"}]}),
}
TABLES = ("conversations", "conversation_labels", "message_sentiment", "prevalence", "pushback",
          "pushback_reasons", "referral", "sentiment_shift", "suppressed_rows", "conversation_topics",
          "topic_clusters", "topic_hierarchy", "topic_drift", "user_affective_share")
SILVER_GOLD = TABLES[1:]


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    write_synth(synth_conversations(spark, n=N, seed=11, partitions=2), str(root / "data"))
    inputs = root / "data" / "conversations"
    (inputs / "malformed.jsonl").write_text("\n".join(MALFORMED.values()) + "\n" + _duplicate_of_first(inputs))
    args = ["run", "--profile", "local", "--input", str(inputs), "--output", str(root / "out"),
            "--set", f"paths.state={root / 'state'}", "--set", "aggregate.bootstrap_replicates=100",
            "--set", f"privacy.min_users={MIN_USERS}", "--set", f"privacy.min_conversations={MIN_CONVERSATIONS}"]
    assert affective([*args, "--run-id", "first"]) == 0
    counts_first = {t: spark.read.format("delta").load(str(root / "out" / "tables" / t)).count() for t in SILVER_GOLD}
    assert affective([*args, "--run-id", "second"]) == 0
    validate_args = ["validate", "--profile", "local", "--labels", str(root / "data" / "labels"),
                     "--output", str(root / "out"), "--set", f"paths.state={root / 'state'}",
                     "--set", "aggregate.bootstrap_replicates=100", "--set", f"privacy.min_users={MIN_USERS}",
                     "--set", f"privacy.min_conversations={MIN_CONVERSATIONS}", "--run-id", "validation"]
    assert affective(validate_args) == 0
    return root, counts_first


def _duplicate_of_first(inputs: Path) -> str:
    first = next(p for p in sorted(inputs.glob("part-*")) if p.stat().st_size).read_text().splitlines()[0]
    record = json.loads(first)
    record["user_id"] = "someone-else"  # same conversation id, different content
    return json.dumps(record) + "\n"


def _table(spark, root: Path, name: str):
    return spark.read.format("delta").load(str(root / "out" / "tables" / name))


def _labels(root: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((root / "data" / "labels").glob("part-*"))
            for line in p.read_text().splitlines() if line.strip()]


# The raw classifier's released figures that are within max(0.01, 15 % of the truth) of the generator's
# labels here and on `make run`'s 3,000 conversations (EVALUATION.md). The other figures are not yet on
# both: EVALUATION.md says by how much and why. With model abcdb6402830, coaching is 26 conversations
# against 24 here; companionship, within on the 3,000, is 16 against 21 here, 1.7 points outside:
# two wedding toasts the earlier model called companionship are content creation now, which was
# what made it look right; referral of affective conversations is within here but not there.
FIGURES_WITHIN_TOLERANCE = ("pushback.all", "pushback.affective", "referral.all", "share.task",
                            "share.content_creation", "share.affective", "share.romantic_roleplay",
                            "share.coaching")


def test_headline_figures_match_the_generators_truth(run):
    from evaluation.synthetic_figures import compare, read_labels, released_figures, true_figures

    root, _ = run
    rows = {r["figure"]: r for r in compare(released_figures(root / "out" / "tables"),
                                            true_figures(read_labels(root / "data" / "labels")))}
    for figure in FIGURES_WITHIN_TOLERANCE:
        assert rows[figure]["within"], rows[figure]


def test_a_figure_exactly_at_the_tolerance_is_within_and_one_conversation_more_is_not():
    from evaluation.synthetic_figures import compare

    at, beyond = compare({"a": 11 / 300, "b": 10 / 300}, {"a": 14 / 300, "b": 14 / 300})
    assert (at["within"], beyond["within"]) == (True, False)
    assert at["tolerance"] == 0.01


def test_conversation_level_precision_and_recall_count_each_conversation_once():
    import pandas as pd

    from evaluation.synthetic_figures import conversation_scores

    predicted = pd.DataFrame({"conversation_id": ["a", "b", "c", "d"], "use": ["affective", "affective", "task", "task"],
                              "pushback": [True, True, False, False], "referral": [False, False, False, True]})
    truth = pd.DataFrame({"conversation_id": ["a", "b", "c", "d", "quarantined"],
                          "use": ["affective", "task", "affective", "task", "affective"],
                          "pushback": [True, False, True, False, True], "referral": [False, False, False, False, True]})
    scores = conversation_scores(predicted, truth)
    assert scores["pushback"] == {"precision": 0.5, "recall": 0.5, "predicted": 2, "true": 2, "conversations": 4}
    assert (scores["affective"]["precision"], scores["affective"]["recall"]) == (0.5, 0.5)
    assert (scores["referral"]["precision"], scores["referral"]["recall"], scores["referral"]["true"]) == (0.0, 0.0, 0)


def test_conversation_scores_read_the_released_model_versions_rows_only(tmp_path):
    import pandas as pd
    from deltalake import write_deltalake

    from evaluation.synthetic_figures import classified

    write_deltalake(str(tmp_path / "prevalence"), pd.DataFrame({"measure": ["affective"], "model_version": ["new"]}))
    write_deltalake(str(tmp_path / "conversation_labels"), pd.DataFrame({
        "conversation_id": ["a", "a", "b"], "use": ["task", "affective", "task"], "pushback": [True, False, False],
        "referral": [False, False, True], "model_version": ["old", "new", "new"]}))
    assert classified(tmp_path).to_dict("records") == [
        {"conversation_id": "a", "use": "affective", "pushback": False, "referral": False},
        {"conversation_id": "b", "use": "task", "pushback": False, "referral": True}]


def test_counts_add_up_and_each_malformed_kind_is_quarantined(spark, run):
    root, _ = run
    quarantine = _table(spark, root, "conversations_quarantine").collect()
    assert _table(spark, root, "conversations").count() + len(quarantine) == N + len(MALFORMED) + 1
    reasons = sorted(r for row in quarantine for r in row["_errors"])
    assert reasons == sorted([*MALFORMED, "duplicate_id"])
    assert all(row["run_id"] == "first" for row in quarantine)


def test_rerun_and_validation_change_no_silver_or_gold_row_count(spark, run):
    root, counts_first = run
    assert {t: _table(spark, root, t).count() for t in SILVER_GOLD} == counts_first
    assert counts_first["conversation_labels"] == N


def test_pseudonyms_are_stable_and_never_the_raw_id(spark, run):
    root, _ = run
    raw_users = {}
    for p in sorted((root / "data" / "conversations").glob("part-*")):
        for line in p.read_text().splitlines():
            record = json.loads(line)
            raw_users[str(record.get("conversation_id", record.get("id")))] = str(record["user_id"])
    rows = _table(spark, root, "conversations").select("conversation_id", "user_id").collect()
    pseudonym_of = {}
    for row in rows:
        raw = raw_users[row["conversation_id"]]
        assert row["user_id"].startswith("u_") and raw not in row["user_id"]
        assert pseudonym_of.setdefault(raw, row["user_id"]) == row["user_id"]
    assert len(set(pseudonym_of.values())) == len(pseudonym_of)


def test_no_planted_personal_data_in_silver_gold_or_report(spark, run):
    root, _ = run
    planted = {p for label in _labels(root) for p in label["pii"]}
    assert len(planted) > 20
    dumps = [json.dumps(r.asDict(recursive=True), default=str) for t in ("conversations", *SILVER_GOLD)
             for r in _table(spark, root, t).drop("embedding").collect()]
    text = "\n".join(dumps) + (root / "out" / "report" / "index.html").read_text()
    leaked = sorted(p for p in planted if p in text)
    assert leaked == []


def test_gold_rows_meet_the_thresholds_and_some_are_suppressed(spark, run):
    root, _ = run
    for name in ("prevalence", "pushback", "pushback_reasons", "referral", "sentiment_shift"):
        for row in _table(spark, root, name).collect():
            assert row["users"] >= MIN_USERS and row["conversations"] >= MIN_CONVERSATIONS, (name, row)
    suppressed = {r["table_name"]: r["suppressed_rows"] for r in _table(spark, root, "suppressed_rows").collect()}
    assert sum(suppressed.values()) > 0
    assert _table(spark, root, "prevalence").where("measure = 'affective'").count() == 1


def test_every_released_figure_rests_on_the_conversations_and_users_its_row_states(run):
    """evaluation.release_audit, independently of the product's Spark code: each gold row meets the
    thresholds and each aggregate row's base is the one recomputed from silver."""
    from evaluation.release_audit import audit
    from jobs.config import load_config

    root, _ = run
    tables, names = root / "out" / "tables", load_config("local")["tables"]
    problems, checked = audit(tables, names, min_users=MIN_USERS, min_conversations=MIN_CONVERSATIONS)
    assert problems == [] and checked > 20
    problems, _ = audit(tables, names, min_users=MIN_USERS, min_conversations=10**6)  # the audit can fail
    assert len(problems) >= checked


def test_released_tables_have_exactly_the_schema_the_registry_states(spark, run):
    from pyspark.sql.types import _parse_datatype_string

    from jobs.config import load_config
    from jobs.tables import TABLES

    root, _ = run
    folders = load_config("local")["tables"]
    released = [t for t in TABLES if t.layer in ("gold", "metrics")]
    assert released and all(t.schema for t in released)
    for table in released:
        written = {f.name: f.dataType.simpleString() for f in _table(spark, root, folders[table.key]).schema.fields}
        stated = {f.name: f.dataType.simpleString() for f in _parse_datatype_string(f"struct<{table.schema}>").fields}
        assert written == stated, table.key


def test_released_topic_clusters_meet_the_thresholds_and_name_no_planted_data(spark, run):
    root, _ = run
    clusters = _table(spark, root, "topic_clusters").collect()
    # Some scopes are released, and every released cluster meets the thresholds. (At this size a scope
    # with one small cluster is held back whole: siblings are suppressed together.)
    assert clusters and all(r["users"] >= MIN_USERS and r["conversations"] >= MIN_CONVERSATIONS for r in clusters)
    suppressed = {r["table_name"]: r["suppressed_rows"] for r in _table(spark, root, "suppressed_rows").collect()}
    assert suppressed["topic_clusters.withheld_statistics"] == sum(len(r["withheld"]) for r in clusters)
    topics = _table(spark, root, "conversation_topics").where("scope = 'affective'")
    labelled = _table(spark, root, "conversation_labels").where("use = 'affective'")
    assert topics.count() == labelled.count()  # every affective conversation has a topic


def test_tables_are_delta_with_run_ids_in_history_and_readable_by_deltalake(spark, run):
    root, _ = run
    for name in TABLES:
        path = str(root / "out" / "tables" / name)
        assert DeltaReader(path).to_pyarrow_table().num_rows == _table(spark, root, name).count()
    # the topic stage commits from worker threads, side by side: its commits carry the run id too
    for name in ("conversation_labels", "topic_drift", "conversation_topics", "topic_clusters", "suppressed_rows"):
        history = spark.sql(f"DESCRIBE HISTORY delta.`{root / 'out' / 'tables' / name}`")
        assert {r["userMetadata"] for r in history.collect()} >= {"first"}, name


def test_mlflow_run_holds_metrics_params_and_the_report(spark, run, tmp_path):
    from mlflow.tracking import MlflowClient

    root, counts_first = run
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'out' / 'mlflow.db'}")
    parents = [r for r in client.search_runs(client.get_experiment_by_name("affective").experiment_id)
               if r.data.tags.get("affective.run_id") == "first"]
    assert len(parents) == 1
    data = parents[0].data
    assert data.metrics["ingest.rows_in"] == N + len(MALFORMED) + 1
    assert data.metrics["ingest.rows_quarantined"] == len(MALFORMED) + 1
    assert data.metrics["classify.conversations_classified"] == N
    slots = spark.sparkContext.defaultParallelism  # the model's seconds, summed over workers, fit in slots x wall
    assert 0 < data.metrics["classify.model_seconds"] < slots * data.metrics["classify.seconds"]
    assert 0 < data.metrics["report.share.affective"] < 1
    assert int(data.params["delta_version.conversations"]) >= 1
    assert data.params["config.privacy.min_users"] == str(MIN_USERS)
    for name in ("conversation_topics", "topic_clusters", "topic_hierarchy", "topic_drift", "user_affective_share"):
        assert data.metrics[f"topics.{name}_rows"] == counts_first[name], name  # from the Delta commit, not a recount
    children = {r.data.tags["mlflow.runName"]: r for r in client.search_runs(
        parents[0].info.experiment_id, f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")}
    assert set(children) == {"ingest", "classify", "aggregate", "topics", "report"}
    assert children["classify"].data.params["model_version"]
    artifacts = [a.path for a in client.list_artifacts(parents[0].info.run_id, "report")]
    assert {"report/index.html", "report/summary.json"} <= set(artifacts)
    # The run's own copy: a later run in the fixture rewrites the report folder.
    summary = json.loads(Path(client.download_artifacts(parents[0].info.run_id, "report/summary.json",
                                                        str(tmp_path))).read_text())
    assert summary["run_id"] == "first" and summary["model_version"] == children["classify"].data.params["model_version"]
    logged = {k.removeprefix("report."): v for k, v in data.metrics.items()
              if k.startswith("report.") and k != "report.seconds"}
    assert summary["figures"] == pytest.approx(logged)
    assert "share.affective" in summary["figures"] and "pushback.all" in summary["figures"]


def test_notebook_opens_the_gold_tables_and_draws_the_figures(run, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    root, _ = run
    monkeypatch.setenv("AFFECTIVE_OUTPUT", str(root / "out"))
    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "analysis.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(__file__).parents[1])}}).execute()
    figures = notebook.cells[3].outputs[-1]["data"]["text/plain"]
    assert "'prevalence': 0" not in figures and "'prevalence'" in figures
    topics = notebook.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "'clusters': 0" not in topics and "'fine_affective'" in topics


def test_validation_scores_every_task_and_corrects_the_affective_share(spark, run):
    root, _ = run
    metrics = json.loads((root / "out" / "validation" / "metrics.json").read_text())
    expected = {"use_affective", "use_content_creation", "pushback", "referral", "sentiment_3way",
                *(f"category_{c}" for c in ("interpersonal_advice", "coaching", "counseling", "companionship",
                                            "romantic_roleplay")),
                *(f"pushback_reason_{r}" for r in ("safety", "policy", "professional", "capability", "disagreement"))}
    assert set(metrics) == expected
    assert metrics["use_affective"]["support"] == sum(label["use"] == "affective" for label in _labels(root))
    assert 0.5 < metrics["use_affective"]["f1"] <= 1.0
    assert _table(spark, root, "validation_metrics").where("run_id = 'validation'").count() == len(expected)
    affective_row = _table(spark, root, "prevalence").where("measure = 'affective'").first()
    assert affective_row["run_id"] == "validation" and affective_row["correction_method"] == "PPI++"
    assert affective_row["corrected_ci_low"] <= affective_row["corrected"] <= affective_row["corrected_ci_high"]
    assert affective_row["labelled_conversations"] == _table(spark, root, "human_labels").count() == N


@pytest.fixture(scope="module")
def trained(spark, run):
    """`affective train` on the labels, then a run that classifies with the registered champion."""
    root, _ = run
    common = ["--profile", "local", "--output", str(root / "out"), "--set", f"paths.state={root / 'state'}",
              "--set", "aggregate.bootstrap_replicates=100"]
    inputs, labels = str(root / "data" / "conversations"), str(root / "data" / "labels")
    assert affective(["train", "--input", inputs, "--labels", labels, *common, "--run-id", "train"]) == 0
    champion = ["--set", "model.heads_uri=models:/affective-embedded@champion"]
    assert affective(["run", "--input", inputs, *common, *champion, "--run-id", "champion"]) == 0
    assert affective(["validate", "--labels", labels, *common, *champion, "--run-id", "champion-validation"]) == 0
    return root


def test_a_registered_model_is_used_by_alias_and_named_on_every_row(spark, trained):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{trained / 'out' / 'mlflow.db'}")
    version = client.get_model_version_by_alias("affective-embedded", "champion")
    heads_version = version.tags["heads_version"]
    labels = _table(spark, trained, "conversation_labels")
    by_version = {r["model_version"]: r["count"] for r in labels.groupBy("model_version").count().collect()}
    assert by_version[heads_version] == N and len(by_version) == 2
    champion_rows = labels.where(f"model_version = '{heads_version}'")
    assert {r["run_id"] for r in champion_rows.select("run_id").distinct().collect()} == {"champion"}
    sentiment_versions = {r[0] for r in _table(spark, trained, "message_sentiment").select("model_version").distinct().collect()}
    assert sentiment_versions == set(by_version)
    validated = _table(spark, trained, "validation_metrics").where(f"model_version = '{heads_version}'")
    assert validated.where("task = 'use_affective'").first()["f1"] > 0.5
    experiment = client.get_run(version.run_id).info.experiment_id
    (train_run,) = client.search_runs([experiment], "tags.`affective.run_id` = 'train'")
    assert train_run.data.metrics["train.labelled_conversations"] == N
    assert 0.5 < train_run.data.metrics["train.cv_macro_f1.use"] <= 1.0


def test_the_runs_report_opens_on_its_headline_figures_in_a_browser(run, browser, tmp_path):
    root, _ = run
    text = browser(root / "out" / "report" / "index.html", tmp_path / "report.png")
    summary = json.loads((root / "out" / "report" / "summary.json").read_text())
    figures = summary["figures"]
    first = text[text.index("Headline figures"):text.index("Prevalence")]
    assert f"Affective conversations, share of all conversations 2.9 % {100 * figures['share.affective']:.1f} %" in first
    corrected = f"{100 * figures['corrected.share.affective']:.1f} % ("
    assert corrected in first and f"PPI++ on {N:,} labelled conversations" in first
    assert f"model {summary['model_version']}, checked on a human-labelled sample of this data" in first
    assert "NaN" not in text and "nan" not in text.lower().split()
