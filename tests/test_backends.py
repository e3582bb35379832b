"""The Hugging Face backends on tiny randomly initialised BERTs built here (no network, no downloads).

Forward-pass counting and out-of-memory faults are injected by wrapping `forward` on the loaded
transformers model object; our own code runs unmodified.
"""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from udfs import backends
from udfs.backends import HFClassifierScorer, ZeroShotScorer, parse_label, resolve_dtype, scorer_from_config
from udfs.encoder import resolve_device

WORDS = ("hello world please help me write a poem story about my day i feel sad happy tired angry "
         "thanks you so much that is not ok refuse request because safety policy doctor lawyer "
         "cannot do this can we talk again tomorrow love your reply great bad fine").split()
POISON = "poison"  # in the vocabulary but never in the random texts: marks the row that always fails
SENTIMENT_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
SENTIMENT_MAP = ["very negative=-2", "negative=-1", "neutral=0", "positive=1", "very positive=2"]
NLI_LABELS = ["contradiction", "neutral", "entailment"]
HYPOTHESES = ["safety=This reply refuses for safety reasons.", "policy=This reply cites a policy.",
              "disagreement=This reply disagrees, e.g. 1=2 is false."]


def _save_tiny_bert(directory, tokenizer, labels: list[str]) -> str:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    # A wide initialisation so random-weight scores differ clearly between texts.
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=37, max_position_embeddings=512,
                        initializer_range=0.3,
                        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[str, str]:
    """A 5-label sentiment classifier and a 3-label NLI model sharing one WordPiece vocabulary."""
    from transformers import BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny-models")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", POISON, *dict.fromkeys(WORDS)]))
    tokenizer = BertTokenizerFast(vocab=str(vocab))  # transformers 5 ignores the old `vocab_file=` keyword
    # Every word is one known token (the truncation test relies on it).
    assert tokenizer.unk_token_id not in tokenizer(" ".join(WORDS))["input_ids"]
    return {"sentiment": _save_tiny_bert(root / "sentiment", tokenizer, SENTIMENT_LABELS),
            "nli": _save_tiny_bert(root / "nli", tokenizer, NLI_LABELS)}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """23 texts of 1 to 30 words, so batches have different lengths."""
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 31)))) for _ in range(23)]


def _scorer(model_dirs, **kwargs) -> HFClassifierScorer:
    return HFClassifierScorer(model_dirs["sentiment"], SENTIMENT_MAP, device="cpu", **kwargs)


def _record_batches(monkeypatch, model, fail=None) -> list[dict[str, torch.Tensor]]:
    """Wrap the model's forward: record each batch's inputs, raise fail(input_ids) when it returns an error."""
    batches, original = [], model.forward

    def forward(*args, **kwargs):
        error = fail(kwargs["input_ids"]) if fail else None
        if error is not None:
            raise error
        batches.append({name: value.clone() for name, value in kwargs.items() if isinstance(value, torch.Tensor)})
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", forward)
    return batches


def test_shuffled_input_gives_shuffled_scores(model_dirs, texts):
    scorer = _scorer(model_dirs, batch_size=4)
    proba = scorer.score(texts).proba
    perm = np.random.default_rng(1).permutation(len(texts))
    shuffled = scorer.score([texts[i] for i in perm]).proba
    assert proba[:, 0].std() > 0.01  # scores differ by text, so a wrong order would show
    np.testing.assert_allclose(shuffled, proba[perm], atol=1e-5)


def test_batch_size_does_not_change_scores(model_dirs, texts):
    results = [_scorer(model_dirs, batch_size=size).score(texts).proba for size in (1, 3, 64)]
    for proba in results[1:]:
        np.testing.assert_allclose(proba, results[0], atol=1e-5)


def test_one_forward_pass_per_batch_padded_to_its_longest_text(model_dirs, texts, monkeypatch):
    scorer = _scorer(model_dirs, batch_size=5)
    batches = _record_batches(monkeypatch, scorer.model)
    scorer.score(texts)
    masks = [b["attention_mask"] for b in batches]
    assert len(masks) == math.ceil(len(texts) / 5)
    lengths = sorted(len(ids) for ids in scorer.tokenizer(texts)["input_ids"])
    expected_widths = [max(lengths[i:i + 5]) for i in range(0, len(lengths), 5)]
    assert [m.shape[1] for m in masks] == expected_widths
    assert all(m.shape[1] == int(m.sum(1).max()) for m in masks)


def test_probabilities_sum_to_one_and_merged_labels_add_up(model_dirs, texts):
    full = _scorer(model_dirs).score(texts).proba
    merged_map = ["very negative=false", "negative=false", "neutral=false", "positive=true", "very positive=true"]
    merged = HFClassifierScorer(model_dirs["sentiment"], merged_map, device="cpu")
    proba = merged.score(texts).proba
    assert _scorer(model_dirs).classes == (-2, -1, 0, 1, 2)
    assert merged.classes == (False, True)
    assert full.dtype == np.float32 and full.shape == (len(texts), 5)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(proba[:, 1], full[:, 3] + full[:, 4], atol=1e-6)
    np.testing.assert_allclose(proba[:, 0], full[:, :3].sum(axis=1), atol=1e-6)


@pytest.mark.parametrize("label_map, named", [
    (SENTIMENT_MAP[:-1], "very positive"),                # a model label left unmapped
    ([*SENTIMENT_MAP, "furious=-2"], "furious"),          # a label the model does not have
    ([*SENTIMENT_MAP, "neutral=1"], "twice"),             # one model label mapped twice
    (["neutral", *SENTIMENT_MAP], "neutral"),             # no '='
])
def test_bad_label_map_raises_naming_the_label(model_dirs, label_map, named):
    with pytest.raises(ValueError, match=named):
        HFClassifierScorer(model_dirs["sentiment"], label_map, device="cpu")


def test_parse_label():
    assert [parse_label(v) for v in ("true", "FALSE", "-2", "0", " safety ")] == [True, False, -2, 0, "safety"]


def test_long_text_scores_as_its_first_max_length_tokens(model_dirs, monkeypatch):
    scorer = _scorer(model_dirs, max_length=16)
    batches = _record_batches(monkeypatch, scorer.model)
    words = [WORDS[i % len(WORDS)] for i in range(2000)]
    long_score = scorer.score([" ".join(words)])
    head_score = scorer.score([" ".join(words[:14])])  # 14 one-token words + [CLS] + [SEP] = 16 tokens
    assert long_score.errors == [None]
    assert max(b["input_ids"].shape[1] for b in batches) == 16
    np.testing.assert_allclose(long_score.proba, head_score.proba, atol=1e-6)


def test_out_of_memory_halves_the_batch_and_gives_the_same_scores(model_dirs, texts, monkeypatch):
    scorer = _scorer(model_dirs, batch_size=16)
    expected = scorer.score(texts).proba
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory")
    batches = _record_batches(monkeypatch, scorer.model, lambda ids: oom if len(ids) > 3 else None)
    result = scorer.score(texts)
    assert result.errors == [None] * len(texts)
    assert [len(b["input_ids"]) for b in batches] == [2] * 11 + [1]  # 16 -> 8 -> 4 -> 2, kept for the rest
    np.testing.assert_allclose(result.proba, expected, atol=1e-5)


def test_generic_out_of_memory_runtime_error_is_retried(model_dirs, texts, monkeypatch):
    scorer = _scorer(model_dirs, batch_size=8)
    expected = scorer.score(texts).proba
    _record_batches(monkeypatch, scorer.model,
                    lambda ids: RuntimeError("CUDA error: out of memory") if len(ids) > 1 else None)
    np.testing.assert_allclose(scorer.score(texts).proba, expected, atol=1e-5)


def test_row_failing_alone_is_nan_with_an_error_free_of_its_text(model_dirs, texts, monkeypatch):
    scorer = _scorer(model_dirs, batch_size=8)
    expected = scorer.score(texts).proba
    poison_id = scorer.tokenizer.convert_tokens_to_ids(POISON)
    _record_batches(monkeypatch, scorer.model, lambda ids: torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB") if (ids == poison_id).any() else None)
    bad = f"{POISON} my secret diary entry"
    result = scorer.score([*texts[:10], bad, *texts[10:]])
    assert np.isnan(result.proba[10]).all()
    assert result.errors[10].startswith("OutOfMemoryError: ") and POISON not in result.errors[10]
    assert "secret" not in result.errors[10]
    assert result.errors[:10] + result.errors[11:] == [None] * len(texts)
    np.testing.assert_allclose(np.delete(result.proba, 10, axis=0), expected, atol=1e-5)


def test_other_errors_are_not_swallowed(model_dirs, texts, monkeypatch):
    scorer = _scorer(model_dirs)
    _record_batches(monkeypatch, scorer.model, lambda ids: RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        scorer.score(texts)


def test_empty_input(model_dirs):
    result = _scorer(model_dirs).score([])
    assert result.proba.shape == (0, 5) and result.errors == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_device_resolution_without_cuda(model_dirs):
    assert resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        HFClassifierScorer(model_dirs["sentiment"], SENTIMENT_MAP, device="cuda")
    scorer = HFClassifierScorer(model_dirs["sentiment"], SENTIMENT_MAP, device="auto")
    assert scorer.device == "cpu" and scorer.model.dtype == torch.float32


def test_dtype_resolution(monkeypatch):
    assert resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", "cuda") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", "cuda:0") == "float16"
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("fp8", "cuda")


def test_scorer_pickles_without_its_model(model_dirs, texts):
    scorer = _scorer(model_dirs)
    blob = pickle.dumps(scorer)
    assert len(blob) < 10_000  # settings and the label matrix only: cheap to ship in a Spark closure
    np.testing.assert_array_equal(pickle.loads(blob).score(texts).proba, scorer.score(texts).proba)


def _nli_logits(scorer: ZeroShotScorer, text: str) -> np.ndarray:
    """The NLI model's logits for text against each hypothesis, computed directly."""
    batch = scorer.tokenizer([text] * len(scorer.templates), scorer.templates, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return scorer.model(**batch).logits.numpy()


def test_zero_shot_single_label_is_a_softmax_of_entailment_logits(model_dirs, texts):
    scorer = ZeroShotScorer(model_dirs["nli"], HYPOTHESES, device="cpu", batch_size=7)
    assert scorer.entailment == 2 and scorer.classes == ("safety", "policy", "disagreement")
    assert scorer.templates[2] == "This reply disagrees, e.g. 1=2 is false."
    proba = scorer.score(texts).proba
    assert proba.shape == (len(texts), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    entail = _nli_logits(scorer, texts[4])[:, 2]
    np.testing.assert_allclose(proba[4], np.exp(entail) / np.exp(entail).sum(), atol=1e-5)


def test_zero_shot_multi_label_is_entailment_versus_contradiction(model_dirs, texts):
    scorer = ZeroShotScorer(model_dirs["nli"], HYPOTHESES, device="cpu", multi_label=True)
    proba = scorer.score(texts).proba
    assert proba.shape == (len(texts), 3)
    assert not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)  # each class on its own
    logits = _nli_logits(scorer, texts[4])
    np.testing.assert_allclose(proba[4], 1 / (1 + np.exp(logits[:, 0] - logits[:, 2])), atol=1e-5)


def test_zero_shot_failed_pair_fails_the_whole_text(model_dirs, texts, monkeypatch):
    scorer = ZeroShotScorer(model_dirs["nli"], HYPOTHESES, device="cpu", multi_label=True)
    poison_id, policy_id = scorer.tokenizer.convert_tokens_to_ids([POISON, "policy"])

    def fail(ids):  # only the poison text paired with the "policy" hypothesis fails
        rows = (ids == poison_id).any(dim=1) & (ids == policy_id).any(dim=1)
        return torch.cuda.OutOfMemoryError("oom") if rows.any() else None

    _record_batches(monkeypatch, scorer.model, fail)
    result = scorer.score([texts[0], POISON, texts[1]])
    assert np.isnan(result.proba[1]).all() and not np.isnan(result.proba[[0, 2]]).any()
    assert result.errors == [None, "OutOfMemoryError: oom", None]


def test_zero_shot_truncates_the_text_and_keeps_the_hypothesis(model_dirs, monkeypatch):
    hypothesis = "please help me write a poem story about my day"  # 10 tokens
    scorer = ZeroShotScorer(model_dirs["nli"], [f"x={hypothesis}", "y=bad"], device="cpu", max_length=16)
    batches = _record_batches(monkeypatch, scorer.model)
    result = scorer.score([" ".join(WORDS * 50)])
    ids = torch.cat([b["input_ids"] for b in batches])
    hypothesis_ids = scorer.tokenizer(hypothesis, add_special_tokens=False)["input_ids"]
    assert result.errors == [None] and ids.shape[1] == 16
    assert hypothesis_ids + [scorer.tokenizer.sep_token_id] in [row[-11:] for row in ids.tolist()]


def test_zero_shot_finds_entailment_case_insensitively(model_dirs, monkeypatch):
    model = ZeroShotScorer(model_dirs["nli"], HYPOTHESES, device="cpu").model
    monkeypatch.setattr(model.config, "label2id", {"CONTRADICTION": 0, "NEUTRAL": 1, "Entailment": 2})
    scorer = ZeroShotScorer(model_dirs["nli"], HYPOTHESES, device="cpu", multi_label=True)
    assert (scorer.entailment, scorer.contradiction) == (2, 0)


@pytest.mark.parametrize("hypotheses, message", [
    (["safety=Refuses.", "safety=Declines."], "twice"),
    (["This reply refuses."], "name=value"),
    ([], "empty"),
])
def test_zero_shot_bad_hypotheses(model_dirs, hypotheses, message):
    with pytest.raises(ValueError, match=message):
        ZeroShotScorer(model_dirs["nli"], hypotheses, device="cpu")


def test_zero_shot_needs_an_entailment_label(model_dirs):
    with pytest.raises(ValueError, match="entailment"):
        ZeroShotScorer(model_dirs["sentiment"], HYPOTHESES, device="cpu")


def test_scorer_from_config(model_dirs):
    common = dict(device="cpu", batch_size=4, max_length=32)
    assert scorer_from_config({"type": "embedded"}, **common) is None
    classifier = scorer_from_config({"type": "hf-classifier", "path": model_dirs["sentiment"],
                                     "labels": SENTIMENT_MAP}, **common)
    assert isinstance(classifier, HFClassifierScorer) and classifier.batch_size == 4
    zero_shot = scorer_from_config({"type": "hf-zero-shot", "path": model_dirs["nli"], "hypotheses": HYPOTHESES,
                                    "labels": []}, **common)
    assert isinstance(zero_shot, ZeroShotScorer) and zero_shot.classes == ("safety", "policy", "disagreement")


@pytest.mark.parametrize("spec, field", [
    ({"type": "bert"}, "'type'"),
    ({}, "'type'"),
    ({"type": "hf-classifier", "labels": SENTIMENT_MAP}, "'path'"),
    ({"type": "hf-classifier", "path": "/nowhere", "labels": "LABEL_0=false"}, "'labels'"),
    ({"type": "hf-zero-shot", "path": "/nowhere"}, "'hypotheses'"),
    ({"type": "hf-zero-shot", "path": "/x", "hypotheses": HYPOTHESES, "labels": ["a=b"]}, "'labels'"),
    ({"type": "hf-zero-shot", "path": "/x", "hypotheses": HYPOTHESES, "multi_label": "yes"}, "'multi_label'"),
    ({"type": "embedded", "path": "/x"}, "'path'"),
    ({"type": "embedded", "lables": ["a=b"]}, "lables"),
])
def test_scorer_from_config_names_the_bad_field(spec, field):
    with pytest.raises(ValueError, match=field):
        scorer_from_config(spec, device="cpu", batch_size=4, max_length=32)


def test_mlflow_transformers_model(model_dirs, texts, tmp_path):
    mlflow_transformers = pytest.importorskip("mlflow.transformers")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = str(tmp_path / "mlflow-model")
    components = {"model": AutoModelForSequenceClassification.from_pretrained(model_dirs["sentiment"]),
                  "tokenizer": AutoTokenizer.from_pretrained(model_dirs["sentiment"])}
    mlflow_transformers.save_model(components, path, task="text-classification", pip_requirements=["transformers"])
    assert backends._is_mlflow_model(path)
    proba = HFClassifierScorer(path, SENTIMENT_MAP, device="cpu").score(texts).proba
    np.testing.assert_allclose(proba, _scorer(model_dirs).score(texts).proba, atol=1e-6)


def test_classifier_reads_a_context_and_its_text_as_one_pair(model_dirs, texts):
    """Pushback reads the reply with the request before it: (context, text) in one sequence, '' for none."""
    scorer = _scorer(model_dirs, batch_size=5)
    contexts = [texts[-1 - i] if i % 3 else "" for i in range(len(texts))]
    proba = scorer.score(texts, contexts).proba
    batch = scorer.tokenizer(contexts, texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        expected = torch.softmax(scorer.model(**batch).logits, dim=-1).numpy() @ scorer.mapping
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    assert not np.allclose(proba[1], scorer.score([texts[1]]).proba[0], atol=1e-3)  # the context counts


def test_classifier_pair_longer_than_max_length_cuts_the_longer_side(model_dirs, monkeypatch):
    scorer = _scorer(model_dirs, max_length=16)
    batches = _record_batches(monkeypatch, scorer.model)
    result = scorer.score(["thanks you so much"], [" ".join(WORDS * 50)])
    ids = batches[0]["input_ids"][0].tolist()
    assert result.errors == [None] and len(ids) == 16
    text_ids = scorer.tokenizer("thanks you so much", add_special_tokens=False)["input_ids"]
    assert ids[-5:] == text_ids + [scorer.tokenizer.sep_token_id]  # the short reply is kept whole


def test_zero_shot_premise_is_the_context_and_the_text(model_dirs, texts):
    scorer = ZeroShotScorer(model_dirs["nli"], HYPOTHESES, device="cpu")
    with_context = scorer.score([texts[0], texts[1]], [texts[2], ""]).proba
    np.testing.assert_allclose(with_context[0], scorer.score([f"{texts[2]}\n\n{texts[0]}"]).proba[0], atol=1e-6)
    np.testing.assert_allclose(with_context[1], scorer.score([texts[1]]).proba[0], atol=1e-6)
