"""The context a stage runs in: each stage module's `run(ctx) -> dict` reads what it needs from it (the
pipeline builds it once per invocation and times, tracks and names each stage around `run`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from jobs.config import ConfigError
from jobs.tables import table_paths


@dataclass
class Context:
    """What every stage's `run(ctx)` gets: config, session, where things go, the run id stamped on every
    row, and the model in use."""

    cfg: dict[str, Any]
    spark: SparkSession
    output_dir: Path
    run_id: str
    input_path: str | None = None
    labels_path: str | None = None
    pseudonym_key: bytes | None = field(default=None, repr=False)  # resolved when the stages include ingest
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> dict[str, str]:
        return table_paths(self._path(self.cfg["paths"]["tables"]), self.cfg["tables"])

    def _path(self, configured: str) -> Path:
        return configured_path(self.output_dir, configured)

    @property
    def report_dir(self) -> Path:
        return self._path(self.cfg["paths"]["report"])

    @property
    def models_dir(self) -> Path:
        return self._path(self.cfg["paths"]["models"])

    @property
    def validation_dir(self) -> Path:
        return self._path(self.cfg["paths"]["validation"])

    @property
    def state_dir(self) -> Path:
        return self._path(self.cfg["paths"]["state"])

    def heads(self):
        """The model in use (`model.heads_uri`, else the shipped default), loaded once per invocation."""
        import udfs

        if "heads" not in self.results:
            self.results["heads"] = udfs.load_heads(self.cfg["model"])
        return self.results["heads"]


def configured_path(output_dir: Path, configured: str) -> Path:
    path = Path(configured).expanduser()
    return path if path.is_absolute() else output_dir / path


def existing_path(path: str | None, flag: str) -> str:
    """The path, if it exists (remote URIs are left to Spark to check)."""
    if not path or ("://" not in path and not Path(path).exists()):
        raise ConfigError(f"{flag} {path}: no such file or folder")
    return path
