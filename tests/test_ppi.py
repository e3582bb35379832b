"""Prediction-powered inference: the estimator by hand, its coverage on simulated data, and its Spark path."""
from __future__ import annotations

import numpy as np
import pytest

from jobs.aggregate import labelled_sample, prevalence, rate_by_segment
from jobs.privacy.release import Thresholds
from jobs.stats import z_value
from jobs.ppi import Moments, ppi_ratio

Z = z_value(0.95)
LABELS_SCHEMA = ("conversation_id string, user_id string, use string, categories array<string>, pushback boolean, "
                 "pushback_reason string, referral boolean, is_long boolean")
TRUTH_SCHEMA = ("conversation_id string, user_id string, use string, categories array<string>, pushback boolean, "
                "referral boolean, shift double")


def _moments(*columns: np.ndarray) -> Moments:
    x = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    return Moments(float(len(x)), x.sum(axis=0), x.T @ x)


def _mean(y: np.ndarray, f: np.ndarray, f_all: np.ndarray):
    """PPI++ for a mean: the ratio form with denominator 1."""
    one, all_one = np.ones(len(y)), np.ones(len(f_all))
    return ppi_ratio(_moments(y, f, one, one), _moments(f_all, all_one))


def test_ppi_mean_matches_a_hand_computed_example():
    y, f = np.array([1, 0, 1, 0]), np.array([1, 0, 0, 0])
    f_all = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    estimate = _mean(y, f, f_all)
    # cov_n(y, f) = 1/6, var_n(f) = 1/4: lambda = (1/6) / ((1 + 4/8) * 1/4) = 4/9
    assert estimate.lam == pytest.approx(4 / 9)
    # theta = lambda * 3/8 + (1/2 - lambda * 1/4) = 5/9
    assert estimate.value == pytest.approx(5 / 9)
    # var_N(f) = 15/56; y - lambda f = (5/9, 0, 1, 0), whose var_n is 19/81
    assert estimate.se == pytest.approx(np.sqrt((4 / 9) ** 2 * (15 / 56) / 8 + (19 / 81) / 4))


def test_ppi_falls_back_to_the_labels_when_predictions_do_not_vary():
    y = np.array([1, 0, 0, 1, 1])
    estimate = _mean(y, np.zeros(5), np.zeros(50))
    assert (estimate.lam, estimate.value) == (0.0, pytest.approx(0.6))
    assert estimate.se == pytest.approx(np.sqrt(y.var(ddof=1) / 5))
    assert ppi_ratio(_moments(y, y, np.zeros(5), np.zeros(5)), _moments(np.ones(9), np.ones(9))) is None


def _simulate(seed: int, *, segment_share: float = 0.10, n_all: int = 20_000, n_labelled: int = 500):
    """True affective use and pushback, a classifier with recall 0.7 and false-positive rate 0.08 on each, and
    a uniform random labelled sample."""
    rng = np.random.default_rng(seed)

    def classify(truth: np.ndarray) -> np.ndarray:
        return np.where(truth, rng.random(len(truth)) < 0.7, rng.random(len(truth)) < 0.08)

    affective = rng.random(n_all) < segment_share
    pushback = np.where(affective, rng.random(n_all) < 0.3, rng.random(n_all) < 0.05)
    labelled = rng.choice(n_all, n_labelled, replace=False)
    return affective, classify(affective), pushback, classify(pushback), labelled


def _covers(estimate, truth: float) -> bool:
    return abs(estimate.value - truth) <= Z * estimate.se


def test_ppi_interval_of_a_share_covers_the_truth_at_the_nominal_rate():
    hits = []
    for seed in range(400):
        affective, predicted, _, _, labelled = _simulate(seed)
        hits.append(_covers(_mean(affective[labelled], predicted[labelled], predicted), affective.mean()))
    assert 0.92 <= np.mean(hits) <= 0.98


def test_ppi_interval_of_a_segment_rate_covers_the_truth_at_the_nominal_rate():
    hits = []
    for seed in range(400):
        affective, pred_affective, pushback, pred_pushback, s = _simulate(seed, segment_share=0.25)
        a, b, f_a, f_b = affective & pushback, affective, pred_affective & pred_pushback, pred_affective
        estimate = ppi_ratio(_moments(a[s], f_a[s], b[s], f_b[s]), _moments(f_a, f_b))
        hits.append(_covers(estimate, a.sum() / b.sum()))
    assert 0.92 <= np.mean(hits) <= 0.98


def _frames(spark, seed: int, *, n_labelled: int = 500, users: int | None = None):
    """Spark inputs of aggregate from one simulation: predictions of all, human labels of the sample."""
    affective, pred_affective, pushback, pred_pushback, labelled = _simulate(seed, n_labelled=n_labelled)
    user = [f"u{i % users if users else i}" for i in range(len(affective))]

    def use(is_affective) -> tuple[str, list[str]]:
        return ("affective", ["counseling"]) if is_affective else ("task", [])

    labels = spark.createDataFrame(
        [(f"c{i}", user[i], *use(a), bool(p), "safety" if p else None, False, False)
         for i, (a, p) in enumerate(zip(pred_affective, pred_pushback))], LABELS_SCHEMA)
    truth = spark.createDataFrame([(f"c{i}", user[i], *use(affective[i]), bool(pushback[i]), False, None)
                                   for i in labelled.tolist()], TRUTH_SCHEMA)
    return labels, truth, (affective, pred_affective, pushback, pred_pushback, labelled)


def _sample(spark, labels, truth, *, min_users: int = 50, min_conversations: int = 100):
    return labelled_sample(labels, truth, z=z_value(0.95),
                           thresholds=Thresholds(min_users=min_users, min_conversations=min_conversations))


def _misses(row, truth: float, low: str = "ci_low", high: str = "ci_high") -> bool:
    return not row[low] <= truth <= row[high]


def test_ppi_corrects_a_biased_share_and_segment_rate_that_wilson_misses(spark):
    labels, truth, (affective, pred_affective, pushback, _, s) = _frames(spark, seed=3)
    sample = _sample(spark, labels, truth)
    share = prevalence(labels, z=Z, sample=sample).where(
        "measure = 'affective' AND population = 'all conversations'").first()
    assert share["share"] == pytest.approx(pred_affective.mean()) and share["share"] > 0.13
    assert _misses(share, affective.mean())
    assert not _misses(share, affective.mean(), "corrected_ci_low", "corrected_ci_high")
    assert (share["correction_method"], share["labelled_conversations"]) == ("PPI++", 500)
    assert share["corrected"] == pytest.approx(_mean(affective[s], pred_affective[s], pred_affective).value)
    rate = rate_by_segment(labels, "pushback", z=Z, sample=sample).where("segment = 'affective'").first()
    true_rate = (affective & pushback).sum() / affective.sum()
    assert _misses(rate, true_rate)
    assert not _misses(rate, true_rate, "corrected_ci_low", "corrected_ci_high")


def test_no_correction_from_a_labelled_sample_under_the_release_thresholds(spark):
    labels, truth, _ = _frames(spark, seed=5, n_labelled=80)
    few_conversations = prevalence(labels, z=Z, sample=_sample(spark, labels, truth)).collect()
    labels, truth, _ = _frames(spark, seed=5, users=20)
    few_users = rate_by_segment(labels, "pushback", z=Z, sample=_sample(spark, labels, truth)).collect()
    for row in few_conversations + few_users:
        assert [row[c] for c in ("corrected", "corrected_ci_low", "corrected_ci_high", "correction_method",
                                 "labelled_conversations")] == [None] * 5
    enough = rate_by_segment(labels, "pushback", z=Z, sample=_sample(spark, labels, truth, min_users=20))
    assert enough.where("segment = 'all'").first()["correction_method"] == "PPI++"
