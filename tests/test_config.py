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
        (["model.device=tpu"], "invalid value for model.device"),
        (["model.encoder_dir=/no/such/encoder"], "invalid value for model.encoder_dir"),
        (["spark.driver_memory=4 GB"], "invalid value for spark.driver_memory"),
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


def test_flatten_uses_dotted_keys():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": True}) == {"a.b": 1, "a.c.d": "x", "e": True}
