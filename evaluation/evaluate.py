"""Score the product's classifier on the public datasets that `evaluation.converters` reads.

Runs `udfs.classifier.classify_batch` (the function the Spark job maps over every batch) on each dataset,
compares its labels with the dataset's proxy labels and writes the results (metrics only, no dataset text)
as JSON. What each task and metric means is documented in EVALUATION.md.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python -m evaluation.evaluate \
        [--datasets xstest,meld,...] [--limit N] [--out evaluation/results.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from evaluation.converters import CONVERTERS, SENTIMENTS, Item, datasets_dir
from udfs.sources import POLARITY
from udfs.features import refusal_baseline

BATCH_CONVERSATIONS = 256
POOLED = "counsel-chat+arena-hard"
# (dataset, task, metric) -> the value the default model should reach.
# Issue 13's targets: (dataset, task, metric) -> (direction, value).
TARGETS = {
    ("xstest", "pushback", "f1"): (">=", 0.90),
    **{("xstest", f"pushback.{model}", "f1"): (">=", 0.80) for model in ("gpt4", "mistralguard", "mistralinstruct")},
    ("meld", "sentiment", "macro_f1"): (">=", 0.58),
    ("counsel-chat", "affective", "recall"): (">=", 0.95),
    ("arena-hard", "affective", "false_positive_rate"): ("<=", 0.02),
}
SENTIMENT_DATASETS = ("meld", "dailydialog", "uss-user-satisfaction")

Prediction = dict[str, Any]
SENTIMENT_NAMES = {value: name for name, value in POLARITY.items()}


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def binary_metrics(truth: list[bool], pred: list[bool]) -> dict[str, Any]:
    """Precision, recall and F1 of the positive class.

    Args:
        truth: the reference labels.
        pred: the model's labels, in the same order.

    Returns:
        precision, recall, f1 (None where undefined), support (true positives + false negatives), n and
        the confusion counts tp/fp/fn/tn.
    """
    pairs = Counter(zip(truth, pred))
    tp, fp, fn, tn = pairs[(True, True)], pairs[(False, True)], pairs[(True, False)], pairs[(False, False)]
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn) if tp + fn else None
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "n": len(truth),
            "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}}


def negative_rate(pred: list[bool]) -> dict[str, Any]:
    """For a set whose reference label is negative throughout: how often the model says positive.

    Args:
        pred: the model's labels.

    Returns:
        n, false_positives, false_positive_rate and specificity.
    """
    fp = sum(pred)
    rate = _ratio(fp, len(pred))
    return {"n": len(pred), "false_positives": fp, "false_positive_rate": rate,
            "specificity": None if rate is None else 1 - rate}


def three_way_metrics(truth: list[str], pred: list[str]) -> dict[str, Any]:
    """Macro-F1 over negative/neutral/positive.

    Args:
        truth: reference sentiments.
        pred: the model's sentiments, in the same order.

    Returns:
        macro_f1, accuracy, n, per-class precision/recall/f1/support and confusion[truth][pred] counts.
    """
    pairs = Counter(zip(truth, pred))
    per_class = {}
    for c in SENTIMENTS:
        m = binary_metrics([t == c for t in truth], [p == c for p in pred])
        per_class[c] = {k: m[k] for k in ("precision", "recall", "f1", "support")}
    f1s = [m["f1"] or 0.0 for m in per_class.values()]
    return {"macro_f1": sum(f1s) / len(f1s), "accuracy": _ratio(sum(pairs[(c, c)] for c in SENTIMENTS), len(truth)),
            "n": len(truth), "per_class": per_class,
            "confusion": {t: {p: pairs[(t, p)] for p in SENTIMENTS} for t in SENTIMENTS}}


def sentiment_of(sentiment_class: int) -> str:
    """The model's 5-point class (-2..2) as a 3-way sentiment."""
    return "negative" if sentiment_class < 0 else "neutral" if sentiment_class == 0 else "positive"


def predict(items: list[Item], heads, settings, device: str) -> list[Prediction]:
    """Run the product's classifier over items, a few hundred conversations per call.

    Args:
        items: converted dataset items.
        heads: the trained heads (`udfs.load_heads`).
        settings: `ClassifierSettings` for the run.
        device: a resolved device ('cpu' or 'cuda').

    Returns:
        One prediction per item: use, categories, pushback, pushback_score, referral and `sentiment`
        (message index -> 3-way sentiment of every scored user message).
    """
    from udfs.classifier import classify_batch

    out: list[Prediction] = []
    for start in range(0, len(items), BATCH_CONVERSATIONS):
        chunk = items[start:start + BATCH_CONVERSATIONS]
        labels = classify_batch(pd.DataFrame({"messages": [i["messages"] for i in chunk]}), heads, settings, device)
        for row in labels.itertuples(index=False):
            out.append({"use": row.use, "categories": list(row.categories), "pushback": bool(row.pushback),
                        "pushback_score": float(row.pushback_score), "referral": bool(row.referral),
                        "sentiment": {int(s["message_index"]): sentiment_of(int(s["sentiment_class"]))
                                      for s in row.user_sentiment}})
        print(f"  {min(start + BATCH_CONVERSATIONS, len(items))}/{len(items)}", file=sys.stderr, flush=True)
    return out


def _length_bucket(text: str) -> str:
    words = len(text.split())
    return "<=20 words" if words <= 20 else "21-60 words" if words <= 60 else "61-150 words" if words <= 150 \
        else ">150 words"


def score_xstest(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """Pushback vs human refusal labels, overall, by prompt label and by responding model, and how often
    pushback is predicted per human label and response length."""
    def subset(keep: Callable[[dict], bool]) -> dict[str, Any]:
        rows = [(i["label"]["pushback"], p["pushback"]) for i, p in zip(items, preds) if keep(i["label"])]
        return binary_metrics([t for t, _ in rows], [p for _, p in rows])

    result = {"pushback": subset(lambda label: True)}
    replies = [i["messages"][-1]["content"] for i in items]
    result["pushback.regex_baseline"] = binary_metrics([i["label"]["pushback"] for i in items],
                                                       refusal_baseline(replies).tolist())
    for prompt_label in ("safe", "unsafe"):
        result[f"pushback.{prompt_label}_prompts"] = subset(lambda label: label["prompt_label"] == prompt_label)
    for model in sorted({i["label"]["model"] for i in items}):
        result[f"pushback.{model}"] = subset(lambda label: label["model"] == model)
    by_length: dict[str, dict[str, Counter]] = {}
    for item, p in zip(items, preds):
        cell = by_length.setdefault(item["label"]["final_label"], {}).setdefault(
            _length_bucket(item["messages"][-1]["content"]), Counter())
        cell.update(n=1, predicted_pushback=int(p["pushback"]))
    result["predicted_pushback_by_length"] = {label: {b: dict(c) for b, c in sorted(buckets.items())}
                                              for label, buckets in sorted(by_length.items())}
    return result


def _sentiment_pairs(items: list[Item], preds: list[Prediction]) -> tuple[list[str], list[str]]:
    pairs = [(item["label"]["sentiment"][index], predicted) for item, p in zip(items, preds)
             for index, predicted in p["sentiment"].items() if index in item["label"]["sentiment"]]
    return [t for t, _ in pairs], [p for _, p in pairs]


def _vader_predictions(items: list[Item]) -> list[Prediction]:
    """VADER's sentiment of every labelled user message, shaped as predictions: the one-minute lexicon
    baseline (one pass of the lexicon over all messages)."""
    from udfs.build import vader_polarity

    labelled = [(n, m["index"], m["content"]) for n, item in enumerate(items) for m in item["messages"]
                if m["index"] in item["label"]["sentiment"]]
    preds: list[Prediction] = [{"sentiment": {}} for _ in items]
    for (n, index, _), value in zip(labelled, vader_polarity([c for _, _, c in labelled])):
        preds[n]["sentiment"][index] = SENTIMENT_NAMES[int(value)]
    return preds


def _by_emotion(items: list[Item], preds: list[Prediction]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {}
    for item, p in zip(items, preds):
        for index, predicted in p["sentiment"].items():
            counts.setdefault(item["label"]["emotion"][index], Counter())[predicted] += 1
    return {emotion: dict(c) for emotion, c in sorted(counts.items())}


SHIFT_MIN_MESSAGES = 6  # as the product: first 3 against last 3 user messages, dialogues with 6 or more


def _shift(labels: dict[int, str]) -> float | None:
    """Mean polarity of the last 3 labelled messages minus the first 3; None under SHIFT_MIN_MESSAGES."""
    values = [POLARITY[labels[i]] for i in sorted(labels)]
    if len(values) < SHIFT_MIN_MESSAGES:
        return None
    return (sum(values[-3:]) - sum(values[:3])) / 3


def _auc(scores: list[float], positive: list[bool]) -> float | None:
    """Probability that a positive outranks a negative (ties count half); None without both."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return None
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def shift_scores(truth: list[float], predicted: list[float]) -> dict[str, Any]:
    """How a per-dialogue start-to-end shift read from predicted sentiment matches the shift read from
    the human labels: the mean shift (what the product publishes) of both, their Pearson correlation, and
    the AUC of the predicted shift for telling dialogues that end better (true shift > 0) from those that
    end worse (< 0)."""
    import numpy as np

    t, p = np.asarray(truth, float), np.asarray(predicted, float)
    moved = t != 0
    return {"dialogues": int(len(t)), "true_mean_shift": float(t.mean()) if len(t) else None,
            "predicted_mean_shift": float(p.mean()) if len(p) else None,
            "pearson": float(np.corrcoef(t, p)[0, 1]) if len(t) > 2 and t.std() and p.std() else None,
            "auc_better_vs_worse": _auc(p[moved].tolist(), (t[moved] > 0).tolist())}


def _shift_pairs(items: list[Item], preds: list[Prediction]) -> tuple[list[float], list[float]]:
    """Per dialogue with SHIFT_MIN_MESSAGES labelled and predicted user messages: the true and the
    predicted shift over those messages."""
    truth, predicted = [], []
    for item, p in zip(items, preds):
        labelled = {i: s for i, s in item["label"]["sentiment"].items() if i in p["sentiment"]}
        true_shift = _shift(labelled)
        if true_shift is not None:
            truth.append(true_shift)
            predicted.append(_shift({i: p["sentiment"][i] for i in labelled}))
    return truth, predicted


def score_sentiment(items: list[Item], preds: list[Prediction], group_key: str) -> dict[str, Any]:
    """3-way sentiment of every labelled user message, overall and per split or corpus.

    Args:
        items: converted items whose label maps message index -> sentiment.
        preds: predictions made with sentiment_scope='all'.
        group_key: the label key to break the score down by ('split' or 'corpus').

    Returns:
        'sentiment' and 'sentiment.<group>' three-way metrics; 'shift' (and its VADER baseline): the
        start-to-end shift of each dialogue with 6+ labelled user messages against the labels' shift
        (`shift_scores`); plus, where the dataset labels emotions
        (MELD, DailyDialog), the model's sentiment counts per upstream emotion, unscored emotions included.
    """
    vader = _vader_predictions(items)
    result = {"sentiment": three_way_metrics(*_sentiment_pairs(items, preds)),
              "sentiment.vader_baseline": three_way_metrics(*_sentiment_pairs(items, vader)),
              "shift": shift_scores(*_shift_pairs(items, preds)),
              "shift.vader_baseline": shift_scores(*_shift_pairs(items, vader))}
    for group in sorted({i["label"][group_key] for i in items}):
        chosen = [(i, p) for i, p in zip(items, preds) if i["label"][group_key] == group]
        result[f"sentiment.{group}"] = three_way_metrics(*_sentiment_pairs([i for i, _ in chosen],
                                                                           [p for _, p in chosen]))
    if "emotion" in items[0]["label"]:
        result["predicted_by_emotion"] = _by_emotion(items, preds)
    return result


def score_counsel_chat(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """Affective recall on therapy questions (overall and per topic), and per-category scores where a topic
    maps to a category."""
    result = {"affective": binary_metrics([True] * len(items), [p["use"] == "affective" for p in preds]),
              "use_distribution": dict(Counter(p["use"] for p in preds))}
    by_topic: dict[str, Counter] = {}
    for item, p in zip(items, preds):
        for topic in item["label"]["topics"]:
            by_topic.setdefault(topic, Counter()).update(n=1, affective=int(p["use"] == "affective"))
    result["affective_by_topic"] = {t: dict(c) for t, c in sorted(by_topic.items())}
    mapped = [(i["label"]["categories"], p["categories"]) for i, p in zip(items, preds) if i["label"]["categories"]]
    for category in sorted({c for cats, _ in mapped for c in cats}):
        result[f"category.{category}"] = binary_metrics([category in t for t, _ in mapped],
                                                        [category in p for _, p in mapped])
    return result


def score_arena_hard(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """How many real task and writing prompts the model calls affective."""
    return {"affective": negative_rate([p["use"] == "affective" for p in preds]),
            "use_distribution": dict(Counter(p["use"] for p in preds))}


def score_diasafety(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """Negatives-only checks (see converters._diasafety_checks) and the use of contexts per category."""
    result = {}
    for task, subset in (("pushback", "toxicity_agreement_unsafe"), ("referral", "risk_ignorance_unsafe")):
        result[f"{task}.{subset}"] = negative_rate([p[task] for i, p in zip(items, preds)
                                                    if i["label"][task] is False])
    for category in sorted({i["label"]["category"] for i in items}):
        result[f"use_distribution.{category}"] = dict(Counter(
            p["use"] for i, p in zip(items, preds) if i["label"]["category"] == category))
    return result


def score_hh_rlhf(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """Pairwise: is the more harmless (chosen) final reply scored as more pushback than the rejected one?"""
    pairs: dict[int, dict[str, Prediction]] = {}
    for item, p in zip(items, preds):
        if item["messages"][-1]["content"].strip():
            pairs.setdefault(item["label"]["pair"], {})[item["label"]["variant"]] = p
    complete = [v for v in pairs.values() if len(v) == 2]
    wins = sum(1.0 if v["chosen"]["pushback_score"] > v["rejected"]["pushback_score"]
               else 0.5 if v["chosen"]["pushback_score"] == v["rejected"]["pushback_score"] else 0.0
               for v in complete)
    return {"pushback.pairwise": {
        "n_pairs": len(complete), "pairwise_accuracy": _ratio(wins, len(complete)),
        "pushback_rate_chosen": _ratio(sum(v["chosen"]["pushback"] for v in complete), len(complete)),
        "pushback_rate_rejected": _ratio(sum(v["rejected"]["pushback"] for v in complete), len(complete))}}


def score_uss(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """Sentiment per corpus on every dialogue (the sentiment heads never read USS), and how many of the
    task dialogues in the test split of the use head's training (`udfs.sources.uss`) are called affective,
    per corpus."""
    result = score_sentiment(items, preds, "corpus")
    test = [(i["label"]["corpus"], p) for i, p in zip(items, preds) if i["label"]["split"] == "test"]
    result["affective"] = negative_rate([p["use"] == "affective" for _, p in test])
    for corpus in sorted({c for c, _ in test}):
        result[f"affective.{corpus}"] = negative_rate([p["use"] == "affective" for c, p in test if c == corpus])
    result["use_distribution"] = dict(Counter(p["use"] for _, p in test))
    return result


def score_convai2(items: list[Item], preds: list[Prediction]) -> dict[str, Any]:
    """People chatting with persona bots, companionship only in a weak sense (INDEX.md): the recall of
    affective use and of companionship against that weak label, and the use distribution."""
    weak = [True] * len(preds)
    return {"affective": binary_metrics(weak, [p["use"] == "affective" for p in preds]),
            "companionship": binary_metrics(weak, ["companionship" in p["categories"] for p in preds]),
            "use_distribution": dict(Counter(p["use"] for p in preds))}


SCORERS: dict[str, Callable[[list[Item], list[Prediction]], dict[str, Any]]] = {
    "xstest": score_xstest,
    "meld": lambda items, preds: score_sentiment(items, preds, "split"),
    "dailydialog": lambda items, preds: score_sentiment(items, preds, "split"),
    "uss-user-satisfaction": score_uss,
    "counsel-chat": score_counsel_chat,
    "arena-hard": score_arena_hard,
    "diasafety": score_diasafety,
    "hh-rlhf-harmless-test": score_hh_rlhf,
    "convai2-wild-eval": score_convai2,
}


def pooled_affective(runs: dict[str, tuple[list[Item], list[Prediction]]]) -> dict[str, Any]:
    """Affective precision with counsel-chat questions as positives and Arena-Hard prompts as negatives."""
    truth, pred = [], []
    for name in ("counsel-chat", "arena-hard"):
        items, preds = runs[name]
        truth += [i["label"]["affective"] for i in items]
        pred += [p["use"] == "affective" for p in preds]
    return {"affective": binary_metrics(truth, pred)}


def held_out(name: str, items: list[Item]) -> list[Item]:
    """The items the default model never saw: the test split of a source it trains on (udfs/sources.py
    splits Counsel Chat by question and Arena-Hard by prompt id; DailyDialog trains on its train and
    validation splits, so its upstream test split), every item of the others."""
    from udfs.sources import hashed_split

    if name == "counsel-chat":
        return [i for i in items if hashed_split(i["messages"][0]["content"].replace("\n\n", "\n", 1)) == "test"]
    if name == "arena-hard":
        return [i for i in items if hashed_split(i["id"].removeprefix("arena-hard/")) == "test"]
    if name == "dailydialog":
        return [i for i in items if i["label"]["split"] == "test"]
    return items


def sample(items: list[Item], limit: int | None) -> list[Item]:
    """A seeded random sample of `limit` items in their original order (all items when limit is None).

    Items that share a `pair` label (HH-RLHF's chosen and rejected) are drawn together, so there `limit`
    counts pairs.
    """
    groups: dict[Any, list[Item]] = {}
    for item in items:
        groups.setdefault(item["label"].get("pair", item["id"]), []).append(item)
    if limit is None or limit >= len(groups):
        return items
    keys = list(groups)
    return [item for k in sorted(random.Random(0).sample(range(len(keys)), limit)) for item in groups[keys[k]]]


def check_targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met (None where the dataset was not run)."""
    rows = []
    for (dataset, task, metric), (direction, target) in TARGETS.items():
        value = results.get(dataset, {}).get(task, {}).get(metric)
        met = None if value is None else value >= target if direction == ">=" else value <= target
        rows.append({"dataset": dataset, "task": task, "metric": metric, "target": f"{direction} {target}",
                     "value": value, "met": met})
    return rows


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """One line per scored task: n and the metrics that apply to it.

    Args:
        results: dataset -> task -> metrics, as `evaluate` returns them.

    Returns:
        A plain-text table.
    """
    cols = ("n", "precision", "recall", "f1", "macro_f1", "false_positive_rate", "pairwise_accuracy")
    lines = [f"{'dataset':<24}{'task':<38}" + "".join(f"{c[:12]:>13}" for c in cols)]
    for dataset, tasks in results.items():
        for task, m in tasks.items():
            if isinstance(m, dict) and ("n" in m or "n_pairs" in m):
                row = {**m, "n": m.get("n", m.get("n_pairs"))}
                lines.append(f"{dataset:<24}{task:<38}" + "".join(f"{_fmt(row.get(c)):>13}" for c in cols))
            elif isinstance(m, dict) and "dialogues" in m:
                lines.append(f"{dataset:<24}{task:<38}{m['dialogues']:>13}  mean shift: true {_fmt(m['true_mean_shift'])}, "
                             f"predicted {_fmt(m['predicted_mean_shift'])}; Pearson {_fmt(m['pearson'])}; "
                             f"AUC better vs worse {_fmt(m['auc_better_vs_worse'])}")
    return "\n".join(lines)


def evaluate(names: list[str], limit: int | None, heads_uri: str = "") -> dict[str, Any]:
    """Run the default model (or the heads at heads_uri) over the named datasets and score it.

    Args:
        names: dataset folder names (keys of `CONVERTERS`).
        limit: score a seeded sample of this many items per dataset (None: all).
        heads_uri: a model folder or MLflow URI (`model.heads_uri`); empty: the shipped default model.

    Returns:
        {"meta", "results", "targets"}: run metadata, dataset -> task -> metrics, and the targets check.
    """
    import udfs
    from jobs.config import load_config
    from udfs import encoder

    cfg = load_config("local")
    heads = udfs.load_heads({**cfg["model"], "heads_uri": heads_uri})
    base = udfs.settings_from_config(cfg)
    device = encoder.resolve_device(base.device)
    runs, results, timing, skipped = {}, {}, {}, {}
    for name in names:
        folder = datasets_dir() / name
        if not folder.is_dir():
            skipped[name] = f"{folder} not found"
            continue
        items = sample(held_out(name, CONVERTERS[name](None)), limit)
        settings = dataclasses.replace(base, sentiment_scope="all") if name in SENTIMENT_DATASETS else base
        print(f"{name}: {len(items)} items", file=sys.stderr, flush=True)
        started = time.perf_counter()
        preds = predict(items, heads, settings, device)
        seconds = time.perf_counter() - started
        timing[name] = {"items": len(items), "messages": sum(len(i["messages"]) for i in items),
                        "seconds": round(seconds, 1)}
        runs[name] = (items, preds)
        results[name] = SCORERS[name](items, preds)
    if "counsel-chat" in runs and "arena-hard" in runs:
        results[POOLED] = pooled_affective(runs)
    meta = {"model_version": heads.version, "encoder": cfg["model"]["encoder"],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": device,
            "cpu_precision": encoder.resolve_cpu_precision(base.cpu_precision) if device == "cpu" else None,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "command": " ".join(["python -m evaluation.evaluate", *sys.argv[1:]]), "limit": limit,
            "datasets_dir": str(datasets_dir()), "timing": timing, "skipped": skipped}
    return {"meta": meta, "results": results, "targets": check_targets(results)}


def main(argv: list[str] | None = None) -> None:
    """Command line: evaluate, print the table and the targets, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(CONVERTERS), help="comma-separated dataset folder names")
    parser.add_argument("--limit", type=int, default=None,
                        help="score a seeded sample of N items per dataset (HH-RLHF: N pairs)")
    parser.add_argument("--out", default="evaluation/results.json", help="where to write the results JSON")
    parser.add_argument("--heads", default="", help="a model folder (make model's --out) or MLflow URI to score "
                                                    "instead of the shipped default model")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONVERTERS))
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(CONVERTERS)}")
    report = evaluate(names, args.limit, args.heads)
    print(format_table(report["results"]))
    for t in report["targets"]:
        print(f"target {t['dataset']} {t['task']} {t['metric']} {t['target']}: {_fmt(t['value'])} "
              f"({'n/a' if t['met'] is None else 'met' if t['met'] else 'MISSED'})")
    for name, reason in report["meta"]["skipped"].items():
        print(f"skipped {name}: {reason}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
