"""Pluggable text scorers: local Hugging Face classifiers and zero-shot NLI models, chosen per task in config.

Both backends share one engine (`run_model`, on udfs.encoder.run_batched): models loaded once per process (a Spark Python worker is
reused across tasks), length-sorted batches so padding stays small, bf16/fp16 on CUDA, and a batch that
runs out of GPU memory is retried at half the size, down to one row; a row that fails even alone comes
back as NaN with an error message (never its text) instead of failing the job.

A scorer keeps only its settings and small arrays; the model itself lives in the per-process cache, so
a scorer pickled into a Spark closure is small and reloads lazily on the worker.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence, Union

import numpy as np

from udfs.encoder import resolve_device, run_batched

logger = logging.getLogger(__name__)

Input = Union[str, tuple[str, str]]  # one text, or a pair: (context, text) or (premise, hypothesis)
DTYPES = ("float32", "float16", "bfloat16")
# The spec fields each backend type reads; any other field set in its spec is a config mistake.
SPEC_FIELDS = {"embedded": ("type",), "hf-classifier": ("type", "path", "labels"),
               "hf-zero-shot": ("type", "path", "hypotheses", "multi_label")}
BACKEND_TYPES = tuple(SPEC_FIELDS)


@dataclass
class ScoredBatch:
    """Scores of a list of texts, in the input order."""

    proba: np.ndarray         # (n, len(classes)) float32; rows that failed are NaN
    errors: list[str | None]  # per row: None, or an error message (no text content in it)


class TextScorer(Protocol):
    """Anything that turns texts into probabilities over our label values."""

    classes: tuple

    def score(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> ScoredBatch: ...


def parse_label(value: str) -> bool | int | str:
    """Our label value from its config spelling: 'true'/'false' -> bool, integers -> int, else str."""
    value = value.strip()
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        return value


def _split_entry(entry: str, what: str) -> tuple[str, str]:
    """'left=right' -> (left, right), split at the first '=' (templates may contain '=')."""
    left, sep, right = str(entry).partition("=")
    if not sep or not left.strip() or not right.strip():
        raise ValueError(f"{what} entry {entry!r} is not of the form 'name=value'")
    return left.strip(), right.strip()


def resolve_dtype(dtype: str, device: str) -> str:
    """The dtype name to run in: 'auto' is bf16 (else fp16) on CUDA and float32 on CPU.

    Args:
        dtype: 'auto' or one of DTYPES.
        device: the resolved device ('cpu', 'cuda', 'cuda:1', ...).

    Returns:
        One of DTYPES.
    """
    import torch

    if dtype == "auto":
        if not device.startswith("cuda"):
            return "float32"
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {DTYPES}, got {dtype!r}")
    return dtype


def _is_mlflow_model(path: str) -> bool:
    """An MLflow model: a local folder with an MLmodel file, or a URI such as runs:/ or models:/."""
    return path.startswith(("runs:/", "models:/")) or "://" in path or (Path(path) / "MLmodel").is_file()


@functools.lru_cache(maxsize=8)
def load_model(path: str, device: str, dtype: str):
    """Tokenizer and sequence-classification model on the device, cached for the life of the process.

    Args:
        path: a local Hugging Face model folder, or an MLflow `transformers` model path/URI.
        device: the resolved device.
        dtype: one of DTYPES.

    Returns:
        (tokenizer, model) with the model in eval mode.
    """
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch_dtype = getattr(torch, dtype)
    if _is_mlflow_model(path):
        # Untested against a remote tracking server; tested with a local save_model folder.
        import mlflow.transformers

        components = mlflow.transformers.load_model(path, return_type="components")
        tokenizer, model = components["tokenizer"], components["model"]
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
    model = model.to(device=device, dtype=torch_dtype).eval()
    logger.info("loaded %s on %s as %s", path, device, dtype)
    return tokenizer, model


def _tokenize(tokenizer, inputs: Sequence[Input], max_length: int,
              truncation: str = "only_first") -> list[dict[str, list[int]]]:
    """Token ids per input, truncated to max_length; of a pair, `truncation` says which side is cut
    ('only_first': never the hypothesis; 'longest_first': the longer of context and text)."""
    if isinstance(inputs[0], tuple):
        encoded = tokenizer([p for p, _ in inputs], [h for _, h in inputs], truncation=truncation,
                            max_length=max_length)
    else:
        encoded = tokenizer(list(inputs), truncation=True, max_length=max_length)
    return [{key: values[i] for key, values in encoded.items()} for i in range(len(inputs))]


def run_model(tokenizer, model, inputs: Sequence[Input], *, device: str, batch_size: int,
              max_length: int, truncation: str = "only_first") -> tuple[np.ndarray, list[str | None]]:
    """Logits for every input through the shared batching engine (udfs.encoder.run_batched).

    Returns:
        (logits, errors): float32 (len(inputs), num_labels) in the input order, NaN rows where the input
        failed even alone, and per input None or the error message.
    """
    if not len(inputs):
        return np.full((0, model.config.num_labels), np.nan, dtype=np.float32), []

    def forward(rows: list[dict]) -> np.ndarray:
        batch = tokenizer.pad(rows, return_tensors="pt").to(device)
        return model(**batch).logits.float().cpu().numpy()

    return run_batched(_tokenize(tokenizer, inputs, max_length, truncation), forward, model.config.num_labels,
                       device=device, batch_size=batch_size)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class _LocalModelScorer:
    """Settings and model access shared by the backends; the model comes from the process cache."""

    def __init__(self, model_dir: str, *, device: str, dtype: str, batch_size: int, max_length: int):
        self.model_dir = str(model_dir)
        self.requested_device = device
        self.requested_dtype = dtype
        self.batch_size = batch_size
        self.max_length = max_length

    @property
    def device(self) -> str:
        # Resolved where the scorer runs (a GPU executor), not where it was built (the driver).
        return resolve_device(self.requested_device)

    @property
    def dtype(self) -> str:
        return resolve_dtype(self.requested_dtype, self.device)

    @property
    def tokenizer(self):
        return load_model(self.model_dir, self.device, self.dtype)[0]

    @property
    def model(self):
        return load_model(self.model_dir, self.device, self.dtype)[1]

    def _logits(self, inputs: Sequence[Input], truncation: str = "only_first") -> tuple[np.ndarray, list[str | None]]:
        tokenizer, model = load_model(self.model_dir, self.device, self.dtype)
        return run_model(tokenizer, model, inputs, device=self.device, batch_size=self.batch_size,
                         max_length=self.max_length, truncation=truncation)


class HFClassifierScorer(_LocalModelScorer):
    """A local sequence-classification model whose labels map onto ours."""

    def __init__(self, model_dir: str, label_map: list[str], *, device: str = "auto", batch_size: int = 32,
                 max_length: int = 256, dtype: str = "auto"):
        """Load the model (once per process) and check the label map against its labels.

        Args:
            model_dir: a local Hugging Face model folder or an MLflow `transformers` model path/URI.
            label_map: "model_label=our_label" strings covering every model label; several model labels
                may map to one of ours (their probabilities are summed). Our classes keep the order in
                which they first appear here.
            device: 'auto', 'cpu' or 'cuda'.
            batch_size: texts per forward pass (halved on out-of-memory).
            max_length: tokens kept per text.
            dtype: 'auto' or one of DTYPES.
        """
        super().__init__(model_dir, device=device, dtype=dtype, batch_size=batch_size, max_length=max_length)
        id2label = self.model.config.id2label
        self.classes, self.mapping = _label_matrix([id2label[i] for i in range(len(id2label))], label_map)

    def score(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> ScoredBatch:
        """Probabilities over `classes` for each text (NaN rows where a text failed).

        contexts: per text, what it answers ('' for nothing), read as the pair (context, text), the way a
            cross-encoder fine-tuned on (request, reply) pairs reads them; None for texts alone.
        """
        inputs = list(texts) if contexts is None else list(zip(contexts, texts))
        logits, errors = self._logits(inputs, truncation="longest_first")
        return ScoredBatch((_softmax(logits) @ self.mapping).astype(np.float32), errors)


def _label_matrix(model_labels: list[str], label_map: list[str]) -> tuple[tuple, np.ndarray]:
    """Our classes and the (n_model_labels, n_classes) 0/1 matrix summing model probabilities into ours."""
    pairs = [_split_entry(entry, "label_map") for entry in label_map]
    known = set(model_labels)
    for name, _ in pairs:
        if name not in known:
            raise ValueError(f"label_map names {name!r}, which is not a model label "
                             f"(model labels: {model_labels})")
    ours = dict(pairs)
    if len(ours) != len(pairs):
        raise ValueError(f"label_map maps a model label twice: {label_map}")
    missing = [label for label in model_labels if label not in ours]
    if missing:
        raise ValueError(f"model labels missing from label_map: {missing}")
    classes = tuple(dict.fromkeys(parse_label(value) for _, value in pairs))
    mapping = np.zeros((len(model_labels), len(classes)), dtype=np.float32)
    for i, label in enumerate(model_labels):
        mapping[i, classes.index(parse_label(ours[label]))] = 1.0
    return classes, mapping


def _label_index(label2id: dict[str, int], name: str) -> int:
    """The id of a label, matched case-insensitively; ValueError naming it if the model has none."""
    for label, index in label2id.items():
        if label.lower() == name:
            return int(index)
    raise ValueError(f"zero-shot model has no {name!r} label (label2id: {label2id})")


class ZeroShotScorer(_LocalModelScorer):
    """A local NLI model scoring each text against one hypothesis sentence per class."""

    def __init__(self, model_dir: str, hypotheses: list[str], *, device: str = "auto", batch_size: int = 32,
                 max_length: int = 256, multi_label: bool = False, dtype: str = "auto"):
        """Load the NLI model (once per process) and parse the hypotheses.

        Args:
            model_dir: a local NLI model folder (or an MLflow `transformers` model path/URI).
            hypotheses: "our_label=hypothesis sentence" strings, one per class,
                e.g. "safety=This reply refuses the request for safety reasons.".
            device: 'auto', 'cpu' or 'cuda'.
            batch_size: (text, hypothesis) pairs per forward pass (halved on out-of-memory).
            max_length: tokens kept per pair (the text is truncated, the hypothesis kept).
            multi_label: False: softmax of the entailment logits across classes (rows sum to 1);
                True: each class on its own, entailment vs contradiction.
            dtype: 'auto' or one of DTYPES.
        """
        super().__init__(model_dir, device=device, dtype=dtype, batch_size=batch_size, max_length=max_length)
        pairs = [_split_entry(entry, "hypotheses") for entry in hypotheses]
        if not pairs:
            raise ValueError("hypotheses is empty")
        self.classes = tuple(parse_label(label) for label, _ in pairs)
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"hypotheses name a label twice: {[label for label, _ in pairs]}")
        self.templates = [template for _, template in pairs]
        self.multi_label = multi_label
        label2id = self.model.config.label2id
        self.entailment = _label_index(label2id, "entailment")
        self.contradiction = _label_index(label2id, "contradiction") if multi_label else None

    def score(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> ScoredBatch:
        """Probabilities over `classes` for each text (NaN rows where any of its pairs failed).

        contexts: per text, what it answers ('' for nothing); the premise is then the context and the text.
        """
        if contexts is not None:
            texts = [f"{c}\n\n{t}" if c else t for c, t in zip(contexts, texts)]
        n, k = len(texts), len(self.templates)
        logits, pair_errors = self._logits([(text, template) for text in texts for template in self.templates])
        logits = logits.reshape(n, k, logits.shape[1])
        if self.multi_label:
            proba = _softmax(logits[:, :, [self.contradiction, self.entailment]])[:, :, 1]
        else:
            proba = _softmax(logits[:, :, self.entailment], axis=1)
        errors = [next((e for e in pair_errors[i * k:(i + 1) * k] if e), None) for i in range(n)]
        proba[[e is not None for e in errors]] = np.nan  # one failed pair fails the whole text
        return ScoredBatch(proba.astype(np.float32), errors)


def _require(spec: dict[str, Any], field: str, kind: type) -> Any:
    value = spec.get(field)
    if not isinstance(value, kind) or not value:
        raise ValueError(f"backend spec field {field!r} must be a non-empty {kind.__name__}, got {value!r}")
    if kind is list and not all(isinstance(v, str) for v in value):
        raise ValueError(f"backend spec field {field!r} must be a list of strings")
    return value


def scorer_from_config(spec: dict[str, Any], *, device: str, batch_size: int,
                       max_length: int) -> TextScorer | None:
    """The scorer a task's backend spec asks for.

    Args:
        spec: {"type": "embedded" | "hf-classifier" | "hf-zero-shot", "path": str, "labels": [...],
            "hypotheses": [...], "multi_label": bool (zero-shot only, optional)}.
        device: 'auto', 'cpu' or 'cuda' (the `model.device` setting).
        batch_size: inputs per forward pass.
        max_length: tokens per input.

    Returns:
        None for "embedded" (the caller keeps its heads), else the loaded scorer.
    """
    unknown = set(spec) - {field for fields in SPEC_FIELDS.values() for field in fields}
    if unknown:
        raise ValueError(f"backend spec has unknown fields: {sorted(unknown)}")
    kind = spec.get("type")
    if kind not in BACKEND_TYPES:
        raise ValueError(f"backend spec field 'type' must be one of {BACKEND_TYPES}, got {kind!r}")
    # Empty values are allowed so one config template can list every field.
    for field, value in spec.items():
        if value and field not in SPEC_FIELDS[kind]:
            raise ValueError(f"backend spec field {field!r} does not apply to type {kind!r}")
    if kind == "embedded":
        return None
    common = dict(device=device, batch_size=batch_size, max_length=max_length)
    if kind == "hf-classifier":
        return HFClassifierScorer(_require(spec, "path", str), _require(spec, "labels", list), **common)
    multi_label = spec.get("multi_label", False)
    if not isinstance(multi_label, bool):
        raise ValueError(f"backend spec field 'multi_label' must be a bool, got {multi_label!r}")
    return ZeroShotScorer(_require(spec, "path", str), _require(spec, "hypotheses", list),
                          multi_label=multi_label, **common)
