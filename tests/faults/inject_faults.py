"""Faults injected into Spark's Python workers for tests/test_faults.py; our code runs unmodified.

`first-attempt:DIR`: the first attempt of every task that parses records (ingest) or runs the model
(classify) fails; each failure leaves a marker file in DIR.
`poison:WORD`: the encoder runs out of memory on any batch holding WORD (one token), so a conversation
with it fails even alone.
"""
from __future__ import annotations

from pathlib import Path


def _failing_first_attempt(fn, name: str, marker_dir: str):
    def wrapper(*args, **kwargs):
        from pyspark import TaskContext

        task = TaskContext.get()
        if task is not None and task.attemptNumber() == 0:
            Path(marker_dir, f"{name}-stage{task.stageId()}-partition{task.partitionId()}").touch()
            raise RuntimeError(f"injected fault: first attempt of a {name} task")
        return fn(*args, **kwargs)

    return wrapper


def _poisoned_encoder(word: str) -> None:
    from udfs import encoder

    load = encoder.load_encoder

    def load_poisoned(device, threads=None, directory=None):
        tokenizer, model = load(device, threads, directory)
        if not getattr(model, "poisoned", False):
            import torch

            poison, forward = tokenizer.convert_tokens_to_ids(word), model.forward

            def failing_forward(*args, input_ids=None, **kwargs):
                if input_ids is not None and bool((input_ids == poison).any()):
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
                return forward(*args, input_ids=input_ids, **kwargs)

            model.forward, model.poisoned = failing_forward, True
        return tokenizer, model

    encoder.load_encoder = load_poisoned


def install(spec: str) -> None:
    kind, _, argument = spec.partition(":")
    if kind == "first-attempt":
        import jobs.ingest
        import udfs.classifier

        jobs.ingest.parse_conversation = _failing_first_attempt(jobs.ingest.parse_conversation, "parse", argument)
        udfs.classifier.classify_batch = _failing_first_attempt(udfs.classifier.classify_batch, "classify", argument)
    elif kind == "poison":
        _poisoned_encoder(argument)
    else:
        raise ValueError(f"unknown fault {spec!r}")
