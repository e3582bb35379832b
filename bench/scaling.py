"""(d) `affective run` at growing sizes: time, throughput, driver peak memory; (e) time outside the model.

    .venv/bin/python -m bench.scaling --sizes 1000 5000 20000 --out bench/scaling-model.json
    .venv/bin/python -m bench.scaling --encoder stand-in --sizes 1000 10000 100000 --out bench/scaling-stand-in.json

Each size runs in a fresh process with its own local Spark driver (the local profile, every stage of
`affective run`), so the memory peaks are that size's: the Python driver's peak RSS, the JVM's peak RSS
and its heap's peak use (in local mode the JVM also hosts the executors, so its RSS is not the driver's
alone). `--encoder stand-in` swaps the sentence encoder for the stand-in of the same output shape
(udfs/encoder.py), to show how Spark's own work scales without the model's cost.

(e) `classify.model_seconds` is the time Python workers spent inside the model (input waits excluded),
summed over workers; spread over the session's task slots it is the model's share of the run's wall
time: outside = 1 - model_seconds / (slots x wall seconds).
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from bench import in_fresh_process


def _jvm_peaks(spark) -> dict[str, float]:
    jvm = spark.sparkContext._jvm
    pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    heap = sum(p.getPeakUsage().getUsed() for p in pools if str(p.getType()) == "Heap memory")
    pid = spark.sparkContext._gateway.proc.pid
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return {"jvm_peak_rss_mib": rss_kib / 1024, "jvm_heap_peak_mib": heap / 2**20}


def one_size(size: int, encoder: str, workdir: Path, seed: int) -> dict:
    """Synthesize `size` conversations and run every stage of `affective run` on them, in this process."""
    from jobs import pipeline
    from jobs.cli import STAGE_COMMANDS
    from jobs.config import load_config
    from jobs.session import get_spark
    from jobs.synth import synth_conversations, write_synth

    cfg = load_config("local", overrides=[f"paths.state={workdir / 'state'}", f"model.encoder={encoder}"])
    spark = get_spark(cfg["spark"])
    started = time.perf_counter()
    write_synth(synth_conversations(spark, n=size, seed=seed), str(workdir / "data"))
    synth_seconds = time.perf_counter() - started
    ctx = pipeline.new_context(cfg, str(workdir / "out"), input_path=str(workdir / "data" / "conversations"),
                               run_id=f"bench-{size}")
    started = time.perf_counter()
    stages = pipeline.run_stages(ctx, STAGE_COMMANDS["run"])
    wall = time.perf_counter() - started
    slots = spark.sparkContext.defaultParallelism
    model_seconds = stages["classify"]["model_seconds"]
    return {"conversations": size, "encoder": encoder, "slots": slots, "synth_seconds": synth_seconds,
            "run_seconds": wall, "conversations_per_second": size / wall,
            "stage_seconds": {name: metrics["seconds"] for name, metrics in stages.items()},
            "model_seconds": model_seconds, "share_outside_model": 1 - model_seconds / (slots * wall),
            "python_driver_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **_jvm_peaks(spark)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2", help="all-MiniLM-L6-v2 or stand-in")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="bench/scaling.json")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)  # the child process's size
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_size:
        print(json.dumps(one_size(args.one_size, args.encoder, args.workdir, args.seed)))
        return 0
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"affective-bench-{size}-") as workdir:
            results.append(in_fresh_process("bench.scaling", "--one-size", str(size), "--encoder", args.encoder,
                                            "--seed", str(args.seed), "--workdir", workdir))
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
