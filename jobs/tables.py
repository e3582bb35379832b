"""Every table the pipeline writes, in one list: its config key, layer and the stage that writes it.

The config's `tables` section gives each one's folder name under `paths.tables`; session (the analysts'
SQL views), pipeline (paths and Delta versions), report and notebook all read this list, so a table
added here is found everywhere. Layers: bronze (scrubbed input), silver (labels per conversation and
message, never released), gold (released aggregates, under the release rule), metrics (how the model
scored on human labels) and scratch (a run's intermediate output, removed by the run).
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


TABLES = (
    Table("conversations", "bronze", "ingest"),
    Table("conversations_quarantine", "bronze", "ingest"),
    Table("conversation_labels", "silver", "classify"),
    Table("classify_quarantine", "silver", "classify"),
    Table("message_sentiment", "silver", "classify"),
    Table("classify_staging", "scratch", "classify"),
    Table("human_labels", "silver", "validate"),
    Table("conversation_topics", "silver", "topics"),
    Table("prevalence", "gold", "aggregate"),
    Table("pushback", "gold", "aggregate"),
    Table("pushback_reasons", "gold", "aggregate"),
    Table("referral", "gold", "aggregate"),
    Table("sentiment_shift", "gold", "aggregate"),
    Table("suppressed", "gold", "aggregate"),  # topics adds its own counts
    Table("topic_clusters", "gold", "topics"),
    Table("topic_hierarchy", "gold", "topics"),
    Table("topic_drift", "gold", "topics"),
    Table("user_affective_share", "gold", "topics"),
    Table("validation_metrics", "metrics", "validate"),
)


def keys(layer: str | None = None, writer: str | None = None) -> tuple[str, ...]:
    """Config keys of the tables in `layer` written by `writer` (None: any)."""
    return tuple(t.key for t in TABLES if layer in (None, t.layer) and writer in (None, t.writer))


def table_paths(root: str | Path, names: Mapping[str, str]) -> dict[str, str]:
    """Config key -> path of every table under `root` (the resolved `paths.tables`), named by `names`
    (the config's `tables` section)."""
    return {t.key: str(Path(root) / names[t.key]) for t in TABLES}

