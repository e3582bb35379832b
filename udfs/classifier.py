"""The conversation classifier as a Spark map function: encoder once per message, every head on top.

For a batch of conversations it embeds the selected user messages, every assistant message and the user
message each one replies to in one length-sorted pass, then applies the heads: use and categories on the
pooled user side (and, where the model's heads read it, the first user turn) with the pooled replies to
it, pushback and its reason on each assistant message with
the user message before it, referral on each assistant message (its first and, where the model's
referral head reads it, its last window), sentiment on each selected user message.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from udfs import encoder
from udfs.features import message_features, reply_features
from udfs.heads import (CATEGORIES, SENTIMENT_CLASSES, Heads, first_turn, head_input, no_context, pool,
                        sentiment_class, with_context, with_first_turn, with_tail)

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

    encoder: str = encoder.ENCODER_NAME
    encoder_dir: str | None = None
    device: str = "auto"
    cpu_precision: str = "auto"  # udfs.encoder.resolve_cpu_precision
    batch_size: int = 64
    max_length: int = 128
    sentiment_scope: str = "shift"
    category_user_messages: int = 0  # 0: every user message
    roleplay_min_user_messages: int = 4
    window_user_messages: int = 10
    window_min_user_messages: int = 50
    # Conversations labelled per output batch: labels flow back to Spark while a task runs, so the
    # driver's progress line moves (an Arrow input batch holds up to 10,000 conversations).
    conversations_per_batch: int = 128


def edge_turns(n: int, k: int) -> list[int]:
    """The first k and last k user turns of n (all of them when n <= 2k)."""
    return list(range(n)) if n <= 2 * k else [*range(k), *range(n - k, n)]


def pooled_turns(n_user: int, s: ClassifierSettings) -> list[int]:
    """The user turns pooled for use and categories: all of them, or the first and last few."""
    return list(range(n_user)) if s.category_user_messages == 0 else edge_turns(n_user, s.category_user_messages // 2)


def _selected_user_turns(n_user: int, s: ClassifierSettings) -> tuple[list[int], list[int], list[range]]:
    """User turns pooled for use and categories, turns scored for sentiment, and drift windows."""
    pooled = pooled_turns(n_user, s)
    scored = list(range(n_user)) if s.sentiment_scope == "all" else edge_turns(n_user, 3)
    windows = ([range(i, min(i + s.window_user_messages, n_user)) for i in range(0, n_user, s.window_user_messages)]
               if n_user >= s.window_min_user_messages else [])
    return pooled, scored, windows


def turns_to_embed(n_user: int, s: ClassifierSettings) -> set[int]:
    """Every user turn the classifier reads: pooled, scored for sentiment, or in a drift window."""
    pooled, scored, windows = _selected_user_turns(n_user, s)
    return set(pooled) | set(scored) | {t for w in windows for t in w}


@dataclass(frozen=True)
class EncodedBatch:
    """The messages of a batch of conversations that the models read, each embedded once.

    Positions index `vectors`, `texts` and `errors`; per conversation row, `user_at` maps a user turn to
    its position, `assistant_at` lists its assistant messages' positions in conversation order and
    `reply_turn` the user turn each of them replies to (-1: none, it came first).
    """

    vectors: np.ndarray        # (n_messages, 384); NaN rows for messages the encoder failed on
    # The reply branch's vectors of the assistant messages (other rows: not of this branch); `vectors`
    # itself where the model has no reply branch.
    reply_vectors: np.ndarray
    # The sentiment branch's vectors of the user turns asked for (other rows: not of this branch);
    # `vectors` itself where the model has no sentiment branch.
    sentiment_vectors: np.ndarray
    # The last window of each assistant message, as reply_vectors reads its first (encoder.Embedded),
    # where tails were asked for; NaN elsewhere.
    tail_vectors: np.ndarray
    errors: list               # per message: None or the encoder's error (never the text)
    texts: list[str]
    message_index: np.ndarray  # the message's index in its conversation
    n_user: list[int]          # per row: user messages in the conversation
    user_at: list[dict[int, int]]
    assistant_at: list[list[int]]
    reply_turn: list[list[int]]

    def assistant_positions(self) -> np.ndarray:
        return np.array([p for positions in self.assistant_at for p in positions], dtype=int)

    def before(self, row: int) -> np.ndarray:
        """Per assistant message of the row, the position of the user message it replies to, or -1."""
        return np.array([self.user_at[row][t] if t >= 0 else -1 for t in self.reply_turn[row]], dtype=int)

    def before_positions(self) -> np.ndarray:
        """before() of every row, in the order of assistant_positions."""
        return np.concatenate([self.before(row) for row in range(len(self.reply_turn))] or [np.zeros(0, int)])

    def replies(self, row: int, turns: Iterable[int]) -> list[int]:
        """Positions of the row's assistant messages that reply to the given user turns."""
        wanted = set(turns)
        return [p for p, t in zip(self.assistant_at[row], self.reply_turn[row]) if t in wanted]

    def context_vectors(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at positions, zeros where the position is -1 (no context)."""
        out = no_context(len(positions))
        out[positions >= 0] = self.vectors[positions[positions >= 0]]
        return out

    def row_errors(self, row: int) -> set[str]:
        positions = [*self.user_at[row].values(), *self.assistant_at[row]]
        return {f"encoder: {self.errors[p]}" for p in positions if self.errors[p]}


def encode_messages(conversations: Iterable[list[dict]], user_turns: Callable[[int], Iterable[int]],
                    s: ClassifierSettings, device: str, model: Heads | None = None,
                    sentiment_turns: Callable[[int], Iterable[int]] = lambda n_user: (),
                    tails: bool = False) -> EncodedBatch:
    """Embed, in one length-sorted pass of the encoder, the chosen user turns, every assistant message of
    each row and the user message each assistant message replies to, and in the same pass the sentiment
    turns with the model's sentiment branch and the assistant messages with its reply branch (what
    pushback, its reason and referral read; use and categories read the encoder's vectors of the replies,
    as they read the user's).

    Args:
        conversations: per row, its messages (dicts with index, role, content).
        user_turns: number of user messages -> the user turns to embed.
        s: batching settings.
        device: a resolved device.
        model: the model whose branches (Heads.sentiment_branch, Heads.reply_branch) read the messages;
            None: the encoder alone.
        sentiment_turns: number of user messages -> the user turns the sentiment heads read (a subset
            of user_turns).
        tails: read the last window of the assistant messages too (`EncodedBatch.tail_vectors`).
    """
    sentiment_branch = model.sentiment_branch if model is not None else None
    reply_branch = model.reply_branch if model is not None else None
    branches = [b for b in (sentiment_branch, reply_branch) if b is not None]
    for_sentiment = 0 if sentiment_branch is not None else -1
    for_replies = len(branches) - 1 if reply_branch is not None else -1
    texts: list[str] = []
    message_index: list[int] = []
    branch_of: list[int] = []
    tail_of: list[bool] = []
    n_user, user_at, assistant_at, reply_turn = [], [], [], []
    for messages in conversations:
        users, assistants, turns_replied = [], [], []
        for m in messages:
            if m["role"] == "user":
                users.append(m)
            elif m["role"] == "assistant":
                assistants.append(m)
                turns_replied.append(len(users) - 1)
        at = {}
        scored = set(sentiment_turns(len(users)))
        for turn in sorted(set(user_turns(len(users))) | {t for t in turns_replied if t >= 0}):
            at[turn] = len(texts)
            texts.append(users[turn]["content"])
            message_index.append(int(users[turn]["index"]))
            branch_of.append(for_sentiment if turn in scored else -1)
            tail_of.append(False)
        positions = []
        for m in assistants:
            positions.append(len(texts))
            texts.append(m["content"])
            message_index.append(int(m["index"]))
            branch_of.append(for_replies)
            tail_of.append(tails)
        n_user.append(len(users))
        user_at.append(at)
        assistant_at.append(positions)
        reply_turn.append(turns_replied)
    out = encoder.embed_branched(
        texts, branch_of, branches, tail_of=tail_of, encoder=s.encoder, device=device, batch_size=s.batch_size,
        max_length=s.max_length, threads=1 if device == "cpu" else None, encoder_dir=s.encoder_dir,
        cpu_precision=s.cpu_precision)
    vectors = out.vectors
    return EncodedBatch(vectors, vectors if reply_branch is None else out.branch_vectors,
                        vectors if sentiment_branch is None else out.branch_vectors, out.tail_vectors, out.errors,
                        texts,
                        np.array(message_index, dtype=int), n_user, user_at, assistant_at, reply_turn)


@dataclass(frozen=True)
class TaskScores:
    """One task's class probabilities for a list of inputs, and per input an error or None."""

    classes: tuple
    proba: np.ndarray
    errors: list

    def positive(self) -> np.ndarray:
        return self.proba[:, list(self.classes).index(True)]

    @cached_property
    def best(self) -> np.ndarray:
        """Per input, the index of its most probable class (of all inputs at once: cheaper than per row)."""
        return _nan_argmax(self.proba)

    def label(self, i: int):
        return self.classes[self.best[i]]


def _nan_argmax(p: np.ndarray) -> np.ndarray | int:
    """argmax over the last axis with NaN (a failed score) below every probability."""
    best = np.where(np.isnan(p), -1.0, p).argmax(axis=-1)
    return best if best.ndim else int(best)


def _task_scores(task: str, heads: Heads, scorers: dict, vectors: np.ndarray, texts: list[str],
                 context: tuple[np.ndarray, list[str]] | None = None, features: np.ndarray | None = None
                 ) -> TaskScores:
    """Scores from the task's configured backend: its own model if one is set, else the head.

    context: for the tasks that read one, the context's vectors (zeros: none) and texts ('' : none).
    features: the messages' features (udfs.features), for the heads that read them.
    """
    scorer = scorers.get(task)
    if scorer is None:
        head = heads[task]
        x = head_input(task, vectors, context[0] if context else None, features)
        proba = head.proba(x) if len(vectors) else np.zeros((0, len(head.classes)))
        return TaskScores(head.classes, proba, [None] * len(proba))
    batch = scorer.score(texts, context[1] if context else None)
    return TaskScores(tuple(scorer.classes), batch.proba, [f"{task}: {e}" if e else None for e in batch.errors])


def _sentiment_classes(heads: Heads, scorers: dict, vectors: np.ndarray, texts: list[str]) -> TaskScores:
    """The 5-point class of each user message: a configured backend's label, else the polarity head's
    label doubled where the strength head says strong (one-hot over SENTIMENT_CLASSES)."""
    if "sentiment" in scorers:
        return _task_scores("sentiment", heads, scorers, vectors, texts)
    lexicon = message_features(texts)
    polarity = _task_scores("sentiment", heads, scorers, vectors, texts, features=lexicon)
    strength = heads["sentiment_strength"].proba(head_input("sentiment_strength", vectors, None, lexicon)) \
        if len(vectors) else np.zeros((0, 2))
    strong = strength[:, 1] >= heads.threshold("sentiment_strength")
    classes = sentiment_class(np.array(polarity.classes)[polarity.best], strong)
    return TaskScores(SENTIMENT_CLASSES, np.eye(len(SENTIMENT_CLASSES))[classes + 2], polarity.errors)


def _category_proba(heads: Heads, sides: UserSides) -> np.ndarray:
    """(n, len(CATEGORIES)): each category head's probability, one matrix product per head."""
    return np.column_stack([heads[f"category.{c}"].proba(sides.read_by(heads, f"category.{c}"))[:, 1]
                            for c in CATEGORIES]) if len(sides.pooled) else np.zeros((0, len(CATEGORIES)))


def _use_and_categories(use_p: np.ndarray, use_classes: list, category_p: np.ndarray, n_user: int,
                        s: ClassifierSettings, thresholds: Iterable[float] = (0.5,) * len(CATEGORIES)
                        ) -> tuple[str, float, list[str]]:
    """The use, its probability and the categories of one conversation (or window) from head outputs."""
    use = use_classes[_nan_argmax(use_p)]
    categories: list[str] = []
    if use == "affective":
        chosen = [c for c, p, t in zip(CATEGORIES, category_p, thresholds) if p >= t]
        categories = chosen or [CATEGORIES[_nan_argmax(category_p)]]
        if n_user < s.roleplay_min_user_messages:
            # The study counts romantic roleplay only from 4 user messages on.
            categories = [c for c in categories if c != "romantic_roleplay"]
            if not categories:
                others = [u for u in use_classes if u != "affective"]
                use = max(others, key=lambda u: use_p[use_classes.index(u)])
    return use, float(use_p[use_classes.index(use)]), categories


def _threshold(heads: Heads, scorers: dict, task: str, replies: int) -> float:
    """The head's conversation-level threshold; 0.5 for a backend model, which was not calibrated with it."""
    return 0.5 if task in scorers else heads.threshold(task, replies)


def _category_thresholds(heads: Heads) -> list[float]:
    return [heads.threshold(f"category.{c}") for c in CATEGORIES]


@dataclass(frozen=True)
class UserSides:
    """Per conversation (or window): its pooled user turns, its first user turn (a window's own first
    turn) and the pooled assistant replies to them (zeros: none), what the use and category heads read."""

    pooled: np.ndarray
    first: np.ndarray
    replies: np.ndarray

    @classmethod
    def of(cls, batch: EncodedBatch, spans: list[tuple[int, Iterable[int]]]) -> "UserSides":
        """The sides of (row, user turns) spans of a batch."""
        if not spans:
            return cls(no_context(0), no_context(0), no_context(0))
        users = [batch.vectors[[batch.user_at[row][t] for t in turns]] for row, turns in spans]
        return cls(np.stack([pool(u) for u in users]), np.stack([first_turn(u) for u in users]),
                   np.stack([pool(batch.vectors[batch.replies(row, list(turns))]) for row, turns in spans]))

    def user_side(self, heads: Heads, name: str) -> np.ndarray:
        return with_first_turn(name, self.pooled, self.first, heads.first_turn_heads)

    def read_by(self, heads: Heads, name: str) -> np.ndarray:
        """The input of head `name`: its user side beside the replies."""
        return with_context(self.user_side(heads, name), self.replies)


def _drift(heads: Heads, batch: EncodedBatch, plans: list, s: ClassifierSettings) -> list[list[dict]]:
    """Per row, the use and categories of each window of a long conversation (all windows in one pass)."""
    spans = [(row, number, window) for row, plan in enumerate(plans) for number, window in enumerate(plan[2])]
    drift: list[list[dict]] = [[] for _ in plans]
    if not spans:
        return drift
    sides = UserSides.of(batch, [(row, window) for row, _, window in spans])
    use_p, category_p = heads["use"].proba(sides.read_by(heads, "use")), _category_proba(heads, sides)
    for i, (row, number, window) in enumerate(spans):
        use, _, categories = _use_and_categories(use_p[i], list(heads["use"].classes), category_p[i], len(window), s,
                                                 _category_thresholds(heads))
        drift[row].append({"window": number, "first_user_turn": window[0], "last_user_turn": window[-1],
                           "use": use, "categories": categories})
    return drift


def classify_batch(pdf: pd.DataFrame, heads: Heads, s: ClassifierSettings, device: str = "cpu",
                   scorers: dict | None = None) -> pd.DataFrame:
    """Label a pandas batch of conversations (column `messages`: dicts with index, role, content).

    Every head is applied once to the stacked inputs of the whole batch; only the final decisions are
    made per conversation.

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
    batch = encode_messages(pdf["messages"], lambda n_user: turns_to_embed(n_user, s), s, device, heads,
                            lambda n_user: _selected_user_turns(n_user, s)[1],
                            tails=any(name not in scorers for name in heads.tail_heads))
    plans = [_selected_user_turns(n, s) for n in batch.n_user]
    asst, before = batch.assistant_positions(), batch.before_positions()
    scored_at = np.array([batch.user_at[row][t] for row, plan in enumerate(plans) for t in plan[1]], dtype=int)
    asst_texts = [batch.texts[p] for p in asst]
    asst_context = (batch.context_vectors(before), [batch.texts[p] if p >= 0 else "" for p in before])
    asst_features = reply_features(asst_texts)
    pushback = _task_scores("pushback", heads, scorers, batch.reply_vectors[asst], asst_texts, asst_context,
                            asst_features)
    reason = _task_scores("pushback_reason", heads, scorers, batch.reply_vectors[asst], asst_texts, asst_context,
                          asst_features)
    referral_vectors = with_tail("referral", batch.reply_vectors[asst], batch.tail_vectors[asst], heads.tail_heads)
    referral = _task_scores("referral", heads, scorers, referral_vectors, asst_texts, features=asst_features)
    sentiment = _sentiment_classes(heads, scorers, batch.sentiment_vectors[scored_at],
                                   [batch.texts[p] for p in scored_at])
    sides = UserSides.of(batch, [(row, plan[0]) for row, plan in enumerate(plans)])
    joined = [("\n".join(batch.texts[batch.user_at[row][t]] for t in plan[0]),
               "\n".join(batch.texts[p] for p in batch.replies(row, plan[0]))) for row, plan in enumerate(plans)]
    use_scores = _task_scores("use", heads, scorers, sides.user_side(heads, "use"), [u for u, _ in joined],
                              (sides.replies, [a for _, a in joined]))
    category_p = _category_proba(heads, sides)
    drift = _drift(heads, batch, plans, s)
    push_p, refer_p = pushback.positive(), referral.positive()
    # Where each message's scores sit in the task arrays.
    task_row = np.full(len(batch.texts), -1, dtype=int)
    task_row[asst], task_row[scored_at] = np.arange(len(asst)), np.arange(len(scored_at))
    out = []
    category_thresholds = _category_thresholds(heads)
    for row, (_, scored, _) in enumerate(plans):
        use, use_score, categories = _use_and_categories(use_scores.proba[row], list(use_scores.classes),
                                                         category_p[row], batch.n_user[row], s, category_thresholds)
        a = task_row[batch.assistant_at[row]]
        top = a[_nan_argmax(push_p[a])] if len(a) else None
        # Conversation level: the most likely reply against a threshold chosen for conversations, so
        # small per-reply error rates do not add up over many replies.
        pushed = bool(top is not None and push_p[top] >= _threshold(heads, scorers, "pushback", len(a)))
        refer_best = float(np.nanmax(refer_p[a])) if len(a) and np.isfinite(refer_p[a]).any() else 0.0
        scored_users = [(task_row[batch.user_at[row][t]], t) for t in scored]
        errors = sorted({e for i in a for e in (pushback.errors[i], reason.errors[i], referral.errors[i]) if e}
                        | {sentiment.errors[i] for i, _ in scored_users if sentiment.errors[i]}
                        | ({use_scores.errors[row]} if use_scores.errors[row] else set())
                        | batch.row_errors(row))
        out.append({
            "use": use, "use_score": use_score, "categories": categories,
            "category_scores": dict(zip(CATEGORIES, map(float, category_p[row]))),
            "pushback": pushed,
            "pushback_score": float(push_p[top]) if top is not None else 0.0,
            "pushback_reason": reason.label(top) if pushed else None,
            "referral": refer_best >= _threshold(heads, scorers, "referral", len(a)),
            "referral_score": refer_best,
            "embedding": sides.pooled[row].astype(np.float32).tolist(),
            "user_sentiment": [
                {"message_index": int(batch.message_index[scored_at[i]]), "user_turn": t,
                 "sentiment_class": int(sentiment.label(i)), "sentiment": float(sentiment.label(i)) / 2.0}
                for i, t in scored_users],
            "windows": drift[row],
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
            for start in range(0, len(pdf), settings.conversations_per_batch):
                part = pdf.iloc[start:start + settings.conversations_per_batch].reset_index(drop=True)
                labels = classify_batch(part, heads, settings, device, scorers)
                yield pd.concat([part[[f.name for f in keep]], labels], axis=1)

    return classify, schema


def settings_from_config(cfg: dict[str, Any]) -> ClassifierSettings:
    m, c = cfg["model"], cfg["classify"]
    return ClassifierSettings(encoder=m["encoder"], encoder_dir=m["encoder_dir"] or None, device=m["device"],
                              cpu_precision=m["cpu_precision"], batch_size=m["batch_size"], max_length=m["max_length"],
                              sentiment_scope=c["sentiment_scope"],
                              category_user_messages=c["category_user_messages"],
                              roleplay_min_user_messages=c["roleplay_min_user_messages"],
                              window_user_messages=c["window_user_messages"],
                              conversations_per_batch=c["conversations_per_batch"],
                              window_min_user_messages=cfg["ingest"]["long_user_messages"])
