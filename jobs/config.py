"""One config tree: conf/default.yaml, overridden by a profile, a --config file and --set key=value.

Every key a user may set exists in default.yaml; anything else is an error that names the key, and a
value must have the type of the default it replaces.
"""
from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

PROFILES = ("local", "cluster")
SECRET_KEY = re.compile(r"(?i)secret|password|passwd|token|credential")
# user:password@ in a URI, and query parameters that carry a credential (signed URLs, API keys).
URI_SECRETS = re.compile(r"(?<=://)[^/@\s]+(?=@)|(?i:(?<=[?&]sig=)|(?<=[?&]token=)|(?<=[?&]api_key=))[^&\s]+")


class ConfigError(ValueError):
    """A config key or value that the pipeline cannot use."""


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _packaged(name: str) -> dict[str, Any]:
    text = resources.files("conf").joinpath(name).read_text(encoding="utf-8")
    return _read_yaml(text, f"conf/{name}")


def _coerce(key: str, default: Any, value: Any) -> Any:
    """Return value as the type of default, or raise naming the key."""
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, list):
        if isinstance(value, list):
            return value
    raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")


def merge(base: dict[str, Any], override: dict[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """Deep-merge override into a copy of base; keys absent from base are errors."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"{source}: unknown config key '{dotted}'")
        if isinstance(base[key], dict):
            merged[key] = merge(base[key], _coerce(dotted, base[key], value), source, f"{dotted}.")
        else:
            merged[key] = _coerce(dotted, base[key], value)
    return merged


def _parse_set(assignment: str) -> dict[str, Any]:
    """'a.b=3' -> {'a': {'b': 3}}, the value read as YAML so numbers and booleans keep their type."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected key=value")
    value = _read_yaml(f"v: {raw}", f"--set {key}")["v"] if raw.strip() else ""
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def load_config(
    profile: str | None = None, config_file: str | None = None, overrides: Iterable[str] = ()
) -> dict[str, Any]:
    """Resolve the config tree.

    Args:
        profile: 'local', 'cluster' or None for the privacy-grade defaults alone.
        config_file: a YAML file whose keys override the profile.
        overrides: 'key.path=value' strings, applied last.

    Returns:
        The merged config as nested dicts.
    """
    cfg = _packaged("default.yaml")
    if profile:
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile '{profile}': choose one of {', '.join(PROFILES)}")
        cfg = merge(cfg, _packaged(f"{profile}.yaml"), f"conf/{profile}.yaml")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"--config {config_file}: no such file")
        cfg = merge(cfg, _read_yaml(path.read_text(encoding="utf-8"), str(path)), str(path))
    for assignment in overrides:
        cfg = merge(cfg, _parse_set(assignment), f"--set {assignment.partition('=')[0]}")
    _validate(cfg)
    return cfg


def _validate(cfg: dict[str, Any]) -> None:
    checks = {
        "model.batch_size": cfg["model"]["batch_size"] >= 1,
        "model.max_length": 8 <= cfg["model"]["max_length"] <= 512,
        "model.device": cfg["model"]["device"] in ("auto", "cpu", "cuda"),
        "model.cpu_precision": cfg["model"]["cpu_precision"] in ("auto", "float32", "bfloat16"),  # udfs/encoder.py
        "model.encoder": cfg["model"]["encoder"] in ("all-MiniLM-L6-v2", "stand-in"),  # udfs/encoder.py
        "model.encoder_dir": not cfg["model"]["encoder_dir"]
        or (Path(cfg["model"]["encoder_dir"]) / "config.json").is_file(),
        "classify.sentiment_scope": cfg["classify"]["sentiment_scope"] in ("shift", "all"),
        "classify.conversations_per_task": cfg["classify"]["conversations_per_task"] >= 1,
        "classify.conversations_per_batch": cfg["classify"]["conversations_per_batch"] >= 1,
        "ingest.input_format": cfg["ingest"]["input_format"] in ("auto", "jsonl", "parquet", "delta"),
        "privacy.min_users": cfg["privacy"]["min_users"] >= 1,
        "privacy.min_conversations": cfg["privacy"]["min_conversations"] >= 1,
        "aggregate.bootstrap_replicates": cfg["aggregate"]["bootstrap_replicates"] >= 50,
        "aggregate.confidence": 0.5 < cfg["aggregate"]["confidence"] < 1,
        "spark.arrow_batch_rows": cfg["spark"]["arrow_batch_rows"] >= 1,
        # two tables in one folder would overwrite each other
        "tables": all(cfg["tables"].values()) and len(set(cfg["tables"].values())) == len(cfg["tables"]),
        "spark.driver_memory": re.fullmatch(r"[1-9][0-9]*[kmgt]", cfg["spark"]["driver_memory"], re.I) is not None,
        **{f"topics.{key}": cfg["topics"][key] >= low for key, low in (
            ("fine_k", 0), ("coarse_k", 0), ("conversations_per_fine_cluster", 1), ("fine_clusters_per_coarse", 1),
            ("max_k", 2), ("max_iter", 1), ("n_init", 1),
            ("fit_conversations", 2), ("max_conversations_per_user", 1), ("terms", 1))},
        **{f"model.backends.{task}.type": spec["type"] in ("embedded", "hf-classifier", "hf-zero-shot")
           for task, spec in cfg["model"]["backends"].items()},
    }
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise ConfigError(f"invalid value for {', '.join(bad)}: " + ", ".join(f"{k}={_get(cfg, k)!r}" for k in bad))


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for logging the resolved config as MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def masked(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config with its secrets replaced by `***`, for logs and MLflow: values of keys named like
    a secret, and credentials inside URIs (`https://user:pass@host`, `?sig=...`)."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out[key] = masked(value)
        elif value and SECRET_KEY.search(key):
            out[key] = "***"
        elif isinstance(value, str):
            out[key] = URI_SECRETS.sub("***", value)
        elif isinstance(value, list):
            out[key] = [URI_SECRETS.sub("***", v) if isinstance(v, str) else v for v in value]
        else:
            out[key] = value
    return out
