from __future__ import annotations

import numpy as np

from udfs.features import LEXICON_NAMES, N_FEATURES
from udfs.heads import head_input, with_tail
from udfs.training import labelled_training_set, training_version


def _vectors(rng, n):
    v = rng.normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _row(rng, *, pushback, referral, n_assistant=3, reason=None):
    return {
        "pooled": _vectors(rng, 1)[0].tolist(), "first": _vectors(rng, 1)[0].tolist(),
        "context": _vectors(rng, 1)[0].tolist(), "use": "affective" if pushback else "task",
        "categories": ["counseling"] if pushback else [],
        "user": [{"message_index": 0, "embedding": _vectors(rng, 1)[0].tolist(), "features": [0.5, 0.3, 0.0, 0.7]},
                 {"message_index": 2, "embedding": _vectors(rng, 1)[0].tolist(), "features": [-0.5, 0.0, 0.4, 0.6]}],
        "assistant": [{"message_index": 2 * i + 1, "embedding": v.tolist(), "tail": t.tolist(), "context": c.tolist(),
                       "features": rng.integers(0, 2, N_FEATURES).astype(float).tolist()}
                      for i, (v, t, c) in enumerate(zip(*(_vectors(rng, n_assistant) for _ in range(3))))],
        "pushback": pushback, "pushback_reason": reason, "referral": referral,
        "message_sentiment": [{"index": 0, "score": -2}, {"index": 2, "score": 1}, {"index": 9, "score": 0}],
    }


def test_positive_instance_is_the_message_the_base_heads_score_highest(heads):
    rng = np.random.default_rng(0)
    pushed = _row(rng, pushback=True, referral=False, reason="safety")
    plain = _row(rng, pushback=False, referral=False)
    data = labelled_training_set([pushed, plain], heads)
    pushed_vectors = np.array([m["embedding"] for m in pushed["assistant"]], dtype=np.float32)
    contexts = np.array([m["context"] for m in pushed["assistant"]], dtype=np.float32)
    features = np.array([m["features"] for m in pushed["assistant"]], dtype=np.float32)
    # the pushback head reads each reply with the user message before it and its phrase indicators
    top = int(heads["pushback"].proba(head_input("pushback", pushed_vectors, contexts, features))[:, 1].argmax())
    # one positive from the pushback conversation (its other replies are ambiguous), three negatives
    assert data.asst_pushback == [True, False, False, False]
    assert data.asst_reason == ["safety", None, None, None]
    np.testing.assert_allclose(data.asst_x[0], pushed_vectors[top])
    np.testing.assert_allclose(data.asst_context[0], contexts[top])
    np.testing.assert_allclose(data.asst_features[0], features[top])
    np.testing.assert_allclose(data.conv_context, [pushed["context"], plain["context"]])
    np.testing.assert_allclose(data.conv_first, [pushed["first"], plain["first"]])
    assert data.asst_referral == [False] * 4
    assert data.conv_use == ["affective", "task"] and data.conv_categories == [["counseling"], []]
    # only user messages that carry a label are used; index 9 does not exist
    assert data.user_sentiment == [-2, 1, -2, 1]
    np.testing.assert_allclose(data.user_features[:2], [[0.5, 0.3, 0.0, 0.7], [-0.5, 0.0, 0.4, 0.6]])
    assert data.balance()["pushback.True"] == 1 and data.balance()["category.counseling"] == 1


def test_the_referring_message_is_the_one_the_base_scores_highest_by_both_its_windows(heads):
    """The base's referral head reads a reply's last window beside its first, so the chosen message is
    the one that refers at its end, where the first windows alone would choose another."""
    rng = np.random.default_rng(3)
    referred = _row(rng, pushback=False, referral=True, n_assistant=4)
    vectors, features = (np.array([m[k] for m in referred["assistant"]], dtype=np.float32)
                         for k in ("embedding", "features"))
    twice_first = with_tail("referral", vectors, vectors, heads.tail_heads)
    first_only = heads["referral"].proba(head_input("referral", twice_first, None, features))[:, 1]
    ending = int(first_only.argmin())  # the least likely by its first window refers in its last
    toward_referral = heads["referral"].coef[0, 384:768]
    for i, m in enumerate(referred["assistant"]):
        m["tail"] = (toward_referral / np.linalg.norm(toward_referral) if i == ending else vectors[i]).tolist()
    data = labelled_training_set([referred], heads)
    assert data.asst_referral == [True] and data.asst_pushback == [False]
    np.testing.assert_allclose(data.asst_x[0], vectors[ending])
    np.testing.assert_allclose(data.asst_tail[0], referred["assistant"][ending]["tail"], rtol=1e-6)


def test_training_version_follows_the_data(heads):
    rng = np.random.default_rng(1)
    rows = [_row(rng, pushback=False, referral=True), _row(rng, pushback=True, referral=True, reason="professional")]
    first = labelled_training_set(rows, heads)
    assert training_version(first, "base") == training_version(labelled_training_set(rows, heads), "base")
    assert training_version(first, "base") != training_version(first, "other-base")
    rows[0]["use"] = "content_creation"
    assert training_version(labelled_training_set(rows, heads), "base") != training_version(first, "base")


def test_changed_context_changes_the_version(heads):
    rng = np.random.default_rng(2)
    rows = [_row(rng, pushback=False, referral=False)]
    first = training_version(labelled_training_set(rows, heads), "base")
    rows[0]["assistant"][1]["context"] = _vectors(rng, 1)[0].tolist()
    assert training_version(labelled_training_set(rows, heads), "base") != first


def _requests(rng, n):
    """Request vectors; the first half (the pushed-back ones) lean along one axis."""
    requests = _vectors(rng, n)
    requests[: n // 2, 0] += 3.0
    return requests / np.linalg.norm(requests, axis=1, keepdims=True)


def test_a_context_head_learns_what_only_the_context_explains():
    """Pushback that only the request before the reply explains is learnt, and holds on unseen pairs."""
    from udfs.heads import CATEGORIES, TrainingSet, fit_heads

    rng = np.random.default_rng(3)
    n = 600  # more examples than dimensions: the replies' noise cannot be memorised
    pushed = [i < n // 2 for i in range(n)]
    data = TrainingSet(
        conv_x=_vectors(rng, 40), conv_first=_vectors(rng, 40), conv_context=_vectors(rng, 40),
        conv_use=["task", "affective"] * 20,
        conv_categories=[[] if i % 2 == 0 else [CATEGORIES[(i // 2) % len(CATEGORIES)]] for i in range(40)],
        asst_x=_vectors(rng, n), asst_context=_requests(rng, n), asst_features=np.zeros((n, N_FEATURES), np.float32),
        asst_pushback=pushed,
        asst_reason=["safety" if p and i % 2 else "policy" if p else None for i, p in enumerate(pushed)],
        asst_referral=[i % 3 == 0 for i in range(n)],
        user_x=_vectors(rng, 50), user_features=np.zeros((50, len(LEXICON_NAMES)), np.float32),
        user_sentiment=[-2, -1, 0, 1, 2] * 10, asst_tail=_vectors(np.random.default_rng(9), n))
    heads = fit_heads(data, version="t", seed=0, c=1.0)
    assert heads["pushback"].coef.shape == (1, 768 + N_FEATURES) and heads["use"].coef.shape[1] == 768
    # the categories read the pooled user turns, the first user turn and the pooled replies
    assert heads.first_turn_heads == tuple(f"category.{c}" for c in CATEGORIES)
    assert heads["category.coaching"].coef.shape == (1, 3 * 384)
    # referral reads a reply's first and last windows
    assert heads["referral"].coef.shape == (1, 768 + N_FEATURES) and heads.tail_heads == ("referral",)
    # sentiment: polarity over -1, 0, 1 and the strength of the polarised messages (+-2 against +-1)
    assert heads["sentiment"].classes == (-1, 0, 1) and heads["sentiment_strength"].classes == (False, True)
    assert heads["sentiment"].coef.shape == (3, 384 + len(LEXICON_NAMES))
    unseen = heads["pushback"].proba(head_input("pushback", _vectors(rng, n), _requests(rng, n),
                                                np.zeros((n, N_FEATURES), np.float32)))[:, 1]
    assert np.mean((unseen >= 0.5) == np.array(pushed)) > 0.9
    assert heads.metrics["cv_macro_f1.pushback"] > 0.6  # with and without context, folds by example


def test_heads_of_an_older_format_are_refused_with_a_clear_error(heads, tmp_path):
    import json

    import pytest

    from udfs.heads import Heads

    heads.save(tmp_path)
    assert Heads.load(tmp_path).heads["pushback"].coef.shape == (1, 768 + N_FEATURES)
    meta = json.loads((tmp_path / "heads.json").read_text())
    # heads of format 8 had no first-turn heads, and those of format 7 no tail heads; they read as they did
    older = {k: v for k, v in meta.items() if k != "first_turn_heads"}
    (tmp_path / "heads.json").write_text(json.dumps({**older, "format": 8}))
    assert Heads.load(tmp_path).first_turn_heads == () and Heads.load(tmp_path).tail_heads == ("referral",)
    older = {k: v for k, v in older.items() if k != "tail_heads"}
    (tmp_path / "heads.json").write_text(json.dumps({**older, "format": 7}))
    assert Heads.load(tmp_path).tail_heads == ()
    del meta["format"]  # as written by the version that read each message alone
    (tmp_path / "heads.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError,
                       match="heads of format 1, this version reads formats \\(5, 6, 7, 8, 9\\).*affective train"):
        Heads.load(tmp_path)
