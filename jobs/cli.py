"""The `affective` command: `affective run | synth | ingest | classify | aggregate | topics | report | validate | train`.

    affective synth --n 3000 --out data/ --seed 42
    affective run --profile local --input data/conversations --output out/
    python -m jobs run ...                                   # the same, without the installed script
    spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/cli.py run --input data/ --output out/

The launcher is the only module that knows every stage (through jobs/pipeline.py); no stage imports it or
another stage (the import contracts in setup.cfg, checked by `make test`).

Exit codes: 0 done (quarantined rows are a logged warning, not a failure), 2 bad config or arguments,
1 any other failure.
"""
from __future__ import annotations

import argparse
import logging
import sys

from jobs.config import ConfigError, load_config

logger = logging.getLogger("affective")

STAGE_COMMANDS = {
    "run": ("ingest", "classify", "aggregate", "topics", "report"),
    "ingest": ("ingest",),
    "classify": ("classify",),
    "aggregate": ("aggregate",),
    "topics": ("topics",),
    "report": ("report",),
    # Validation feeds the error-corrected shares, so gold and report are refreshed after it.
    "validate": ("validate", "aggregate", "report"),
    "train": ("ingest", "train"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="affective", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("synth", help="write synthetic conversations and their labels", add_help=False)
    for name, stages in STAGE_COMMANDS.items():
        sub = commands.add_parser(name, help=f"run {' -> '.join(stages)}")
        if "ingest" in stages:
            sub.add_argument("--input", required=True, help="JSONL file or folder, Parquet or Delta")
        if "validate" in stages or "train" in stages:
            sub.add_argument("--labels", required=True, help="human labels: JSONL file or folder")
        if "classify" in stages:
            sub.add_argument("--reprocess", action="store_true",
                             help="label every conversation again, not only those new to the model version")
        sub.add_argument("--output", required=True, help="folder for tables, report, models and mlflow.db")
        sub.add_argument("--profile", choices=("local", "cluster"), help="config profile over conf/default.yaml")
        sub.add_argument("--config", help="YAML file overriding the profile")
        sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key")
        sub.add_argument("--run-id", help="id stamped on every row and Delta commit (default: random)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if argv[:1] == ["synth"]:
        from jobs import synth

        return synth.main(argv[1:]) or 0
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(args.profile, args.config,
                          [*args.set, *(["classify.reprocess=true"] if getattr(args, "reprocess", False) else [])])
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    from jobs import pipeline
    from jobs.privacy.pseudonym import MissingSecretError

    try:
        ctx = pipeline.new_context(cfg, args.output, stages=STAGE_COMMANDS[args.command],
                                   input_path=getattr(args, "input", None),
                                   labels_path=getattr(args, "labels", None), run_id=args.run_id)
        results = pipeline.run_stages(ctx, STAGE_COMMANDS[args.command])
    except (MissingSecretError, ConfigError) as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    _print_locations(ctx, results)
    return 0


def _print_locations(ctx, results: dict) -> None:
    quarantined = results.get("ingest", {}).get("rows_quarantined", 0)
    if quarantined:
        logger.warning("%d input rows were quarantined: see %s", quarantined,
                       ctx.tables["conversations_quarantine"])
    print(f"run id:  {ctx.run_id}")
    print(f"tables:  {ctx.output_dir / ctx.cfg['paths']['tables']}")
    if "report" in ctx.results:
        print(f"report:  {ctx.results['report']}")
    if "registered" in ctx.results:
        print(f"model:   {ctx.results['registered']} (version {ctx.results['trained_version']})")
    print(f"mlflow:  {__import__('mlflow').get_tracking_uri()} (run {ctx.results.get('mlflow_run_id')})")


if __name__ == "__main__":
    sys.exit(main())

