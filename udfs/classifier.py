"""The conversation classifier as a Spark map function: encoder once per message, every head on top.

For a batch of conversations it embeds the selected user messages and every assistant message in one
length-sorted pass, then applies the heads: use and categories on the pooled user side, pushback, its
reason and referral on each assistant message, sentiment on each selected user message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from udfs import encoder
from udfs.heads import CATEGORIES, USES, Heads, pool

SENTIMENT_TYPE = T.StructType([
    T.StructField("message_index", T.IntegerType()),
    T.StructField("user_turn", T.IntegerType()),
    T.StructField("sentiment_class", T.IntegerType()),
    T.StructField("sentiment", T.DoubleType()),
])
WINDOW_TYPE = T.StructType([
    T.StructField("window", T.IntegerType()),
    T.StructField("first_user_turn", T.IntegerType()),
    T.StructField("last_user_turn", T.IntegerType()),
    T.StructField("use", T.StringType()),
    T.StructField("categories", T.ArrayType(T.StringType())),
])
LABEL_FIELDS = [
    T.StructField("use", T.StringType()),
    T.StructField("use_score", T.DoubleType()),
    T.StructField("categories", T.ArrayType(T.StringType())),
    T.StructField("category_scores", T.MapType(T.StringType(), T.DoubleType())),
    T.StructField("pushback", T.BooleanType()),
    T.StructField("pushback_score", T.DoubleType()),
    T.StructField("pushback_reason", T.StringType()),
    T.StructField("referral", T.BooleanType()),
    T.StructField("referral_score", T.DoubleType()),
    T.StructField("embedding", T.ArrayType(T.FloatType())),
    T.StructField("user_sentiment", T.ArrayType(SENTIMENT_TYPE)),
    T.StructField("windows", T.ArrayType(WINDOW_TYPE)),
    T.StructField("errors", T.ArrayType(T.StringType())),
]


@dataclass(frozen=True)
class ClassifierSettings:
    """What the classifier reads and how it batches (from the `model` and `classify` config)."""

    device: str = "auto"
    batch_size: int = 64
    max_length: int = 128
    sentiment_scope: str = "shift"
    category_user_messages: int = 6
    roleplay_min_user_messages: int = 4
    window_user_messages: int = 10
    window_min_user_messages: int = 50


def edge_turns(n: int, k: int) -> list[int]:
    """The first k and last k user turns of n (all of them when n <= 2k)."""
    return list(range(n)) if n <= 2 * k else [*range(k), *range(n - k, n)]


def _selected_user_turns(n_user: int, s: ClassifierSettings) -> tuple[list[int], list[int], list[range]]:
    """User turns pooled for use and categories, turns scored for sentiment, and drift windows."""
    pooled = edge_turns(n_user, s.category_user_messages // 2)
    scored = list(range(n_user)) if s.sentiment_scope == "all" else edge_turns(n_user, 3)
    windows = ([range(i, min(i + s.window_user_messages, n_user)) for i in range(0, n_user, s.window_user_messages)]
               if n_user >= s.window_min_user_messages else [])
    return pooled, scored, windows


@dataclass(frozen=True)
class TaskScores:
    """One task's class probabilities for a list of inputs, and per input an error or None."""

    classes: tuple
    proba: np.ndarray
    errors: list

    def positive(self) -> np.ndarray:
        return self.proba[:, list(self.classes).index(True)]

    def label(self, i: int):
        return self.classes[int(np.nan_to_num(self.proba[i], nan=-1).argmax())]


def _task_scores(task: str, heads: Heads, scorers: dict, vectors: np.ndarray, texts: list[str]) -> TaskScores:
    """Scores from the task's configured backend: its own model if one is set, else the head."""
    scorer = scorers.get(task)
    if scorer is None:
        head = heads[task]
        proba = head.proba(vectors) if len(vectors) else np.zeros((0, len(head.classes)))
        return TaskScores(head.classes, proba, [None] * len(proba))
    batch = scorer.score(texts)
    return TaskScores(tuple(scorer.classes), batch.proba, [f"{task}: {e}" if e else None for e in batch.errors])


def _use_and_categories(heads: Heads, x: np.ndarray, n_user: int, s: ClassifierSettings,
                        use_scores: TaskScores | None = None, i: int = 0):
    if use_scores is None:  # the head on this pooled embedding
        use_scores, i = _task_scores("use", heads, {}, x[None], []), 0
    use_p, use_classes = use_scores.proba[i], list(use_scores.classes)
    scores = {c: float(heads[f"category.{c}"].proba(x[None])[0, 1]) for c in CATEGORIES}
    use = use_scores.label(i)
    categories: list[str] = []
    if use == "affective":
        categories = [c for c in CATEGORIES if scores[c] >= 0.5] or [max(CATEGORIES, key=scores.get)]
        if n_user < s.roleplay_min_user_messages:
            # The study counts romantic roleplay only from 4 user messages on.
            categories = [c for c in categories if c != "romantic_roleplay"]
            if not categories:
                others = [u for u in use_classes if u != "affective"]
                use = max(others, key=lambda u: use_p[use_classes.index(u)])
    return use, float(use_p[use_classes.index(use)]), categories, scores


def classify_batch(pdf: pd.DataFrame, heads: Heads, s: ClassifierSettings, device: str = "cpu",
                   scorers: dict | None = None) -> pd.DataFrame:
    """Label a pandas batch of conversations (column `messages`: dicts with index, role, content).

    Args:
        pdf: conversations, one per row.
        heads: the trained heads.
        s: what to read and how to batch.
        device: a resolved device ('cpu' or 'cuda').
        scorers: per task, a model that replaces the task's head (udfs.backends); None for none.

    Returns:
        One row of labels per input row, in input order (columns of LABEL_FIELDS); a conversation that a
        model failed on has its reasons in `errors` and should be quarantined, not used.
    """
    scorers = scorers or {}
    texts: list[str] = []
    owners: list[tuple[int, str, int, int]] = []  # (row, role, message_index, user_turn)
    plans = []
    for row, messages in enumerate(pdf["messages"]):
        users = [m for m in messages if m["role"] == "user"]
        pooled, scored, windows = _selected_user_turns(len(users), s)
        plans.append((pooled, scored, windows, len(users), "\n".join(users[t]["content"] for t in pooled)))
        for turn in sorted(set(pooled) | set(scored) | {t for w in windows for t in w}):
            texts.append(users[turn]["content"])
            owners.append((row, "user", int(users[turn]["index"]), turn))
        for m in messages:
            if m["role"] == "assistant":
                texts.append(m["content"])
                owners.append((row, "assistant", int(m["index"]), -1))
    vectors = encoder.encode(texts, device=device, batch_size=s.batch_size, max_length=s.max_length,
                             threads=1 if device == "cpu" else None)
    rows = np.array([o[0] for o in owners], dtype=int)
    asst = np.array([o[1] == "assistant" for o in owners], dtype=bool)
    asst_texts = [t for t, a in zip(texts, asst) if a]
    user_texts = [t for t, a in zip(texts, asst) if not a]
    pushback = _task_scores("pushback", heads, scorers, vectors[asst], asst_texts)
    reason = _task_scores("pushback_reason", heads, scorers, vectors[asst], asst_texts)
    referral = _task_scores("referral", heads, scorers, vectors[asst], asst_texts)
    sentiment = _task_scores("sentiment", heads, scorers, vectors[~asst], user_texts)
    use_scores = (_task_scores("use", heads, scorers, np.zeros((0, 0)), [plan[4] for plan in plans])
                  if "use" in scorers else None)
    push_p, refer_p = pushback.positive(), referral.positive()
    asst_rows, user_rows = rows[asst], rows[~asst]
    user_owners = [o for o in owners if o[1] == "user"]
    user_vectors = vectors[~asst]
    out = []
    for row in range(len(pdf)):
        pooled, scored, windows, n_user, _ = plans[row]
        mine = np.flatnonzero(user_rows == row)
        turns = [user_owners[i][3] for i in mine]
        vector_of = dict(zip(turns, mine))
        x = pool(user_vectors[[vector_of[t] for t in pooled]])
        use, use_score, categories, cat_scores = _use_and_categories(heads, x, n_user, s, use_scores, row)
        drift = []
        for number, window in enumerate(windows):
            w_use, _, w_categories, _ = _use_and_categories(
                heads, pool(user_vectors[[vector_of[t] for t in window]]), len(window), s)
            drift.append({"window": number, "first_user_turn": window[0], "last_user_turn": window[-1],
                          "use": w_use, "categories": w_categories})
        a = np.flatnonzero(asst_rows == row)
        top = a[int(np.nan_to_num(push_p[a], nan=-1).argmax())] if len(a) else None
        pushed = bool(top is not None and push_p[top] >= 0.5)
        refer_mine = refer_p[a]
        refer_best = float(np.nanmax(refer_mine)) if np.isfinite(refer_mine).any() else 0.0
        scored_users = [(i, t) for i, t in zip(mine, turns) if t in scored]
        errors = sorted({e for i in a for e in (pushback.errors[i], reason.errors[i], referral.errors[i]) if e}
                        | {sentiment.errors[i] for i, _ in scored_users if sentiment.errors[i]}
                        | ({use_scores.errors[row]} if use_scores and use_scores.errors[row] else set()))
        out.append({
            "use": use, "use_score": use_score, "categories": categories, "category_scores": cat_scores,
            "pushback": pushed,
            "pushback_score": float(push_p[top]) if top is not None else 0.0,
            "pushback_reason": reason.label(top) if pushed else None,
            "referral": refer_best >= 0.5,
            "referral_score": refer_best,
            "embedding": x.astype(np.float32).tolist(),
            "user_sentiment": [
                {"message_index": user_owners[i][2], "user_turn": t, "sentiment_class": int(sentiment.label(i)),
                 "sentiment": float(sentiment.label(i)) / 2.0} for i, t in scored_users],
            "windows": drift,
            "errors": errors,
        })
    return pd.DataFrame(out, columns=[f.name for f in LABEL_FIELDS])


def conversation_classifier(heads: Heads, settings: ClassifierSettings, passthrough: T.StructType,
                            scorers: dict | None = None
                            ) -> tuple[Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]], T.StructType]:
    """A `mapInPandas` function and its output schema.

    Args:
        heads: the trained heads (small arrays, shipped to executors in the closure).
        settings: device, batching and what to read.
        passthrough: input columns copied to the output unchanged (must include `messages` to read it;
            `messages` itself is not copied).
        scorers: per task, a model replacing the head (udfs.backends scorers pickle without their weights
            and load them once per worker).

    Returns:
        (fn, schema): fn maps batches of conversations to batches of labels.
    """
    keep = [f for f in passthrough.fields if f.name != "messages"]
    schema = T.StructType(keep + LABEL_FIELDS)

    def classify(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        device = encoder.resolve_device(settings.device)
        for pdf in batches:
            labels = classify_batch(pdf, heads, settings, device, scorers)
            yield pd.concat([pdf[[f.name for f in keep]].reset_index(drop=True), labels], axis=1)

    return classify, schema


def settings_from_config(cfg: dict[str, Any]) -> ClassifierSettings:
    m, c = cfg["model"], cfg["classify"]
    return ClassifierSettings(device=m["device"], batch_size=m["batch_size"], max_length=m["max_length"],
                              sentiment_scope=c["sentiment_scope"],
                              category_user_messages=c["category_user_messages"],
                              roleplay_min_user_messages=c["roleplay_min_user_messages"],
                              window_user_messages=c["window_user_messages"],
                              window_min_user_messages=cfg["ingest"]["long_user_messages"])
