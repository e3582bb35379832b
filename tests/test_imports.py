"""The project's own imports keep their layers (pyproject.toml's import contracts, import-linter): the
launcher on top, the pipeline below it, stages that import no other stage and not the launcher."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_stage_importing_another_stage_breaks_them(tmp_path):
    for package in ("jobs", "udfs"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("model", "seed", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    topics = tmp_path / "jobs" / "topics.py"
    topics.write_text(topics.read_text().replace("from __future__ import annotations\n",
                                                 "from __future__ import annotations\n\nimport jobs.aggregate\n", 1))
    result = _lint(tmp_path)
    assert result.returncode == 1
    assert "jobs.topics -> jobs.aggregate" in result.stdout
