"""Logistic heads over sentence embeddings: the default model ships in `udfs/model/` (built by `make model`
from the seed set and public human-labelled data, see udfs/build.py and udfs/MODEL_CARD.md).

Every head reads the same 384-d embeddings, so each message goes through the encoder once. The heads in
CONTEXT_HEADS read a message with its context, [vector, context vector]: pushback and its reason read an
assistant message with the user message before it, use and categories the pooled user side (the
categories beside the first user turn, FIRST_TURN_HEADS) with the pooled assistant replies to it. The
context is zeros where there is none (a first message, a user-only conversation), and every context
head is also trained on its examples without context. The heads in
FEATURE_HEADS also read the reply's phrase indicators (udfs/features.py). Each head carries its
calibration (a scale and shift of its logits, fitted on validation data) and the model its decision
thresholds. Heads are plain arrays so a Spark task receives them in its closure and predicts with numpy:
nothing on the executors depends on a file that exists only on the driver.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from udfs.encoder import EMBEDDING_DIM
from udfs.features import message_features, reply_features

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

logger = logging.getLogger(__name__)

# Through importlib.resources: under spark-submit the package is imported from a zip (--py-files).
SEED_DIR = resources.files("udfs") / "seed"
USES = ("task", "content_creation", "affective")
CATEGORIES = ("interpersonal_advice", "coaching", "counseling", "companionship", "romantic_roleplay")
PUSHBACK_REASONS = ("safety", "policy", "professional", "capability", "disagreement")
SENTIMENT_CLASSES = (-2, -1, 0, 1, 2)
CONTEXT_HEADS = ("use", *(f"category.{c}" for c in CATEGORIES), "pushback", "pushback_reason")
# Heads that also read features of their message: a reply's phrase indicators (the first three), a user
# message's lexicon scores (sentiment); udfs/features.py.
FEATURE_HEADS = ("pushback", "pushback_reason", "referral", "sentiment", "sentiment_strength")
# Bumped when what a head reads changes: heads saved in another format would read the wrong features.
# 6: the sentiment heads read the sentiment branch's vectors where the model has one.
# 7: the reply heads read the reply branch's vectors where the model has one (a fine-tuned reply encoder
#    before: such a model is refused).
# 8: the heads in `Heads.tail_heads` read a reply's last window beside its first.
# 9: the heads in `Heads.first_turn_heads` read the first user turn beside the pooled user turns.
HEADS_FORMAT = 9
READABLE_FORMATS = (5, 6, 7, 8, 9)  # older heads read as they did (no tail heads before 8, no first turn before 9)
# The heads that a model built by this version fits on a reply's last window beside its first
# (encoder.Embedded.tail_vectors): a referral often closes a long reply, past the first window the
# encoder reads (EVALUATION.md, "Referral: the reply's last window").
TAIL_HEADS = ("referral",)
# The conversation heads that a model built by this version fits on the first user turn beside the pooled
# user turns: the opening usually states what the conversation is about, which later turns ("nothing
# helps, I feel worse") dilute in the mean. Not use: a conversation that opens with a task and turns to
# seeking support is affective (EVALUATION.md, "Categories: the first user turn").
FIRST_TURN_HEADS = tuple(f"category.{c}" for c in CATEGORIES)
MODEL_DIR = resources.files("udfs") / "model"
# The fine-tuned weights a model may carry, by Heads field (each versioned in heads.json).
WEIGHT_FILES = {"reply_branch": "reply_branch.safetensors", "sentiment_branch": "sentiment_branch.safetensors"}


def with_context(vectors: np.ndarray, context: np.ndarray) -> np.ndarray:
    """The input of a context head: each vector beside its context (zeros where there is none)."""
    return np.concatenate([vectors, context], axis=1).astype(np.float32, copy=False)


def no_context(n: int) -> np.ndarray:
    return np.zeros((n, EMBEDDING_DIM), np.float32)


def _beside(name: str, vectors: np.ndarray, extra: np.ndarray, readers: tuple[str, ...]) -> np.ndarray:
    if name not in readers:
        return vectors
    return np.concatenate([vectors, extra], axis=1).astype(np.float32, copy=False)


def with_tail(name: str, vectors: np.ndarray, tails: np.ndarray, tail_heads: tuple[str, ...] = TAIL_HEADS
              ) -> np.ndarray:
    """The reply vectors that head `name` reads: the first window's, and beside them the last window's
    where it is one of `tail_heads`."""
    return _beside(name, vectors, tails, tail_heads)


def with_first_turn(name: str, pooled: np.ndarray, first: np.ndarray,
                    first_turn_heads: tuple[str, ...] = FIRST_TURN_HEADS) -> np.ndarray:
    """The user side that conversation head `name` reads: the pooled user turns, and beside them the
    first turn where it is one of `first_turn_heads`."""
    return _beside(name, pooled, first, first_turn_heads)


def head_input(name: str, vectors: np.ndarray, context: np.ndarray | None = None,
               features: np.ndarray | None = None) -> np.ndarray:
    """What head `name` reads: the vectors, then their context (CONTEXT_HEADS) and their messages'
    features (FEATURE_HEADS); a missing context is zeros."""
    parts = [vectors]
    if name in CONTEXT_HEADS:
        parts.append(no_context(len(vectors)) if context is None else context)
    if name in FEATURE_HEADS:
        parts.append(features)
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


def sentiment_class(polarity: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """The study's 5-point class: polarity (-1, 0, 1) doubled where the strength head says strong."""
    return (polarity * np.where(strong, 2, 1)).astype(int)


@dataclass(frozen=True)
class Head:
    """A logistic model: softmax over classes, or a sigmoid when there are two classes.

    `scale` and `shift` calibrate it (Platt scaling of a sigmoid, temperature 1/scale of a softmax),
    fitted on validation data; 1 and 0 leave it as trained.
    """

    classes: tuple
    coef: np.ndarray       # (n_classes or 1, dim)
    intercept: np.ndarray  # (n_classes or 1,)
    scale: float = 1.0
    shift: float = 0.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated logits, shape (n, n_classes or 1)."""
        return x @ self.coef.T + self.intercept

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, shape (n, len(classes))."""
        logits = self.logits(x) * self.scale + (self.shift if len(self.classes) == 2 else 0.0)
        if len(self.classes) == 2:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1 - p, p], axis=1)
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Heads:
    """All heads of one model version."""

    version: str
    heads: dict[str, Head] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # Decision thresholds on calibrated probabilities (0.5 where absent). `pushback` and `referral` are
    # conversation-level, against the highest probability of any reply, one threshold per number of
    # replies (udfs/build.py chooses them): more replies need a higher one for the same error rate.
    thresholds: dict[str, float | list[float]] = field(default_factory=dict)
    # The reply branch (safetensors bytes of fine-tuned top layers, udfs/finetune.py) whose vectors of
    # assistant messages the pushback, reason and referral heads read; None: they read the encoder's. The
    # branches travel with the heads (Spark broadcasts a closure this size) so every worker reads
    # messages as they were fitted.
    reply_branch: bytes | None = field(default=None, repr=False)
    # The sentiment branch, whose vectors of user messages the sentiment heads read; None: the encoder's.
    sentiment_branch: bytes | None = field(default=None, repr=False)
    # The reply heads that read a reply's last window beside its first (with_tail).
    tail_heads: tuple[str, ...] = ()
    # The conversation heads that read the first user turn beside the pooled ones (with_first_turn).
    first_turn_heads: tuple[str, ...] = ()

    @property
    def reply_branch_version(self) -> str | None:
        return None if self.reply_branch is None else file_version(self.reply_branch)

    @property
    def sentiment_branch_version(self) -> str | None:
        return None if self.sentiment_branch is None else file_version(self.sentiment_branch)

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]

    def threshold(self, name: str, replies: int = 1) -> float:
        """The threshold of `name`, for a conversation of `replies` replies where it depends on them (a
        list: one per count from 1, its last one for longer conversations)."""
        value = self.thresholds.get(name, 0.5)
        return value[min(max(replies, 1), len(value)) - 1] if isinstance(value, list) else value

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name, head in self.heads.items():
            arrays[f"{name}.coef"], arrays[f"{name}.intercept"] = head.coef, head.intercept
        np.savez(directory / "heads.npz", **arrays)
        meta = {"format": HEADS_FORMAT, "version": self.version, "metrics": self.metrics,
                "thresholds": self.thresholds,
                "classes": {name: list(h.classes) for name, h in self.heads.items()},
                "calibration": {name: [h.scale, h.shift] for name, h in self.heads.items()},
                "tail_heads": list(self.tail_heads), "first_turn_heads": list(self.first_turn_heads),
                **{key: file_version(data) if data is not None else None for key, data in self._weights().items()}}
        for key, data in self._weights().items():
            if data is not None:
                (directory / WEIGHT_FILES[key]).write_bytes(data)
        (directory / "heads.json").write_text(json.dumps(meta, indent=2))

    def _weights(self) -> dict[str, bytes | None]:
        return {"reply_branch": self.reply_branch, "sentiment_branch": self.sentiment_branch}

    @classmethod
    def load(cls, directory: Path) -> "Heads":
        meta = json.loads((directory / "heads.json").read_text())
        if meta.get("format") not in READABLE_FORMATS:
            raise ValueError(f"{directory}: heads of format {meta.get('format', 1)}, this version reads formats "
                             f"{READABLE_FORMATS} (phrase and lexicon features, calibration); retrain them with `affective train`")
        if meta.get("reply_encoder"):
            raise ValueError(f"{directory}: the heads read a fine-tuned reply encoder, which this version replaced "
                             f"by the reply branch; rebuild the model with `make model` (udfs/build.py)")
        with (directory / "heads.npz").open("rb") as handle:
            arrays = dict(np.load(handle))
        heads = {name: Head(tuple(classes), arrays[f"{name}.coef"], arrays[f"{name}.intercept"],
                            *meta["calibration"][name])
                 for name, classes in meta["classes"].items()}
        weights = {}
        for key, name in WEIGHT_FILES.items():
            weights[key] = (directory / name).read_bytes() if meta.get(key) else None
            if weights[key] is not None and file_version(weights[key]) != meta[key]:
                raise ValueError(f"{directory}: {name} is version {file_version(weights[key])}, "
                                 f"the heads were fitted on {meta[key]}")
        return cls(meta["version"], heads, meta["metrics"], meta["thresholds"], **weights,
                   tail_heads=tuple(meta.get("tail_heads", ())),
                   first_turn_heads=tuple(meta.get("first_turn_heads", ())))


def file_version(data: bytes) -> str:
    """A short content hash: the version of a weights file."""
    return hashlib.sha256(data).hexdigest()[:12]


def read_seed(seed_dir: Traversable = SEED_DIR) -> dict[str, list[dict]]:
    """The labelled seed set: conversations, assistant messages, user messages and the reply labels of the
    conversations' replies (only the replies that push back or refer: every other one does neither)."""
    names = ("conversations", "assistant_messages", "user_messages", "reply_labels")
    return {n: [json.loads(line) for line in (seed_dir / f"{n}.jsonl").read_text().splitlines() if line.strip()]
            for n in names}


def _logistic(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)


def fit_logistic(x: np.ndarray, y: list, *, c: float, seed: int) -> Head:
    """One logistic head (classes balanced), uncalibrated."""
    model = _logistic(c, seed).fit(x, np.asarray(y))
    return Head(tuple(model.classes_.tolist()), model.coef_.astype(np.float32), model.intercept_.astype(np.float32))


def _fit(x: np.ndarray, y: list, groups: np.ndarray, *, seed: int, c: float) -> tuple[Head, float]:
    """Fit one logistic head; return it and its 5-fold cross-validated macro-F1.

    Rows of one group (an example with and without its context) stay in one fold, so the score is
    never measured on a copy of a training row.
    """
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.metrics import f1_score

    y_arr = np.asarray(y)
    groups_per_class = Counter(dict(zip(groups.tolist(), y_arr.tolist())).values())
    folds = StratifiedGroupKFold(n_splits=min(5, min(groups_per_class.values())), shuffle=True, random_state=seed)
    predicted = cross_val_predict(_logistic(c, seed), x, y_arr, groups=groups, cv=folds)
    return fit_logistic(x, y, c=c, seed=seed), float(f1_score(y_arr, predicted, average="macro"))


def pool(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of message embeddings (zeros for none): a conversation's user side or replies."""
    if not len(vectors):
        return np.zeros(EMBEDDING_DIM, np.float32)
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-9)


def first_turn(vectors: np.ndarray) -> np.ndarray:
    """The first of a conversation's user-turn embeddings, in order (zeros for none)."""
    return vectors[0] if len(vectors) else np.zeros(EMBEDDING_DIM, np.float32)


@dataclass(frozen=True)
class TrainingSet:
    """Embeddings with their labels, per level the heads read."""

    conv_x: np.ndarray          # pooled user-side embeddings
    conv_first: np.ndarray      # the first user turn's embedding
    conv_context: np.ndarray    # pooled assistant replies to those user messages (zeros: none)
    conv_use: list[str]
    conv_categories: list[list[str]]
    asst_x: np.ndarray          # assistant-message embeddings
    asst_tail: np.ndarray       # their last windows' (encoder.Embedded.tail_vectors)
    asst_context: np.ndarray    # the user message before each (zeros: none)
    asst_features: np.ndarray   # phrase indicators of each (udfs.features)
    asst_pushback: list[bool]
    asst_reason: list[str | None]
    asst_referral: list[bool]
    user_x: np.ndarray          # user-message embeddings
    user_features: np.ndarray   # lexicon scores of each (udfs.features.message_features)
    user_sentiment: list[int]

    def __add__(self, other: "TrainingSet") -> "TrainingSet":
        return TrainingSet(*(np.concatenate([a, b]) if isinstance(a, np.ndarray) else [*a, *b]
                             for a, b in zip(self.__dict__.values(), other.__dict__.values())))

    def balance(self) -> dict[str, int]:
        """Class counts per head, for logging the training data."""
        counts: dict[str, int] = {}
        for name, values in (("use", self.conv_use), ("pushback", self.asst_pushback),
                             ("pushback_reason", [r for r in self.asst_reason if r]),
                             ("referral", self.asst_referral), ("sentiment", self.user_sentiment)):
            for value in values:
                counts[f"{name}.{value}"] = counts.get(f"{name}.{value}", 0) + 1
        for cats in self.conv_categories:
            for cat in cats:
                counts[f"category.{cat}"] = counts.get(f"category.{cat}", 0) + 1
        return counts


def seed_training_set(encode_fn: Callable[[list[str]], np.ndarray],
                      encode_reply_fn: Callable[[list[str]], np.ndarray] | None = None,
                      encode_sentiment_fn: Callable[[list[str]], np.ndarray] | None = None,
                      encode_tail_fn: Callable[[list[str]], np.ndarray] | None = None,
                      seed_dir: Traversable = SEED_DIR) -> TrainingSet:
    """The hand-written seed set embedded with encode_fn, the labelled assistant messages (pushback,
    referral) with encode_reply_fn (the reply branch; None: encode_fn) and their last windows with
    encode_tail_fn (None: encode_reply_fn, for encoders that read the whole of every seed reply), and the
    labelled user messages (sentiment) with encode_sentiment_fn (the sentiment branch; None: encode_fn)."""
    encode_reply_fn = encode_reply_fn or encode_fn
    encode_tail_fn = encode_tail_fn or encode_reply_fn
    encode_sentiment_fn = encode_sentiment_fn or encode_fn
    data = read_seed(seed_dir)
    convs, assistant, user = data["conversations"], data["assistant_messages"], data["user_messages"]
    users = [encode_fn(c["user_messages"]) for c in convs]
    return TrainingSet(
        conv_x=np.stack([pool(u) for u in users]),
        conv_first=np.stack([first_turn(u) for u in users]),
        conv_context=np.stack([pool(encode_fn(c["assistant_messages"])) for c in convs]),
        conv_use=[c["use"] for c in convs],
        conv_categories=[list(c["categories"]) for c in convs],
        asst_x=encode_reply_fn([a["text"] for a in assistant]),
        asst_tail=encode_tail_fn([a["text"] for a in assistant]),
        asst_context=encode_fn([a["user_before"] for a in assistant]),
        asst_features=reply_features([a["text"] for a in assistant]),
        asst_pushback=[bool(a["pushback"]) for a in assistant],
        asst_reason=[a["pushback_reason"] for a in assistant],
        asst_referral=[bool(a["referral"]) for a in assistant],
        user_x=encode_sentiment_fn([u["text"] for u in user]),
        user_features=message_features([u["text"] for u in user]),
        user_sentiment=[int(u["sentiment"]) for u in user],
    )


def fit_heads(data: TrainingSet, *, version: str, seed: int, c: float) -> Heads:
    """Fit every head on a training set (uncalibrated, thresholds 0.5: `affective train`'s heads).

    Sentiment is two heads: `sentiment` the polarity (-1, 0, 1) and `sentiment_strength` whether a
    polarised message is at the scale's end (+-2), trained on the polarised messages.

    Args:
        data: embeddings and labels (see `seed_training_set`).
        version: the model version to stamp.
        seed: random seed for the fits and the cross-validation folds.
        c: inverse regularisation strength of the logistic heads.

    Returns:
        The fitted heads, with 5-fold cross-validated macro-F1 per head in `metrics` (context heads:
        over their examples with and without context).
    """
    affective = np.array([u == "affective" for u in data.conv_use])
    pushed = np.array(data.asst_pushback, dtype=bool)
    scores = np.array(data.user_sentiment, dtype=int)
    polarised = scores != 0
    conv = (with_first_turn("use", data.conv_x, data.conv_first), data.conv_context, None)
    asst = (data.asst_x, data.asst_context, data.asst_features)
    refer = (with_tail("referral", data.asst_x, data.asst_tail), None, data.asst_features)
    specs = {
        "use": (conv, data.conv_use),
        **{f"category.{cat}": ((with_first_turn(f"category.{cat}", data.conv_x, data.conv_first)[affective],
                                data.conv_context[affective], None),
                               [cat in cats for cats, a in zip(data.conv_categories, affective) if a])
           for cat in CATEGORIES},
        "pushback": (asst, data.asst_pushback),
        "pushback_reason": (tuple(a[pushed] for a in asst), [r for r, p in zip(data.asst_reason, pushed) if p]),
        "referral": (refer, data.asst_referral),
        "sentiment": ((data.user_x, None, data.user_features), np.sign(scores).tolist()),
        "sentiment_strength": ((data.user_x[polarised], None, data.user_features[polarised]),
                               (np.abs(scores[polarised]) == 2).tolist()),
    }
    heads, metrics = {}, {}
    for name, ((vectors, context, features), y) in specs.items():
        x, groups = head_input(name, vectors, context, features), np.arange(len(y))
        if name in CONTEXT_HEADS:  # each example with its context and without
            x = np.concatenate([x, head_input(name, vectors, None, features)])
            y, groups = [*y, *y], np.concatenate([groups, groups])
        heads[name], metrics[f"cv_macro_f1.{name}"] = _fit(x, y, groups, seed=seed, c=c)
    metrics.update({"train_conversations": len(data.conv_use), "train_assistant_messages": len(data.asst_pushback),
                    "train_user_messages": len(data.user_sentiment)})
    logger.info("trained heads %s: %s", version, metrics)
    return Heads(version, heads, metrics, tail_heads=TAIL_HEADS, first_turn_heads=FIRST_TURN_HEADS)
