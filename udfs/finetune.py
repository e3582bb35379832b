"""The model's branches: copies of all-MiniLM-L6-v2's top layers fine-tuned for one group of tasks.

A frozen general-purpose encoder places a text by its topic more than by what it does or feels: "I can't
help with that" about a drug sits near a long, helpful answer about the same drug, and a message's
feeling is a small part of its vector (issue 13; MELD macro-F1 0.507 from it, EVALUATION.md). Fine-tuning
the whole encoder would change what every other head and the topics read, or cost a second full pass
over each message. A branch reads the encoder's token states below its own top layers, so classify runs
the lower layers once and both tops on the messages the branch serves (`encoder.embed_branched`): 8
layers instead of 6 for those messages, and every other head keeps the encoder's vectors.

- The sentiment branch (POLARITY) serves the user messages scored for sentiment: 3-way polarity, classes
  weighed equally, the epoch kept by validation macro-F1.
- The reply branch (REPLY) serves the assistant messages: pushback and referral, one logistic output
  each over the replies whose source says something about it, the epoch kept by validation log-loss.

Training computes the lower states of every text once and trains the branch with a linear output over
its normalised vectors; udfs/build.py then fits the calibrated heads on the branch's vectors. The file
holds the branch's layers only (fp16, 7 MB), named by their index in the encoder.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from udfs import encoder
from udfs.heads import file_version

logger = logging.getLogger(__name__)

REPLY_TASKS = ("pushback", "referral")
BRANCH_LAYERS = 2  # top layers in a branch (3 scored the same on validation, at 1.5x the training time)
POLARITIES = (-1, 0, 1)
LOGIT_SCALE = 20.0  # the branch's training output reads unit vectors: scaled, a softmax can be confident


@dataclass(frozen=True)
class Objective:
    """What a branch is trained for: its outputs, how labels become targets, the loss, the validation
    score that picks the epoch (higher is better), and the batch size."""

    name: str
    outputs: int
    batch_size: int
    targets: Callable[[np.ndarray], np.ndarray]
    loss_for: Callable[[Any], Callable[..., Any]]  # train targets -> the loss, (logits, targets) -> tensor
    score: Callable[[np.ndarray, np.ndarray], float]  # (logits, targets) -> validation score


def _polarity_loss_for(train_targets):
    import torch

    counts = torch.bincount(train_targets, minlength=len(POLARITIES)).float()
    weight = counts.sum() / (len(POLARITIES) * counts.clamp(min=1))  # classes weighed equally, once
    return lambda logits, targets: torch.nn.functional.cross_entropy(logits, targets, weight=weight)


def _polarity_score(logits: np.ndarray, targets: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(targets, logits.argmax(1), average="macro"))


def _masked_loss(logits, targets):
    """Log-loss over the (reply, task) pairs whose source gives a label (NaN: it says nothing)."""
    import torch

    known = ~torch.isnan(targets)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])


def _reply_score(logits: np.ndarray, targets: np.ndarray) -> float:
    import torch

    return -float(_masked_loss(torch.from_numpy(logits), torch.from_numpy(targets)))


POLARITY = Objective("sentiment branch", len(POLARITIES), 32,
                     lambda labels: np.array([POLARITIES.index(y) for y in labels], dtype=np.int64),
                     _polarity_loss_for, _polarity_score)
# 3,000 replies against 87,000 lines: smaller batches give the reply branch more steps.
REPLY = Objective("reply branch", len(REPLY_TASKS), 16, lambda labels: np.asarray(labels, dtype=np.float32),
                  lambda train_targets: _masked_loss, _reply_score)


def reply_labels(rows: list[dict]) -> np.ndarray:
    """Per reply and task of REPLY_TASKS, 1 / 0, or NaN where the source says nothing."""
    return np.array([[np.nan if e[t] is None else float(e[t]) for t in REPLY_TASKS] for e in rows], dtype=np.float32)


def _lower_states(model, tokenizer, texts: list[str], first: int, max_length: int, device: str) -> list:
    """Per text, the token states that layer `first` reads (fp16, unpadded), in one pass of the lower layers."""
    import torch

    states: list = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            idx = order[start:start + 64]
            batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt").to(device)
            hidden = model(**batch, output_hidden_states=True).hidden_states[first]
            for row, i in enumerate(idx):
                states[i] = hidden[row, :int(batch["attention_mask"][row].sum())].to(torch.float16).cpu()
    return states


def _padded(states: list, idx, device: str):
    import torch

    width = max(len(states[i]) for i in idx)
    hidden = torch.zeros(len(idx), width, encoder.EMBEDDING_DIM)
    mask = torch.zeros(len(idx), width, dtype=torch.long)
    for row, i in enumerate(idx):
        hidden[row, :len(states[i])], mask[row, :len(states[i])] = states[i].float(), 1
    return hidden.to(device), mask.to(device)


def train_branch(objective: Objective, train: tuple[list[str], Any], val: tuple[list[str], Any], out: Path, *,
                 layers: int = BRANCH_LAYERS, epochs: int = 2, lr: float = 5e-5, max_length: int = 128,
                 seed: int = 13) -> dict[str, Any]:
    """Fine-tune a branch on (texts, labels) for an objective, keep the epoch with the best validation
    score, and write its layers (fp16 safetensors) to `out`.

    Returns:
        What was done: counts, per-epoch validation score, the epoch kept, seconds, the file's version.
    """
    import copy

    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    rng = random.Random(seed)
    device = encoder.resolve_device("auto")
    tokenizer, model = encoder.load_encoder(device)
    first = len(model.encoder.layer) - layers
    started = time.time()
    train_states = _lower_states(model, tokenizer, train[0], first, max_length, device)
    val_states = _lower_states(model, tokenizer, val[0], first, max_length, device)
    logger.info("%s: lower states of %d train, %d val texts (%.0f s)", objective.name, len(train_states),
                len(val_states), time.time() - started)
    train_y = torch.from_numpy(objective.targets(train[1])).to(device)
    train_loss = objective.loss_for(train_y)
    val_y = objective.targets(val[1])
    branch = copy.deepcopy(model.encoder.layer[first:]).float().train()
    head = torch.nn.Linear(encoder.EMBEDDING_DIM, objective.outputs).to(device)
    optimizer = torch.optim.AdamW([{"params": branch.parameters(), "lr": lr},
                                   {"params": head.parameters(), "lr": lr * 20}], weight_decay=0.01)
    # Length-sorted batches, shuffled: little padding, every epoch in another order.
    by_length = sorted(range(len(train_states)), key=lambda i: len(train_states[i]))
    batch_size = objective.batch_size
    batches = [by_length[i:i + batch_size] for i in range(0, len(by_length), batch_size)]
    steps, warmup = epochs * len(batches), max(1, epochs * len(batches) // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: step / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup)))

    def logits(states: list, idx) -> "torch.Tensor":
        return head(encoder.run_layers(branch, *_padded(states, idx, device)) * LOGIT_SCALE)

    def validate() -> float:
        branch.eval()
        order = sorted(range(len(val_states)), key=lambda i: len(val_states[i]))
        out_logits = np.zeros((len(val_states), objective.outputs), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), 256):
                idx = order[start:start + 256]
                out_logits[idx] = logits(val_states, idx).float().cpu().numpy()
        branch.train()
        return objective.score(out_logits, val_y)

    history, best = [], None
    for epoch in range(1, epochs + 1):
        rng.shuffle(batches)
        for idx in batches:
            loss = train_loss(logits(train_states, idx), train_y[idx])
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        history.append(validate())
        logger.info("%s: epoch %d, validation score %.4f (%.0f s)", objective.name, epoch, history[-1],
                    time.time() - started)
        if best is None or history[-1] > history[best[0] - 1]:
            best = (epoch, {f"{first + int(k.split('.', 1)[0])}.{k.split('.', 1)[1]}": v.detach().to(torch.float16).cpu().clone()
                            for k, v in branch.state_dict().items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(best[1], str(out))
    return {"train": len(train_states), "val": len(val_states), "layers": layers, "epochs": epochs, "lr": lr,
            "batch_size": batch_size, "max_length": max_length, "val_score_by_epoch": history,
            "epoch_kept": best[0], "seconds": round(time.time() - started), "version": file_version(out.read_bytes())}
