"""The model layer: the only package that loads or knows about models.

Jobs ask it for the trained heads (`load_heads`) and for the map function that labels conversations
(`conversation_classifier`); they never touch torch or transformers themselves.
"""
from __future__ import annotations

import logging
from typing import Any

from udfs.classifier import ClassifierSettings, conversation_classifier, settings_from_config
from udfs.heads import MODEL_DIR, Heads, fit_heads, seed_training_set

logger = logging.getLogger(__name__)

__all__ = ["ClassifierSettings", "Heads", "conversation_classifier", "load_heads", "settings_from_config",
           "scorers_from_config", "train_on_labels"]


def load_heads(model_cfg: dict[str, Any]) -> Heads:
    """The heads for this config: `model.heads_uri` if set, else the default model shipped in `udfs/model/`.

    The default model is trained once per model version by `make model` (udfs/build.py) and travels with
    the package, so no run trains anything and every output folder uses the same version.

    Args:
        model_cfg: the `model` section of the config.

    Returns:
        Heads stamped with their version.
    """
    if model_cfg["heads_uri"]:
        from udfs.registry import load_registered_heads

        return load_registered_heads(model_cfg["heads_uri"])
    if not (MODEL_DIR / "heads.json").is_file():
        raise FileNotFoundError(f"{MODEL_DIR}: the default model is missing; build it with `make model`")
    return Heads.load(MODEL_DIR)


def seed_set(model_cfg: dict[str, Any], base: Heads):
    """The seed set embedded with the configured encoder settings, assistant messages with the base
    model's reply branch and user messages with its sentiment branch (on the driver: it is small)."""
    from udfs import encoder

    device = encoder.resolve_device(model_cfg["device"])

    def encode_with(branch: bytes | None = None, tail: bool = False):
        return lambda texts: encoder.encode(
            texts, branch, tail, encoder=model_cfg["encoder"], device=device, batch_size=model_cfg["batch_size"],
            max_length=model_cfg["max_length"], encoder_dir=model_cfg["encoder_dir"] or None,
            cpu_precision=model_cfg["cpu_precision"])

    return seed_training_set(encode_with(), encode_with(base.reply_branch), encode_with(base.sentiment_branch),
                             encode_with(base.reply_branch, tail=True))


def train_on_labels(rows: list[dict], model_cfg: dict[str, Any], *, base: Heads, include_seed: bool) -> Heads:
    """Heads fitted on embedded, labelled conversations (see udfs.training), plus the seed set if asked.

    Args:
        rows: embedded conversations joined with their human labels.
        model_cfg: the `model` section of the config.
        base: the heads in use, which pick the pushing-back message of a labelled conversation.
        include_seed: add the hand-written seed set to the training data.

    Returns:
        The heads, versioned by a hash of their training data.
    """
    from udfs.training import labelled_training_set, training_version

    data = labelled_training_set(rows, base)
    if include_seed:
        data = seed_set(model_cfg, base) + data
    version = training_version(data, base.version)
    heads = fit_heads(data, version=version, seed=model_cfg["seed"], c=model_cfg["heads_regularization"])
    return Heads(version, heads.heads, {**heads.metrics, **{f"balance.{k}": v for k, v in data.balance().items()}},
                 reply_branch=base.reply_branch, sentiment_branch=base.sentiment_branch, tail_heads=heads.tail_heads,
                 first_turn_heads=heads.first_turn_heads)


BACKEND_TASKS = ("use", "pushback", "pushback_reason", "referral", "sentiment")


def scorers_from_config(model_cfg: dict[str, Any]) -> dict:
    """Per task, the model that replaces its head (`model.backends.<task>` not `embedded`)."""
    from udfs.backends import scorer_from_config

    scorers = {}
    for task in BACKEND_TASKS:
        scorer = scorer_from_config(model_cfg["backends"][task], device=model_cfg["device"],
                                    batch_size=model_cfg["batch_size"], max_length=model_cfg["max_length"])
        if scorer is not None:
            scorers[task] = scorer
    return scorers
