"""Audit a run's released tables against its silver tables: does every released number rest on enough people?

    .venv/bin/python -m evaluation.release_audit --output out [--profile local] [--set privacy.min_users=20]

Every gold row must state at least `privacy.min_users` users and `privacy.min_conversations`
conversations, and the stated base of the aggregate figures must be the one recomputed here from silver
`conversation_labels` and `message_sentiment`, independently of the product's Spark code (pandas over
the Delta files, read with the `deltalake` package): per segment for pushback, referral and the sentiment
shift, per segment and reason for the reason mix, per measure for prevalence. A topic cluster's shift is
published only over enough conversations. Prints each problem and exits 1 if there is any.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping

import pandas as pd
from deltalake import DeltaTable

Base = dict[tuple, tuple[int, int]]  # key -> (conversations, users)


def _read(tables: Path, folder: str, columns: list[str] | None = None) -> pd.DataFrame:
    return DeltaTable(str(tables / folder)).to_pandas(columns=columns)


def _base(rows: pd.DataFrame, keys: list[str]) -> Base:
    grouped = rows.groupby(keys, dropna=False).agg(conversations=("conversation_id", "size"),
                                                   users=("user_id", "nunique"))
    return {(k if isinstance(k, tuple) else (k,)): (int(r.conversations), int(r.users)) for k, r in grouped.iterrows()}


def recomputed(labels: pd.DataFrame, sentiment: pd.DataFrame, *, min_user_messages: int, edge: int) -> dict[str, Base]:
    """The base of every aggregate row, from silver rows of one model version."""
    segments = labels.assign(segment=[["all", *(["affective"] if u == "affective" else []), *cs]
                                      for u, cs in zip(labels["use"], labels["categories"])]).explode("segment")
    extra = [[*(["companionship_or_roleplay"] if {"companionship", "romantic_roleplay"} & set(cs) else []),
              *(["long_conversations"] if long else [])] for cs, long in zip(labels["categories"], labels["is_long"])]
    measures = labels.assign(measure=[[u, *cs, *x] for u, cs, x in zip(labels["use"], labels["categories"], extra)])
    long_enough = sentiment[sentiment["n_user_messages"] >= min_user_messages]
    first = long_enough[long_enough["user_turn"] < edge]["conversation_id"]
    last = long_enough[long_enough["user_turn"] >= long_enough["n_user_messages"] - edge]["conversation_id"]
    shifted = segments[segments["conversation_id"].isin(set(first) & set(last))]
    pushed = segments[segments["pushback"]].rename(columns={"pushback_reason": "reason"})
    by_segment = _base(segments, ["segment"])
    return {"pushback": by_segment, "referral": by_segment, "pushback_reasons": _base(pushed, ["segment", "reason"]),
            "prevalence": _base(measures.explode("measure"), ["measure"]),
            "sentiment_shift": _base(shifted, ["segment"])}


KEYS = {"pushback": ["segment"], "referral": ["segment"], "pushback_reasons": ["segment", "reason"],
        "prevalence": ["measure"], "sentiment_shift": ["segment"]}
COUNTED = {"topic_clusters": ("users", "conversations"), "topic_drift": ("users", "conversations"),
           "user_affective_share": ("users", "conversations"),
           "topic_hierarchy": ("users", "coarse_conversations", "fine_conversations")}


def audit(tables: Path, names: Mapping[str, str], *, min_users: int, min_conversations: int,
          min_user_messages: int = 6, edge: int = 3) -> tuple[list[str], int]:
    """(problems, released rows checked) for the run whose tables are under `tables`, each in the folder
    `names` gives (the config's `tables` section)."""
    problems, checked = [], 0
    gold = {name: _read(tables, names[name]) for name in (*KEYS, *COUNTED)}
    versions = set().union(*(set(df["model_version"]) for df in gold.values() if len(df)))
    labels = _read(tables, names["conversation_labels"], ["conversation_id", "user_id", "use", "categories", "pushback",
                                                    "pushback_reason", "is_long", "model_version"])
    sentiment = _read(tables, names["message_sentiment"], ["conversation_id", "user_turn", "n_user_messages",
                                                     "model_version"])
    bases = recomputed(labels[labels["model_version"].isin(versions)],
                       sentiment[sentiment["model_version"].isin(versions)],
                       min_user_messages=min_user_messages, edge=edge)
    for name, keys in KEYS.items():
        for row in gold[name].itertuples():
            checked += 1
            key = tuple(getattr(row, k) for k in keys)
            if row.users < min_users or row.conversations < min_conversations:
                problems.append(f"{name} {key}: {row.conversations} conversations of {row.users} users")
            if bases[name].get(key) != (row.conversations, row.users):
                problems.append(f"{name} {key}: states {(row.conversations, row.users)}, silver gives "
                                f"{bases[name].get(key)}")
    for name, columns in COUNTED.items():
        for row in gold[name].itertuples():
            checked += 1
            users, *conversations = (getattr(row, c) for c in columns)
            if users < min_users or min(conversations) < min_conversations:
                problems.append(f"{name}: {dict(zip(columns, (users, *conversations)))}")
    for row in gold["topic_clusters"].itertuples():
        if pd.notna(row.mean_shift) and row.shift_conversations < min_conversations:
            problems.append(f"topic_clusters {row.scope}/{row.level}/{row.cluster}: a shift over "
                            f"{row.shift_conversations} conversations")
    return problems, checked


def main(argv: list[str] | None = None) -> int:
    from jobs.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the run's --output folder")
    parser.add_argument("--profile", default="local", help="the config profile the run used")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="the run's overrides")
    args = parser.parse_args(argv)
    cfg = load_config(args.profile, overrides=args.set)
    problems, checked = audit(Path(args.output) / cfg["paths"]["tables"], cfg["tables"], min_users=cfg["privacy"]["min_users"],
                              min_conversations=cfg["privacy"]["min_conversations"],
                              min_user_messages=cfg["aggregate"]["shift_min_user_messages"],
                              edge=cfg["aggregate"]["shift_edge_messages"])
    for problem in problems:
        print(problem)
    print(f"{checked} released rows checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
