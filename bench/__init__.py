"""Benchmarks (BENCHMARKS.md): measurements, not tests."""
from __future__ import annotations

import json
import subprocess
import sys


def in_fresh_process(module: str, *args: str) -> dict:
    """Run `python -m module args...` in a new interpreter, so that its peaks are its own, and return the
    JSON object its last line of output holds (also printed here as it comes)."""
    child = subprocess.run([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, check=True, text=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result
