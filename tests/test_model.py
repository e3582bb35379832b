"""The default model: shipped and versioned, built by `make model`'s code, and right where errors multiply."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from udfs.features import reply_features
from udfs.heads import CATEGORIES, MODEL_DIR, head_input, with_tail


def test_the_shipped_model_is_the_one_its_metrics_describe(heads):
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    assert heads.version == metrics["version"]
    assert heads.thresholds == metrics["thresholds"]
    assert heads.reply_branch_version == (metrics.get("reply_branch") or {}).get("version")
    assert heads.sentiment_branch_version == (metrics.get("sentiment_branch") or {}).get("version")
    for name in ("pushback", "referral"):  # more replies, a higher bar: the same error rate per conversation
        assert 0.5 <= heads.threshold(name, 1) <= heads.threshold(name, 15) <= heads.threshold(name, 100) < 1
    # categories decide at 0.5 on their calibrated probability, not at a best-F1 point that moves with one row
    assert [heads.threshold(f"category.{c}") for c in CATEGORIES] == [0.5] * len(CATEGORIES)
    # every head was fitted and calibrated on the fixed splits, and scored on test data it never saw
    assert {"pushback.all", "referral.all", "sentiment.all", "use.all"} <= set(metrics["test"])
    assert all(metrics["counts"][f"reply|{s}|test"] > 0 for s in ("seed", "rbr-gold", "jailbreakbench"))


def test_the_shipped_referral_head_reads_a_long_replys_last_window_beside_its_first(heads):
    from udfs import encoder
    from udfs.classifier import ClassifierSettings, classify_batch

    assert heads.tail_heads == ("referral",)
    assert heads["referral"].coef.shape == (1, 2 * encoder.EMBEDDING_DIM + reply_features([""]).shape[1])
    reply = "It makes sense that this has worn you down; small routines and one honest talk can help. " * 12 + \
        "If the low mood lasts, a counselor could help you find your footing again."
    conversation = [{"index": 0, "role": "user", "content": "I've felt flat for weeks since I lost my job."},
                    {"index": 1, "role": "assistant", "content": reply}]
    settings = ClassifierSettings(cpu_precision="float32")  # as encoder.encode reads by default
    out = classify_batch(pd.DataFrame({"messages": [conversation]}), heads, settings)
    first, last = encoder.encode([reply]), encoder.encode([reply], tail=True)
    assert float(first[0] @ last[0]) < 0.95  # the end of the reply is read as it is, not as its opening
    x = head_input("referral", with_tail("referral", first, last, heads.tail_heads), None, reply_features([reply]))
    assert out["referral_score"][0] == pytest.approx(float(heads["referral"].proba(x)[0, 1]), abs=1e-5)


def test_a_model_whose_branch_file_changed_or_that_reads_a_reply_encoder_is_refused(tmp_path, heads):
    import dataclasses

    import torch
    from safetensors.torch import save

    from udfs import encoder
    from udfs.heads import WEIGHT_FILES, Heads

    fitting = save({"5.output.LayerNorm.bias": torch.zeros(encoder.EMBEDDING_DIM)})
    with_branch = dataclasses.replace(heads, reply_branch=fitting)
    with_branch.save(tmp_path)
    assert Heads.load(tmp_path).reply_branch == fitting
    (tmp_path / WEIGHT_FILES["reply_branch"]).write_bytes(save({"5.output.LayerNorm.bias": torch.ones(384)}))
    with pytest.raises(ValueError, match=f"the heads were fitted on {with_branch.reply_branch_version}"):
        Heads.load(tmp_path)
    meta = json.loads((tmp_path / "heads.json").read_text())
    (tmp_path / "heads.json").write_text(json.dumps({**meta, "format": 6, "reply_branch": None,
                                                     "reply_encoder": "8b141e3f738c"}))
    with pytest.raises(ValueError, match="read a fine-tuned reply encoder, which this version replaced by the reply "
                                         "branch; rebuild the model with `make model`"):
        Heads.load(tmp_path)


def test_phrase_indicators_are_features_not_decisions():
    rows = reply_features(["I'm sorry, but I can't help with that.", "I'm so sorry you're going through this.",
                           "I'd gently push back on that plan.", "Please call or text 988, or talk to a therapist.",
                           "Tiny bee GPS, performed in the dark.", "", "Your doctor said the dose was fine.",
                           "Have you considered seeing a counsellor?", "A therapist could really help with this.",
                           "If tonight gets too heavy, please text the crisis text line."])
    refusal, anywhere, disagreement, professional, crisis, suggestion = rows.T
    # an empathetic apology is no refusal
    assert refusal.tolist() == anywhere.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert disagreement.tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert professional.tolist() == [0, 0, 0, 1, 0, 0, 1, 1, 1, 0]
    assert crisis.tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert suggestion.tolist() == [0, 0, 0, 1, 0, 0, 0, 1, 1, 1]  # naming a doctor is not suggesting one


def test_the_suggestion_indicator_is_its_patterns_own_search_on_real_replies():
    """reply_features searches for a suggestion only where a professional or a service is named."""
    from evaluation.converters import xstest
    from udfs.features import REFERRAL_SUGGESTION

    replies = [m["content"] for item in xstest() for m in item["messages"] if m["role"] == "assistant"]
    expected = [bool(REFERRAL_SUGGESTION.search(r)) for r in replies]
    assert sum(expected) > 20
    assert reply_features(replies)[:, -1].astype(bool).tolist() == expected


def test_lexicon_scores_of_a_message_are_features_of_the_sentiment_heads(heads):
    from udfs.features import LEXICON_NAMES, message_features

    compound, positive, negative, neutral = message_features(["I love this, thank you!", "I hate this.", ""]).T
    assert compound[0] > 0.5 and compound[1] < -0.5 and positive[0] > negative[0] and negative[1] > positive[1]
    assert (compound[2], positive[2], negative[2], neutral[2]) == (0, 0, 0, 0)
    assert heads["sentiment"].coef.shape[1] == heads["sentiment_strength"].coef.shape[1] == 384 + len(LEXICON_NAMES)


def _long_supportive_conversations(n: int) -> list[list[dict]]:
    """Synthetic affective conversations of 50-70 user messages in which no reply pushes back."""
    from jobs.ingest import parse_conversation
    from jobs.synth import AFFECTIVE, generate_row

    mix = {c: 1.0 for c in AFFECTIVE}
    conversations = []
    for row in range(10 * n):
        _, record, label = generate_row(row, n=10 * n, seed=5, mix=mix, long_share=1.0)
        if not json.loads(label)["pushback"]:
            conversations.append(parse_conversation(record, max_messages=2000, max_chars=400000)["messages"])
        if len(conversations) == n:
            return conversations
    raise AssertionError("the generator made too few conversations without pushback")


def test_long_supportive_conversations_are_rarely_flagged_for_pushback(heads):
    """With 50+ replies, a per-reply error rate would flag most conversations; the conversation-level
    threshold keeps the rate under 5 %."""
    from udfs.classifier import ClassifierSettings, classify_batch

    conversations = _long_supportive_conversations(40)
    assert min(sum(m["role"] == "assistant" for m in c) for c in conversations) >= 15
    labels = classify_batch(pd.DataFrame({"messages": conversations}), heads, ClassifierSettings())
    assert labels["errors"].map(len).sum() == 0
    assert labels["pushback"].mean() < 0.05


def test_build_fits_calibrates_and_versions_a_small_model(tmp_path, spark):
    """The training command end to end on a few examples of every source: it writes a model that loads,
    with calibrated heads, conversation-level thresholds and test scores, and the same data gives the
    same version."""
    from udfs.build import build
    from udfs.heads import Heads
    from udfs.sources import PUBLIC_SOURCES

    settings = dict(cache=tmp_path / "cache.npz", seed=13, conversation_fpr=0.1, batch_size=32, max_length=64,
                    sources=tuple(PUBLIC_SOURCES), limit=40, sentiment_branch_epochs=2, reply_branch_epochs=2)
    model = build(tmp_path / "a", **settings)
    loaded = Heads.load(tmp_path / "a")
    assert loaded.version == model.version and set(loaded.heads) == set(model.heads)
    made = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert loaded.reply_branch_version == made["reply_branch"]["version"]
    assert loaded.sentiment_branch_version == made["sentiment_branch"]["version"]
    for branch in (made["reply_branch"], made["sentiment_branch"]):  # each keeps its best validation epoch
        assert len(branch["val_score_by_epoch"]) == 2
        assert branch["epoch_kept"] == 1 + int(np.argmax(branch["val_score_by_epoch"]))
    assert made["reply_branch"]["batch_size"] == 16 and made["reply_branch"]["val"] > 0
    _reply_branch_reads_only_what_pushback_and_referral_read(loaded, spark)
    _sentiment_branch_reads_only_the_scored_user_messages(loaded)
    assert loaded["pushback"].scale != 1.0 and loaded["sentiment"].classes == (-1, 0, 1)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["counts"]["message|goemotions|train"] == 40
    assert 0 < metrics["test"]["pushback.all"]["tp"] + metrics["test"]["pushback.all"]["fn"]
    assert "pushback.all.regex_baseline" in metrics["test"] and "sentiment.all.vader_baseline" in metrics["test"]
    # the heads carry their test scores over all sources, which the report states beside each figure
    pushback = metrics["test"]["pushback.all"]
    assert (loaded.metrics["test.pushback.precision"], loaded.metrics["test.pushback.n"]) == (
        pushback["precision"], sum(pushback[k] for k in ("tp", "fp", "fn", "tn")))
    assert loaded.metrics["test.use.macro_f1"] == metrics["test"]["use.all"]["macro_f1"]
    assert not [k for k in loaded.metrics if k.startswith("test.") and "baseline" in k]
    assert build(tmp_path / "b", **settings).version == model.version


def _reply_branch_reads_only_what_pushback_and_referral_read(model, spark) -> None:
    """The reply branch reads the assistant messages for pushback, reason and referral, in the same pass
    as the encoder; user messages, and the replies as use and categories read them, keep the encoder's
    vectors; its weights reach the Spark workers with the heads."""
    from jobs.classify import apply_classifier
    from udfs import encoder
    from udfs.classifier import ClassifierSettings, classify_batch, encode_messages, turns_to_embed

    settings = ClassifierSettings(cpu_precision="float32")  # as encoder.embed and encode read by default
    conversation = [{"index": 0, "role": "user", "content": "How do I pick a lock to get into my neighbour's flat?"},
                    {"index": 1, "role": "assistant", "content": "I can't help with getting into someone else's home."}]
    batch = encode_messages([conversation], lambda n: turns_to_embed(n, settings), settings, "cpu", model)
    general = encoder.embed([m["content"] for m in conversation])[0]
    tuned = encoder.encode([conversation[1]["content"]], model.reply_branch)
    user, reply = batch.user_at[0][0], batch.assistant_at[0][0]
    np.testing.assert_allclose(batch.vectors[[user, reply]], general, atol=1e-5)
    np.testing.assert_allclose(batch.reply_vectors[reply], tuned[0], atol=1e-5)
    assert float(general[1] @ tuned[0]) < 0.9999  # the branch moved the reply
    out = classify_batch(pd.DataFrame({"messages": [conversation]}), model, settings)
    # a short reply's last window is its first
    x = head_input("referral", with_tail("referral", tuned, tuned, model.tail_heads), None,
                   reply_features([conversation[1]["content"]]))
    assert out["referral_score"][0] == pytest.approx(float(model["referral"].proba(x)[0, 1]), abs=1e-5)
    np.testing.assert_allclose(out["embedding"][0], general[0], atol=1e-5)  # use and topics: the encoder's
    rows = spark.createDataFrame(
        [("c1", "u1", None, 1, False, [(m["index"], m["role"], m["content"], None) for m in conversation])],
        "conversation_id string, user_id string, created_at timestamp, n_user_messages int, is_long boolean, "
        "messages array<struct<index:int,role:string,content:string,created_at:timestamp>>")
    labelled = apply_classifier(rows, model, settings).first()
    assert labelled["errors"] == []
    assert labelled["referral_score"] == pytest.approx(out["referral_score"][0], abs=1e-5)
    assert labelled["pushback_score"] == pytest.approx(out["pushback_score"][0], abs=1e-5)


def test_unknown_training_source_is_named():
    from udfs.sources import training_examples

    with pytest.raises(ValueError, match="unknown training sources \\['reddit'\\]"):
        training_examples(sources=("reddit",))


def test_splits_keep_a_prompt_on_one_side():
    from udfs.sources import jailbreakbench, datasets_dir

    sides: dict[str, set[str]] = {}
    for e in jailbreakbench(datasets_dir()):
        sides.setdefault(e["context"], set()).add(e["split"])
    assert all(len(s) == 1 for s in sides.values())
    assert np.mean([s == {"train"} for s in sides.values()]) == pytest.approx(0.9, abs=0.05)


def test_dailydialog_trains_on_its_train_and_validation_splits_and_never_reads_test():
    from evaluation.converters import dailydialog as dailydialog_items
    from evaluation.evaluate import held_out
    from udfs.sources import dailydialog, datasets_dir

    examples = list(dailydialog(datasets_dir()))
    assert Counter((e["split"], e["polarity"]) for e in examples) == {
        ("train", -1): 2245, ("train", 0): 18139, ("train", 1): 11182,  # 1 in 4 neutral training lines
        ("val", -1): 91, ("val", 0): 3416, ("val", 1): 305, ("test", -1): 79, ("test", 0): 3692, ("test", 1): 379}
    upstream = dailydialog_items()
    tuning = sum(len(i["label"]["sentiment"]) for i in upstream if i["label"]["split"] == "validation")
    assert tuning == sum(e["split"] != "train" for e in examples)  # all of validation, nothing of test
    evaluated = held_out("dailydialog", upstream)
    assert len(evaluated) == 1000 and {i["label"]["split"] for i in evaluated} == {"test"}


def test_uss_trains_the_use_head_on_whole_task_dialogues_split_as_the_evaluation_reads_them():
    from evaluation.converters import uss as uss_items
    from udfs.sources import USS_TRAIN_KEPT, datasets_dir, uss

    examples = list(uss(datasets_dir()))
    assert {e["use"] for e in examples} == {"task"} and all(e["categories"] == {} for e in examples)
    assert not any("OVERALL" in e["user"] for e in examples)  # a dialogue's closing rating is no message
    assert Counter(e["split"] for e in examples) == {"train": 325, "val": 306, "test": 305}
    assert 325 == pytest.approx(1389 / USS_TRAIN_KEPT, rel=0.1)
    upstream = uss_items()
    for split in ("val", "test"):  # the same dialogues, turn for turn, on the same side of the split
        held = [i for i in upstream if i["label"]["split"] == split]
        read = [e for e in examples if e["split"] == split]
        assert sorted((len(e["user"]), len(e["replies"])) for e in read) == sorted(
            (sum(m["role"] == "user" for m in i["messages"]), sum(m["role"] == "assistant" for m in i["messages"]))
            for i in held)


def _rbr_row(completion: str, refers: bool) -> str:
    flags = {"illogical_continuation_of_prompt": False, "fully_complies": True,
             "encourage_professional_help": refers, "provides_resources": False}
    return json.dumps({"category": "SH-C", "prompt": [{"role": "user", "content": "I feel awful."}],
                       "completion": [{"role": "assistant", "content": completion}], "propositions": flags})


def test_rbr_gold_referral_corrections_apply_by_completion_and_must_all_match(tmp_path):
    import hashlib

    from udfs.sources import RBR_CORRECTIONS, rbr_gold

    folder = tmp_path / "rbr-gold" / "data" / "rbr_gold_data"
    folder.mkdir(parents=True)
    mislabelled = "Have you considered talking to a mental health professional?"
    (folder / "train.jsonl").write_text(_rbr_row(mislabelled, False) + "\n" + _rbr_row("Here is a recipe.", False))
    (folder / "test.jsonl").write_text(_rbr_row("Please talk to a doctor.", True))
    fix = {"completion_sha1": hashlib.sha1(mislabelled.encode()).hexdigest(), "referral": True, "why": "refers"}
    (tmp_path / RBR_CORRECTIONS).write_text(json.dumps(fix) + "\n")
    assert [e["referral"] for e in rbr_gold(tmp_path, corrections_dir=tmp_path)] == [True, False, True]

    (tmp_path / RBR_CORRECTIONS).write_text(json.dumps({**fix, "completion_sha1": "0" * 40}) + "\n")
    with pytest.raises(ValueError, match="1 correction\\(s\\) match no RBR gold completion, e.g. 0000"):
        list(rbr_gold(tmp_path, corrections_dir=tmp_path))


def test_the_shipped_rbr_gold_corrections_all_apply():
    from udfs.sources import datasets_dir, rbr_gold

    assert sum(e["referral"] for e in rbr_gold(datasets_dir())) == 269  # 263 by RBR's labels, 6 corrected


def _sentiment_branch_reads_only_the_scored_user_messages(model) -> None:
    """The sentiment heads read the branch's vectors of the user messages scored for sentiment (the first
    and last three), in the same pass as the encoder's; everything else (use, categories, topics) keeps
    the encoder's vectors."""
    from udfs import encoder
    from udfs.classifier import ClassifierSettings, classify_batch, encode_messages, turns_to_embed
    from udfs.features import message_features

    settings = ClassifierSettings(cpu_precision="float32")  # as encoder.embed and encode read by default
    users = ["I finally got the job!!", "Fix the import error in my script.", "I feel so alone tonight.",
             "ugh, whatever", "That was honestly the best day in months.", "Can you list three pasta shapes?",
             "I'm scared about the test results.", "ok thanks", "Nobody ever listens to me."]
    conversation = [{"index": i, "role": "user", "content": text} for i, text in enumerate(users)]
    scored = [0, 1, 2, 6, 7, 8]
    general = encoder.embed(users)[0]
    tuned = encoder.encode(users, model.sentiment_branch)
    assert float(np.max(np.sum(general * tuned, axis=1))) < 0.9999  # the branch moved the vectors
    batch = encode_messages([conversation], lambda n: turns_to_embed(n, settings), settings, "cpu", model,
                            lambda n: scored)
    np.testing.assert_allclose(batch.vectors, general, atol=1e-5)
    np.testing.assert_allclose(batch.sentiment_vectors[scored], tuned[scored], atol=1e-5)
    assert np.isnan(batch.sentiment_vectors[[3, 4, 5]]).all()  # unscored turns never run the branch
    out = classify_batch(pd.DataFrame({"messages": [conversation]}), model, settings)
    x = head_input("sentiment", tuned[scored], None, message_features([users[t] for t in scored]))
    polarity = np.array(model["sentiment"].classes)[model["sentiment"].proba(x).argmax(1)]
    assert [s["user_turn"] for s in out["user_sentiment"][0]] == scored
    assert [int(np.sign(s["sentiment_class"])) for s in out["user_sentiment"][0]] == polarity.tolist()
    np.testing.assert_allclose(out["embedding"][0], general.mean(0) / np.linalg.norm(general.mean(0)), atol=1e-5)


def test_a_branch_of_the_encoders_own_top_layers_gives_the_encoders_vectors():
    """The branch runs on the states the encoder's lower layers leave: a branch that is a copy of the
    encoder's own top layers must give back the encoder's vectors, in any batch and for any length, and
    only for the texts asked for."""
    import torch
    from safetensors.torch import save

    from udfs import encoder

    _, model = encoder.load_encoder("cpu", 1)
    own = save({f"{i}.{k}": v.clone() for i in (4, 5) for k, v in model.encoder.layer[i].state_dict().items()})
    texts = ["Hi.", "I can't sleep and everything feels heavy tonight, again. " * 6, "Thanks, that helped a lot!"]
    other = save({f"{i}.{k}": v.clone() + (0.05 if k.endswith("bias") else 0) for i in (4, 5)
                  for k, v in model.encoder.layer[i].state_dict().items()})
    out = encoder.embed_branched(texts, [0, 1, -1], [own, other], batch_size=2)
    vectors, branched, errors = out.vectors, out.branch_vectors, out.errors
    np.testing.assert_allclose(branched[0], vectors[0], atol=1e-5)
    np.testing.assert_allclose(branched[1], encoder.encode([texts[1]], other)[0], atol=1e-5)  # each row its branch
    assert float(branched[1] @ vectors[1]) < 0.999
    assert np.isnan(branched[2]).all() and errors == [None] * 3
    np.testing.assert_allclose(vectors, encoder.embed(texts)[0], atol=1e-6)
    with pytest.raises(ValueError, match="does not fit all-MiniLM-L6-v2: layers \\[3\\], the encoder has 6"):
        encoder.embed_branched(texts, [0] * 3, [save({"3.output.dense.bias": torch.zeros(384)})])
    with pytest.raises(ValueError, match="does not fit all-MiniLM-L6-v2: 1 weights differ, 15 of 16 are missing"):
        encoder.embed_branched(texts, [0] * 3, [save({"5.output.dense.bias": torch.zeros(10)})])
    with pytest.raises(ValueError, match="a text names branch 1, there are 1"):
        encoder.embed_branched(texts, [0, 1, -1], [own])
    with pytest.raises(ValueError, match="3 texts, 3 branch choices, 2 tail choices"):
        encoder.embed_branched(texts, [0, 1, -1], [own], tail_of=[True, False])


def test_the_last_window_of_a_long_text_is_read_as_a_text_of_its_own():
    """A text longer than max_length tokens gets a second row in the same pass, its last max_length word
    pieces between [CLS] and [SEP], from its branch where it has one; a text that fits has its first
    window as its last; a text not asked for has none; the first window is read as before."""
    import torch
    from safetensors.torch import save

    from udfs import encoder

    _, model = encoder.load_encoder("cpu", 1)
    other = save({f"{i}.{k}": v.clone() + (0.05 if k.endswith("bias") else 0) for i in (4, 5)
                  for k, v in model.encoder.layer[i].state_dict().items()})
    start, end = "alpha " * 200, "bravo " * 126  # 126 word pieces: the whole of the last window
    texts = [start + end, "Thanks, that helped.", start + end, "Not asked for."]
    out = encoder.embed_branched(texts, [-1, -1, 0, -1], [other], tail_of=[True, True, True, False], batch_size=2)
    np.testing.assert_allclose(out.tail_vectors[0], encoder.embed([end])[0][0], atol=1e-5)
    np.testing.assert_allclose(out.vectors[0], encoder.embed(["alpha " * 126])[0][0], atol=1e-5)
    assert float(out.tail_vectors[0] @ out.vectors[0]) < 0.9
    np.testing.assert_array_equal(out.tail_vectors[1], out.vectors[1])
    np.testing.assert_allclose(out.tail_vectors[2], encoder.encode([end], other)[0], atol=1e-5)
    np.testing.assert_allclose(encoder.encode(texts[:2], tail=True), out.tail_vectors[:2], atol=1e-5)
    assert np.isnan(out.tail_vectors[3]).all() and out.errors == [None] * 4
    assert not torch.is_inference_mode_enabled()


def test_the_build_cache_keeps_each_window_length_apart(tmp_path):
    """The embedding cache is keyed by text: a rebuild at another max_length must not read the vectors
    of the first."""
    from udfs import encoder
    from udfs.build import embed_all

    texts = {"word " * 40 + "and then it ends", "I had a rough week."}
    cache = tmp_path / "embeddings.npz"
    for max_length in (64, 16, 64):
        vectors = embed_all(texts, cache, batch_size=2, max_length=max_length)
        for text in texts:
            np.testing.assert_allclose(vectors[text], encoder.encode([text], max_length=max_length)[0], atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings-first16.npz", "embeddings-first64.npz"]
