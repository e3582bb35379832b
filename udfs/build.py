"""Build the default model: `make model` (python -m udfs.build --out udfs/model).

Reads the seed set and the public human-labelled training sources (udfs/sources.py, fixed splits),
trains the sentiment branch on the training lines' polarity and, with `--reply-branch-epochs N`, the
reply branch on the training replies' pushback and referral (udfs/finetune.py; the epoch kept by
validation macro-F1 and log-loss; both cached on disk by a hash of their data and settings), embeds every
text once with the product's encoder, the labelled user lines also with the sentiment branch, the
labelled replies with the reply branch if there is one and by their last window for the heads that read
it (heads.TAIL_HEADS; all cached on disk, so a rebuild only embeds what is new), and for each head:

1. picks the regularisation on the validation split,
2. fits on the training split (context heads on each example with and without its context),
3. calibrates on the validation split (Platt scaling for two classes, a temperature for more),
4. chooses decision thresholds on the validation split: pushback and referral at conversation level,
   where a conversation of n replies is flagged when its most likely reply reaches the threshold for n.
   That threshold has the best validation F1 among those whose per-reply false-positive rate f on the
   validation replies without pushback (referral) keeps 1 - (1 - f)^n, the chance that a conversation
   of n replies without any is flagged, at most `--conversation-fpr`; categories at 0.5 (calibrated),
5. scores the test split, per source, beside the one-minute baselines (a refusal-phrase regex, the VADER
   lexicon).

Writes heads.npz, heads.json (calibration, thresholds, version) and metrics.json (counts, validation and
test scores) to --out. Nothing is read from the test split to make any choice.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from udfs import encoder
from udfs.features import LEXICON_NAMES, message_features, refusal_baseline, reply_features
from udfs.finetune import BRANCH_LAYERS, POLARITY, REPLY, Objective, reply_labels, train_branch
from udfs.heads import (CATEGORIES, CONTEXT_HEADS, FIRST_TURN_HEADS, HEADS_FORMAT, TAIL_HEADS, Head, Heads,
                        file_version, first_turn, fit_logistic, head_input, pool, with_first_turn, with_tail)
from udfs.sources import LICENCES, PUBLIC_SOURCES, training_examples

logger = logging.getLogger(__name__)

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
RANKS = (16, 32, 64, None)  # embedding directions a conversation-level head may read (None: all)
CONVERSATION_HEADS = ("pushback", "referral")
MAX_REPLIES = 32  # conversation-level thresholds per reply count up to this; longer ones use the last
SCORED_REPLIES = (1, 15)  # rank and C of a conversation-level head: mean validation F1 at these counts
SPLITS = ("train", "val", "test")
DEFAULT_SENTIMENT_BRANCH_EPOCHS = 2  # EVALUATION.md, "Sentiment: a fine-tuned branch"
# Not in the default: better on validation, not on test, XSTest or the synthetic run (EVALUATION.md,
# "A reply branch").
DEFAULT_REPLY_BRANCH_EPOCHS = 0


def embed_all(texts: set[str], cache: Path, batch_size: int, max_length: int, branch: bytes | None = None,
              tail: bool = False) -> dict[str, np.ndarray]:
    """Every text's vector, from the cache where present; new vectors are added to the cache. The cache
    is keyed by text, so its file's name carries everything else the vector depends on: the branch's
    version (with a branch, its vectors instead of the encoder's), the window read (the first or, with
    tail, the last, encoder.Embedded.tail_vectors) and its length in tokens."""
    branched = f"-branch-{file_version(branch)}" if branch is not None else ""
    cache = cache.with_name(f"{cache.stem}{branched}-{'tail' if tail else 'first'}{max_length}{cache.suffix}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache) as saved:
            stored = dict(zip(saved["keys"].tolist(), saved["vectors"]))
    key = {t: hashlib.sha1(t.encode("utf-8", "replace")).hexdigest() for t in texts}
    missing = sorted({t for t in texts if key[t] not in stored}, key=len)
    logger.info("embedding %d texts (%d cached)", len(missing), len(texts) - len(missing))
    for start in range(0, len(missing), 4096):
        chunk = missing[start:start + 4096]
        vectors = encoder.encode(chunk, device=encoder.resolve_device("auto"), batch_size=batch_size,
                                 max_length=max_length, branch=branch, tail=tail)
        stored.update({key[t]: v for t, v in zip(chunk, vectors)})
        np.savez(cache, keys=np.array(list(stored)), vectors=np.stack(list(stored.values())))
        logger.info("embedded %d / %d", start + len(chunk), len(missing))
    return {t: stored[key[t]] for t in texts}


# --- Design matrices per kind of example ---------------------------------------------------------------

def reply_table(examples: list[dict], vec: dict[str, np.ndarray], reply_vec: dict[str, np.ndarray],
                tail_vec: dict[str, np.ndarray]) -> dict[str, Any]:
    rows = [e for e in examples if e["kind"] == "reply"]
    return {"rows": rows, "x": np.stack([reply_vec[e["text"]] for e in rows]),
            "tail": np.stack([tail_vec[e["text"]] for e in rows]),
            "context": np.stack([vec[e["context"]] for e in rows]),
            "features": reply_features([e["text"] for e in rows])}


def conversation_table(examples: list[dict], vec: dict[str, np.ndarray]) -> dict[str, Any]:
    rows = [e for e in examples if e["kind"] == "conversation"]
    users = [np.stack([vec[t] for t in e["user"]]) for e in rows]
    return {"rows": rows, "x": np.stack([pool(u) for u in users]), "first": np.stack([first_turn(u) for u in users]),
            "context": np.stack([pool(np.stack([vec[t] for t in e["replies"]]) if e["replies"]
                                      else np.zeros((0, encoder.EMBEDDING_DIM))) for e in rows])}


def message_table(examples: list[dict], vec: dict[str, np.ndarray]) -> dict[str, Any]:
    rows = [e for e in examples if e["kind"] == "message"]
    return {"rows": rows, "x": np.stack([vec[e["text"]] for e in rows]),
            "features": message_features([e["text"] for e in rows])}


def task_data(name: str, tables: dict[str, dict]) -> tuple[dict, list]:
    """(table, per row its label for this head or None where the row says nothing about it)."""
    if name in ("pushback", "referral"):
        t = tables["reply"]
        y = [e[name] for e in t["rows"]]
    elif name == "pushback_reason":
        t = tables["reply"]
        y = [e["reason"] if e["pushback"] else None for e in t["rows"]]
    elif name == "use":
        t = tables["conversation"]
        y = [e["use"] for e in t["rows"]]
    elif name.startswith("category."):
        t, cat = tables["conversation"], name.split(".", 1)[1]
        y = [e["categories"].get(cat) if e["use"] == "affective" else None for e in t["rows"]]
    elif name == "sentiment":
        t = tables["message"]
        y = [e["polarity"] for e in t["rows"]]
    else:  # sentiment_strength
        t = tables["message"]
        y = [e["strength"] for e in t["rows"]]
    return t, y


def inputs(name: str, t: dict, idx: np.ndarray, with_context: bool = True) -> np.ndarray:
    context = t.get("context")
    vectors = (with_tail(name, t["x"][idx], t["tail"][idx]) if "tail" in t
               else with_first_turn(name, t["x"][idx], t["first"][idx]) if "first" in t else t["x"][idx])
    return head_input(name, vectors, context[idx] if (context is not None and with_context) else None,
                      t["features"][idx] if "features" in t else None)


# --- Fitting, calibration, thresholds ------------------------------------------------------------------

def labelled_split(name: str, tables: dict[str, dict], split: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """(table, indexes of its rows in `split` that label head `name`, their labels)."""
    t, y = task_data(name, tables)
    idx = np.array([i for i, e in enumerate(t["rows"]) if y[i] is not None and e["split"] == split], dtype=int)
    return t, idx, np.array([y[i] for i in idx])


def fit_head(name: str, tables: dict[str, dict], seed: int, conversation_fpr: float) -> tuple[Head, dict]:
    """Fit on train with the settings that score best on val, then calibrate on val.

    Settings are C and, for the conversation-level heads (pushback, referral), the rank of the embedding
    blocks: a low-rank head reads the top principal directions of the reply and context embeddings beside
    the phrase indicators, which leaves it less room to learn the topic of a reply instead of its act. Those
    heads are scored by validation F1 at their conversation-level threshold, the others by macro-F1.
    """
    t, train, y_train = labelled_split(name, tables, "train")
    _, val, y_val = labelled_split(name, tables, "val")
    x_train = inputs(name, t, train)
    if name in CONTEXT_HEADS:  # each example with its context and without
        x_train = np.concatenate([x_train, inputs(name, t, train, with_context=False)])
        y_train = np.concatenate([y_train, y_train])
    x_val = inputs(name, t, val)
    ranks = RANKS if name in CONVERSATION_HEADS else (None,)
    scores = {}
    for rank in ranks:
        for c in C_GRID:
            head = fit_low_rank(x_train, y_train, rank=rank, c=c, seed=seed)
            scores[(rank, c)] = _val_score(name, head, x_val, y_val, conversation_fpr)
    rank, c = max(scores, key=scores.get)
    head = calibrate(fit_low_rank(x_train, y_train, rank=rank, c=c, seed=seed), x_val, y_val)
    return head, {"rank": rank, "c": c, "val_score_by_rank_and_c": {f"{r}|{k}": v for (r, k), v in scores.items()},
                  "train": int(len(train)), "val": int(len(val))}


def _val_score(name: str, head: Head, x_val: np.ndarray, y_val: np.ndarray, conversation_fpr: float) -> float:
    if name in CONVERSATION_HEADS:
        p, truth = head.proba(x_val)[:, 1], y_val.astype(bool)
        return float(np.mean([binary_scores(truth, p >= conversation_threshold(
            p, truth, reply_budget(conversation_fpr, n)))["f1"] for n in SCORED_REPLIES]))
    return macro_f1(y_val, np.array(head.classes)[head.proba(x_val).argmax(1)])


def fit_low_rank(x: np.ndarray, y: np.ndarray, *, rank: int | None, c: float, seed: int) -> Head:
    """A logistic head on the top `rank` principal directions of the first 384-d block of its input (the
    reply) and `rank` // 2 (at least 4) of each further one (its last window, its context), the rest as
    is, folded back into one linear head over the full input; None: full rank."""
    if rank is None:
        return fit_logistic(x, y.tolist(), c=c, seed=seed)
    dim = encoder.EMBEDDING_DIM
    blocks = [(start, min(start + dim, x.shape[1])) for start in range(0, x.shape[1] - x.shape[1] % dim, dim)]
    projections = []
    for block, (a, b) in enumerate(blocks):
        centre = x[:, a:b].mean(axis=0)
        _, _, vt = np.linalg.svd(x[:, a:b] - centre, full_matrices=False)
        projections.append((a, b, centre, vt[:rank if block == 0 else max(4, rank // 2)]))
    rest = blocks[-1][1]
    z = np.concatenate([(x[:, a:b] - centre) @ basis.T for a, b, centre, basis in projections] + [x[:, rest:]], axis=1)
    small = fit_logistic(z, y.tolist(), c=c, seed=seed)
    coef, intercept, at = [], small.intercept.astype(np.float64).copy(), 0
    for a, b, centre, basis in projections:
        beta = small.coef[:, at:at + len(basis)].astype(np.float64)
        coef.append(beta @ basis)
        intercept -= (beta @ basis) @ centre
        at += len(basis)
    coef.append(small.coef[:, at:])
    return Head(small.classes, np.concatenate(coef, axis=1).astype(np.float32), intercept.astype(np.float32))


def calibrate(head: Head, x: np.ndarray, y: np.ndarray) -> Head:
    """Platt scaling (two classes) or a temperature (more), by log-loss on validation data."""
    logits = head.logits(x)
    classes = list(head.classes)
    target = np.array([classes.index(v) for v in y])
    if len(set(target)) < 2:  # nothing to calibrate against (a tiny build): leave the head as trained
        logger.warning("no calibration: the validation split holds one class only")
        return head
    if len(classes) == 2:
        from sklearn.linear_model import LogisticRegression

        platt = LogisticRegression(C=1e4).fit(logits[:, :1], target)
        return Head(head.classes, head.coef, head.intercept, float(platt.coef_[0, 0]), float(platt.intercept_[0]))
    best_scale, best_loss = 1.0, np.inf
    for scale in np.logspace(-1.5, 1, 60):
        z = logits * scale
        z = z - z.max(axis=1, keepdims=True)
        loss = float(-np.mean(z[np.arange(len(z)), target] - np.log(np.exp(z).sum(axis=1))))
        if loss < best_loss:
            best_scale, best_loss = float(scale), loss
    return Head(head.classes, head.coef, head.intercept, best_scale, 0.0)


def reply_budget(conversation_fpr: float, replies: int) -> float:
    """The per-reply false-positive rate f at which 1 - (1 - f)^replies equals conversation_fpr."""
    return 1 - (1 - conversation_fpr) ** (1 / replies)


def conversation_thresholds(p: np.ndarray, y: np.ndarray, conversation_fpr: float) -> list[float]:
    """The threshold for conversations of 1 .. MAX_REPLIES replies (see the module docstring)."""
    return [conversation_threshold(p, y, reply_budget(conversation_fpr, n)) for n in range(1, MAX_REPLIES + 1)]


def conversation_threshold(p: np.ndarray, y: np.ndarray, reply_fpr: float) -> float:
    """The threshold with the best F1 on validation replies among those whose false-positive rate on the
    validation negatives is at most reply_fpr."""
    best, best_f1 = 1.0, -1.0
    for t in np.unique(np.concatenate([p, [0.5]])):
        flagged = p >= t
        if np.mean(flagged[~y]) > reply_fpr:
            continue
        tp = np.sum(flagged & y)
        f1 = 2 * tp / max(1, np.sum(flagged) + np.sum(y))
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


# --- Scores ------------------------------------------------------------------------------------------

def binary_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    tp, fp = int(np.sum(truth & predicted)), int(np.sum(~truth & predicted))
    fn, tn = int(np.sum(truth & ~predicted)), int(np.sum(~truth & ~predicted))
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(1e-9, precision + recall),
            "fpr": fp / max(1, fp + tn), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro"))


def vader_polarity(texts: list[str]) -> np.ndarray:
    """The VADER lexicon's usual reading: compound >= 0.05 positive, <= -0.05 negative, else neutral."""
    compound = message_features(texts)[:, LEXICON_NAMES.index("vader_compound")]
    return np.where(compound >= 0.05, 1, np.where(compound <= -0.05, -1, 0))


def split_scores(heads: Heads, tables: dict[str, dict], split: str) -> dict[str, Any]:
    """Per task and source, the model's scores on one split beside the baselines."""
    out: dict[str, Any] = {}
    for name in ("pushback", "referral"):
        t, idx, truth = labelled_split(name, tables, split)
        truth = truth.astype(bool)
        predicted = heads[name].proba(inputs(name, t, idx))[:, 1] >= heads.threshold(name)
        texts = [t["rows"][i]["text"] for i in idx]
        sources = np.array([t["rows"][i]["source"] for i in idx])
        for source in ["all", *sorted(set(sources))]:
            keep = np.ones(len(idx), bool) if source == "all" else sources == source
            out[f"{name}.{source}"] = binary_scores(truth[keep], predicted[keep])
            if name == "pushback":
                out[f"{name}.{source}.regex_baseline"] = binary_scores(truth[keep], refusal_baseline(texts)[keep])
    for name in ("use", "pushback_reason", "sentiment", "sentiment_strength", *(f"category.{c}" for c in CATEGORIES)):
        t, idx, truth = labelled_split(name, tables, split)
        if not len(idx):
            continue
        proba = heads[name].proba(inputs(name, t, idx))
        predicted = (proba[:, 1] >= heads.threshold(name) if name.startswith("category.")
                     else np.array(heads[name].classes)[proba.argmax(1)])
        sources = np.array([t["rows"][i]["source"] for i in idx])
        for source in ["all", *sorted(set(sources))]:
            keep = np.ones(len(idx), bool) if source == "all" else sources == source
            out[f"{name}.{source}"] = {"macro_f1": macro_f1(truth[keep], predicted[keep]),
                                       "accuracy": float(np.mean(truth[keep] == predicted[keep])),
                                       "n": int(keep.sum())}
            if name == "sentiment":
                texts = [t["rows"][i]["text"] for i, k in zip(idx, keep) if k]
                out[f"{name}.{source}.vader_baseline"] = {"macro_f1": macro_f1(truth[keep], vader_polarity(texts))}
    return out


# --- The build ---------------------------------------------------------------------------------------

def cached_weights(cache: Path, kind: str, key_material: Any, make: Callable[[Path], dict[str, Any]]
                   ) -> tuple[bytes, dict[str, Any]]:
    """Fine-tuned weights and how they were made, from the cache folder when the same data and settings
    made them before (`key_material` holds both); else made by `make(path)` and kept there."""
    key = hashlib.sha256(repr((key_material, encoder.ENCODER_NAME)).encode()).hexdigest()[:16]
    weights, info = cache.with_name(f"{kind}-{key}.safetensors"), cache.with_name(f"{kind}-{key}.json")
    if not (weights.is_file() and info.is_file()):
        made = make(weights)
        info.write_text(json.dumps(made))
    return weights.read_bytes(), json.loads(info.read_text())


def trained_branch(objective: Objective, rows: dict[str, tuple[list[str], Any]], cache: Path, epochs: int,
                   max_length: int, seed: int) -> tuple[bytes | None, dict[str, Any]]:
    """A branch's weights and how they were made (udfs/finetune.py), trained on rows["train"] and chosen
    on rows["val"] ((texts, labels) each); (None, {}) when epochs is 0."""
    if not epochs:
        return None, {}
    kind = objective.name.replace(" ", "-")
    return cached_weights(cache, kind, (rows, epochs, max_length, seed, BRANCH_LAYERS),
                          lambda path: train_branch(objective, rows["train"], rows["val"], path, epochs=epochs,
                                                    max_length=max_length, seed=seed))


def sentiment_branch(examples: list[dict], cache: Path, epochs: int, max_length: int, seed: int
                     ) -> tuple[bytes | None, dict[str, Any]]:
    """The sentiment branch, trained on the polarity lines of the train split, chosen on the val split."""
    lines = {s: [e for e in examples if e["kind"] == "message" and e["split"] == s and e["polarity"] is not None]
             for s in ("train", "val")}
    return trained_branch(POLARITY, {s: ([e["text"] for e in r], [e["polarity"] for e in r]) for s, r in lines.items()},
                          cache, epochs, max_length, seed)


def reply_branch(examples: list[dict], cache: Path, epochs: int, max_length: int, seed: int
                 ) -> tuple[bytes | None, dict[str, Any]]:
    """The reply branch, trained on the replies of the train split for pushback and referral (each where
    the source labels it), chosen on the val split."""
    replies = {s: [e for e in examples if e["kind"] == "reply" and e["split"] == s] for s in ("train", "val")}
    return trained_branch(REPLY, {s: ([e["text"] for e in r], reply_labels(r).tolist()) for s, r in replies.items()},
                          cache, epochs, max_length, seed)


def build(out: Path, *, cache: Path, seed: int, conversation_fpr: float, batch_size: int, max_length: int,
          sources: tuple[str, ...], limit: int | None = None, sentiment_branch_epochs: int = 0,
          reply_branch_epochs: int = 0) -> Heads:
    """Build, save and return the model (see the module docstring); `limit` keeps the first examples of
    each kind, source and split (a small model for tests); `sentiment_branch_epochs` > 0 trains the
    sentiment branch that the sentiment heads read, `reply_branch_epochs` > 0 the reply branch that the
    pushback, reason and referral heads read."""
    examples = training_examples(sources=sources)
    if limit:
        examples = first_per_group(examples, limit)
    branch, branch_made = sentiment_branch(examples, cache, sentiment_branch_epochs, max_length, seed)
    replier, replier_made = reply_branch(examples, cache, reply_branch_epochs, max_length, seed)
    texts = set()
    for e in examples:
        texts.update([e["context"]] if e["kind"] == "reply" else [*e["user"], *e["replies"]]
                     if e["kind"] == "conversation" else [e["text"]])
    replies = {e["text"] for e in examples if e["kind"] == "reply"}  # what pushback and referral read
    # Without a reply branch the replies are read like every other text: one cache, loaded once.
    vec = embed_all((texts | replies if replier is None else texts) - {""}, cache, batch_size, max_length)
    reply_vec = vec if replier is None else embed_all(replies, cache, batch_size, max_length, branch=replier)
    tail_vec = embed_all(replies, cache, batch_size, max_length, branch=replier, tail=True)
    vec[""] = np.zeros(encoder.EMBEDDING_DIM, np.float32)
    messages = {e["text"] for e in examples if e["kind"] == "message"}  # what the sentiment heads read
    message_vec = vec if branch is None else embed_all(messages, cache, batch_size, max_length, branch=branch)
    tables = {"reply": reply_table(examples, vec, reply_vec, tail_vec),
              "conversation": conversation_table(examples, vec),
              "message": message_table(examples, message_vec)}
    heads, fits = {}, {}
    for name in ("use", *(f"category.{c}" for c in CATEGORIES), "pushback", "pushback_reason", "referral",
                 "sentiment", "sentiment_strength"):
        heads[name], fits[name] = fit_head(name, tables, seed, conversation_fpr)
        logger.info("%s: %s", name, fits[name])
    thresholds = {}
    for name in CONVERSATION_HEADS:  # per number of replies
        t, val, truth = labelled_split(name, tables, "val")
        p = heads[name].proba(inputs(name, t, val))[:, 1]
        thresholds[name] = conversation_thresholds(p, truth.astype(bool), conversation_fpr)
    # Categories keep 0.5 on their calibrated probability, the decision their C was chosen for: it flags
    # about as many validation conversations as are labelled, and a share is what the product publishes.
    # A threshold at the best validation F1 moved with single rows (EVALUATION.md, "Use: tasks told with feeling").
    thresholds.update({f"category.{c}": 0.5 for c in CATEGORIES}, sentiment_strength=0.5)
    model = Heads("pending", heads, {}, thresholds, replier, branch, TAIL_HEADS, FIRST_TURN_HEADS)
    metrics = {"val": split_scores(model, tables, "val"), "test": split_scores(model, tables, "test"),
               "fits": fits, "thresholds": thresholds, "conversation_fpr_target": conversation_fpr,
               "counts": {"|".join(k): n for k, n in
                          sorted(Counter((e["kind"], e["source"], e["split"]) for e in examples).items())},
               "licences": {s: LICENCES[s] for s in ("seed", *sources)}, "seed": seed,
               "encoder": encoder.ENCODER_NAME, "max_length": max_length, "format": HEADS_FORMAT,
               "reply_branch": replier_made, "sentiment_branch": branch_made}
    version = _version(model)
    model = Heads(version, heads, {**{f"val.{k}": v["f1"] if "f1" in v else v["macro_f1"]
                                      for k, v in metrics["val"].items() if "baseline" not in k},
                                   **summary_of_test_split(metrics["test"])}, thresholds, replier, branch, TAIL_HEADS,
                  FIRST_TURN_HEADS)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    (out / "metrics.json").write_text(json.dumps({"version": version, **metrics}, indent=1, sort_keys=True))
    (out / "SCORES.md").write_text(scores_markdown(version, metrics))
    return model


def summary_of_test_split(scores: dict[str, Any]) -> dict[str, float]:
    """The test split's scores over all sources, as the heads carry them: what the report states for a
    figure that no human-labelled sample of the user's own data has checked."""
    out: dict[str, float] = {}
    for key, score in scores.items():
        if not key.endswith(".all"):
            continue
        task = f"test.{key[:-len('.all')]}"
        if "f1" in score:
            out.update({f"{task}.f1": score["f1"], f"{task}.precision": score["precision"],
                        f"{task}.recall": score["recall"], f"{task}.n": score["tp"] + score["fp"] + score["fn"] + score["tn"]})
        else:
            out.update({f"{task}.macro_f1": score["macro_f1"], f"{task}.n": score["n"]})
    return out


def scores_markdown(version: str, metrics: dict[str, Any]) -> str:
    """The validation and test scores per task and source as Markdown tables (the model card links them)."""
    lines = [f"# Scores of model {version}", "",
             "Written by `make model` (udfs/build.py) from `metrics.json`; test splits were never used for a choice.",
             "Binary tasks: F1 (precision / recall) at the decision threshold; others: macro-F1 (accuracy).",
             "Pushback and referral are scored per reply against the conversation-level threshold.", ""]
    for split in ("val", "test"):
        lines += [f"## {split}", "", "| task | source | n | model | baseline |", "|---|---|---|---|---|"]
        scores = metrics[split]
        for key in sorted(k for k in scores if "baseline" not in k):
            task, source = key.rsplit(".", 1)
            lines.append(f"| {task} | {source} | {_n(scores[key])} | {_score(scores[key])} | "
                         f"{_score(scores.get(f'{key}.regex_baseline') or scores.get(f'{key}.vader_baseline'))} |")
        lines.append("")
    lines += ["Baselines: pushback, a refusal or disagreement phrase anywhere in the reply (udfs/features.py);",
              "sentiment, the VADER lexicon (compound >= 0.05 positive, <= -0.05 negative).", ""]
    return "\n".join(lines)


def _n(score: dict) -> str:
    return str(score["n"]) if "n" in score else str(score["tp"] + score["fp"] + score["fn"] + score["tn"])


def _score(score: dict | None) -> str:
    if score is None:
        return ""
    if "f1" in score and score["tp"] + score["fn"] == 0:  # negatives only: how many were flagged
        return f"false-positive rate {score['fpr']:.3f}"
    if "f1" in score:
        return f"{score['f1']:.3f} ({score['precision']:.3f} / {score['recall']:.3f})"
    return f"{score['macro_f1']:.3f}" + (f" ({score['accuracy']:.3f})" if "accuracy" in score else "")


def first_per_group(examples: list[dict], limit: int) -> list[dict]:
    """The first `limit` examples of each kind, source and split."""
    seen: Counter = Counter()
    kept = []
    for e in examples:
        seen[(e["kind"], e["source"], e["split"])] += 1
        if seen[(e["kind"], e["source"], e["split"])] <= limit:
            kept.append(e)
    return kept


def _version(model: Heads) -> str:
    """A hash of every array, calibration and threshold: the same build gives the same version."""
    digest = hashlib.sha256(f"{encoder.ENCODER_NAME}|{model.reply_branch_version}|{model.sentiment_branch_version}|"
                            f"format{HEADS_FORMAT}|tails{model.tail_heads}|first{model.first_turn_heads}|"
                            f"{sorted(model.thresholds.items())}".encode())
    for name in sorted(model.heads):
        h = model.heads[name]
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(h.coef).tobytes())
        digest.update(np.ascontiguousarray(h.intercept).tobytes())
        digest.update(repr((h.classes, round(h.scale, 6), round(h.shift, 6))).encode())
    return digest.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m udfs.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for heads.npz, heads.json and metrics.json")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "affective" / "embeddings.npz"),
                        help="embedding cache (an .npz file)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--conversation-fpr", type=float, default=0.02,
                        help="largest share of conversations without pushback (referral) that may be flagged, at "
                             "any length, estimated from validation replies")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--sources", default=",".join(PUBLIC_SOURCES), help="public training sources, comma-separated")
    parser.add_argument("--limit", type=int, help="first N examples per kind, source and split (quick checks)")
    parser.add_argument("--sentiment-branch-epochs", type=int, default=DEFAULT_SENTIMENT_BRANCH_EPOCHS,
                        help="train the sentiment branch for this many epochs (0: the sentiment heads read the "
                             "encoder's vectors)")
    parser.add_argument("--reply-branch-epochs", type=int, default=DEFAULT_REPLY_BRANCH_EPOCHS,
                        help="train the reply branch for this many epochs (0, the default: the pushback, reason and "
                             "referral heads read the encoder's vectors; EVALUATION.md compares both)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = build(Path(args.out), cache=Path(args.cache), seed=args.seed, conversation_fpr=args.conversation_fpr,
                  batch_size=args.batch_size, max_length=args.max_length,
                  sources=tuple(s for s in args.sources.split(",") if s), limit=args.limit,
                  sentiment_branch_epochs=args.sentiment_branch_epochs,
                  reply_branch_epochs=args.reply_branch_epochs)
    print(f"model {model.version} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
