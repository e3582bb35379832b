"""The heads as an MLflow model: logged, registered under an alias, and loaded back by URI.

Driver-side only (it imports mlflow); executors receive the loaded heads in their closure.
"""
from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from udfs.heads import Heads, no_context, with_context


class HeadsModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: a column `embedding` of 384-d pooled user-side vectors, and optionally `context`
    (the pooled assistant replies; zeros where absent) -> probabilities of the `use` head."""

    def load_context(self, context):
        self.heads = Heads.load(Path(context.artifacts["heads"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        head = self.heads["use"]
        x = np.stack(model_input["embedding"].map(np.asarray))
        context = np.stack(model_input["context"].map(np.asarray)) if "context" in model_input else no_context(len(x))
        return pd.DataFrame(head.proba(with_context(x, context)), columns=[str(c) for c in head.classes])


def log_heads_model(heads: Heads, directory: Path, *, registered_name: str, alias: str) -> str:
    """Log the heads as an MLflow model, register it and point the alias at it; return its models:/ URI."""
    heads.save(directory)
    info = mlflow.pyfunc.log_model(name="heads", python_model=HeadsModel(), artifacts={"heads": str(directory)},
                                   registered_model_name=registered_name)
    client = MlflowClient()
    client.set_registered_model_alias(registered_name, alias, info.registered_model_version)
    client.set_model_version_tag(registered_name, info.registered_model_version, "heads_version", heads.version)
    return f"models:/{registered_name}@{alias}"


def load_registered_heads(uri: str) -> Heads:
    """Heads from a `models:/name@alias` (or `models:/name/version`, `runs:/...`) URI or a local model path."""
    local = Path(uri) if Path(uri).exists() else Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    found = next(local.rglob("heads.json"), None)
    if found is None:
        raise FileNotFoundError(f"{uri}: no heads.json in the model's artifacts")
    return Heads.load(found.parent)
