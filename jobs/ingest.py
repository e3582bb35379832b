"""Ingest (bronze): parse conversations, quarantine bad records, scrub personal data, pseudonymise users.

    spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/cli.py ingest --input data/ --output out/
    affective ingest --profile local --input data/conversations --output out/

Writes DIR/tables/conversations (MERGE on conversation_id, so the same input twice adds nothing) and
DIR/tables/conversations_quarantine (the raw record, its `_errors`, run id and time). Raw text and raw user
ids never leave this stage: clean rows carry scrubbed text and an HMAC pseudonym.

A conversation id names one conversation for good: a record whose id is already in `conversations` is
skipped when it is the record stored there (same record hash: a re-run or an overlapping input), and
quarantined as `id_already_ingested` when it is a different record (so nothing is silently dropped).
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

import mlflow
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import types as T

from jobs.config import ConfigError
from jobs.context import Context, existing_path
from jobs.privacy.pseudonym import key_for_run, pseudonymize
from jobs.privacy.scrub import scrub_text

logger = logging.getLogger(__name__)

ROLE_ALIASES = {
    "user": "user", "human": "user", "person": "user",
    "assistant": "assistant", "gpt": "assistant", "bot": "assistant", "ai": "assistant",
    "model": "assistant", "chatbot": "assistant",
    "system": "system",
}
CONVERSATION_ID_KEYS = ("conversation_id", "id", "conversationId")
USER_ID_KEYS = ("user_id", "userId", "user")
MESSAGES_KEYS = ("messages", "conversations", "conversation")
ROLE_KEYS = ("role", "from", "author", "speaker")
CONTENT_KEYS = ("content", "value", "text")
# A JSON escape of a UTF-16 surrogate: valid JSON, but a lone one is not text UTF-8 can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

MESSAGE_TYPE = T.StructType([
    T.StructField("index", T.IntegerType()),
    T.StructField("role", T.StringType()),
    T.StructField("content", T.StringType()),
    T.StructField("created_at", T.StringType()),
])
PARSED_TYPE = T.StructType([
    T.StructField("conversation_id", T.StringType()),
    T.StructField("user_id", T.StringType()),
    T.StructField("created_at", T.StringType()),
    T.StructField("messages", T.ArrayType(MESSAGE_TYPE)),
    T.StructField("errors", T.ArrayType(T.StringType())),
])


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((record[k] for k in keys if k in record), None)


def _identifier(value: Any, name: str, errors: set[str]) -> str | None:
    """A non-blank string or an integer as a stripped string; else None and `missing_<name>` (absent, null
    or blank) or `bad_<name>` (another type: bool, float, list, object)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add(f"missing_{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.add(f"bad_{name}")
        return None
    return str(value).strip()


def parse_timestamp(value: Any) -> tuple[str | None, bool]:
    """Return (ISO-8601 UTC string or None, ok). Accepts ISO strings and epoch seconds or milliseconds."""
    if value is None or value == "":
        return None, True
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value
            stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
        elif isinstance(value, str):
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone.utc)
        else:
            return None, False
    except (ValueError, OverflowError, OSError):
        return None, False
    if not 1990 <= stamp.year <= 2100:
        return None, False
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), True


def _content_text(content: Any) -> str | None:
    """Plain text of a message's content: a string, or OpenAI-style text parts; None if not text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
    ):
        return "\n".join(p["text"] for p in content)
    return None


def _parse_messages(raw_messages: Any, errors: set[str]) -> list[dict[str, Any]]:
    if raw_messages is None:
        errors.add("missing_messages")
        return []
    if not isinstance(raw_messages, list):
        errors.add("messages_not_a_list")
        return []
    if not raw_messages:
        errors.add("empty_messages")
        return []
    messages = []
    for index, message in enumerate(raw_messages):
        if not isinstance(message, dict):
            errors.add("non_text_content")
            continue
        role = ROLE_ALIASES.get(str(_first(message, ROLE_KEYS) or "").strip().lower())
        if role is None:
            errors.add("unknown_role")
        text = _content_text(_first(message, CONTENT_KEYS))
        if text is None:
            errors.add("non_text_content")
        created_at, ok = parse_timestamp(message.get("created_at", message.get("timestamp")))
        if not ok:
            errors.add("bad_timestamp")
        messages.append({"index": index, "role": role, "content": text, "created_at": created_at})
    users = [m["content"] for m in messages if m["role"] == "user"]
    if messages and not users:
        errors.add("no_user_message")
    elif users and all(isinstance(text, str) and not text.strip() for text in users):
        errors.add("empty_user_messages")  # only blank ones: nothing to classify
    return messages


def _load_record(raw: Any) -> tuple[Any, str | None]:
    """(the JSON value of a record, None) or (None, the reason it cannot be read)."""
    if not isinstance(raw, str):
        return None, "bad_json"
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return None, "invalid_utf8"
    try:
        # A byte-order mark at the start of a file is an encoding artefact, not part of the record.
        record = json.loads(raw.lstrip("\ufeff"))
    except (ValueError, RecursionError):  # ValueError: bad JSON, or an integer too long to convert
        return None, "bad_json"
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "invalid_utf8"
    return record, None


def parse_conversation(raw: str, *, max_messages: int, max_chars: int) -> dict[str, Any]:
    """Parse one input record into the normalised conversation and the names of the checks it fails.

    Args:
        raw: one JSON object as text (a JSONL line, or a Parquet/Delta row turned into JSON).
        max_messages: more messages than this is an oversize conversation.
        max_chars: more characters over all messages is an oversize conversation.

    Returns:
        A dict with conversation_id, user_id (raw), created_at (ISO), messages and a sorted `errors` list.
    """
    empty = {"conversation_id": None, "user_id": None, "created_at": None, "messages": []}
    record, unreadable = _load_record(raw)
    if unreadable or not isinstance(record, dict):
        return {**empty, "errors": [unreadable or "bad_json"]}
    errors: set[str] = set()
    conversation_id = _identifier(_first(record, CONVERSATION_ID_KEYS), "conversation_id", errors)
    user_id = _identifier(_first(record, USER_ID_KEYS), "user_id", errors)
    created_at, ok = parse_timestamp(record.get("created_at"))
    if not ok:
        errors.add("bad_timestamp")
    messages = _parse_messages(_first(record, MESSAGES_KEYS), errors)
    if len(messages) > max_messages or sum(len(m["content"] or "") for m in messages) > max_chars:
        errors.add("oversize_conversation")
    return {"conversation_id": conversation_id, "user_id": user_id, "created_at": created_at,
            "messages": messages, "errors": sorted(errors)}


def _protect(parsed: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Scrub message text and pseudonymise the user of a valid record; drop the text of a bad one."""
    if parsed["errors"]:
        return {**parsed, "user_id": None, "messages": []}
    messages = [{**m, "content": scrub_text(m["content"])} for m in parsed["messages"]]
    return {**parsed, "user_id": pseudonymize(parsed["user_id"], key), "messages": messages}


def parse_and_protect(df: DataFrame, *, key: bytes, max_messages: int, max_chars: int) -> DataFrame:
    """Add a `parsed` struct column to a DataFrame of raw records (column `raw`)."""

    @F.pandas_udf(PARSED_TYPE)
    def parse(raws: pd.Series) -> pd.DataFrame:
        rows = [_protect(parse_conversation(r, max_messages=max_messages, max_chars=max_chars), key)
                for r in raws]
        return pd.DataFrame(rows, columns=[f.name for f in PARSED_TYPE.fields])

    return df.withColumn("parsed", parse("raw"))


def with_stored_record(df: DataFrame, ingested: DataFrame | None) -> DataFrame:
    """Add `stored_record_id`: the record hash `conversations` already holds for this record's
    conversation id (null when the id is new), and `already_ingested`: it is this very record."""
    if ingested is None:
        df = df.withColumn("stored_record_id", F.lit(None).cast("string"))
    else:
        stored = ingested.select(F.col("conversation_id").alias("_stored_id"),
                                 F.col("record_id").alias("stored_record_id"))
        df = df.join(stored, F.col("parsed.conversation_id") == F.col("_stored_id"), "left").drop("_stored_id")
    return df.withColumn("already_ingested", F.coalesce(F.col("stored_record_id") == F.col("record_id"), F.lit(False)))


def flag_record_checks(df: DataFrame) -> DataFrame:
    """`errors`: the record's own failed checks plus those that need more than the record.

    `duplicate_id`: another record of this input has the same conversation id (the one already ingested,
    else the one with the smallest record hash, is kept); `id_already_ingested`: a different record with
    this id is already in `conversations`; `invalid_utf8`: the raw bytes were not valid UTF-8.
    """
    conversation_id = F.col("parsed.conversation_id")
    by_id = Window.partitionBy(conversation_id).orderBy(F.col("already_ingested").desc(), "record_id")
    extra = F.array(
        F.when(conversation_id.isNotNull() & (F.col("_dup_rank") > 1), F.lit("duplicate_id")),
        F.when(F.col("stored_record_id").isNotNull() & ~F.col("already_ingested"), F.lit("id_already_ingested")),
        F.when(~F.col("utf8_ok"), F.lit("invalid_utf8")),
    )
    return (
        df.withColumn("_dup_rank", F.row_number().over(by_id))
        .withColumn("errors", F.array_sort(F.array_union("parsed.errors", F.filter(extra, lambda e: e.isNotNull()))))
        .drop("_dup_rank")
    )


def read_raw(spark: SparkSession, path: str, input_format: str) -> DataFrame:
    """Read input as one raw JSON text per record with its source file: JSONL, Parquet or Delta."""
    fmt = _detect_format(path) if input_format == "auto" else input_format
    if fmt == "jsonl":
        df = spark.read.text(path).select(F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file"))
        return df.where(F.trim("raw") != "")
    reader = spark.read.format("delta" if fmt == "delta" else "parquet")
    df = reader.load(path)
    return df.select(F.to_json(F.struct(*df.columns)).alias("raw"), F.lit(path).alias("source_file"))


def _detect_format(path: str) -> str:
    from pathlib import Path

    p = Path(path)
    if (p / "_delta_log").is_dir():
        return "delta"
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))]
    parquet = sum(f.suffix == ".parquet" for f in files)
    if parquet and parquet < len(files):
        raise ConfigError(f"--input {path}: mixes {parquet} Parquet files with {len(files) - parquet} other files; "
                          "give one format per input (or set ingest.input_format)")
    return "parquet" if parquet else "jsonl"


def with_record_id(df: DataFrame) -> DataFrame:
    """`record_id`: the hash of the record's bytes as read; `utf8_ok`: whether they are valid UTF-8.

    Invalid bytes in `raw` are then replaced by U+FFFD, so the parser and the quarantine always hold text.
    """
    return (
        df.withColumn("record_id", F.sha2("raw", 256))
        .withColumn("utf8_ok", F.is_valid_utf8("raw"))
        .withColumn("raw", F.make_valid_utf8("raw"))
    )


def clean_conversations(df: DataFrame, *, run_id: str, long_user_messages: int) -> DataFrame:
    """Valid records as bronze `conversations` rows: scrubbed, pseudonymised, with message counts."""
    messages = F.transform(
        "parsed.messages",
        lambda m: F.struct(
            m["index"].alias("index"), m["role"].alias("role"), m["content"].alias("content"),
            F.to_timestamp(m["created_at"]).alias("created_at"),
        ),
    )
    n_user = F.size(F.filter("parsed.messages", lambda m: m["role"] == "user"))
    n_assistant = F.size(F.filter("parsed.messages", lambda m: m["role"] == "assistant"))
    return df.where(F.size("errors") == 0).select(
        F.col("parsed.conversation_id").alias("conversation_id"),
        F.col("parsed.user_id").alias("user_id"),
        F.to_timestamp("parsed.created_at").alias("created_at"),
        messages.alias("messages"),
        n_user.alias("n_user_messages"),
        n_assistant.alias("n_assistant_messages"),
        (n_user >= long_user_messages).alias("is_long"),
        "record_id",
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("ingested_at"),
    )


def quarantined_records(df: DataFrame, *, run_id: str) -> DataFrame:
    """Records failing any check: the raw record kept for repair and replay, with every reason."""
    return df.where(F.size("errors") > 0).select(
        "record_id",
        "raw",
        "source_file",
        F.col("errors").alias("_errors"),
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def checked_records(raw: DataFrame, *, key: bytes, max_messages: int, max_chars: int,
                    ingested: DataFrame | None = None) -> DataFrame:
    """Raw records with their parsed form and every failed check in `errors`.

    Args:
        raw: columns `raw` (one record as text) and `source_file`.
        key: the pseudonym key.
        max_messages, max_chars: a conversation over either is `oversize_conversation`.
        ingested: `conversation_id` and `record_id` of the conversations already ingested, if any.
    """
    return (
        raw.transform(with_record_id)
        .transform(lambda df: parse_and_protect(
            df, key=key, max_messages=max_messages, max_chars=max_chars))
        .transform(lambda df: with_stored_record(df, ingested))
        .transform(flag_record_checks)
    )


def run_ingest(spark: SparkSession, *, input_path: str, tables: dict[str, str], cfg: dict[str, Any],
               key: bytes, run_id: str) -> dict[str, int]:
    """Ingest input_path into the bronze tables; return rows in, clean (of them already ingested) and
    quarantined."""
    from jobs.session import merge_new_rows, read_table_if_any

    ingested = read_table_if_any(spark, tables["conversations"])
    checked = checked_records(read_raw(spark, input_path, cfg["ingest"]["input_format"]),
                              key=key, max_messages=cfg["ingest"]["max_messages"],
                              max_chars=cfg["ingest"]["max_chars"], ingested=ingested).persist()
    try:
        outcome = F.when(F.size("errors") > 0, "quarantined").when(F.col("already_ingested"), "already").otherwise("new")
        counts = {r["outcome"]: r["n"] for r in checked.groupBy(outcome.alias("outcome")).agg(
            F.count("*").alias("n")).collect()}
        clean = clean_conversations(checked, run_id=run_id,
                                    long_user_messages=cfg["ingest"]["long_user_messages"])
        merge_new_rows(spark, clean, tables["conversations"], ["conversation_id"])
        merge_new_rows(spark, quarantined_records(checked, run_id=run_id),
                       tables["conversations_quarantine"], ["record_id"])
    finally:
        checked.unpersist()
    stats = {"rows_in": sum(counts.values()), "rows_clean": counts.get("new", 0) + counts.get("already", 0),
             "rows_already_ingested": counts.get("already", 0), "rows_quarantined": counts.get("quarantined", 0)}
    logger.info("ingest: %s", stats)
    return stats


def run(ctx: Context) -> dict[str, float]:
    """Ingest --input into the bronze tables under this run's pseudonym key; returns rows in, clean, quarantined."""
    input_path = existing_path(ctx.input_path, "--input")
    key = ctx.pseudonym_key or key_for_run(ctx.cfg["privacy"], ctx.state_dir, ctx.spark.sparkContext.master)
    mlflow.log_param("input_path", input_path)
    return run_ingest(ctx.spark, input_path=input_path, tables=ctx.tables, cfg=ctx.cfg, key=key,
                      run_id=ctx.run_id)
