"""The whole pipeline on a real Spark standalone cluster, shipped as the wheel, against a local run.

A master and two one-core workers start from the installed pyspark distribution on loopback (separate
JVMs, each executor with its own Python workers). `affective run` goes to them with spark-submit in client
mode, exactly as the README's "Run on a cluster" shows, with the package only on `--py-files`: driver and
executors use an interpreter that sees the pinned dependencies but not this checkout's editable install,
so a module or data file missing from the wheel fails the run. The tables must equal those of a
`local[*]` run of the same input.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pyspark
import pytest
from deltalake import DeltaTable as DeltaReader

from jobs.cli import STAGE_COMMANDS
from jobs.cli import main as affective
from jobs.synth import synth_conversations, write_synth

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not (shutil.which("java") or os.environ.get("JAVA_HOME")), reason="needs Java 17"),
]

ROOT = Path(__file__).resolve().parents[1]
SPARK_HOME = Path(pyspark.__file__).parent
N = 200
KEY = "5eed" * 16
MALFORMED = ['{"conversation_id": "bad-1", "messages": [', json.dumps({"conversation_id": "bad-2", "user_id": "x"})]
# Written per run, not data: left out of the comparison.
STAMPS = ["run_id", "ingested_at", "quarantined_at", "classified_at", "computed_at"]
SHARED_CONFIG = {  # both runs: release thresholds a few hundred conversations can meet, narrow shuffles
    "spark": {"shuffle_partitions": 2},
    "privacy": {"min_users": 20, "min_conversations": 30},
    # float32: in bfloat16 a score moves by up to about 0.004 with the batch its message is encoded in, and
    # the two runs batch differently; this test asks for the same tables (BENCHMARKS.md, bfloat16)
    "model": {"batch_size": 64, "cpu_precision": "float32"},
    "aggregate": {"bootstrap_replicates": 100},
}


def _spark_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AFFECTIVE_PSEUDONYM_KEY")}
    env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1", SPARK_DAEMON_MEMORY="512m", **extra)
    return env


def _start(cls: str, args: list[str], log: Path) -> subprocess.Popen:
    # A session of its own, so stopping it also stops the executors and Python workers it started.
    with log.open("wb") as out:
        return subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), cls, *args], stdout=out,
                                stderr=subprocess.STDOUT, env=_spark_env(), start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _alive_workers(web_port: int, master_url: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=5) as response:
            state = json.load(response)
    except (OSError, ValueError):
        return 0
    assert state["url"] == master_url, f"port {web_port} is another master's: {state['url']}"
    return sum(w["state"] == "ALIVE" for w in state["workers"])


def _bound_master(log: Path, proc: subprocess.Popen, deadline: float) -> tuple[str, int]:
    """The master's URL and web UI port as it bound them. It starts on port 0 for both, so the system
    gives it free ones that no other Spark process on the machine can hold or be mistaken for."""
    while True:
        text = log.read_text(errors="replace")
        url = re.search(r"Starting Spark master at (spark://\S+)", text)
        web = re.search(r"Bound MasterWebUI to \S+ and started at http://\S+:(\d+)", text)
        if url and web:
            return url.group(1), int(web.group(1))
        assert proc.poll() is None and time.monotonic() < deadline, f"master did not start:\n{text[-2000:]}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """spark://127.0.0.1:PORT with two workers of one core each; stopped even when a test fails."""
    logs = tmp_path_factory.mktemp("cluster-logs")
    deadline = time.monotonic() + 120  # start-up wait only: no assertion on how long anything takes
    procs = []
    try:
        procs.append(_start("org.apache.spark.deploy.master.Master",
                            ["--host", "127.0.0.1", "--port", "0", "--webui-port", "0"], logs / "master.log"))
        master_url, web = _bound_master(logs / "master.log", procs[0], deadline)
        for i in (1, 2):
            work = tmp_path_factory.mktemp(f"worker{i}")
            procs.append(_start("org.apache.spark.deploy.worker.Worker",
                                ["--host", "127.0.0.1", "--cores", "1", "--memory", "2g", "--work-dir", str(work),
                                 "--webui-port", "0", master_url], logs / f"worker{i}.log"))
        while _alive_workers(web, master_url) < 2:
            dead = [p.args[1] for p in procs if p.poll() is not None]
            assert not dead and time.monotonic() < deadline, (
                f"cluster did not come up ({dead or 'timeout'}):\n" +
                "\n".join(f"{log.name}: {log.read_text()[-2000:]}" for log in sorted(logs.iterdir())))
            time.sleep(1)
        yield master_url
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """`make dist` into a fresh folder: the wheel and its --py-files copy, affective.zip."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(["make", "-s", "dist", f"DIST={dist}"], cwd=ROOT, check=True)
    return dist


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> Path:
    """An interpreter with .venv's packages on its path but not the .pth files there, so not the editable
    install of jobs and udfs: they can only come from the wheel."""
    env = tmp_path_factory.mktemp("wheel-python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env)}))
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return env / "bin" / "python"


def _synth_input(spark, root: Path) -> Path:
    write_synth(synth_conversations(spark, n=N, seed=23, partitions=2), str(root / "data"))
    inputs = root / "data" / "conversations"
    (inputs / "malformed.jsonl").write_text("\n".join(MALFORMED) + "\n")
    return inputs


def _submit(spark_submit, cluster: str, package: Path, python: Path, app_args: list[str], cwd: Path, **env: str):
    options = ["--master", cluster, "--deploy-mode", "client", "--py-files", str(package / "affective.zip"),
               "--conf", "spark.executor.memory=1g", "--conf", "spark.driver.host=127.0.0.1",
               "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={cwd}",
               "--conf", "spark.eventLog.compress=false"]
    return spark_submit(ROOT / "jobs" / "cli.py", ["run", *app_args], options=options, cwd=cwd,
                        env=_spark_env(PYSPARK_PYTHON=str(python), PYSPARK_DRIVER_PYTHON=str(python), **env))


@pytest.fixture(scope="module")
def runs(spark, spark_submit, cluster, package, wheel_python, tmp_path_factory):
    """The same input through `affective run`: in this process on local[*], and on the cluster."""
    root = tmp_path_factory.mktemp("cluster-run")
    inputs = _synth_input(spark, root)
    config = root / "shared.yaml"
    config.write_text(json.dumps({**SHARED_CONFIG, "paths": {"state": str(root / "state")}}))
    args = ["--input", str(inputs), "--config", str(config)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AFFECTIVE_PSEUDONYM_KEY", KEY)
        assert affective(["run", "--profile", "local", *args, "--output", str(root / "local"), "--run-id", "local"]) == 0
    submitted = _submit(spark_submit, cluster, package, wheel_python,
                        ["--profile", "cluster", *args, "--output", str(root / "cluster"), "--run-id", "cluster"],
                        cwd=root, AFFECTIVE_PSEUDONYM_KEY=KEY)
    assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-6000:]
    return root, submitted


def _rows(path: Path) -> list[dict]:
    df = DeltaReader(str(path)).to_pandas()
    records = json.loads(df.drop(columns=[c for c in STAMPS if c in df.columns]).to_json(orient="records"))
    return sorted(records, key=lambda r: json.dumps(_without_floats(r), sort_keys=True))


def _without_floats(value):
    if isinstance(value, dict):
        return {k: _without_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_floats(v) for v in value]
    return None if isinstance(value, float) else value


def _assert_close(local, cluster, where: str) -> None:
    """Equal, except that floats may differ in summation order (partitions are not the same)."""
    if isinstance(local, float) or isinstance(cluster, float):
        assert math.isclose(local, cluster, rel_tol=1e-4, abs_tol=1e-5), (where, local, cluster)
    elif isinstance(local, dict) and isinstance(cluster, dict):
        assert local.keys() == cluster.keys(), where
        for key in local:
            _assert_close(local[key], cluster[key], f"{where}.{key}")
    elif isinstance(local, list) and isinstance(cluster, list):
        assert len(local) == len(cluster), (where, len(local), len(cluster))
        for i, (a, b) in enumerate(zip(local, cluster)):
            _assert_close(a, b, f"{where}[{i}]")
    else:
        assert local == cluster, (where, local, cluster)


def _tables(out: Path) -> list[str]:
    """The Delta tables of a run's output; the scratch folder (_staging) must be left empty."""
    assert not any((out / "tables" / "_staging").rglob("*.parquet")), out
    return sorted(p.name for p in (out / "tables").iterdir() if (p / "_delta_log").is_dir())


def test_the_cluster_writes_the_same_tables_as_a_local_run(runs):
    root, _ = runs
    tables = _tables(root / "local")
    assert _tables(root / "cluster") == tables
    assert {"conversations", "conversation_labels", "message_sentiment", "prevalence"} <= set(tables)
    for table in tables:
        local, cluster = _rows(root / "local" / "tables" / table), _rows(root / "cluster" / "tables" / table)
        _assert_close(local, cluster, table)
    labels = _rows(root / "cluster" / "tables" / "conversation_labels")
    assert len(labels) == N and len({r["model_version"] for r in labels}) == 1
    assert len(_rows(root / "cluster" / "tables" / "conversations_quarantine")) == len(MALFORMED)


def test_the_cluster_run_reports_progress_and_quarantine_and_names_its_spark_jobs(runs):
    root, submitted = runs
    # spark-submit passes the Python driver's stderr, where our log goes, on to its own stdout.
    output = submitted.stdout + submitted.stderr
    assert f"classify: conversations labelled: {N}/{N} (100%)" in output
    assert f"{len(MALFORMED)} input rows were quarantined" in output
    assert KEY not in output
    descriptions = set()
    for log in root.glob("eventlog_v2_app-*/events_*"):  # Spark 4 writes rolling event logs
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event["Event"] == "SparkListenerJobStart":
                descriptions.add(event["Properties"].get("spark.job.description"))
    for stage in STAGE_COMMANDS["run"]:
        assert any(d and d.startswith(f"affective {stage} cluster") for d in descriptions), (stage, descriptions)
    assert f"affective classify cluster: label {N} conversations" in descriptions
    assert "affective ingest cluster: merge new rows into conversations" in descriptions


def test_a_cluster_run_without_a_configured_key_is_a_config_error(spark_submit, cluster, package, wheel_python, runs):
    root, _ = runs
    submitted = _submit(spark_submit, cluster, package, wheel_python,
                        ["--profile", "local", "--input", str(root / "data" / "conversations"),
                         "--output", str(root / "no-key"), "--set", f"paths.state={root / 'state'}"], cwd=root)
    output = submitted.stdout + submitted.stderr
    assert submitted.returncode == 2, output[-3000:]
    assert "config error: no pseudonym key" in output
    assert "a generated key is never used with a cluster master, here spark://127.0.0.1:" in output


def test_the_wheel_holds_jobs_udfs_config_and_the_console_script(package, wheel_python):
    (wheel,) = package.glob("affective-*-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"jobs/cli.py", "jobs/__main__.py", "jobs/privacy/release.py", "jobs/synth_grammar.yaml", "udfs/encoder.py",
            "conf/default.yaml", "conf/cluster.yaml", "udfs/seed/conversations.jsonl"} <= names
    assert (package / "affective.zip").read_bytes() == wheel.read_bytes()
    entry = ("import sys; from importlib.metadata import entry_points; "
             "(script,) = entry_points(group='console_scripts', name='affective'); sys.exit(script.load()())")
    env = {**_spark_env(), "PYTHONPATH": str(wheel)}
    for command in ([str(wheel_python), "-c", entry, "classify", "--help"],
                    [str(wheel_python), "-m", "jobs", "classify", "--help"]):
        shown = subprocess.run(command, capture_output=True, text=True, env=env, cwd=package)
        assert shown.returncode == 0 and "--output" in shown.stdout, shown.stderr
    config_error = subprocess.run([str(wheel_python), "-m", "jobs", "run", "--input", "x", "--output", "y",
                                   "--set", "model.batchsize=3"], capture_output=True, text=True, env=env, cwd=package)
    assert config_error.returncode == 2 and "unknown config key 'model.batchsize'" in config_error.stderr
