"""Run by every Python interpreter that has this folder on its PYTHONPATH.

tests/test_faults.py puts the folder on the PYTHONPATH of Spark's Python workers (and nowhere else)
through `SparkContext.environment`, with AFFECTIVE_FAULT naming the fault to inject into them.
"""
import os

if os.environ.get("AFFECTIVE_FAULT"):
    import inject_faults

    inject_faults.install(os.environ["AFFECTIVE_FAULT"])
