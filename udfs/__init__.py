"""The model layer: the only package that loads or knows about models.

Jobs ask it for the trained heads (`load_heads`) and for the map function that labels conversations
(`conversation_classifier`); they never touch torch or transformers themselves.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from udfs.classifier import ClassifierSettings, conversation_classifier, settings_from_config
from udfs.heads import Heads, seed_version, train_heads, SEED_DIR

logger = logging.getLogger(__name__)

__all__ = ["ClassifierSettings", "Heads", "conversation_classifier", "load_heads", "settings_from_config"]


def load_heads(model_cfg: dict[str, Any], cache_dir: str) -> Heads:
    """The default heads for this config, trained on the seed set once and cached by version.

    Args:
        model_cfg: the `model` section of the config.
        cache_dir: folder holding one sub-folder per trained version.

    Returns:
        Heads stamped with their version.
    """
    from udfs import encoder

    version = seed_version(SEED_DIR, model_cfg["encoder"], model_cfg["seed"], model_cfg["heads_regularization"])
    directory = Path(cache_dir) / version
    if (directory / "heads.json").is_file():
        return Heads.load(directory)
    device = encoder.resolve_device(model_cfg["device"])
    heads = train_heads(
        lambda texts: encoder.encode(texts, device=device, batch_size=model_cfg["batch_size"],
                                     max_length=model_cfg["max_length"]),
        version=version, seed=model_cfg["seed"], c=model_cfg["heads_regularization"],
    )
    heads.save(directory)
    return heads
