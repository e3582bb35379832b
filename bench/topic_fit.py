"""Topics' k-means fit on the driver: its time and the driver's memory at growing sample sizes.

    .venv/bin/python -m bench.topic_fit --rows 50000 --caps 1000 10000 15000 50000 --out /tmp/topic_fit.json

One scope of `--rows` random unit 384-d embeddings (a Parquet file in a temporary folder) is fitted by
`jobs.topics.fit_scope` with `topics.fit_conversations` set to each cap, each cap in a fresh process, so
that each peak is that cap's. The peak is the Python driver's peak RSS after the fit less its RSS before
it (Spark, scikit-learn and pyarrow already loaded and one tiny fit done; the peak is reset first through
/proc/self/clear_refs, so Linux only), i.e. what the sample costs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from bench import in_fresh_process

DIMENSIONS = 384


def _status_mib(field: str) -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1024


def _reset_peak() -> None:
    """Linux: the peak RSS (VmHWM) starts again from the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def write_scope(path: Path, rows: int, seed: int) -> None:
    """One scope of `rows` random unit embeddings, shaped like the rows `fit_scope` reads."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.random.default_rng(seed).standard_normal((rows, DIMENSIONS)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"c{i:08d}" for i in range(rows)]
    embedding = pa.FixedSizeListArray.from_arrays(x.ravel(), DIMENSIONS).cast(pa.list_(pa.float32()))
    pq.write_table(pa.table({"conversation_id": ids, "scope": ["affective"] * rows, "embedding": embedding}), path)


def one_cap(path: Path, rows: int, cap: int) -> dict:
    """Fit one scope with the sample capped at `cap`, in this process."""
    from jobs.config import load_config
    from jobs.session import get_spark
    from jobs.topics import TopicSettings, fit_scope

    cfg = load_config("local")
    spark = get_spark(cfg["spark"])
    scope = spark.read.parquet(str(path))
    topics = TopicSettings.from_config(cfg)
    fit_scope(scope.limit(50), 50, topics)  # loads what every fit needs, so the peak below is the sample's
    _reset_peak()
    before = _status_mib("VmRSS:")
    started = time.perf_counter()
    fit = fit_scope(scope, rows, dataclasses.replace(topics, fit_conversations=cap))
    return {"rows": rows, "fit_conversations": cap, "fine_k": len(fit.fine_centres), "n_init": topics.n_init,
            "fit_seconds": time.perf_counter() - started, "driver_rss_before_mib": before,
            "driver_peak_rise_mib": _status_mib("VmHWM:") - before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--caps", type=int, nargs="+", default=[1_000, 10_000, 15_000, 50_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/topic_fit.json")
    parser.add_argument("--one-cap", type=int, help=argparse.SUPPRESS)  # the child process's cap
    parser.add_argument("--scope", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_cap:
        print(json.dumps(one_cap(args.scope, args.rows, args.one_cap)))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="affective-topic-fit-") as workdir:
        scope = Path(workdir) / "scope.parquet"
        write_scope(scope, args.rows, args.seed)
        for cap in args.caps:
            results.append(in_fresh_process("bench.topic_fit", "--one-cap", str(cap), "--rows", str(args.rows),
                                            "--scope", str(scope)))
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
