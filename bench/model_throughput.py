"""Benchmarks of the model path: classify against a plain PyTorch loop, padding, FLOP/s, loads per worker.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.model_throughput [--conversations 400] [--repeats 3] [--out bench/results.json]

(a) `udfs.classifier.classify_batch` on N synthetic conversations against a plain PyTorch loop doing the
    same forward passes (the same texts, length-sorted batches of the same size, one thread), as the
    ratio of their median times over `--repeats` interleaved runs after a warm-up pass over every batch
    shape (this machine is shared, and the first pass over a shape pays for its kernels); (b) real / padded tokens of those batches; (c) encoder loads per Spark Python worker
    after classifying through Spark in more tasks than workers; (f) the encoder's achieved FLOP/s against
    one core's nominal fp32 peak, and what int8 dynamic quantization and a shorter max_length buy, with
    their agreement with the full model. Numbers are written as JSON; BENCHMARKS.md records them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

FLOPS_PER_CYCLE_AVX2_FMA = 32  # two 256-bit FMA units x 8 fp32 lanes x 2 flops


def conversations(n: int, seed: int = 42, rows: range | None = None) -> pd.DataFrame:
    """Synthetic conversations (`rows` of a data set of n, default all), parsed and scrubbed as ingest
    does, as classify_batch reads them."""
    from jobs.ingest import parse_conversation
    from jobs.privacy.scrub import scrub_text
    from jobs.synth import generate_row

    parsed_rows = []
    for i in range(n) if rows is None else rows:
        parsed = parse_conversation(generate_row(i, n=n, seed=seed)[1], max_messages=10_000, max_chars=10**7)
        parsed_rows.append([{**m, "content": scrub_text(m["content"])} for m in parsed["messages"]])
    return pd.DataFrame({"messages": parsed_rows})


def plain_loop(texts: list[str], batch_size: int, max_length: int, model, tokenizer,
               device: str = "cpu") -> tuple[float, dict]:
    """Seconds for the same forward passes without our code around them (tokenizing not timed, the
    vectors brought back to the host at the end), and the batches' token counts."""
    import torch

    started = time.perf_counter()
    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    tokenize_seconds = time.perf_counter() - started
    order = np.argsort([len(t) for t in encoded], kind="stable")
    real = padded = flops = 0
    started = time.perf_counter()
    out = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            ids = [encoded[i] for i in order[start:start + batch_size]]
            batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
            real += int(batch["attention_mask"].sum())
            padded += batch["input_ids"].numel()
            flops += forward_flops(model.config, *batch["input_ids"].shape)
            batch = batch.to(device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1))
        torch.cat(out).float().cpu()
    return time.perf_counter() - started, {"real_tokens": real, "padded_tokens": padded, "flops": flops,
                                           "tokenize_seconds": tokenize_seconds}


def forward_flops(config, batch: int, seq: int) -> float:
    """Multiply-adds x 2 of a BERT encoder forward pass: the dense layers plus attention scores and mix."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    dense = 2 * (4 * d * d + 2 * d * ff)  # Q, K, V, output projections and the two feed-forward layers
    attention = 2 * 2 * seq * d           # QK^T and the weighted sum of V
    return float(batch * seq * layers * (dense + attention))


def embeddings(texts: list[str], model, tokenizer, max_length: int, batch_size: int) -> tuple[np.ndarray, float]:
    import torch

    started = time.perf_counter()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy())
    return np.concatenate(out), time.perf_counter() - started


def _alone(task: str, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
    """The head's input for messages read without context."""
    from udfs.features import message_features, reply_features
    from udfs.heads import head_input

    features = message_features(texts) if task.startswith("sentiment") else reply_features(texts)
    return head_input(task, vectors, None, features)


def variants(texts: list[str], model, tokenizer, heads, max_length: int, batch_size: int) -> dict:
    """Time and agreement with the full model of int8 dynamic quantization and half the max_length."""
    import torch

    texts = sorted(texts, key=len)
    full, full_s = embeddings(texts, model, tokenizer, max_length, batch_size)
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    results = {}
    for name, (m, length) in {"int8_dynamic": (quantized, max_length),
                              f"max_length_{max_length // 2}": (model, max_length // 2)}.items():
        vectors, seconds = embeddings(texts, m, tokenizer, length, batch_size)
        # Messages read alone (no context), the same way for both models.
        agree = {task: float(np.mean(heads[task].proba(_alone(task, vectors, texts)).argmax(1)
                                     == heads[task].proba(_alone(task, full, texts)).argmax(1)))
                 for task in ("pushback", "sentiment")}
        results[name] = {"seconds": seconds, "speedup": full_s / seconds,
                         "mean_cosine_to_full": float(np.mean(np.sum(vectors * full, axis=1))),
                         **{f"label_agreement.{k}": v for k, v in agree.items()}}
    return {"full_seconds": full_s, **results}


def loads_per_worker(n: int) -> dict:
    """Classify through Spark in more tasks than workers, then ask every Python worker how often it loaded."""
    from jobs.classify import apply_classifier, spread
    from jobs.config import load_config
    from jobs.session import get_spark
    import udfs

    cfg = load_config("local")
    spark = get_spark(cfg["spark"])
    frame = conversations(n)
    rows = [(f"c{i}", "u", None, sum(m["role"] == "user" for m in ms), False,
             [(m["index"], m["role"], m["content"]) for m in ms]) for i, ms in enumerate(frame["messages"])]
    df = spark.createDataFrame(rows, "conversation_id string, user_id string, created_at timestamp, "
                                     "n_user_messages int, is_long boolean, "
                                     "messages array<struct<index:int,role:string,content:string>>")
    heads = udfs.load_heads(cfg["model"])
    tasks = 4 * spark.sparkContext.defaultParallelism
    classified = apply_classifier(spread(df, n, max(1, n // tasks)), heads, udfs.settings_from_config(cfg))
    classified.count()

    def report(batches):
        from udfs import encoder

        for _ in batches:
            yield pd.DataFrame({"pid": [os.getpid()], "loads": [encoder.LOADS_IN_THIS_PROCESS["count"]]})

    seen = spark.range(0, 64, numPartitions=64).mapInPandas(report, "pid long, loads long").distinct().collect()
    spark.stop()
    return {"tasks": tasks, "workers": {str(r["pid"]): r["loads"] for r in seen}}


def main(argv: list[str] | None = None) -> int:
    import torch

    from jobs.config import load_config
    from udfs import encoder, load_heads
    from udfs.classifier import classify_batch, encode_messages, settings_from_config, turns_to_embed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, interleaved")
    parser.add_argument("--spark-conversations", type=int, default=800)
    parser.add_argument("--out", default="bench/results.json")
    args = parser.parse_args(argv)

    cfg = load_config("local")
    settings = settings_from_config(cfg)
    heads = load_heads(cfg["model"])
    pdf = conversations(args.conversations)
    tokenizer, model = encoder.load_encoder("cpu", 1)
    # The texts classify_batch embeds, planned without running the model.
    texts = encode_messages(pdf["messages"], lambda n: turns_to_embed(n, settings),
                            replace(settings, encoder=encoder.STAND_IN), "cpu").texts
    plain_loop(texts, settings.batch_size, settings.max_length, model, tokenizer)  # warm-up: every shape once
    classify_s, plain_s, tokens = [], [], {}
    for repeat in range(args.repeats):
        # Alternate which goes first, so neither always runs on a warmer (or busier) machine.
        for which in (("classify", "plain") if repeat % 2 == 0 else ("plain", "classify")):
            if which == "classify":
                started = time.perf_counter()
                classify_batch(pdf, heads, settings, "cpu")
                classify_s.append(time.perf_counter() - started)
            else:
                seconds, tokens = plain_loop(texts, settings.batch_size, settings.max_length, model, tokenizer)
                plain_s.append(seconds)
    mhz = float(next(line.split(":")[1] for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")))
    peak = mhz * 1e6 * FLOPS_PER_CYCLE_AVX2_FMA
    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "mhz": mhz,
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "conversations": args.conversations, "texts": len(texts), "repeats": args.repeats,
        "a_classify_seconds": classify_s, "a_plain_torch_seconds": plain_s,
        "a_ratio": float(np.median(plain_s) / np.median(classify_s)),
        "b_real_over_padded_tokens": tokens["real_tokens"] / tokens["padded_tokens"],
        "f_achieved_gflops": tokens["flops"] / min(plain_s) / 1e9, "f_core_peak_gflops": peak / 1e9,
        "f_share_of_peak": tokens["flops"] / min(plain_s) / peak,
        "f_variants": variants(texts, model, tokenizer, heads, settings.max_length, settings.batch_size),
        "c_loads_per_worker": loads_per_worker(args.spark_conversations),
    }
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
