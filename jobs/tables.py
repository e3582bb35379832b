"""Every table the pipeline writes, in one list: its config key, layer and the stage that writes it.

The config's `tables` section gives each one's folder name under `paths.tables`; session (the analysts'
SQL views), pipeline (paths and Delta versions), report and notebook all read this list, so a table
added here is found everywhere. Layers: bronze (scrubbed input), silver (labels per conversation and
message, never released), gold (released aggregates, under the release rule), metrics (how the model
scored on human labels) and scratch (a run's intermediate output, removed by the run). The released
tables (gold, metrics) also carry their schema, the interface analysts' SQL and dashboards rely on:
tests/test_pipeline.py checks that what the stages write is exactly that.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class Table:
    key: str     # config key under `tables`
    layer: str   # bronze | silver | gold | metrics | scratch
    writer: str  # the stage that writes it
    schema: str = ""  # released tables: columns as Spark DDL, `name:type,...`


# Columns several released tables share: who wrote the row, and the PPI++ correction after `validate`.
_STAMP = "model_version:string,run_id:string,computed_at:timestamp"
_CORRECTED = ("corrected:double,corrected_ci_low:double,corrected_ci_high:double,correction_method:string,"
              "labelled_conversations:bigint,")

TABLES = (
    Table("conversations", "bronze", "ingest"),
    Table("conversations_quarantine", "bronze", "ingest"),
    Table("conversation_labels", "silver", "classify"),
    Table("classify_quarantine", "silver", "classify"),
    Table("message_sentiment", "silver", "classify"),
    Table("classify_staging", "scratch", "classify"),
    Table("human_labels", "silver", "validate"),
    Table("conversation_topics", "silver", "topics"),
    Table("prevalence", "gold", "aggregate",
          "measure:string,population:string,conversations:bigint,denominator:bigint,share:double,"
          "ci_low:double,ci_high:double,users:bigint," + _CORRECTED + _STAMP),
    Table("pushback", "gold", "aggregate",
          "segment:string,conversations:bigint,users:bigint,pushback_conversations:bigint,"
          "rate:double,ci_low:double,ci_high:double," + _CORRECTED + _STAMP),
    Table("pushback_reasons", "gold", "aggregate",
          "segment:string,reason:string,conversations:bigint,users:bigint,share_of_pushback:double," + _STAMP),
    Table("referral", "gold", "aggregate",
          "segment:string,conversations:bigint,users:bigint,referral_conversations:bigint,"
          "rate:double,ci_low:double,ci_high:double," + _CORRECTED + _STAMP),
    Table("sentiment_shift", "gold", "aggregate",
          "segment:string,conversations:bigint,users:bigint,mean_start:double,mean_end:double,"
          "mean_shift:double,ci_low:double,ci_high:double," + _CORRECTED + _STAMP),
    Table("suppressed", "gold", "aggregate",  # topics adds its own counts
          "table_name:string,suppressed_rows:bigint," + _STAMP),
    Table("topic_clusters", "gold", "topics",
          "scope:string,parent:int,level:string,cluster:int,conversations:bigint,users:bigint,"
          "category_mix:map<string,double>,pushback_rate:double,pushback_reason_mix:map<string,double>,"
          "referral_rate:double,shift_conversations:bigint,mean_shift:double,shift_ci_low:double,"
          "shift_ci_high:double,withheld:array<string>,terms:array<string>,x:double,y:double,name:string," + _STAMP),
    Table("topic_hierarchy", "gold", "topics",
          "scope:string,coarse_cluster:int,coarse_name:string,coarse_conversations:bigint,"
          "fine_cluster:int,fine_name:string,fine_conversations:bigint,users:bigint," + _STAMP),
    Table("topic_drift", "gold", "topics",
          "from_state:string,to_state:string,conversations:bigint,users:bigint," + _STAMP),
    Table("user_affective_share", "gold", "topics",
          "week:date,affective_share:string,users:bigint,conversations:bigint," + _STAMP),
    Table("validation_metrics", "metrics", "validate",
          "task:string,precision:double,recall:double,f1:double,fpr:double,support:bigint," + _STAMP),
)


def keys(layer: str | None = None, writer: str | None = None) -> tuple[str, ...]:
    """Config keys of the tables in `layer` written by `writer` (None: any)."""
    return tuple(t.key for t in TABLES if layer in (None, t.layer) and writer in (None, t.writer))


def table_paths(root: str | Path, names: Mapping[str, str]) -> dict[str, str]:
    """Config key -> path of every table under `root` (the resolved `paths.tables`), named by `names`
    (the config's `tables` section)."""
    return {t.key: str(Path(root) / names[t.key]) for t in TABLES}

