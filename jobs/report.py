"""Report: a self-contained HTML page with PNG plots, built from the released gold tables only.

    affective report --profile local --output out/

Gold rows are aggregates that already passed the release rule, so they are small enough to bring to the
driver; no silver or bronze table, and so no conversation text, is read here.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import json
import math
import numpy as np
import pandas as pd

from jobs.context import Context
from jobs.headlines import headline_table, pct, signed
from jobs.tables import keys

SHARE_ORDER = ["0", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1)", "1"]
# PPI++ columns of aggregate (jobs/ppi.py), null where no human-labelled sample corrected the row.
CORRECTION_COLUMNS = ["corrected", "corrected_ci_low", "corrected_ci_high", "correction_method",
                      "labelled_conversations"]
SEGMENT_ORDER = ["all", "affective", "interpersonal_advice", "coaching", "counseling", "companionship",
                 "romantic_roleplay"]


def _ordered(df: pd.DataFrame, column: str, largest_first: str | None = None) -> pd.DataFrame:
    """Rows by segment as SEGMENT_ORDER, and within one by `largest_first` descending where given."""
    rank = {s: i for i, s in enumerate(SEGMENT_ORDER)}
    keys = ["_r", column, *([largest_first] if largest_first else [])]
    return (df.assign(_r=df[column].map(lambda s: rank.get(s, 99)))
            .sort_values(keys, ascending=[True, True, False][:len(keys)]).drop(columns="_r"))


def _figure(rows: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(7, 0.45 * max(rows, 2) + 1.6))


def _save(plt, fig, ax, empty: bool, path: Path) -> Path:
    if empty:
        ax.text(0.5, 0.5, "no row passed the release thresholds", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bar_with_interval(df: pd.DataFrame, label: str, value: str, title: str, xlabel: str, path: Path) -> Path:
    plt, fig, ax = _figure(len(df))
    if len(df):
        errors = [(df[value] - df["ci_low"]).clip(lower=0).to_numpy(),
                  (df["ci_high"] - df[value]).clip(lower=0).to_numpy()]
        ax.barh(df[label], df[value], xerr=errors, color="#4C72B0", capsize=3)
        _corrected_points(ax, df, label)
        ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _save(plt, fig, ax, not len(df), path)


def _corrected_points(ax, df: pd.DataFrame, label: str) -> None:
    """Over each bar that has one, the PPI++ corrected value and interval as a point with error bars."""
    fixed = df[df["corrected"].notna()] if "corrected" in df.columns else df.iloc[0:0]
    if len(fixed):
        errors = [(fixed["corrected"] - fixed["corrected_ci_low"]).clip(lower=0).to_numpy(),
                  (fixed["corrected_ci_high"] - fixed["corrected"]).clip(lower=0).to_numpy()]
        ax.errorbar(fixed["corrected"], fixed[label], xerr=errors, fmt="o", color="#DD8452", capsize=3,
                    label="corrected (PPI++, human-labelled sample)")
        ax.legend(loc="lower right", fontsize=8)


LABEL_LINE_POINTS = 9  # one line of 7-point labels
LABEL_CHAR_WIDTH = 0.0095  # of the map's width, per character of a 7-point label on a 7-inch figure
LABEL_LINE_HEIGHT = 0.03  # of the map's height


def label_lifts(points: pd.DataFrame) -> list[int]:
    """Per point (x, y, name), how many lines above its dot its label goes so that no two labels overlap:
    larger clusters keep the first line, the rest move up or down a line at a time until free."""
    span_x = max(float(points["x"].max() - points["x"].min()), 1e-9)
    span_y = max(float(points["y"].max() - points["y"].min()), 1e-9)
    placed: list[tuple[float, float, float]] = []  # centre x, y and half width, in fractions of the map
    lifts = [0] * len(points)
    for i in points.reset_index(drop=True).sort_values("conversations", ascending=False).index:
        row = points.iloc[i]
        x, y = (row["x"] - points["x"].min()) / span_x, (row["y"] - points["y"].min()) / span_y
        half = len(row["name"]) * LABEL_CHAR_WIDTH / 2
        for lift in (0, 1, -1, 2, -2, 3, -3, 4):
            top = y + lift * LABEL_LINE_HEIGHT
            if all(abs(x - px) >= half + ph or abs(top - py) >= LABEL_LINE_HEIGHT for px, py, ph in placed):
                break
        placed.append((x, top, half))
        lifts[i] = lift
    return lifts


def topic_map(clusters: pd.DataFrame, path: Path, scope: str = "affective") -> Path:
    """Released fine clusters of a scope on the 2-D PCA map of their centroids, sized by conversations."""
    fine = clusters[(clusters["scope"] == scope) & (clusters["level"] == "fine")] if len(clusters) else clusters
    plt, fig, ax = _figure(10)
    if len(fine):
        ax.scatter(fine["x"], fine["y"], s=20 + 400 * fine["conversations"] / fine["conversations"].max(),
                   alpha=0.5, color="#4C72B0")
        for row, lift in zip(fine.itertuples(), label_lifts(fine)):
            ax.annotate(row.name, (row.x, row.y), xytext=(0, 8 + LABEL_LINE_POINTS * lift), textcoords="offset points",
                        fontsize=7, ha="center", va="bottom")
    ax.set_title(f"Topic map, {scope} conversations (PCA of cluster centroids)")
    return _save(plt, fig, ax, not len(fine), path)


def drift_plot(drift: pd.DataFrame, path: Path) -> Path:
    """Released window-to-window transitions of long conversations."""
    rows = drift.sort_values("conversations", ascending=False).head(15) if len(drift) else drift
    plt, fig, ax = _figure(len(rows))
    if len(rows):
        ax.barh(rows["from_state"] + " -> " + rows["to_state"], rows["conversations"], color="#55A868")
        ax.invert_yaxis()
    ax.set_title("Long conversations: category transitions between windows")
    ax.set_xlabel("conversations")
    return _save(plt, fig, ax, not len(rows), path)


def user_share_plot(shares: pd.DataFrame, path: Path) -> Path:
    """Users by the affective share of their week's conversations, summed over released weeks."""
    totals = (shares.groupby("affective_share")["users"].sum().reindex(SHARE_ORDER).dropna()
              if len(shares) else pd.Series(dtype=float))
    plt, fig, ax = _figure(len(totals))
    if len(totals):
        ax.bar(totals.index, totals.values, color="#C44E52")
    ax.set_title("Users by weekly affective share (released user-weeks)")
    ax.set_ylabel("user-weeks")
    return _save(plt, fig, ax, not len(totals), path)


def topic_tree(clusters: pd.DataFrame, scope: str = "affective") -> str:
    """The released hierarchy of a scope as nested <details>: coarse clusters, each opening on its fine ones."""
    if not len(clusters) or not (clusters["scope"] == scope).any():
        return "<p><em>No released topic cluster.</em></p>"
    mine = clusters[clusters["scope"] == scope]
    items = []
    for coarse in mine[mine["level"] == "coarse"].sort_values("conversations", ascending=False).itertuples():
        children = mine[(mine["level"] == "fine") & (mine["parent"] == coarse.cluster)]
        inner = "".join(f"<li>{html.escape(c.name)} ({c.conversations} conversations, {c.users} users)</li>"
                        for c in children.sort_values("conversations", ascending=False).itertuples())
        items.append(f"<details><summary>{html.escape(coarse.name)} ({coarse.conversations} conversations, "
                     f"{coarse.users} users)</summary><ul>{inner}</ul></details>")
    return "".join(items)


def draw_plots(gold: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """The study's plots (prevalence, pushback by segment, sentiment shift) and the topic views; PNG files."""
    prevalence = gold["prevalence"]
    shares = prevalence[prevalence["population"] == "all conversations"].sort_values("share", ascending=False)
    return {
        "prevalence": _bar_with_interval(shares, "measure", "share", "Share of all conversations (95 % Wilson)",
                                         "share", out_dir / "prevalence.png"),
        "pushback": _bar_with_interval(_ordered(gold["pushback"], "segment"), "segment", "rate",
                                       "Pushback rate by segment (95 % Wilson)", "rate", out_dir / "pushback.png"),
        "sentiment_shift": _bar_with_interval(
            _ordered(gold["sentiment_shift"], "segment"), "segment", "mean_shift",
            "Sentiment shift, last 3 minus first 3 user messages (95 % bootstrap)",
            "mean shift on [-1, 1]", out_dir / "sentiment_shift.png"),
        "topic_map": topic_map(gold["topic_clusters"], out_dir / "topic_map.png"),
        "drift": drift_plot(gold["topic_drift"], out_dir / "drift.png"),
        "user_share": user_share_plot(gold["user_affective_share"], out_dir / "user_share.png"),
    }


SHIFT_COLUMNS = ["mean_shift", "shift_ci_low", "shift_ci_high"]


def _topic_columns(clusters: pd.DataFrame) -> pd.DataFrame:
    """The topic table as shown, by scope (affective first), coarse before fine, larger first: a top-level
    cluster's parent and a missing shift say why they are empty."""
    keep = ["scope", "level", "cluster", "parent", "name", "conversations", "users", "pushback_rate",
            "referral_rate", *SHIFT_COLUMNS, "withheld"]
    if not len(clusters):
        return clusters
    scope_rank = {s: i for i, s in enumerate(["affective", *(f"category:{c}" for c in SEGMENT_ORDER)])}
    shown = (clusters[keep].assign(_s=clusters["scope"].map(lambda s: scope_rank.get(s, 99)),
                                   _l=(clusters["level"] != "coarse").astype(int))
             .sort_values(["_s", "scope", "_l", "conversations"], ascending=[True, True, True, False])
             .drop(columns=["_s", "_l"]))
    shown["parent"] = [("top level" if pd.isna(p) else str(int(p))) for p in shown["parent"]]
    why = ["withheld: under the release thresholds" if "mean_shift" in list(w) else
           "no conversation with 6+ user messages" for w in shown["withheld"]]
    for column in SHIFT_COLUMNS:
        shown[column] = [r if pd.isna(v) else signed(v) for v, r in zip(shown[column], why)]
    # Words, not identifiers, so that long cells wrap on a laptop screen.
    shown["withheld"] = [", ".join(w).replace("_", " ") or "nothing" for w in shown["withheld"]]
    shown["scope"] = shown["scope"].str.replace("_", " ")
    return shown


def _corrections_beside_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The correction columns right after the raw interval where a row has a correction, else none of them."""
    present = [c for c in CORRECTION_COLUMNS if c in df.columns]
    rest = [c for c in df.columns if c not in present]
    if not present or df["corrected"].isna().all():
        return df[rest]
    at = rest.index("ci_high") + 1
    return df[rest[:at] + present + rest[at:]]


# Columns shown as percentages, and (in the shift tables) as signed shifts on [-1, 1].
PERCENT_COLUMNS = {"share", "rate", "share_of_pushback", "pushback_rate", "referral_rate"}
INTERVAL_COLUMNS = {"ci_low", "ci_high", "corrected", "corrected_ci_low", "corrected_ci_high"}
SHIFT_COLUMNS_SHOWN = {"mean_start", "mean_end", "mean_shift"}


def _cell(column: str, value: Any, shift: bool) -> Any:
    """A number as the reader wants it: a percentage, a signed shift, a count with thousands separators."""
    if isinstance(value, str) or value is None or pd.isna(value):
        return value
    if column in SHIFT_COLUMNS_SHOWN or (shift and column in INTERVAL_COLUMNS):
        return signed(value)
    if column in PERCENT_COLUMNS | INTERVAL_COLUMNS:
        return pct(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return value


def _correction_cell(column: str, value: Any) -> Any:
    """A correction column's cell: why a row that no labelled sample corrected has none."""
    if pd.isna(value):
        return "no labelled sample"
    return f"{int(value):,}" if column == "labelled_conversations" else value


def _table_html(df: pd.DataFrame) -> str:
    shown = _corrections_beside_raw(df.drop(columns=[c for c in ("model_version", "run_id", "computed_at")
                                                     if c in df.columns]))
    if shown.empty:
        return "<p><em>No row passed the release thresholds.</em></p>"
    if "corrected" in shown.columns:
        shown = shown.assign(**{c: [_correction_cell(c, v) for v in shown[c]]
                                for c in CORRECTION_COLUMNS if c in shown.columns})
    shift = "mean_shift" in shown.columns
    shown = shown.assign(**{c: [_cell(c, v, shift) for v in shown[c]] for c in shown.columns})
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0, classes="t",
                         na_rep="not available")


def _sorted(gold: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables in the order they describe: segments as SEGMENT_ORDER, the rest by size."""
    def by(df: pd.DataFrame, *columns: str, ascending: list[bool]) -> pd.DataFrame:
        return df.sort_values(list(columns), ascending=ascending, kind="stable") if len(df) else df

    out = dict(gold)
    out["prevalence"] = by(gold["prevalence"], "population", "share", ascending=[False, False])
    for name in ("pushback", "referral", "sentiment_shift"):
        out[name] = _ordered(gold[name], "segment") if len(gold[name]) else gold[name]
    reasons = gold["pushback_reasons"]
    out["pushback_reasons"] = _ordered(reasons, "segment", "share_of_pushback") if len(reasons) else reasons
    out["topic_drift"] = by(gold["topic_drift"], "conversations", ascending=[False])
    out["suppressed"] = by(gold["suppressed"], "table_name", ascending=[True])
    return out


HEADLINE_NOTE = ("<p>The study this product follows (about 4.5 million conversations with an AI assistant) beside "
                 "this run. Intervals are 95 % (Wilson for shares and rates, bootstrap for shifts); a figure is "
                 "released only over enough distinct users and conversations. A corrected figure uses a "
                 "human-labelled random sample of this data (<code>affective validate --labels</code>) to remove "
                 "the classifier's errors; without one, the raw figure carries them, and the last column says how "
                 "large they were where the model was checked.</p>")


def render_html(gold: dict[str, pd.DataFrame], plots: dict[str, Path], meta: dict[str, Any],
                scores: dict[str, float] | None = None, model_version: str = "") -> str:
    """The report page, with plots inlined as base64 PNG so the one file is the whole report; it opens on
    the headline figures (jobs/headlines.py), checked with the model's `scores` (`Heads.metrics`)."""
    def img(name: str) -> str:
        data = base64.b64encode(plots[name].read_bytes()).decode()
        return f'<img alt="{name}" src="data:image/png;base64,{data}">'

    facts = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in meta.items())
    headlines = headline_table(gold, scores or {}, model_version).to_html(index=False, border=0, classes="t h")
    gold = _sorted(gold)
    sections = [
        ("Headline figures: the study and this run", HEADLINE_NOTE + headlines),
        ("Prevalence", img("prevalence") + _table_html(gold["prevalence"])),
        ("Pushback", img("pushback") + _table_html(gold["pushback"]) + "<h3>Reasons</h3>"
         + _table_html(gold["pushback_reasons"])),
        ("Referral to professionals", _table_html(gold["referral"])),
        ("Sentiment shift", img("sentiment_shift") + _table_html(gold["sentiment_shift"])),
        ("Topics", "<p>Affective conversations; open a topic to see its finer ones. Names use only terms "
         "written in the cluster by enough distinct users.</p>" + topic_tree(gold["topic_clusters"])
         + img("topic_map") + _table_html(_topic_columns(gold["topic_clusters"]))),
        ("Long conversations", img("drift") + _table_html(gold["topic_drift"])),
        ("Users over time", img("user_share") + _table_html(gold["user_affective_share"])),
        ("Suppressed rows", "<p>Rows under the release thresholds are counted here and never shown.</p>"
         + _table_html(gold["suppressed"])),
    ]
    body = "".join(f"<h2>{html.escape(t)}</h2>{c}" for t, c in sections)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}"
             "table.t td,table.t th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
             "table.h td,table.h th{text-align:left;vertical-align:top}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Affective use report</title>"
            f"<style>{style}</style></head><body><h1>Affective use report</h1><ul>{facts}</ul>{body}</body></html>")


def write_report(gold: dict[str, pd.DataFrame], report_dir: Path, meta: dict[str, Any],
                 scores: dict[str, float] | None = None, model_version: str = "") -> dict[str, Path]:
    """Write index.html and the PNG plots into report_dir; return their paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = draw_plots(gold, report_dir)
    index = report_dir / "index.html"
    index.write_text(render_html(gold, plots, meta, scores, model_version), encoding="utf-8")
    return {"index": index, **plots}


def read_gold(spark, tables: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The released gold tables as pandas (they are aggregates, a few rows each)."""
    from jobs.session import read_table, read_table_if_any

    gold = {name: read_table(spark, tables[name]).toPandas() for name in keys("gold", "aggregate")}
    for name in (*keys("gold", "topics"), *keys("metrics")):  # absent until topics (validate) has run
        table = read_table_if_any(spark, tables[name])
        gold[name] = table.toPandas() if table is not None else pd.DataFrame()
    return gold


def run(ctx: Context) -> dict[str, float]:
    """Write the HTML report and summary.json from the released gold tables; returns the headline figures."""
    gold = read_gold(ctx.spark, ctx.tables)
    meta = {"run id": ctx.run_id, "model version": ctx.heads().version, "encoder": ctx.cfg["model"]["encoder"],
            "release thresholds": f"{ctx.cfg['privacy']['min_users']} users, "
                                  f"{ctx.cfg['privacy']['min_conversations']} conversations"}
    paths = write_report(gold, ctx.report_dir, meta, ctx.heads().metrics, ctx.heads().version)
    ctx.results["report"] = paths["index"]
    figures = headline_metrics(gold)
    # The same figures as the MLflow metrics, for dashboards that read a file.
    summary = {"run_id": ctx.run_id, "model_version": ctx.heads().version, "figures": figures,
               "release_thresholds": {"min_users": ctx.cfg["privacy"]["min_users"],
                                      "min_conversations": ctx.cfg["privacy"]["min_conversations"]}}
    (ctx.report_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")
    return figures


def headline_metrics(gold: dict[str, Any]) -> dict[str, float]:
    """The study's headline figures, where their rows were released, and their PPI++ corrections where made."""
    figures: dict[str, float] = {}
    prev = gold["prevalence"]
    for row in prev[prev["population"] == "all conversations"].itertuples():
        figures[f"share.{row.measure}"] = float(row.share)
        figures.update(_corrected(row, f"share.{row.measure}"))
    for name, column in (("pushback", "rate"), ("referral", "rate"), ("sentiment_shift", "mean_shift")):
        for row in gold[name].itertuples():
            figures[f"{name}.{row.segment}"] = float(getattr(row, column))
            figures.update(_corrected(row, f"{name}.{row.segment}"))
    return figures


def _corrected(row: Any, name: str) -> dict[str, float]:
    value = getattr(row, "corrected", None)  # None or NaN in pandas where the row has no correction
    return {} if value is None or math.isnan(value) else {f"corrected.{name}": float(value)}
