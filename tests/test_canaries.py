"""Privacy canaries: 100 planted identifiers through `affective run`, searched for everywhere it writes.

Planted: 20 e-mail addresses, 20 phone numbers, 20 card numbers, 19 names, the 20 raw user ids and one
nonsense word that a single user writes. None may appear in a silver or gold table, in MLflow (params,
metrics, tags, artifacts, the database itself), in the report or in the run's output at INFO or above
(Python and the JVM). Bronze keeps scrubbed text, so there the nonsense word must be present (proof
that it went in) and every other canary absent.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

N = 20
NONSENSE = "flurbotrandic"
BRONZE = ("conversations", "conversations_quarantine")


def _luhn(prefix: str) -> str:
    """prefix plus the Luhn check digit."""
    total = 0
    for i, digit in enumerate(reversed(prefix)):
        d = int(digit) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return prefix + str((10 - total % 10) % 10)


def _card(i: int) -> str:
    digits = _luhn(f"4539{i:02d}7731{i:02d}580")
    return " ".join(digits[k:k + 4] for k in range(0, 16, 4))


def _name(i: int) -> str:
    first = ["Zor", "Brix", "Quil", "Tolv", "Yzab", "Corv", "Drel", "Vask", "Murn", "Opha"][i % 10]
    last = ["Quintavik", "Pelloquet", "Marbeckett", "Haskimure"][i % 4]
    return f"{first}{['vella', 'andor'][i // 10]} {last}"


USERS = [f"canary-user-{i:02d}-qx7" for i in range(N)]
EMAILS = [f"zq.canary{i:02d}@mail{i:02d}-canary.net" for i in range(N)]
PHONES = [f"+44 20 7946 {1003 + 37 * i:04d}" for i in range(N)]
CARDS = [_card(i) for i in range(N)]
NAMES = [_name(i) for i in range(N - 1)]
CANARIES = [*USERS, *EMAILS, *PHONES, *CARDS, *NAMES, NONSENSE]
# Also searched for without their separators: a phone or card number may be normalised on its way.
SEARCHED = sorted({*CANARIES, *(re.sub(r"\D", "", c) for c in PHONES + CARDS)})

AFFECTIVE = ["I feel so anxious and alone lately, I cry every night.", "Nothing I do seems to matter anymore.",
             "Talking to you helps a little.", "Thank you, I feel a bit better now."]
TASK = ["Help me write a polite email to my landlord about the broken heater.", "Make it shorter please.",
        "Now add a line asking for a reply by Friday.", "Great, thanks, that works."]


def _conversation(i: int) -> dict:
    opening = f"Hi, my name is {NAMES[i]}." if i < len(NAMES) else f"I keep dreaming about {NONSENSE} every night."
    body = AFFECTIVE if i % 2 else TASK
    users = [f"{opening} {body[0]}", f"You can reach me at {EMAILS[i]} or {PHONES[i]}.",
             f"I paid with my card {CARDS[i]} and now I worry.", *body[1:]]
    messages = []
    for turn, text in enumerate(users):
        messages.append({"role": "user", "content": text})
        reply = f"Noted, I will not share {EMAILS[i]}." if turn == 1 else "I hear you. Tell me more."
        messages.append({"role": "assistant", "content": reply})
    return {"conversation_id": f"canary-{i:02d}", "user_id": USERS[i], "created_at": "2026-01-05T10:00:00Z",
            "messages": messages}


# Raise the JVM's log level to INFO, then run the real command line.
RUN_AT_INFO = ("import sys; from jobs.config import load_config; from jobs.session import get_spark; "
               "get_spark(load_config('local')['spark']).sparkContext.setLogLevel('INFO'); "
               "from jobs.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory, heads):
    root = tmp_path_factory.mktemp("canaries")
    heads.save(root / "models" / heads.version)  # the session's seed-set heads: not trained again
    inputs = root / "in"
    inputs.mkdir()
    records = [json.dumps(_conversation(i)) for i in range(N)]
    broken = {**_conversation(0), "conversation_id": "canary-broken"}
    broken["messages"][1]["role"] = "narrator"  # quarantined: its raw record stays in bronze only
    (inputs / "part-0.jsonl").write_text("\n".join([*records, json.dumps(broken)]) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "AFFECTIVE_PSEUDONYM_KEY")}
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    out = root / "out"
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AT_INFO, "run", "--profile", "local", "--input", str(inputs), "--output", str(out),
         "--set", f"paths.state={root / 'state'}", "--set", f"paths.models={root / 'models'}",
         "--set", "aggregate.bootstrap_replicates=100",
         "--run-id", "canary"],
        cwd=Path(__file__).parents[1], env=env, capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, "\n".join(line for line in log.splitlines()
                                           if ("Error" in line or "Exception" in line) and "\tat " not in line)[:5000]
    return out, log


def _found(text: str) -> list[str]:
    return [c for c in SEARCHED if c in text]


def _rows(path: Path) -> str:
    from deltalake import DeltaTable

    return "\n".join(json.dumps(row, default=str) for row in DeltaTable(str(path)).to_pyarrow_table().to_pylist())


def test_there_are_100_distinct_canaries():
    assert len(set(CANARIES)) == len(CANARIES) == 100


def test_no_canary_in_any_silver_or_gold_table(canary_run):
    out, _ = canary_run
    tables = sorted(p for p in (out / "tables").iterdir() if (p / "_delta_log").is_dir() and p.name not in BRONZE)
    assert {"conversation_labels", "message_sentiment", "prevalence", "pushback"} <= {p.name for p in tables}
    leaked = {p.name: _found(_rows(p)) for p in tables}
    assert leaked == {p.name: [] for p in tables}
    assert "canary-05" in _rows(out / "tables" / "conversation_labels")  # the conversations were labelled


def test_bronze_holds_scrubbed_text_and_the_broken_record_is_quarantined(canary_run):
    out, _ = canary_run
    bronze = _rows(out / "tables" / "conversations")
    assert _found(bronze) == [NONSENSE]  # it went in, and only scrubbing removed the rest
    for placeholder in ("[EMAIL]", "[PHONE]", "[CARD]", "[NAME]"):
        assert bronze.count(placeholder) >= len(NAMES), placeholder
    quarantine = _rows(out / "tables" / "conversations_quarantine")
    assert "canary-broken" in quarantine and EMAILS[0] in quarantine


def test_no_canary_in_any_file_outside_bronze(canary_run):
    """Every file the run wrote (MLflow database and artifacts, report, plots, models, Delta logs), except
    bronze tables and the compressed Parquet data of silver and gold (checked row by row above)."""
    out, _ = canary_run
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".parquet")
             and not any(part in BRONZE for part in p.relative_to(out).parts)]
    assert {"mlflow.db", "index.html"} <= {p.name for p in files}
    leaked = {str(p.relative_to(out)): _found(p.read_bytes().decode("utf-8", "replace")) for p in files}
    assert {k: v for k, v in leaked.items() if v} == {}


def test_no_canary_in_mlflow_params_metrics_tags_or_artifacts(canary_run, tmp_path):
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    out, _ = canary_run
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) >= 5  # the invocation and one run per stage
    recorded = [json.dumps([r.info.run_name, r.data.params, r.data.metrics, r.data.tags]) for r in runs]
    assert _found("\n".join(recorded)) == []
    for run in runs:
        local = download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / run.info.run_id),
                                   tracking_uri=client.tracking_uri)
        texts = [p.read_bytes().decode("utf-8", "replace") for p in Path(local).rglob("*") if p.is_file()]
        assert _found("\n".join(texts)) == [], run.info.run_name


def test_no_canary_in_the_run_output_at_info_or_above(canary_run):
    _, log = canary_run
    lines = log.splitlines()
    assert any("INFO" in line and "jobs.ingest" in line for line in lines)  # Python at INFO
    assert any("INFO" in line and "DAGScheduler" in line for line in lines)  # and the JVM at INFO were captured
    assert _found(log) == []


def test_spark_redacts_personal_data_in_plans(spark):
    import pyspark.sql.functions as F

    assert "pseudonym" in spark.conf.get("spark.redaction.regex")
    df = spark.range(1).where(F.lit(EMAILS[0]) == F.lit(re.sub(r"\D", "", CARDS[0])))
    plan = df._jdf.queryExecution().toString()
    assert "redacted" in plan and _found(plan) == []
