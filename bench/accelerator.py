"""Benchmarks on a lent GPU: (a) and (b) there, and the classify stage's work at 100k -> 1M conversations.

    .venv/bin/python -m bench.accelerator --bundle .gpu        # here: what the GPU machine needs (make gpu-bundle)
    PYTHONPATH=.gpu/pyspark.zip:. python3 -m bench.accelerator --encoder-dir .gpu/encoder \
        [--conversations 4000] [--ab-batch-sizes 256 1024] [--sizes 100000 1000000] [--workers N] --out FILE

Nothing can be fetched on the lent machine and Spark's jars (456 MB) are larger than what may travel
there (64 MiB), so the pipeline itself cannot run on it. What runs instead is what Spark's Python
workers run for classify on a one-GPU executor: one process per core, each loading the encoder once and calling `classify_batch` on
Arrow-sized batches of its share of the conversations, all sharing the GPU. Each process synthesises,
parses and scrubs its share first (untimed); the timed part runs from a barrier to the last process
done. Tokens are counted on the model's inputs (a forward pre-hook), FLOPs from the batch shapes, and
both are set against the card's fp16 matrix rate measured in the same run.

The bundle holds what such a machine lacks: the encoder saved in fp16 (as the product runs it on CUDA),
the seed-set heads, and Spark's Python API without its jars (imported for its types, never started).
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import multiprocessing as mp
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.model_throughput import conversations, forward_flops, plain_loop

H100_H200_FP16_DENSE_TFLOPS = 989.4  # the SXM parts' datasheet figure (H200.md)


def matmul_tflops(n: int = 8192, repeats: int = 10) -> float:
    """The card's achieved fp16 matrix rate: the ceiling this run can be set against."""
    import torch

    a, b = (torch.randn(n, n, device="cuda", dtype=torch.float16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * repeats / (time.perf_counter() - started) / 1e12


def count_tokens(model) -> dict:
    """Real and padded tokens and FLOPs of every forward pass of the model from now on."""
    counts = {"real": [], "padded": 0, "flops": 0.0}

    def hook(module, args, kwargs):
        ids = kwargs["input_ids"]
        counts["real"].append(kwargs["attention_mask"].sum())  # stays on the GPU: no sync per batch
        counts["padded"] += ids.numel()
        counts["flops"] += forward_flops(module.config, *ids.shape)

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return counts


def totals(counts: dict) -> dict:
    return {"real_tokens": int(sum(int(t) for t in counts["real"])), "padded_tokens": counts["padded"],
            "flops": counts["flops"]}


def classify_vs_plain(heads, settings, n: int, repeats: int, device: str) -> dict:
    """(a) classify_batch against the plain loop on the GPU, ratio of medians; (b) real / padded tokens."""
    from udfs import encoder
    from udfs.classifier import classify_batch, encode_messages, turns_to_embed

    pdf = conversations(n)
    tokenizer, model = encoder.load_encoder(device, None, settings.encoder_dir)
    texts = encode_messages(pdf["messages"], lambda k: turns_to_embed(k, settings),
                            replace(settings, encoder=encoder.STAND_IN), "cpu").texts
    plain_loop(texts, settings.batch_size, settings.max_length, model, tokenizer, device)  # warm-up
    classify_batch(pdf, heads, settings, device)
    classify_s, plain_s, tokenize_s, tokens = [], [], [], {}
    for repeat in range(repeats):
        for which in (("classify", "plain") if repeat % 2 == 0 else ("plain", "classify")):
            started = time.perf_counter()
            if which == "classify":
                classify_batch(pdf, heads, settings, device)
                classify_s.append(time.perf_counter() - started)
            else:
                seconds, tokens = plain_loop(texts, settings.batch_size, settings.max_length, model, tokenizer,
                                             device)
                plain_s.append(seconds)
                tokenize_s.append(tokens["tokenize_seconds"])
    return {"conversations": n, "texts": len(texts), "batch_size": settings.batch_size,
            "a_classify_seconds": classify_s, "a_plain_torch_seconds": plain_s,
            "a_ratio": float(np.median(plain_s) / np.median(classify_s)),
            # The plain loop with its tokenizing timed too (classify_batch's time always includes it).
            "a_plain_tokenize_seconds": tokenize_s,
            "a_ratio_tokenizing_included": float(np.median(np.add(plain_s, tokenize_s)) / np.median(classify_s)),
            "b_real_over_padded_tokens": tokens["real_tokens"] / tokens["padded_tokens"],
            "plain_real_tokens_per_second": tokens["real_tokens"] / min(plain_s),
            "plain_achieved_tflops": tokens["flops"] / min(plain_s) / 1e12,
            "classify_real_tokens_per_second": tokens["real_tokens"] / min(classify_s)}


def _worker(rank: int, workers: int, size: int, heads, settings, arrow_rows: int, start, results) -> None:
    """One Spark-like Python worker: its share of the conversations, classified batch by batch."""
    import torch

    from udfs import encoder
    from udfs.classifier import classify_batch

    try:
        torch.set_num_threads(1)
        pdf = conversations(size, rows=range(rank, size, workers))
        # The model classify_batch will use (embed asks for one thread on a CPU).
        _, model = encoder.load_encoder(settings.device, 1 if settings.device == "cpu" else None, settings.encoder_dir)
        counts = count_tokens(model)
        start.wait()
        began = time.perf_counter()
        failed = 0
        for offset in range(0, len(pdf), arrow_rows):
            batch = pdf.iloc[offset:offset + arrow_rows].reset_index(drop=True)
            failed += int(classify_batch(batch, heads, settings, settings.device)["errors"].map(len).astype(bool).sum())
        results.put({"rank": rank, "conversations": len(pdf), "failed": failed,
                     "loads": encoder.LOADS_IN_THIS_PROCESS["count"],
                     "seconds": time.perf_counter() - began, "done_at": time.time(), **totals(counts)})
    except Exception as exc:  # reported, so the parent does not wait forever
        start.abort()
        results.put({"rank": rank, "error": repr(exc)})


def scale(heads, settings, size: int, workers: int, arrow_rows: int) -> dict:
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(workers + 1, timeout=900), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, workers, size, heads, settings, arrow_rows, start, results))
             for r in range(workers)]
    for p in procs:
        p.start()
    start.wait()
    began = time.time()
    done = [results.get() for _ in procs]
    errors = [d["error"] for d in done if "error" in d]
    if errors:
        raise RuntimeError(f"{len(errors)} workers failed: {errors[0]}")
    wall = max(d["done_at"] for d in done) - began
    for p in procs:
        p.join()
    real = sum(d["real_tokens"] for d in done)
    flops = sum(d["flops"] for d in done)
    return {"conversations": sum(d["conversations"] for d in done), "failed": sum(d["failed"] for d in done),
            "workers": workers, "c_encoder_loads_per_worker": sorted({d["loads"] for d in done}), "arrow_batch_rows": arrow_rows,
            "wall_seconds": wall, "conversations_per_second": size / wall, "real_tokens": real,
            "real_tokens_per_second": real / wall, "real_over_padded": real / sum(d["padded_tokens"] for d in done),
            "achieved_tflops": flops / wall / 1e12,
            "worker_seconds": sorted(round(d["seconds"], 1) for d in done)}


BUNDLE_SKIPS = {"tests", "testing", "examples", "python", "work", "jars", "bin", "sbin"}


def bundle(directory: Path) -> None:
    """Write the encoder (fp16) and a zip of pyspark's and py4j's Python files (the heads ship in udfs/model)."""
    import zipfile

    import py4j
    import pyspark

    from udfs import encoder

    tokenizer, model = encoder.load_encoder("cpu")
    tokenizer.save_pretrained(directory / "encoder")
    copy.deepcopy(model).half().save_pretrained(directory / "encoder")  # a copy: the cached model stays fp32
    with zipfile.ZipFile(directory / "pyspark.zip", "w", zipfile.ZIP_DEFLATED) as zipped:
        for package in (pyspark, py4j):
            root = Path(package.__file__).parent
            for path in sorted(root.rglob("*")):
                inner = path.relative_to(root).parts
                if path.suffix in (".py", ".json") and not BUNDLE_SKIPS & set(inner[:-1]):
                    zipped.write(path, path.relative_to(root.parent))


def main(argv: list[str] | None = None) -> int:
    import torch

    from jobs.config import load_config
    from udfs import load_heads, settings_from_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="write the bundle for a GPU machine here, and stop")
    parser.add_argument("--encoder-dir", help="all-MiniLM-L6-v2 in Hugging Face layout")
    parser.add_argument("--conversations", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ab-batch-sizes", type=int, nargs="+", help="messages per forward pass for (a) and "
                        "(b) (default: the cluster profile's model.batch_size)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cuda", help="cpu: a small dry run of this script")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.bundle:
        bundle(args.bundle)
        return 0
    if not (args.encoder_dir and args.out):
        parser.error("--encoder-dir and --out are required (or --bundle)")

    # The cluster profile's batching (256 messages per forward pass, 4096 conversations per Arrow batch).
    cfg = load_config("cluster", overrides=[f"model.encoder_dir={args.encoder_dir}",
                                                f"model.device={args.device}"])
    settings = settings_from_config(cfg)
    heads = load_heads(cfg["model"])
    out = Path(args.out)
    gpu = args.device == "cuda"
    results = {"machine": {"gpu": torch.cuda.get_device_name() if gpu else None, "cores": os.cpu_count(),
                           "torch": torch.__version__, "cuda": torch.version.cuda},
               "peak_fp16_tflops_datasheet": H100_H200_FP16_DENSE_TFLOPS,
               "peak_fp16_tflops_measured": matmul_tflops() if gpu else None}
    out.write_text(json.dumps(results, indent=2))
    # Each part is written as soon as it is done, and a failing part does not stop the next: device
    # time is scarce and a run may not be repeatable.
    parts = {**{f"ab_batch_{size}": functools.partial(classify_vs_plain, heads, replace(settings, batch_size=size),
                                                      args.conversations, args.repeats, args.device)
                for size in args.ab_batch_sizes or [settings.batch_size]},
             **{f"scale_{size}": functools.partial(scale, heads, settings, size, args.workers,
                                                   cfg["spark"]["arrow_batch_rows"]) for size in args.sizes}}
    for name, part in parts.items():
        try:
            results[name] = part()
        except Exception as exc:
            results[name] = {"error": repr(exc)}
        out.write_text(json.dumps(results, indent=2))
        print(name, json.dumps(results[name]), flush=True)
    return 1 if any("error" in results[name] for name in parts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
