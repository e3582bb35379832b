from __future__ import annotations

import numpy as np

from udfs.training import labelled_training_set, training_version


def _vectors(rng, n):
    v = rng.normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _row(rng, *, pushback, referral, n_assistant=3, reason=None):
    return {
        "pooled": _vectors(rng, 1)[0].tolist(), "use": "affective" if pushback else "task",
        "categories": ["counseling"] if pushback else [],
        "user": [{"message_index": 0, "embedding": _vectors(rng, 1)[0].tolist()},
                 {"message_index": 2, "embedding": _vectors(rng, 1)[0].tolist()}],
        "assistant": [{"message_index": 2 * i + 1, "embedding": v.tolist()} for i, v in enumerate(_vectors(rng, n_assistant))],
        "pushback": pushback, "pushback_reason": reason, "referral": referral,
        "message_sentiment": [{"index": 0, "score": -2}, {"index": 2, "score": 1}, {"index": 9, "score": 0}],
    }


def test_positive_instance_is_the_message_the_base_heads_score_highest(heads):
    rng = np.random.default_rng(0)
    pushed = _row(rng, pushback=True, referral=False, reason="safety")
    plain = _row(rng, pushback=False, referral=False)
    data = labelled_training_set([pushed, plain], heads)
    pushed_vectors = np.array([m["embedding"] for m in pushed["assistant"]], dtype=np.float32)
    top = int(heads["pushback"].proba(pushed_vectors)[:, 1].argmax())
    # one positive from the pushback conversation (its other replies are ambiguous), three negatives
    assert data.asst_pushback == [True, False, False, False]
    assert data.asst_reason == ["safety", None, None, None]
    np.testing.assert_allclose(data.asst_x[0], pushed_vectors[top])
    assert data.asst_referral == [False] * 4
    assert data.conv_use == ["affective", "task"] and data.conv_categories == [["counseling"], []]
    # only user messages that carry a label are used; index 9 does not exist
    assert data.user_sentiment == [-2, 1, -2, 1]
    assert data.balance()["pushback.True"] == 1 and data.balance()["category.counseling"] == 1


def test_training_version_follows_the_data(heads):
    rng = np.random.default_rng(1)
    rows = [_row(rng, pushback=False, referral=True), _row(rng, pushback=True, referral=True, reason="professional")]
    first = labelled_training_set(rows, heads)
    assert training_version(first, "base") == training_version(labelled_training_set(rows, heads), "base")
    assert training_version(first, "base") != training_version(first, "other-base")
    rows[0]["use"] = "content_creation"
    assert training_version(labelled_training_set(rows, heads), "base") != training_version(first, "base")
