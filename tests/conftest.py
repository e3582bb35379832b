"""One Spark session with Delta Lake for the whole test run; a fresh folder per test."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SPARK_HOME = Path(pyspark.__file__).parent
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"


def _spark_submit(script: Path, app_args: list[str], *, options: list[str], cwd: Path,
                  env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(SPARK_HOME / "bin" / "spark-submit"), "--packages", DELTA_PACKAGE, *options, str(script), *app_args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1500, env=env)


@pytest.fixture(scope="session")
def spark_submit():
    """Submit a job as the README shows: spark-submit with the Delta package, in a process of its own."""
    return _spark_submit


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

    return udfs.load_heads(load_config("local")["model"])


@pytest.fixture(scope="session")
def browser():
    """Open a page in headless Chromium with JavaScript off: its text as the browser parsed it, and a
    screenshot at `screenshot`.

    Debian's `chromium`; `make test` installs it where it is missing (`make browser`)."""
    import shutil

    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium not found: `make browser` installs Debian's chromium package (as root)")
    flags = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-javascript", "--hide-scrollbars"]

    def render(page: Path, screenshot: Path) -> str:
        shot = subprocess.run([*flags, "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
        dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        body = re.sub(r"<(style|script)\b.*?</\1>", " ", dom.stdout, flags=re.S)
        return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))

    return render
