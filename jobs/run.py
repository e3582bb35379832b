"""The whole pipeline, ingest -> classify -> aggregate -> report, as one job.

    spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/run.py --input data/ --output out/
    python -m jobs.run --profile local --input data/synth/conversations --output out/
"""
from __future__ import annotations

import sys

from jobs.cli import stage_main

main = stage_main("run")


if __name__ == "__main__":
    sys.exit(main())
