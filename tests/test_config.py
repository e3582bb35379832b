from __future__ import annotations

import pytest

from jobs.config import ConfigError, flatten, load_config


def test_defaults_are_privacy_grade_and_local_profile_relaxes_them():
    default, local = load_config(), load_config("local")
    assert (default["privacy"]["min_users"], default["privacy"]["min_conversations"]) == (50, 100)
    assert default["privacy"]["generate_local_key"] is False
    assert (local["privacy"]["min_users"], local["privacy"]["min_conversations"]) == (5, 10)
    assert local["privacy"]["generate_local_key"] is True
    assert local["spark"]["master"] == "local[2]"


def test_config_file_then_set_override_in_that_order(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("model:\n  batch_size: 8\nclassify:\n  sentiment_scope: all\n")
    cfg = load_config("local", str(extra), ["model.batch_size=16", "aggregate.confidence=0.9"])
    assert cfg["model"]["batch_size"] == 16
    assert cfg["classify"]["sentiment_scope"] == "all"
    assert cfg["aggregate"]["confidence"] == 0.9


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.batchsize=3"], "unknown config key 'model.batchsize'"),
        (["nope=1"], "unknown config key 'nope'"),
        (["model.batch_size=many"], "model.batch_size: expected int, got 'many'"),
        (["privacy.generate_local_key=3"], "privacy.generate_local_key: expected bool"),
        (["model.batch_size=0"], "invalid value for model.batch_size"),
        (["classify.sentiment_scope=some"], "invalid value for classify.sentiment_scope"),
        (["classify.conversations_per_task=0"], "invalid value for classify.conversations_per_task"),
        (["classify.conversations_per_batch=0"], "invalid value for classify.conversations_per_batch"),
        (["model.device=tpu"], "invalid value for model.device"),
        (["model.cpu_precision=fp8"], "invalid value for model.cpu_precision"),
        (["model.encoder_dir=/no/such/encoder"], "invalid value for model.encoder_dir"),
        (["spark.driver_memory=4 GB"], "invalid value for spark.driver_memory"),
        (["tables.pushback=referral"], "invalid value for tables"),
        (["model"], "expected key=value"),
    ],
)
def test_bad_keys_and_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config("local", overrides=overrides)


def test_unknown_profile_and_missing_file_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'laptop'"):
        load_config("laptop")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(config_file=str(tmp_path / "missing.yaml"))


def test_the_config_names_a_folder_for_every_registered_table_and_no_other():
    from jobs.tables import TABLES, keys

    assert sorted(load_config()["tables"]) == sorted(keys())
    assert {t.layer for t in TABLES} == {"bronze", "silver", "gold", "metrics", "scratch"}


def test_flatten_uses_dotted_keys():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": True}) == {"a.b": 1, "a.c.d": "x", "e": True}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "privacy.generate_local_key=false"], "config error: no pseudonym key"),
        (["--set", "privacy.key_file=KEYFILE"], "config error: "),
        (["--input", "/no/such/input"], "config error: --input /no/such/input: no such file or folder"),
    ],
)
def test_key_and_path_errors_are_reported_before_spark_starts(tmp_path, arguments, message):
    """Run in a process that has no Java: had the JVM been started first, the error would be Spark's."""
    import os
    import subprocess
    import sys

    (tmp_path / "in").mkdir()
    (tmp_path / "key").write_text("not hex")
    env = {k: v for k, v in os.environ.items() if k not in ("AFFECTIVE_PSEUDONYM_KEY", "JAVA_HOME", "SPARK_HOME")}
    env.update(PATH=os.path.dirname(sys.executable), JAVA_HOME=str(tmp_path / "no-java"))
    arguments = [a.replace("KEYFILE", str(tmp_path / "key")) for a in arguments]
    if "--input" not in arguments:
        arguments += ["--input", str(tmp_path / "in")]
    proc = subprocess.run([sys.executable, "-m", "jobs", "run", "--profile", "local", "--output",
                           str(tmp_path / "out"), *arguments], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert "java" not in proc.stderr.lower()
