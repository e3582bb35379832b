"""The `affective` distribution: jobs (stages), udfs (model layer) and conf (default config)."""
from pathlib import Path

from setuptools import setup

requirements = [
    line.split("#")[0].strip()
    for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip()
    and not line.startswith(("pytest", "nb", "ipykernel", "hypothesis", "import-linter"))
]
# Spark and Delta come with the cluster (a Databricks runtime, a Spark distribution): installing the
# wheel there must not replace them, so they are an extra (`pip install affective[spark]` elsewhere).
PROVIDED = ("pyspark", "delta-spark")

setup(
    name="affective",
    version="0.1.0",
    description="Privacy-preserving measurement of affective use of AI assistants on Spark, Delta Lake and MLflow",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=["jobs", "jobs.privacy", "udfs", "conf"],
    package_data={"conf": ["*.yaml"], "jobs": ["synth_grammar.yaml"],
                  "udfs": ["seed/*.jsonl", "seed/*.md", "model/*", "MODEL_CARD.md"]},
    install_requires=[r for r in requirements if not r.startswith(PROVIDED)],
    extras_require={"spark": [r for r in requirements if r.startswith(PROVIDED)]},
    entry_points={"console_scripts": ["affective=jobs.cli:main"]},
)
