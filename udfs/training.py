"""Training the heads on labelled conversations, and the MLflow model that carries them.

Embeddings are computed where the data is (a `mapInPandas` function on the executors) and only vectors
and labels come to the driver. Conversation-level pushback and referral labels do not say which
assistant message pushed back, so the positive instance is the message the current heads score highest
(multiple-instance learning); the other assistant messages of such a conversation are left out.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from udfs import encoder
from udfs.classifier import ClassifierSettings, UserSides, encode_messages, pooled_turns
from udfs.features import LEXICON_NAMES, N_FEATURES, message_features, reply_features
from udfs.heads import Heads, TrainingSet, head_input, with_tail

logger = logging.getLogger(__name__)

VECTOR = T.ArrayType(T.FloatType())
EMBEDDED_TYPE = T.StructType([
    T.StructField("conversation_id", T.StringType()),
    T.StructField("pooled", VECTOR),
    T.StructField("first", VECTOR),  # the first of the pooled user turns
    T.StructField("context", VECTOR),  # the pooled assistant replies to the pooled user turns
    T.StructField("assistant", T.ArrayType(T.StructType([
        T.StructField("message_index", T.IntegerType()), T.StructField("embedding", VECTOR),
        T.StructField("tail", VECTOR),  # its last window's (encoder.Embedded.tail_vectors)
        T.StructField("context", VECTOR),  # the user message it replies to (zeros: none)
        T.StructField("features", VECTOR)]))),  # its phrase indicators (udfs.features)
    T.StructField("user", T.ArrayType(T.StructType([
        T.StructField("message_index", T.IntegerType()), T.StructField("embedding", VECTOR),
        T.StructField("features", VECTOR)]))),  # its lexicon scores (udfs.features)
])


def training_embedder(settings: ClassifierSettings, base: Heads
                      ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A `mapInPandas` function: conversations (conversation_id, messages) -> EMBEDDED_TYPE rows, assistant
    messages also read by the base model's reply branch (Heads.reply_branch) for the pushback and
    referral heads and user messages by its sentiment branch for the sentiment heads, as classify reads
    them; assistant messages also by their last window (the heads fitted on them read it, heads.TAIL_HEADS)."""

    def embed(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        device = encoder.resolve_device(settings.device)
        for pdf in batches:
            batch = encode_messages(pdf["messages"], range, settings, device, base, range, tails=True)
            failed = [e for e in batch.errors if e]
            if failed:  # labelled data is small and precious: stop rather than train on a hole
                raise RuntimeError(f"{len(failed)} labelled messages could not be embedded: {failed[0]}")

            def messages(positions, contexts=None) -> list[dict]:
                """User messages (no contexts) with the sentiment branch's vectors, assistant messages with
                the reply branch's."""
                texts = [batch.texts[p] for p in positions]
                features = reply_features(texts) if contexts is not None else message_features(texts)
                vectors = batch.reply_vectors if contexts is not None else batch.sentiment_vectors
                return [{"message_index": int(batch.message_index[p]), "embedding": vectors[p].tolist(),
                         "features": features[i].tolist(),
                         **({"context": contexts[i].tolist(), "tail": batch.tail_vectors[p].tolist()}
                            if contexts is not None else {})}
                        for i, p in enumerate(positions)]

            # the user side as classify reads it: pooled turns, first turn, pooled replies to them
            sides = UserSides.of(batch, [(row, pooled_turns(n, settings)) for row, n in enumerate(batch.n_user)])
            out = []
            for row, cid in enumerate(pdf["conversation_id"]):
                out.append({"conversation_id": cid, "pooled": sides.pooled[row].tolist(),
                            "first": sides.first[row].tolist(), "context": sides.replies[row].tolist(),
                            "assistant": messages(batch.assistant_at[row], batch.context_vectors(batch.before(row))),
                            "user": messages(batch.user_at[row].values())})
            yield pd.DataFrame(out, columns=[f.name for f in EMBEDDED_TYPE.fields])

    return embed


def labelled_training_set(rows: list[dict], base: Heads) -> TrainingSet:
    """A TrainingSet from embedded conversations joined with their human labels.

    Args:
        rows: dicts with `pooled`, `first`, `context`, `assistant`, `user` (EMBEDDED_TYPE) and the label fields `use`,
            `categories`, `pushback`, `pushback_reason`, `referral`, `message_sentiment`.
        base: heads whose pushback and referral scores pick the positive assistant message.

    Returns:
        The training set (conversations without assistant messages add no pushback examples).
    """
    conv_x, conv_first, conv_context, uses, cats = [], [], [], [], []
    asst_x, asst_tail, asst_context, asst_features, pushed, reasons, referred = [], [], [], [], [], [], []
    user_x, user_features, sentiment = [], [], []
    for r in rows:
        conv_x.append(np.asarray(r["pooled"], dtype=np.float32))
        conv_first.append(np.asarray(r["first"], dtype=np.float32))
        conv_context.append(np.asarray(r["context"], dtype=np.float32))
        uses.append(r["use"])
        cats.append(list(r["categories"] or []))
        scores = {m["index"]: m["score"] for m in r["message_sentiment"] or []}
        for m in r["user"]:
            if m["message_index"] in scores:
                user_x.append(m["embedding"])
                user_features.append(m["features"])
                sentiment.append(int(scores[m["message_index"]]))
        vectors = np.asarray([m["embedding"] for m in r["assistant"]], dtype=np.float32)
        if not len(vectors):
            continue
        contexts = np.asarray([m["context"] for m in r["assistant"]], dtype=np.float32)
        tails = np.asarray([m["tail"] for m in r["assistant"]], dtype=np.float32)
        features = np.asarray([m["features"] for m in r["assistant"]], dtype=np.float32)
        push_top = (int(base["pushback"].proba(head_input("pushback", vectors, contexts, features))[:, 1].argmax())
                    if r["pushback"] else -1)
        refer_top = (int(base["referral"].proba(head_input(
            "referral", with_tail("referral", vectors, tails, base.tail_heads), None, features))[:, 1].argmax())
            if r["referral"] else -1)
        for i, (v, tail, c, f) in enumerate(zip(vectors, tails, contexts, features)):
            ambiguous = (r["pushback"] and i != push_top) or (r["referral"] and i != refer_top)
            if ambiguous:
                continue
            asst_x.append(v)
            asst_tail.append(tail)
            asst_context.append(c)
            asst_features.append(f)
            pushed.append(i == push_top)
            reasons.append(r["pushback_reason"] if i == push_top else None)
            referred.append(i == refer_top)

    def matrix(vectors: list) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32).reshape(-1, encoder.EMBEDDING_DIM)

    return TrainingSet(
        conv_x=matrix(conv_x), conv_first=matrix(conv_first), conv_context=matrix(conv_context), conv_use=uses,
        conv_categories=cats,
        asst_x=matrix(asst_x), asst_tail=matrix(asst_tail), asst_context=matrix(asst_context),
        asst_features=np.asarray(asst_features, dtype=np.float32).reshape(-1, N_FEATURES), asst_pushback=pushed,
        asst_reason=reasons, asst_referral=referred,
        user_x=matrix(user_x),
        user_features=np.asarray(user_features, dtype=np.float32).reshape(-1, len(LEXICON_NAMES)),
        user_sentiment=sentiment,
    )


def training_version(data: TrainingSet, base_version: str) -> str:
    """A version that changes whenever the training data or the base it extends change."""
    import hashlib

    digest = hashlib.sha256(base_version.encode())
    for array in (data.conv_x, data.conv_first, data.conv_context, data.asst_x, data.asst_tail, data.asst_context,
                  data.asst_features, data.user_x, data.user_features):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((data.conv_use, data.conv_categories, data.asst_pushback, data.asst_reason,
                        data.asst_referral, data.user_sentiment)).encode())
    return digest.hexdigest()[:12]
