"""Prediction-powered inference (PPI++): the classifier's figures corrected by a human-labelled sample.

For a ratio of means theta = E[a] / E[b] (a plain mean has b = 1), with predictions f on all N classified
conversations and human truth Y with predictions f on n of them, a uniform random sample (Angelopoulos et
al. 2023, "Prediction-powered inference"; Angelopoulos, Duchi, Zrnic 2023, "PPI++"):

    theta_x = lambda * mean_N(f_x) + mean_n(Y_x - lambda * f_x)      for x in (a, b); theta = theta_a / theta_b
    se^2    = (lambda^2 var_N(g) / N + var_n(h - lambda g) / n) / theta_b^2,   g = f_a - theta f_b, h = Y_a - theta Y_b

(the delta method on the linearised ratio). One lambda serves numerator and denominator: the power-tuned
lambda = cov_n(h, g) / ((1 + n/N) var_n(g)) of the linearised ratio, taking theta there from the human
labels alone (mean_n(Y_a) / mean_n(Y_b)), clipped to [0, 1] (1 is classic PPI, 0 the human labels alone;
0 where var_n(g) = 0). For b = 1 this is PPI++ for a mean. Variances are sample variances (n - 1); the
figure and its interval theta +- z se are clipped to the figure's range. Spark reduces each side to counts,
sums and sums of products per figure, so a handful of numbers per figure reaches the driver.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Row

# A figure's key values, its numerator a and its denominator b, as columns of one conversation.
Term = tuple[tuple[str, ...], Column, Column]
LABELLED = ("y_a", "f_a", "y_b", "f_b")
PREDICTED = ("f_a", "f_b")
METHOD = "PPI++"
CORRECTION_COLUMNS = (("corrected", "double"), ("corrected_ci_low", "double"), ("corrected_ci_high", "double"),
                      ("correction_method", "string"), ("labelled_conversations", "long"))


@dataclass(frozen=True)
class Moments:
    """Row count, column sums and sums of column products of a sample of vectors."""

    n: float
    sums: np.ndarray
    cross: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.sums / self.n

    @property
    def cov(self) -> np.ndarray:
        return (self.cross - self.n * np.outer(self.mean, self.mean)) / (self.n - 1)


@dataclass(frozen=True)
class Estimate:
    """A PPI++ estimate, its standard error and the lambda it used."""

    value: float
    se: float
    lam: float


@dataclass(frozen=True)
class LabelledSample:
    """The inputs of a correction.

    Attributes:
        labelled: one row per human-labelled conversation: `conversation_id`, `user_id`, `t` (human labels)
            and `p` (predictions).
        predicted: one row per classified conversation: `conversation_id`, `p`.
        z: the normal quantile of the interval.
        min_users: fewest distinct users in the labelled sample for a correction.
        min_conversations: fewest labelled conversations for a correction.
    """

    labelled: DataFrame
    predicted: DataFrame
    z: float
    min_users: int
    min_conversations: int


def ppi_ratio(labelled: Moments, predicted: Moments) -> Estimate | None:
    """PPI++ estimate of E[a] / E[b] and its standard error; None where it is undefined.

    Args:
        labelled: moments of (y_a, f_a, y_b, f_b) over the labelled sample.
        predicted: moments of (f_a, f_b) over every classified conversation.

    Returns:
        The estimate, or None with fewer than 2 rows on a side or no labelled (or estimated) member of b.
    """
    n, big_n = labelled.n, predicted.n
    if n < 2 or big_n < 2 or labelled.mean[2] <= 0:
        return None
    m, s, mf = labelled.mean, labelled.cov, predicted.mean
    pilot = m[0] / m[2]
    h, g = np.array([1.0, 0.0, -pilot, 0.0]), np.array([0.0, 1.0, 0.0, -pilot])
    var_g = g @ s @ g
    lam = float(np.clip(h @ s @ g / ((1 + n / big_n) * var_g), 0.0, 1.0)) if var_g > 1e-12 else 0.0
    theta_a = lam * mf[0] + m[0] - lam * m[1]
    theta_b = lam * mf[1] + m[2] - lam * m[3]
    if theta_b <= 0:
        return None
    ratio = theta_a / theta_b
    c, w = np.array([1.0, -ratio]), np.array([1.0, -lam, -ratio, lam * ratio])
    var = (lam ** 2 * (c @ predicted.cov @ c) / big_n + (w @ s @ w) / n) / theta_b ** 2
    return Estimate(float(ratio), math.sqrt(max(float(var), 0.0)), lam)


def moment_sums(rows: DataFrame, keys: list[str], vector: tuple[str, ...]) -> DataFrame:
    """Per group of `keys`: rows `n`, distinct `users` (where `user_id` is a column), sums and cross sums."""
    users = [F.countDistinct("user_id").alias("users")] if "user_id" in rows.columns else []
    sums = [F.sum(x).alias(f"s_{x}") for x in vector]
    cross = [F.sum(F.col(x) * F.col(y)).alias(f"s_{x}_{y}") for i, x in enumerate(vector) for y in vector[i:]]
    return rows.groupBy(*keys).agg(F.count("*").alias("n"), *users, *sums, *cross)


def to_moments(row: Row, vector: tuple[str, ...]) -> Moments:
    """The Moments of `vector` from a row of `moment_sums`."""
    cross = np.zeros((len(vector), len(vector)))
    for i, x in enumerate(vector):
        for j, y in enumerate(vector[i:], start=i):
            cross[i, j] = cross[j, i] = row[f"s_{x}_{y}"]
    return Moments(float(row["n"]), np.array([row[f"s_{x}"] for x in vector], dtype=float), cross)


def term_rows(df: DataFrame, keys: list[str], terms: Callable[[Column], list[Term]],
              sides: dict[str, str]) -> DataFrame:
    """One row per conversation and term: the key columns and, per side, its a and b as doubles (null as 0).

    Args:
        df: one row per conversation, with a struct column per side (and `user_id`, kept where present).
        keys: names of the key columns.
        terms: a conversation struct -> its terms, in the same order for every side.
        sides: struct column -> prefix of its values: {"t": "y", "p": "f"} gives y_a, y_b, f_a, f_b.
    """
    per_side = {prefix: terms(F.col(struct)) for struct, prefix in sides.items()}

    def term(i: int, key: tuple[str, ...]) -> Column:
        values = [F.coalesce(per_side[p][i][part].cast("double"), F.lit(0.0)).alias(f"{p}_{ab}")
                  for p in per_side for part, ab in ((1, "a"), (2, "b"))]
        return F.struct(*[F.lit(v).alias(k) for k, v in zip(keys, key)], *values)

    first = next(iter(per_side.values()))
    extra = ["user_id"] if "user_id" in df.columns else []
    return (df.select(*extra, F.explode(F.array(*[term(i, key) for i, (key, _, _) in enumerate(first)])).alias("term"))
            .select(*extra, "term.*"))


def corrections(sample: LabelledSample, keys: list[str], terms: Callable[[Column], list[Term]], *,
                bounds: tuple[float, float]) -> DataFrame | None:
    """The PPI++ correction of each term's figure (CORRECTION_COLUMNS), keyed by `keys`; None if there is none.

    A labelled sample under the release thresholds (distinct users or conversations) gives no correction.
    """
    labelled = [r for r in moment_sums(term_rows(sample.labelled, keys, terms, {"t": "y", "p": "f"}), keys,
                                       LABELLED).collect()
                if r["users"] >= sample.min_users and r["n"] >= sample.min_conversations]
    if not labelled:
        return None
    predicted = {tuple(r[k] for k in keys): to_moments(r, PREDICTED) for r in
                 moment_sums(term_rows(sample.predicted, keys, terms, {"p": "f"}), keys, PREDICTED).collect()}
    rows = []
    for r in labelled:
        key = tuple(r[k] for k in keys)
        estimate = ppi_ratio(to_moments(r, LABELLED), predicted[key])
        rows.append((*key, *correction_columns(estimate, int(r["n"]), z=sample.z, bounds=bounds)))
    schema = ", ".join([f"{k} string" for k in keys] + [f"{name} {kind}" for name, kind in CORRECTION_COLUMNS])
    return sample.predicted.sparkSession.createDataFrame(rows, schema)


def correction_columns(estimate: Estimate | None, n: int, *, z: float, bounds: tuple[float, float]
                       ) -> tuple[float | None, float | None, float | None, str | None, int | None]:
    """(corrected, ci_low, ci_high, method, labelled conversations), value and interval clipped to bounds."""
    if estimate is None:
        return None, None, None, None, None
    low, high = bounds
    value, half = estimate.value, z * estimate.se
    return min(max(value, low), high), max(value - half, low), min(value + half, high), METHOD, n


def with_correction(df: DataFrame, keys: list[str], sample: LabelledSample | None,
                    terms: Callable[[Column], list[Term]], *, bounds: tuple[float, float] = (0.0, 1.0)) -> DataFrame:
    """df with the PPI++ correction columns of its rows, joined on `keys`; null (method null) where there is none.

    Args:
        df: one row per figure, with the string columns `keys`.
        keys: the columns that name a figure, as `terms` names them.
        sample: the human-labelled sample, or None.
        terms: a conversation struct -> its figures' numerators and denominators.
        bounds: the range of the figure (shares and rates: [0, 1]).

    Returns:
        df with corrected, corrected_ci_low, corrected_ci_high, correction_method, labelled_conversations.
    """
    fixes = corrections(sample, keys, terms, bounds=bounds) if sample is not None else None
    if fixes is None:
        return df.select("*", *[F.lit(None).cast(kind).alias(name) for name, kind in CORRECTION_COLUMNS])
    return df.join(F.broadcast(fixes), keys, "left").select(*df.columns, *[name for name, _ in CORRECTION_COLUMNS])
