"""Logistic heads over sentence embeddings, trained on the project's hand-written seed set.

Every head reads the same 384-d embeddings, so each message goes through the encoder once. The heads in
CONTEXT_HEADS read a message with its context, [vector, context vector]: pushback and its reason read an
assistant message with the user message before it, use and categories the pooled user side with the
pooled assistant replies to it. The context is zeros where there is none (a first message, a user-only
conversation), and every context head is also trained on its examples without context. Heads are plain
arrays (coefficients, intercepts, class names) so a Spark task receives them in its closure and
predicts with numpy: nothing on the executors depends on a file that exists only on the driver.
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
# Bumped when what a head reads changes: heads saved in another format would read the wrong features.
HEADS_FORMAT = 2


def with_context(vectors: np.ndarray, context: np.ndarray) -> np.ndarray:
    """The input of a context head: each vector beside its context (zeros where there is none)."""
    return np.concatenate([vectors, context], axis=1).astype(np.float32, copy=False)


def no_context(n: int) -> np.ndarray:
    return np.zeros((n, EMBEDDING_DIM), np.float32)


@dataclass(frozen=True)
class Head:
    """A logistic model: softmax over classes, or a sigmoid when there are two classes."""

    classes: tuple
    coef: np.ndarray       # (n_classes or 1, dim)
    intercept: np.ndarray  # (n_classes or 1,)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, len(classes))."""
        logits = x @ self.coef.T + self.intercept
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

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name, head in self.heads.items():
            arrays[f"{name}.coef"], arrays[f"{name}.intercept"] = head.coef, head.intercept
        np.savez(directory / "heads.npz", **arrays)
        meta = {"format": HEADS_FORMAT, "version": self.version, "metrics": self.metrics,
                "classes": {name: list(h.classes) for name, h in self.heads.items()}}
        (directory / "heads.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "Heads":
        meta = json.loads((directory / "heads.json").read_text())
        if meta.get("format") != HEADS_FORMAT:
            raise ValueError(f"{directory}: heads of format {meta.get('format', 1)}, this version reads format "
                             f"{HEADS_FORMAT} (context features); retrain them with `affective train`")
        arrays = np.load(directory / "heads.npz")
        heads = {name: Head(tuple(classes), arrays[f"{name}.coef"], arrays[f"{name}.intercept"])
                 for name, classes in meta["classes"].items()}
        return cls(meta["version"], heads, meta["metrics"])


def read_seed(seed_dir: Traversable = SEED_DIR) -> dict[str, list[dict]]:
    """The labelled seed set: conversations, assistant messages and user messages."""
    names = ("conversations", "assistant_messages", "user_messages")
    return {n: [json.loads(line) for line in (seed_dir / f"{n}.jsonl").read_text().splitlines() if line.strip()]
            for n in names}


def seed_version(seed_dir: Traversable, encoder: str, seed: int, c: float) -> str:
    """A version that changes whenever the seed data, encoder or training settings change."""
    digest = hashlib.sha256(f"{encoder}|{seed}|{c}|heads-v{HEADS_FORMAT}".encode())
    for path in sorted((p for p in seed_dir.iterdir() if p.name.endswith(".jsonl")), key=lambda p: p.name):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _fit(x: np.ndarray, y: list, groups: np.ndarray, *, seed: int, c: float) -> tuple[Head, float]:
    """Fit one logistic head; return it and its 5-fold cross-validated macro-F1.

    Rows of one group (an example with and without its context) stay in one fold, so the score is
    never measured on a copy of a training row.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.metrics import f1_score

    y_arr = np.asarray(y)
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)
    groups_per_class = Counter(dict(zip(groups.tolist(), y_arr.tolist())).values())
    folds = StratifiedGroupKFold(n_splits=min(5, min(groups_per_class.values())), shuffle=True, random_state=seed)
    cv_f1 = float(f1_score(y_arr, cross_val_predict(model, x, y_arr, groups=groups, cv=folds), average="macro"))
    model.fit(x, y_arr)
    classes = tuple(model.classes_.tolist())
    return Head(classes, model.coef_.astype(np.float32), model.intercept_.astype(np.float32)), cv_f1


def pool(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of message embeddings (zeros for none): a conversation's user side or replies."""
    if not len(vectors):
        return np.zeros(EMBEDDING_DIM, np.float32)
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-9)


@dataclass(frozen=True)
class TrainingSet:
    """Embeddings with their labels, per level the heads read."""

    conv_x: np.ndarray          # pooled user-side embeddings
    conv_context: np.ndarray    # pooled assistant replies to those user messages (zeros: none)
    conv_use: list[str]
    conv_categories: list[list[str]]
    asst_x: np.ndarray          # assistant-message embeddings
    asst_context: np.ndarray    # the user message before each (zeros: none)
    asst_pushback: list[bool]
    asst_reason: list[str | None]
    asst_referral: list[bool]
    user_x: np.ndarray          # user-message embeddings
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


def seed_training_set(encode_fn: Callable[[list[str]], np.ndarray], seed_dir: Traversable = SEED_DIR) -> TrainingSet:
    """The hand-written seed set, embedded with encode_fn."""
    data = read_seed(seed_dir)
    convs, assistant, user = data["conversations"], data["assistant_messages"], data["user_messages"]
    return TrainingSet(
        conv_x=np.stack([pool(encode_fn(c["user_messages"])) for c in convs]),
        conv_context=np.stack([pool(encode_fn(c["assistant_messages"])) for c in convs]),
        conv_use=[c["use"] for c in convs],
        conv_categories=[list(c["categories"]) for c in convs],
        asst_x=encode_fn([a["text"] for a in assistant]),
        asst_context=encode_fn([a["user_before"] for a in assistant]),
        asst_pushback=[bool(a["pushback"]) for a in assistant],
        asst_reason=[a["pushback_reason"] for a in assistant],
        asst_referral=[bool(a["referral"]) for a in assistant],
        user_x=encode_fn([u["text"] for u in user]),
        user_sentiment=[int(u["sentiment"]) for u in user],
    )


def fit_heads(data: TrainingSet, *, version: str, seed: int, c: float) -> Heads:
    """Fit every head on a training set.

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
    pushed = np.array(data.asst_pushback)
    conv = (data.conv_x, data.conv_context)
    asst = (data.asst_x, data.asst_context)
    specs = {
        "use": (conv, data.conv_use),
        **{f"category.{cat}": ((data.conv_x[affective], data.conv_context[affective]),
                               [cat in cats for cats, a in zip(data.conv_categories, affective) if a])
           for cat in CATEGORIES},
        "pushback": (asst, data.asst_pushback),
        "pushback_reason": ((data.asst_x[pushed], data.asst_context[pushed]),
                            [r for r, p in zip(data.asst_reason, pushed) if p]),
        "referral": (data.asst_x, data.asst_referral),
        "sentiment": (data.user_x, data.user_sentiment),
    }
    heads, metrics = {}, {}
    for name, (x, y) in specs.items():
        groups = np.arange(len(y))
        if name in CONTEXT_HEADS:  # each example with its context and without
            vectors, context = x
            x = np.concatenate([with_context(vectors, context), with_context(vectors, no_context(len(y)))])
            y, groups = [*y, *y], np.concatenate([groups, groups])
        heads[name], metrics[f"cv_macro_f1.{name}"] = _fit(x, y, groups, seed=seed, c=c)
    metrics.update({"train_conversations": len(data.conv_use), "train_assistant_messages": len(data.asst_pushback),
                    "train_user_messages": len(data.user_sentiment)})
    logger.info("trained heads %s: %s", version, metrics)
    return Heads(version, heads, metrics)
