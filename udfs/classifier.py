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


def edge_turns(n: int, k: int) -> list[int]:
    """The first k and last k user turns of n (all of them when n <= 2k)."""
    return list(range(n)) if n <= 2 * k else [*range(k), *range(n - k, n)]


def _selected_user_turns(n_user: int, s: ClassifierSettings) -> tuple[list[int], list[int]]:
    pooled = edge_turns(n_user, s.category_user_messages // 2)
    scored = list(range(n_user)) if s.sentiment_scope == "all" else edge_turns(n_user, 3)
    return pooled, scored


def _use_and_categories(heads: Heads, x: np.ndarray, n_user: int, s: ClassifierSettings):
    use_p = heads["use"].proba(x[None])[0]
    use_classes = list(heads["use"].classes)
    scores = {c: float(heads[f"category.{c}"].proba(x[None])[0, 1]) for c in CATEGORIES}
    use = use_classes[int(use_p.argmax())]
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


def _classify_batch(pdf: pd.DataFrame, heads: Heads, s: ClassifierSettings, device: str) -> pd.DataFrame:
    texts: list[str] = []
    owners: list[tuple[int, str, int, int]] = []  # (row, role, message_index, user_turn)
    plans = []
    for row, messages in enumerate(pdf["messages"]):
        users = [m for m in messages if m["role"] == "user"]
        pooled, scored = _selected_user_turns(len(users), s)
        plans.append((pooled, scored, len(users)))
        for turn in sorted(set(pooled) | set(scored)):
            texts.append(users[turn]["content"])
            owners.append((row, "user", int(users[turn]["index"]), turn))
        for m in messages:
            if m["role"] == "assistant":
                texts.append(m["content"])
                owners.append((row, "assistant", int(m["index"]), -1))
    vectors = encoder.encode(texts, device=device, batch_size=s.batch_size, max_length=s.max_length,
                             threads=1 if device == "cpu" else None)
    roles = np.array([o[1] for o in owners])
    rows = np.array([o[0] for o in owners])
    asst = roles == "assistant"
    push_p = heads["pushback"].proba(vectors[asst])[:, 1] if asst.any() else np.zeros(0)
    reason_p = heads["pushback_reason"].proba(vectors[asst]) if asst.any() else np.zeros((0, 1))
    refer_p = heads["referral"].proba(vectors[asst])[:, 1] if asst.any() else np.zeros(0)
    user = ~asst
    sent_p = heads["sentiment"].proba(vectors[user]) if user.any() else np.zeros((0, 5))
    sent_classes = np.array(heads["sentiment"].classes)
    asst_rows, user_rows = rows[asst], rows[user]
    user_owners = [o for o in owners if o[1] == "user"]
    user_vectors = vectors[user]
    out = []
    for row in range(len(pdf)):
        pooled, scored, n_user = plans[row]
        mine = np.flatnonzero(user_rows == row)
        turns = [user_owners[i][3] for i in mine]
        x = pool(user_vectors[[i for i, t in zip(mine, turns) if t in pooled]])
        use, use_score, categories, cat_scores = _use_and_categories(heads, x, n_user, s)
        a = np.flatnonzero(asst_rows == row)
        top = a[int(push_p[a].argmax())] if len(a) else None
        pushback = bool(top is not None and push_p[top] >= 0.5)
        sentiment = [
            {"message_index": user_owners[i][2], "user_turn": t,
             "sentiment_class": int(sent_classes[sent_p[i].argmax()]),
             "sentiment": float(sent_classes[sent_p[i].argmax()]) / 2.0}
            for i, t in zip(mine, turns) if t in scored
        ]
        out.append({
            "use": use, "use_score": use_score, "categories": categories, "category_scores": cat_scores,
            "pushback": pushback,
            "pushback_score": float(push_p[top]) if top is not None else 0.0,
            "pushback_reason": heads["pushback_reason"].classes[int(reason_p[top].argmax())] if pushback else None,
            "referral": bool(len(a) and refer_p[a].max() >= 0.5),
            "referral_score": float(refer_p[a].max()) if len(a) else 0.0,
            "embedding": x.astype(np.float32).tolist(),
            "user_sentiment": sentiment,
        })
    return pd.DataFrame(out, columns=[f.name for f in LABEL_FIELDS])


def conversation_classifier(heads: Heads, settings: ClassifierSettings, passthrough: T.StructType
                            ) -> tuple[Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]], T.StructType]:
    """A `mapInPandas` function and its output schema.

    Args:
        heads: the trained heads (small arrays, shipped to executors in the closure).
        settings: device, batching and what to read.
        passthrough: input columns copied to the output unchanged (must include `messages` to read it;
            `messages` itself is not copied).

    Returns:
        (fn, schema): fn maps batches of conversations to batches of labels.
    """
    keep = [f for f in passthrough.fields if f.name != "messages"]
    schema = T.StructType(keep + LABEL_FIELDS)

    def classify(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        device = encoder.resolve_device(settings.device)
        for pdf in batches:
            labels = _classify_batch(pdf, heads, settings, device)
            yield pd.concat([pdf[[f.name for f in keep]].reset_index(drop=True), labels], axis=1)

    return classify, schema


def settings_from_config(cfg: dict[str, Any]) -> ClassifierSettings:
    m, c = cfg["model"], cfg["classify"]
    return ClassifierSettings(device=m["device"], batch_size=m["batch_size"], max_length=m["max_length"],
                              sentiment_scope=c["sentiment_scope"],
                              category_user_messages=c["category_user_messages"],
                              roleplay_min_user_messages=c["roleplay_min_user_messages"])
