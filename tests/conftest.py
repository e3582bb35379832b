"""One Spark session with Delta Lake for the whole test run; a fresh folder per test."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def spark():
    from jobs.config import load_config
    from jobs.session import get_spark

    # local[4,4]: four task slots, and a failed task is tried up to 4 times (tests/test_faults.py relies on it).
    cfg = load_config("local", overrides=["spark.master=local[4,4]", "spark.shuffle_partitions=2",
                                          "spark.arrow_batch_rows=256"])
    session = get_spark(cfg["spark"])
    yield session
    session.stop()


@pytest.fixture
def local_cfg(tmp_path):
    """The local profile with its state (the pseudonym key) kept inside the test's folder."""
    from jobs.config import load_config

    return load_config("local", overrides=[f"paths.state={tmp_path / 'state'}", "spark.shuffle_partitions=2",
                                           "aggregate.bootstrap_replicates=100"])


@pytest.fixture(scope="session")
def heads(tmp_path_factory):
    """The default heads, trained once per test run on the shipped seed set."""
    import udfs
    from jobs.config import load_config

    return udfs.load_heads(load_config("local")["model"], str(tmp_path_factory.mktemp("models")))
