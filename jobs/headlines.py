"""The report's first screen: the study's headline figures beside this run's, raw and corrected, each with
how far to trust it.

Built from the released gold tables, the test scores the model carries (udfs/build.py: its test splits of
public human-labelled sets) and, where `affective validate` scored this model version on a human-labelled
sample of the user's own data, those scores (gold `validation_metrics`), which then take precedence. No
cell is empty: a figure that cannot be shown says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Headline:
    label: str
    table: str    # the gold table it comes from
    key: str      # its measure (prevalence, share of all conversations) or segment
    study: str    # what the study published for it
    # (task of `affective validate`, task of the model's test scores) behind the figure
    checks: tuple[tuple[str, str], ...]


# What the study published (Anthropic, "How people use Claude for support, advice, and companionship",
# 2025: about 4.5 million conversations); it gives no separate share for most single categories.
PART = "no separate figure (part of the 2.9 %)"
SHIFT_STUDY = "slightly more positive at the end than at the start"


def _category(label: str, category: str, study: str = PART) -> Headline:
    return Headline(f"{label}, share of all conversations", "prevalence", category, study,
                    ((f"category_{category}", f"category.{category}"),))


HEADLINES = (
    Headline("Affective conversations, share of all conversations", "prevalence", "affective", "2.9 %",
             (("use_affective", "use"),)),
    _category("Interpersonal advice", "interpersonal_advice"),
    _category("Coaching", "coaching"),
    _category("Psychotherapy or counseling", "counseling"),
    _category("Companionship", "companionship"),
    _category("Romantic or sexual roleplay", "romantic_roleplay", "part of the under 0.5 % below"),
    Headline("Companionship or roleplay, share of all conversations", "prevalence", "companionship_or_roleplay",
             "under 0.5 %", (("category_companionship", "category.companionship"),
                             ("category_romantic_roleplay", "category.romantic_roleplay"))),
    Headline("Pushback, share of affective conversations", "pushback", "affective",
             "under 10 % of supportive conversations", (("pushback", "pushback"),)),
    Headline("Main pushback reasons, affective conversations", "pushback_reasons", "affective",
             "mostly safety: dangerous dieting, self-harm, requests for diagnosis", (("", "pushback_reason"),)),
    Headline("Referral to a professional or a service, share of affective conversations", "referral", "affective",
             "often, when the assistant pushes back (no figure)", (("referral", "referral"),)),
    Headline("Sentiment shift, all conversations with 6+ user messages", "sentiment_shift", "all", SHIFT_STUDY,
             (("sentiment_3way", "sentiment"),)),
    Headline("Sentiment shift, affective conversations with 6+ user messages", "sentiment_shift", "affective",
             SHIFT_STUDY, (("sentiment_3way", "sentiment"),)),
    Headline("Long conversations (50+ user messages), share of all conversations", "prevalence",
             "long_conversations", "rare; they go deeper into a person's situation", ()),
)
COLUMNS = ["Measure", "The study", "This run", "95 % interval", "Of (conversations)", "Users",
           "Corrected with human labels", "How far to trust it"]
NOT_RELEASED = "not released: under the release thresholds, or none in this run"
UNITS = {"use": "conversations", "category": "conversations", "sentiment": "user messages",
         "pushback": "replies", "referral": "replies", "pushback_reason": "replies that push back"}


def pct(value: float) -> str:
    """A share as a percentage: two decimals under 1 %, else one."""
    return f"{100 * value:.2f} %" if value < 0.01 else f"{100 * value:.1f} %"


def signed(value: float) -> str:
    """A sentiment shift (or mean) on [-1, 1], with its sign."""
    return f"{value:+.3f}"


def _fmt(headline: Headline, value: float) -> str:
    return signed(value) if headline.table == "sentiment_shift" else pct(value)


def _interval(headline: Headline, low: float, high: float) -> str:
    return f"{_fmt(headline, low)} to {_fmt(headline, high)}"


def _row(gold: dict[str, pd.DataFrame], table: str, key: str) -> dict[str, Any] | None:
    """The released gold row of a measure (prevalence: share of all conversations) or segment, or None."""
    rows = gold.get(table, pd.DataFrame())
    if not len(rows):
        return None
    if table == "prevalence":
        rows = rows[(rows["measure"] == key) & (rows["population"] == "all conversations")]
    else:
        rows = rows[rows["segment"] == key]
    return rows.iloc[0].to_dict() if len(rows) else None


def _corrected(headline: Headline, row: dict[str, Any]) -> str:
    if not headline.checks:
        return "not needed: a count of messages, no model decides it"
    if headline.table == "pushback_reasons":
        return "none: a mix of the model's reasons"
    if pd.isna(row.get("corrected")):
        return "none: no human-labelled sample of this data"
    return (f"{_fmt(headline, row['corrected'])} ({_interval(headline, row['corrected_ci_low'], row['corrected_ci_high'])}), "
            f"{row['correction_method']} on {int(row['labelled_conversations']):,} labelled conversations")


def _reasons(gold: dict[str, pd.DataFrame], headline: Headline) -> dict[str, str] | None:
    """The reasons row: reasons by share, over the segment's pushback conversations."""
    reasons = gold.get("pushback_reasons", pd.DataFrame())
    mine = reasons[reasons["segment"] == headline.key].sort_values("share_of_pushback", ascending=False) \
        if len(reasons) else reasons
    if not len(mine):
        return None
    pushback = _row(gold, "pushback", headline.key)
    return {"This run": ", ".join(f"{r.reason} {pct(r.share_of_pushback)}" for r in mine.itertuples()),
            "95 % interval": "none: shares of one mix",
            "Of (conversations)": (f"{int(pushback['pushback_conversations']):,} that push back" if pushback
                                   else "the segment's pushback conversations"),
            "Users": f"{int(mine['users'].max()):,} or more"}


def _checked_here(task: str, validation: pd.DataFrame) -> str | None:
    """This model version's scores on the user's human-labelled sample, latest run first."""
    rows = validation[validation["task"] == task].sort_values("computed_at") if len(validation) else validation
    if not len(rows):
        return None
    r = rows.iloc[-1]
    sample = f"checked on a human-labelled sample of this data (run {r['run_id']}, {pd.Timestamp(r['computed_at']):%Y-%m-%d})"
    if task == "sentiment_3way":
        return f"{sample}: 3-way macro-F1 {r['f1']:.2f}"
    return f"{sample}: precision {r['precision']:.2f}, recall {r['recall']:.2f} ({int(r['support']):,} positive)"


def _checked_on_public_sets(task: str, scores: dict[str, float]) -> str | None:
    n = scores.get(f"test.{task}.n")
    if n is None:
        return None
    unit = UNITS[task.split(".")[0]]
    if f"test.{task}.f1" in scores:
        return (f"F1 {scores[f'test.{task}.f1']:.2f} (precision {scores[f'test.{task}.precision']:.2f}, "
                f"recall {scores[f'test.{task}.recall']:.2f}) on {int(n):,} {unit}")
    return f"macro-F1 {scores[f'test.{task}.macro_f1']:.2f} on {int(n):,} {unit}"


def trust(headline: Headline, scores: dict[str, float], validation: pd.DataFrame, model_version: str) -> str:
    """How far to trust a figure: its task's scores on this data where validated, else on public test sets."""
    if not headline.checks:
        return "exact: a count of user messages, no model involved"
    here = [s for s in (_checked_here(task, validation) for task, _ in headline.checks if task) if s]
    if here:
        return f"model {model_version}, " + "; ".join(here)
    public = [s for s in (_checked_on_public_sets(task, scores) for _, task in headline.checks) if s]
    if public:
        return (f"not validated on this data; model {model_version} on the test splits of the public "
                f"human-labelled sets its model card names: " + "; ".join(public))
    return f"not validated: no human-labelled sample of this data, and model {model_version} carries no test scores"


def _not_released(columns: list[str]) -> dict[str, str]:
    """The cells of a figure with no released row: the first says why, the others refer to it."""
    return {c: NOT_RELEASED if i == 0 else "not released" for i, c in enumerate(columns)}


def headline_table(gold: dict[str, pd.DataFrame], scores: dict[str, float], model_version: str) -> pd.DataFrame:
    """One row per headline figure (COLUMNS), every cell a string that says what it holds or why it is missing.

    Args:
        gold: the released gold tables (report.read_gold), `validation_metrics` among them where it exists.
        scores: the model's metrics (`Heads.metrics`: `test.<task>.*` from udfs/build.py).
        model_version: the model version the gold tables were computed with.
    """
    validation = gold.get("validation_metrics", pd.DataFrame())
    if len(validation):
        validation = validation[validation["model_version"] == model_version]
    rows = []
    for h in HEADLINES:
        cells = {"Measure": h.label, "The study": h.study, "How far to trust it": trust(h, scores, validation, model_version)}
        if h.table == "pushback_reasons":
            found = _reasons(gold, h)
            cells.update(found or _not_released(COLUMNS[2:6]))
            cells["Corrected with human labels"] = _corrected(h, {})
        elif (row := _row(gold, h.table, h.key)) is None:
            cells.update(_not_released(COLUMNS[2:7]))
        else:
            value = row["mean_shift"] if h.table == "sentiment_shift" else row.get("share", row.get("rate"))
            cells.update({"This run": _fmt(h, value), "95 % interval": _interval(h, row["ci_low"], row["ci_high"]),
                          "Of (conversations)": f"{int(row.get('denominator', row['conversations'])):,}",
                          "Users": f"{int(row['users']):,}", "Corrected with human labels": _corrected(h, row)})
        rows.append(cells)
    return pd.DataFrame(rows, columns=COLUMNS)
