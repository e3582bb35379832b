"""What reading the last window of long replies costs: the encoder's pass over real conversations with
and without it (`encode_messages(..., tails=True)`, what classify does for a model whose referral head
reads a reply's last window, heads.TAIL_HEADS).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.tail_window [--datasets xstest,hh-rlhf-harmless-test] [--limit 400] [--repeats 3]

Per data set: the share of assistant messages longer than the encoder's window, the extra rows, and the
median seconds of the pass with and without tails over `--repeats` interleaved runs after a warm-up, on
one thread. Prints one JSON line; BENCHMARKS.md records it.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from evaluation.converters import CONVERTERS


def timed(conversations: list, tails: bool, settings, model) -> float:
    from udfs.classifier import encode_messages, turns_to_embed

    started = time.perf_counter()
    encode_messages(conversations, lambda n: turns_to_embed(n, settings), settings, "cpu", model,
                    tails=tails)
    return time.perf_counter() - started


def measure(name: str, limit: int, repeats: int) -> dict:
    from udfs import encoder, load_heads
    from udfs.classifier import ClassifierSettings

    settings = ClassifierSettings()
    model = load_heads({"heads_uri": ""})
    conversations = [item["messages"] for item in CONVERTERS[name]()[:limit]]
    tokenizer, _ = encoder.load_encoder("cpu", 1)
    replies = [m["content"] for c in conversations for m in c if m["role"] == "assistant"]
    long = sum(len(ids) > settings.max_length for ids in tokenizer(replies, truncation=False)["input_ids"])
    timed(conversations, True, settings, model)  # warm-up: every batch shape once
    runs = {False: [], True: []}
    for _ in range(repeats):
        for tails in (False, True):
            runs[tails].append(timed(conversations, tails, settings, model))
    without, with_tails = statistics.median(runs[False]), statistics.median(runs[True])
    return {"conversations": len(conversations), "assistant_messages": len(replies), "longer_than_window": long,
            "seconds_without_tails": round(without, 2), "seconds_with_tails": round(with_tails, 2),
            "ratio": round(with_tails / without, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tail_window", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="xstest,hh-rlhf-harmless-test")
    parser.add_argument("--limit", type=int, default=400, help="conversations per data set (the first N)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    result = {"machine": f"{platform.machine()} {platform.system()}, torch {torch.__version__}, 1 thread",
              **{name: measure(name, args.limit, args.repeats) for name in args.datasets.split(",")}}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
