"""The encoder in bfloat16 on a CPU against float32: label agreement on real messages, speed at scale.

    .venv/bin/python -m bench.cpu_precision [--per-dataset 400] [--conversations 20000] [--out bench/cpu-precision.json]

(1) Agreement: `classify_batch` over conversations of the shared human-labelled sets (every user message
    scored for sentiment), once with `model.cpu_precision=float32` and once with `bfloat16`; per head,
    the share of decisions that are the same (use, each category, pushback, its reason, referral, each
    scored message's 5-point sentiment). (2) Speed: `classify_batch` over N synthetic conversations in
    chunks, each chunk classified by both precisions (which goes first alternates), in two processes of
    one torch thread each (as on a 2-core Spark worker); conversations per second of each side.
    Numbers are written as JSON; BENCHMARKS.md records them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

PRECISIONS = ("float32", "bfloat16")
DATASETS = ("xstest", "meld", "dailydialog", "uss-user-satisfaction", "counsel-chat", "arena-hard",
            "hh-rlhf-harmless-test", "diasafety")
CHUNK = 100  # conversations per timed call


def _settings(precision: str):
    from jobs.config import load_config
    from udfs.classifier import settings_from_config

    return replace(settings_from_config(load_config("local")), cpu_precision=precision, sentiment_scope="all")


def decisions(labels: pd.DataFrame) -> dict[str, list]:
    """Per head, one decision per conversation (per scored message for sentiment), in a fixed order."""
    from udfs.heads import CATEGORIES

    out = {"use": labels["use"].tolist(), "pushback": labels["pushback"].tolist(),
           "pushback_reason": labels["pushback_reason"].tolist(), "referral": labels["referral"].tolist(),
           "sentiment": [s["sentiment_class"] for row in labels["user_sentiment"] for s in row]}
    for category in CATEGORIES:
        out[f"category.{category}"] = [category in list(c) for c in labels["categories"]]
    return out


def agreement(per_dataset: int) -> dict:
    """Per dataset and head: decisions compared, and the share that agree."""
    import torch

    from evaluation.converters import CONVERTERS
    from udfs import load_heads
    from udfs.classifier import classify_batch

    torch.set_num_threads(1)
    heads = load_heads({"heads_uri": ""})
    rng = np.random.default_rng(0)
    settings = {p: _settings(p) for p in PRECISIONS}
    out = {}
    for name in DATASETS:
        items = CONVERTERS[name](None)
        items = [items[i] for i in sorted(rng.choice(len(items), min(per_dataset, len(items)), replace=False))]
        pdf = pd.DataFrame({"messages": [i["messages"] for i in items]})
        side = {p: decisions(pd.concat([classify_batch(pdf.iloc[s:s + CHUNK].reset_index(drop=True), heads,
                                                       settings[p], "cpu")
                                        for s in range(0, len(pdf), CHUNK)], ignore_index=True))
                for p in PRECISIONS}
        out[name] = {head: {"n": len(a), "agree": float(np.mean([x == y for x, y in zip(a, side["bfloat16"][head])]))
                            if a else None}
                     for head, a in side["float32"].items()}
        print(name, {h: v["agree"] for h, v in out[name].items()}, file=sys.stderr, flush=True)
    return out


def _timed_chunks(args: tuple[int, list[int]]) -> dict[str, float]:
    """Seconds each precision takes over the given chunks of the synthetic data (run in a worker)."""
    import torch

    from bench.model_throughput import conversations
    from udfs import load_heads
    from udfs.classifier import classify_batch

    n, starts = args
    torch.set_num_threads(1)
    heads = load_heads({"heads_uri": ""})
    seconds = dict.fromkeys(PRECISIONS, 0.0)
    settings = {p: replace(_settings(p), sentiment_scope="shift") for p in PRECISIONS}
    for k, start in enumerate(starts):
        pdf = conversations(n, rows=range(start, min(start + CHUNK, n)))
        for p in PRECISIONS if k % 2 == 0 else PRECISIONS[::-1]:
            began = time.perf_counter()
            classify_batch(pdf, heads, settings[p], "cpu")
            seconds[p] += time.perf_counter() - began
    return seconds


def speed(n: int, workers: int) -> dict:
    """Conversations per second of each precision over the same n synthetic conversations."""
    starts = list(range(0, n, CHUNK))
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_timed_chunks, [(n, starts[w::workers]) for w in range(workers)]))
    seconds = {p: sum(part[p] for part in parts) for p in PRECISIONS}
    return {"conversations": n, "workers": workers, "seconds_in_classify": seconds,
            "conversations_per_second": {p: n * workers / s for p, s in seconds.items()},
            "speedup": seconds["float32"] / seconds["bfloat16"]}


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=400, help="conversations per shared set")
    parser.add_argument("--conversations", type=int, default=20_000, help="synthetic conversations timed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="bench/cpu-precision.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "bf16_native": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())},
        "agreement": agreement(args.per_dataset),
        "speed": speed(args.conversations, args.workers),
    }
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
