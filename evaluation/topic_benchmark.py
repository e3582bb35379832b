"""How well topic clusters recover real topic labels: the product's clusters against TF-IDF + k-means.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python -m evaluation.topic_benchmark \
        --datasets counsel-chat,dailydialog,arena-hard --out evaluation/topic_results.json

The product's clusters are rebuilt from its own parts, so that the score is the product's and not a look-alike:
each conversation is the normalised mean (`udfs.heads.pool`) of its user messages' encoder vectors
(`udfs.encoder.encode`, i.e. `embed` failing loudly, with the `model` config's encoder, max_length and batch
size), the embedding that classify stores, and `jobs.topics.fit_scope` clusters it with k-means (cosine,
`topics.max_iter`, `topics.n_init`; `assign_clusters` places every row) at k = the number of true topics
(`topics.max_k` is raised to k where k is larger). The baseline is scikit-learn's TfidfVectorizer (English stop words) +
KMeans at the same k over the same user text; the floor is the product's k-means over random unit vectors.
One more row, the product's vectors under scikit-learn's KMeans, tells whether a gap comes from the
representation or from the clustering. Every method runs under each of `SEEDS`; ARI and NMI are averaged.

Datasets (read by `evaluation.converters`, nothing copied):
- counsel-chat: each question (title, blank line, text) -> its topic. The 9 questions filed under two
  topics are left out (no single truth), which also drops `self-harm`, a topic only they carry: k = 30.
- dailydialog: the `test` split (evaluation only); alternate turns from the first are the user's.
- arena-hard: each prompt -> its cluster; 250 clusters of 2 prompts each, so k = 250 on 500 points is
  degenerate: ARI rests on 250 pairs and NMI is high even for random clusters (compare the floor).

The output holds only counts, scores and settings, never any text.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evaluation import converters
from udfs.sources import datasets_dir

logger = logging.getLogger(__name__)

SEEDS = (17, 18, 19, 20, 21)  # 17 is the product's `topics.seed`
SCOPE = "benchmark"
ROWS = ("conversation_id string, user_id string, scope string, categories array<string>, pushback boolean, "
        "pushback_reason string, referral boolean, embedding array<float>")


@dataclass(frozen=True)
class TopicSet:
    """One dataset as the benchmark reads it: per conversation its user messages and its true topic."""

    conversations: list[list[str]]
    topics: list[str]
    excluded: int = 0  # conversations left out (no single true topic)


# --- Reading the datasets ------------------------------------------------------------------------------

def user_texts(item: converters.Item) -> list[str]:
    """The user messages of a converted item, in order (what classify pools)."""
    return [m["content"] for m in item["messages"] if m["role"] == "user"]


def counsel_chat_topics(root: Path | None = None) -> TopicSet:
    """Counsel Chat questions with exactly one topic (a question under two has no single truth)."""
    items = converters.counsel_chat(root)
    single = [i for i in items if len(i["label"]["topics"]) == 1]
    return TopicSet([user_texts(i) for i in single], [i["label"]["topics"][0] for i in single],
                    len(items) - len(single))


def dailydialog_topics(root: Path | None = None) -> TopicSet:
    """DailyDialog's test split; the converter makes every turn a user message, so alternate turns from the
    first stand for the user and the others for the assistant."""
    test = [i for i in converters.dailydialog(root) if i["label"]["split"] == "test"]
    return TopicSet([[m["content"] for m in i["messages"][0::2]] for i in test], [i["label"]["topic"] for i in test])


def arena_hard_topics(root: Path | None = None) -> TopicSet:
    """Arena-Hard v0.1 prompts and their clusters (250 clusters of 2 prompts)."""
    items = converters.arena_hard(root)
    return TopicSet([user_texts(i) for i in items], [i["label"]["cluster"] for i in items])


READERS: dict[str, Callable[[Path | None], TopicSet]] = {
    "counsel-chat": counsel_chat_topics,
    "dailydialog": dailydialog_topics,
    "arena-hard": arena_hard_topics,
}


# --- Representations -----------------------------------------------------------------------------------

def product_vectors(conversations: list[list[str]], model_cfg: dict[str, Any], *, threads: int = 1) -> np.ndarray:
    """The embedding classify stores: `pool` over the encoder vectors of every user message (the default
    `classify.category_user_messages: 0`). Each message is embedded once, in one call."""
    from udfs.encoder import encode, resolve_device
    from udfs.heads import pool

    flat = [text for conversation in conversations for text in conversation]
    vectors = encode(flat, encoder=model_cfg["encoder"], device=resolve_device(model_cfg["device"]),
                     batch_size=model_cfg["batch_size"], max_length=model_cfg["max_length"], threads=threads,
                     encoder_dir=model_cfg["encoder_dir"] or None)
    bounds = np.cumsum([0, *map(len, conversations)])
    return np.stack([pool(vectors[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]).astype(np.float32)


def tfidf_vectors(conversations: list[list[str]]):
    """The baseline's representation: TF-IDF (English stop words) of the same user text, one document per
    conversation (sparse, rows L2-normalised)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(stop_words="english").fit_transform(["\n".join(c) for c in conversations])


def random_vectors(n: int, seed: int, dim: int = 384) -> np.ndarray:
    """A floor: unit vectors in random directions, of the encoder's shape."""
    x = np.random.default_rng(seed).standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# --- Clustering ----------------------------------------------------------------------------------------

def fit_settings(cfg: dict[str, Any], k: int, seed: int):
    """The topic settings `fit_scope` reads, its fine k fixed at k (max_k raised to k if below) and its seed set."""
    from jobs.topics import TopicSettings

    topics = TopicSettings.from_config(cfg)
    return dataclasses.replace(topics, fine_k=k, max_k=max(k, topics.max_k), seed=seed)


def spark_kmeans(spark, vectors: np.ndarray, k: int, seed: int, cfg: dict[str, Any]) -> np.ndarray:
    """The product's clustering: `jobs.topics.fit_scope` on rows shaped like one scope of conversation_labels.

    Returns:
        Each row's fine cluster, in the order of `vectors`.
    """
    from jobs.topics import assign_clusters, fit_scope

    ids = [f"{i:06d}" for i in range(len(vectors))]
    rows = spark.createDataFrame(
        [(cid, cid, SCOPE, [], False, None, False, v.tolist()) for cid, v in zip(ids, vectors)], ROWS)
    assigned = assign_clusters(rows, {SCOPE: fit_scope(rows, len(ids), fit_settings(cfg, k, seed))})
    fine = {r["conversation_id"]: r["fine"] for r in assigned.select("conversation_id", "fine").collect()}
    return np.array([fine[cid] for cid in ids])


def sklearn_kmeans(x, k: int, seed: int) -> np.ndarray:
    """scikit-learn KMeans as a user would call it (k-means++, one initialisation, vectors as they are)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(x)


# --- Scoring -------------------------------------------------------------------------------------------

def scores(truth: list[str], predicted: np.ndarray) -> dict[str, float]:
    """ARI (0 for chance, 1 for the true partition), NMI, and how many clusters were used."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"ari": float(adjusted_rand_score(truth, predicted)),
            "nmi": float(normalized_mutual_info_score(truth, predicted)),
            "clusters_used": int(len(set(predicted.tolist())))}


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Mean and standard deviation of ARI and NMI over seeds, with every seed's scores."""
    out: dict[str, Any] = {}
    for metric in ("ari", "nmi"):
        values = np.array([r[metric] for r in runs])
        out[f"{metric}_mean"], out[f"{metric}_std"] = float(values.mean()), float(values.std())
    return {**out, "per_seed": runs}


def method_runs(spark, topic_set: TopicSet, embedded: np.ndarray, cfg: dict[str, Any],
                seeds: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    """Every method under every seed, at k = the number of true topics."""
    k, n, tfidf = len(set(topic_set.topics)), len(topic_set.topics), tfidf_vectors(topic_set.conversations)
    methods: dict[str, Callable[[int], np.ndarray]] = {
        "product": lambda s: spark_kmeans(spark, embedded, k, s, cfg),
        "tfidf_kmeans": lambda s: sklearn_kmeans(tfidf, k, s),
        "random_kmeans": lambda s: spark_kmeans(spark, random_vectors(n, s), k, s, cfg),
        "product_vectors_sklearn_kmeans": lambda s: sklearn_kmeans(embedded, k, s),
    }
    return {name: summarise([{"seed": s, **scores(topic_set.topics, fit(s))} for s in seeds])
            for name, fit in methods.items()}


def benchmark_dataset(spark, topic_set: TopicSet, cfg: dict[str, Any], *, seeds: tuple[int, ...] = SEEDS,
                      threads: int = 1) -> dict[str, Any]:
    """One dataset's counts and every method's scores (numbers only: no text, no topic names)."""
    started = time.perf_counter()
    embedded = product_vectors(topic_set.conversations, cfg["model"], threads=threads)
    embed_seconds = time.perf_counter() - started
    methods = method_runs(spark, topic_set, embedded, cfg, seeds)
    sizes = sorted(np.unique(topic_set.topics, return_counts=True)[1].tolist(), reverse=True)
    return {"conversations": len(topic_set.topics), "excluded": topic_set.excluded,
            "user_messages": sum(map(len, topic_set.conversations)), "k": len(sizes), "topic_sizes": sizes,
            "embed_seconds": round(embed_seconds, 1),
            "cluster_seconds": round(time.perf_counter() - started - embed_seconds, 1), "methods": methods}


def settings(cfg: dict[str, Any], threads: int) -> dict[str, Any]:
    """What the scores depend on, recorded beside them."""
    from udfs.encoder import resolve_device

    m, t = cfg["model"], cfg["topics"]
    return {"encoder": m["encoder"], "max_length": m["max_length"], "device": resolve_device(m["device"]),
            "torch_threads": threads, "pooling": "udfs.heads.pool over every user message",
            "product_kmeans": {"code": "jobs.topics.fit_scope", "distance": "cosine", "max_iter": t["max_iter"],
                               "n_init": t["n_init"], "max_k_default": t["max_k"]},
            "tfidf": {"stop_words": "english"}, "sklearn_kmeans": {"n_init": 1, "init": "k-means++"}}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """One line per dataset and method: k, n, ARI and NMI (mean +- sd over seeds)."""
    lines = [f"{'dataset':<14}{'method':<32}{'k':>5}{'n':>6}{'ARI':>16}{'NMI':>16}"]
    for name, r in results.items():
        for method, m in r["methods"].items():
            lines.append(f"{name:<14}{method:<32}{r['k']:>5}{r['conversations']:>6}"
                         f"{m['ari_mean']:>9.3f} ± {m['ari_std']:.3f}{m['nmi_mean']:>9.3f} ± {m['nmi_std']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: benchmark the named datasets, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(READERS), help="comma-separated, from: " + ", ".join(READERS))
    parser.add_argument("--out", default="evaluation/topic_results.json", help="where to write the results JSON")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the encoder")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(READERS))
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(READERS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from jobs.config import load_config
    from jobs.session import get_spark

    cfg = load_config("local")
    spark = get_spark(cfg["spark"])
    started = time.perf_counter()
    results = {}
    for name in names:
        logger.info("%s: reading and benchmarking", name)
        results[name] = benchmark_dataset(spark, READERS[name](None), cfg, threads=args.threads)
    command = ["python -m evaluation.topic_benchmark", *(argv if argv is not None else sys.argv[1:])]
    meta = {"command": " ".join(command),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seeds": list(SEEDS),
            "wall_seconds": round(time.perf_counter() - started, 1), "datasets_dir": str(datasets_dir()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "settings": settings(cfg, args.threads)}
    print(format_table(results))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
