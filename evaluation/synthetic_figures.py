"""The released headline figures of a run beside the synthetic generator's true labels.

    .venv/bin/python -m evaluation.synthetic_figures --data data/synth --output out

Compares, for a run over `affective synth` data, every share of all conversations in gold `prevalence`
and the pushback and referral rates of the `all` and `affective` segments with the same figures
computed from the generator's labels (`DATA/labels`), and says which are within max(0.01, 15 % of the
truth). The raw classifier's figures, no correction. Also prints, per conversation-level decision
(pushback, referral, affective use), the precision and recall of the silver `conversation_labels`
against the generator's labels: a rate can be right while its conversations are wrong. Reads Delta
tables with the `deltalake` package, so no Spark session is needed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from udfs.heads import CATEGORIES, USES

RATES = ("pushback", "referral")


def read_labels(labels_dir: Path) -> pd.DataFrame:
    """The generator's labels (JSONL files of a folder, or one file)."""
    files = sorted(labels_dir.glob("part-*")) if labels_dir.is_dir() else [labels_dir]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def true_figures(labels: pd.DataFrame) -> dict[str, float]:
    """The headline figures from true labels, named as in `released_figures`."""
    figures = {f"share.{u}": float((labels["use"] == u).mean()) for u in USES}
    figures.update({f"share.{c}": float(labels["categories"].map(lambda cs, c=c: c in cs).mean())
                    for c in CATEGORIES})
    affective = labels["use"] == "affective"
    for rate in RATES:
        figures[f"{rate}.all"] = float(labels[rate].mean())
        figures[f"{rate}.affective"] = float(labels.loc[affective, rate].mean())
    return figures


def released_figures(tables_dir: Path) -> dict[str, float]:
    """The same figures as released in gold (rows held back by the release rule are missing)."""
    from deltalake import DeltaTable

    prevalence = DeltaTable(str(tables_dir / "prevalence")).to_pandas()
    figures = {f"share.{r.measure}": float(r.share)
               for r in prevalence[prevalence["population"] == "all conversations"].itertuples()}
    for rate in RATES:
        rows = DeltaTable(str(tables_dir / rate)).to_pandas()
        figures.update({f"{rate}.{r.segment}": float(r.rate) for r in rows.itertuples()
                        if r.segment in ("all", "affective")})
    return figures


def classified(tables_dir: Path) -> pd.DataFrame:
    """The conversation-level decisions behind the released figures (silver `conversation_labels` of the
    model version that gold is stamped with: an output folder reused with a new model keeps the older
    model's rows beside them; ids and labels, no text)."""
    from deltalake import DeltaTable

    released = DeltaTable(str(tables_dir / "prevalence")).to_pandas(columns=["model_version"])["model_version"]
    rows = DeltaTable(str(tables_dir / "conversation_labels")).to_pandas(
        columns=["conversation_id", "use", *RATES, "model_version"])
    return rows[rows["model_version"].isin(set(released))].drop(columns="model_version")


def conversation_scores(predicted: pd.DataFrame, labels: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Precision and recall of each conversation-level decision (pushback, referral, affective use) over
    the conversations both frames hold (quarantined ones have no prediction).

    Args:
        predicted: one row per classified conversation: conversation_id, use, pushback, referral.
        labels: the generator's labels, the same columns.
    """
    joined = predicted.merge(labels, on="conversation_id", suffixes=("", "_true"))
    decisions = {name: (joined[name].astype(bool), joined[f"{name}_true"].astype(bool)) for name in RATES}
    decisions["affective"] = (joined["use"] == "affective", joined["use_true"] == "affective")
    out = {}
    for name, (pred, true) in decisions.items():
        tp = int((pred & true).sum())
        out[name] = {"precision": tp / max(1, int(pred.sum())), "recall": tp / max(1, int(true.sum())),
                     "predicted": int(pred.sum()), "true": int(true.sum()), "conversations": len(joined)}
    return out


def compare(released: dict[str, float], truth: dict[str, float]) -> list[dict]:
    """Per true figure: the released value, the error and whether it is within max(0.01, 15 % of truth)."""
    rows = []
    for name, true in truth.items():
        value = released.get(name)
        tolerance = max(0.01, 0.15 * true)
        # A hair of slack for float rounding: 11 of 300 against 14 of 300 is exactly 0.01 off, which the
        # rule counts as within, but the subtraction gives 0.010000000000000002.
        rows.append({"figure": name, "truth": true, "released": value, "tolerance": tolerance,
                     "within": value is not None and abs(value - true) <= tolerance + 1e-12})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the `affective synth --out` folder")
    parser.add_argument("--output", required=True, help="the run's --output folder")
    args = parser.parse_args(argv)
    tables, labels = Path(args.output) / "tables", read_labels(Path(args.data) / "labels")
    rows = compare(released_figures(tables), true_figures(labels))
    for r in rows:
        shown = "suppressed" if r["released"] is None else f"{r['released']:.4f}"
        print(f"{r['figure']:<28} truth {r['truth']:.4f}  released {shown:>10}  "
              f"{'within' if r['within'] else 'OUTSIDE'} +-{r['tolerance']:.4f}")
    print(f"{sum(r['within'] for r in rows)} of {len(rows)} figures within tolerance")
    for name, s in conversation_scores(classified(tables), labels).items():
        print(f"conversations: {name:<10} precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
              f"({s['predicted']} flagged, {s['true']} true, of {s['conversations']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
