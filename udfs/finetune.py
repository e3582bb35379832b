"""Fine-tuned parts of all-MiniLM-L6-v2: the reply encoder (pushback and referral, an option) and the
sentiment branch (polarity, in the default model).

The reply encoder: the whole encoder fine-tuned on assistant replies for pushback and referral.

A frozen general-purpose encoder places a reply by its topic, so "I can't help with that" about a drug
sits near a long, helpful answer about the same drug (issue 13). Fine-tuning the encoder on the replies of
the training sources, with one output per task, moves the act (declining, referring) into the vector;
the calibrated heads of udfs/build.py are then fitted on these vectors as on any others.

Pushback, its reason and referral read its vectors of the assistant messages; everything else (user
messages, and the replies as use and categories read them) keeps the frozen encoder's, so topics,
sentiment and categories mean what they meant. An anchor term, the cosine distance of each reply's
vector from the frozen encoder's, regularises the 3,000-reply fine-tuning: the vectors move only where
the tasks need them to. The word embeddings stay frozen, so the file it writes holds only the transformer
layers (fp16, 22 MB): `load_encoder` lays it over the packaged encoder. The epoch kept is the one with
the lowest validation log-loss. Not part of the default model (EVALUATION.md says why): `make model`
builds it with `--finetune-epochs N`.

The sentiment branch: a copy of the encoder's top BRANCH_LAYERS layers fine-tuned for 3-way polarity on
the training sources' labelled lines. The frozen encoder's sentence vector carries a message's topic
more than its feeling (MELD macro-F1 0.507 from it, EVALUATION.md); fine-tuning the whole encoder would
change what every other head and the topics read, or cost a second pass over each scored message. The
branch reads the encoder's states below its own top layers, so classify runs the lower layers once and
both tops on the user messages scored for sentiment (`encoder.embed_branched`): 8 layers instead of 6
for those messages. Training computes the lower states of every line once and trains the branch with a
linear output over its normalised vectors (classes weighed equally); the epoch kept is the one with the
best validation macro-F1, and udfs/build.py then fits the calibrated sentiment heads on its vectors.
The file holds the branch's layers only (fp16, 7 MB), named by their index in the encoder.
"""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from udfs import encoder
from udfs.heads import file_version

logger = logging.getLogger(__name__)

TASKS = ("pushback", "referral")
BRANCH_LAYERS = 2  # top layers in the sentiment branch (3 scored the same on validation, at 1.5x the training time)
POLARITIES = (-1, 0, 1)
LOGIT_SCALE = 20.0  # the branch's training output reads unit vectors: scaled, a softmax can be confident
ANCHOR_WEIGHT = 1.0  # weight of the cosine distance from the frozen encoder's vectors in the loss
FROZEN = "embeddings.word_embeddings."  # shared with the packaged encoder: not trained, not written


def reply_rows(examples: list[dict], split: str) -> tuple[list[str], np.ndarray]:
    """(texts, labels): the split's replies and per task 1 / 0, or NaN where the source says nothing."""
    rows = [e for e in examples if e["kind"] == "reply" and e["split"] == split]
    labels = np.array([[np.nan if e[t] is None else float(e[t]) for t in TASKS] for e in rows], dtype=np.float32)
    return [e["text"] for e in rows], labels


def _pooled(model, batch) -> "torch.Tensor":
    import torch

    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)


def _masked_loss(logits, labels) -> "torch.Tensor":
    import torch

    known = ~torch.isnan(labels)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[known], labels[known])


def finetune(examples: list[dict], out: Path, *, epochs: int = 3, lr: float = 3e-5, batch_size: int = 16,
             max_length: int = 128, seed: int = 13, anchor: float = ANCHOR_WEIGHT) -> dict[str, Any]:
    """Fine-tune on the train split's replies (task log-loss + anchor x cosine distance from the frozen
    encoder's vectors), keep the epoch with the best validation task log-loss, and write its transformer
    weights (fp16 safetensors) to `out`.

    Returns:
        What was done: counts, per-epoch validation log-loss, the epoch kept, seconds, the file's version.
    """
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    random.seed(seed)
    tokenizer, frozen = encoder.load_encoder("cpu")
    model = type(frozen).from_pretrained(encoder.encoder_path())
    for name, p in model.named_parameters():
        p.requires_grad = not name.startswith(FROZEN)
    head = torch.nn.Linear(encoder.EMBEDDING_DIM, len(TASKS))
    # The encoder moves a little, the new head a lot; an untrained head on unit vectors needs a large step.
    optimizer = torch.optim.AdamW([{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr},
                                   {"params": head.parameters(), "lr": lr * 100}], weight_decay=0.01)
    train_texts, train_y = reply_rows(examples, "train")
    val_texts, val_y = reply_rows(examples, "val")
    steps = epochs * ((len(train_texts) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / max(1, steps)))

    def batches(texts: list[str], order: list[int]):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield idx, tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                                 return_tensors="pt")

    def anchored(batch) -> tuple["torch.Tensor", "torch.Tensor"]:
        """(task logits, per reply the cosine distance of its vector from the frozen encoder's)."""
        vectors = _pooled(model, batch)
        with torch.no_grad():
            reference = _pooled(frozen, batch)
        return head(vectors), 1 - (vectors * reference).sum(-1)

    def validate() -> tuple[float, float]:
        model.eval()
        with torch.inference_mode():
            scored = [anchored(b) for _, b in batches(val_texts, list(range(len(val_texts))))]
        model.train()
        logits, distance = torch.cat([s[0] for s in scored]), torch.cat([s[1] for s in scored])
        return float(_masked_loss(logits, torch.from_numpy(val_y))), float(distance.mean())

    (loss, distance), best, started = validate(), None, time.time()
    history, distances = [loss], [distance]
    logger.info("reply encoder: %d train, %d val replies; val log-loss before %.4f", len(train_texts),
                len(val_texts), history[0])
    model.train()
    for epoch in range(1, epochs + 1):
        order = list(range(len(train_texts)))
        random.shuffle(order)
        for idx, batch in batches(train_texts, order):
            logits, distance = anchored(batch)
            loss = _masked_loss(logits, torch.from_numpy(train_y[idx])) + anchor * distance.mean()
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        loss, distance = validate()
        history.append(loss)
        distances.append(distance)
        logger.info("reply encoder: epoch %d, val log-loss %.4f, cosine distance from the encoder %.4f (%.0f s)",
                    epoch, loss, distance, time.time() - started)
        if best is None or history[-1] < history[best[0]]:
            best = (epoch, {n: p.detach().to(torch.float16).clone() for n, p in model.state_dict().items()
                            if not n.startswith(FROZEN)})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(best[1], str(out))
    return {"train": len(train_texts), "val": len(val_texts), "epochs": epochs, "lr": lr, "batch_size": batch_size,
            "max_length": max_length, "anchor": anchor, "val_log_loss_by_epoch": history,
            "val_cosine_distance_by_epoch": distances, "epoch_kept": best[0],
            "seconds": round(time.time() - started), "version": file_version(out.read_bytes())}


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


def train_branch(train: tuple[list[str], list[int]], val: tuple[list[str], list[int]], out: Path, *,
                 layers: int = BRANCH_LAYERS, epochs: int = 2, lr: float = 5e-5, batch_size: int = 32,
                 max_length: int = 128, seed: int = 13) -> dict[str, Any]:
    """Fine-tune the sentiment branch on (texts, polarity -1 / 0 / 1) lines, keep the epoch with the best
    validation macro-F1, and write its layers (fp16 safetensors) to `out`.

    Returns:
        What was done: counts, per-epoch validation macro-F1, the epoch kept, seconds, the file's version.
    """
    import copy

    import torch
    from safetensors.torch import save_file
    from sklearn.metrics import f1_score

    torch.manual_seed(seed)
    rng = random.Random(seed)
    device = encoder.resolve_device("auto")
    tokenizer, model = encoder.load_encoder(device)
    first = len(model.encoder.layer) - layers
    started = time.time()
    train_states = _lower_states(model, tokenizer, train[0], first, max_length, device)
    val_states = _lower_states(model, tokenizer, val[0], first, max_length, device)
    logger.info("sentiment branch: lower states of %d train, %d val lines (%.0f s)", len(train_states),
                len(val_states), time.time() - started)
    train_y = torch.tensor([POLARITIES.index(y) for y in train[1]], device=device)
    val_y = np.array([POLARITIES.index(y) for y in val[1]])
    branch = copy.deepcopy(model.encoder.layer[first:]).float().train()
    head = torch.nn.Linear(encoder.EMBEDDING_DIM, len(POLARITIES)).to(device)
    counts = torch.bincount(train_y, minlength=len(POLARITIES)).float()
    weight = counts.sum() / (len(POLARITIES) * counts.clamp(min=1))
    optimizer = torch.optim.AdamW([{"params": branch.parameters(), "lr": lr},
                                   {"params": head.parameters(), "lr": lr * 20}], weight_decay=0.01)
    # Length-sorted batches, shuffled: little padding, every epoch in another order.
    by_length = sorted(range(len(train_states)), key=lambda i: len(train_states[i]))
    batches = [by_length[i:i + batch_size] for i in range(0, len(by_length), batch_size)]
    steps, warmup = epochs * len(batches), max(1, epochs * len(batches) // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: step / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup)))

    def logits(states: list, idx) -> "torch.Tensor":
        return head(encoder.run_layers(branch, *_padded(states, idx, device)) * LOGIT_SCALE)

    def validate() -> float:
        branch.eval()
        order = sorted(range(len(val_states)), key=lambda i: len(val_states[i]))
        predicted = np.zeros(len(val_states), dtype=int)
        with torch.inference_mode():
            for start in range(0, len(order), 256):
                idx = order[start:start + 256]
                predicted[idx] = logits(val_states, idx).argmax(1).cpu().numpy()
        branch.train()
        return float(f1_score(val_y, predicted, average="macro"))

    history, best = [], None
    for epoch in range(1, epochs + 1):
        rng.shuffle(batches)
        for idx in batches:
            loss = torch.nn.functional.cross_entropy(logits(train_states, idx), train_y[idx], weight=weight)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        history.append(validate())
        logger.info("sentiment branch: epoch %d, val macro-F1 %.4f (%.0f s)", epoch, history[-1], time.time() - started)
        if best is None or history[-1] > history[best[0] - 1]:
            best = (epoch, {f"{first + int(k.split('.', 1)[0])}.{k.split('.', 1)[1]}": v.detach().to(torch.float16).cpu().clone()
                            for k, v in branch.state_dict().items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(best[1], str(out))
    return {"train": len(train_states), "val": len(val_states), "layers": layers, "epochs": epochs, "lr": lr,
            "batch_size": batch_size, "max_length": max_length, "val_macro_f1_by_epoch": history,
            "epoch_kept": best[0], "seconds": round(time.time() - started), "version": file_version(out.read_bytes())}
