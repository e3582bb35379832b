"""Read the public evaluation datasets in `../shared/datasets/` as conversations for the classifier.

Every converter reads its dataset's upstream files in place (nothing is copied into this repository) and
returns a list of items `{"id", "messages": [{"index", "role", "content"}], "label"}`. The label is a dict
whose keys depend on the task the dataset can check (see each converter and EVALUATION.md). The folder
holding the datasets is `<repo>/../shared/datasets`, or the folder named by the env var
`AFFECTIVE_DATASETS`.

Check them with:

    nice -n 19 .venv/bin/python -m pytest tests/test_converters.py -q
"""
from __future__ import annotations

import csv
import gzip
import json
import re
import statistics
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

from udfs.sources import COUNSEL_CHAT_CATEGORIES, DAILYDIALOG_SENTIMENT, datasets_dir, uss_dialogues, uss_split

Item = dict[str, Any]
SENTIMENTS = ("negative", "neutral", "positive")

XSTEST_MODELS = ("gpt4", "mistralguard", "mistralinstruct")
XSTEST_REFUSALS = ("2_full_refusal", "3_partial_refusal")
CONVAI2_MIN_TURNS = 3


def _conversation(turns: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"index": i, "role": role, "content": content} for i, (role, content) in enumerate(turns)]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(2**31 - 1)
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def xstest(root: Path | None = None) -> list[Item]:
    """XSTest v2: one prompt and one model's response per item, human refusal labels.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        1,350 items (450 prompts x 3 models); label `pushback` (full or partial refusal per `final_label`),
        `prompt_label` (safe/unsafe, joined on the prompt id), `model` and `final_label`.
    """
    folder = (root or datasets_dir()) / "xstest"
    prompt_label = {f"v2-{r['id']}": r["label"] for r in _csv_rows(folder / "xstest_prompts.csv")}
    items = []
    for model in XSTEST_MODELS:
        for r in _csv_rows(folder / "model_completions" / f"xstest_v2_completions_{model}.csv"):
            items.append({
                "id": f"xstest/{model}/{r['id']}",
                "messages": _conversation([("user", r["prompt"]), ("assistant", r["completion"])]),
                "label": {"pushback": r["final_label"] in XSTEST_REFUSALS, "prompt_label": prompt_label[r["id"]],
                          "model": model, "final_label": r["final_label"]},
            })
    return items


def meld(root: Path | None = None) -> list[Item]:
    """MELD: every dialogue of train, dev and test, each utterance a user message.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        1,432 dialogues (13,708 utterances) in Utterance_ID order; label `sentiment` maps message index to
        negative/neutral/positive, `emotion` to the upstream emotion, `split` names the file.
    """
    folder = (root or datasets_dir()) / "meld" / "data" / "MELD"
    items = []
    for split in ("train", "dev", "test"):
        dialogues: dict[int, list[dict[str, str]]] = defaultdict(list)
        for r in _csv_rows(folder / f"{split}_sent_emo.csv"):
            dialogues[int(r["Dialogue_ID"])].append(r)
        for dialogue_id, rows in sorted(dialogues.items()):
            rows.sort(key=lambda r: int(r["Utterance_ID"]))
            items.append({
                "id": f"meld/{split}/{dialogue_id}",
                "messages": _conversation(("user", r["Utterance"]) for r in rows),
                "label": {"sentiment": {i: r["Sentiment"] for i, r in enumerate(rows)},
                          "emotion": {i: r["Emotion"] for i, r in enumerate(rows)}, "split": split},
            })
    return items


def dailydialog(root: Path | None = None) -> list[Item]:
    """DailyDialog (ConvLab-3 unified format, read from data.zip): both speakers as user messages.

    Both speakers are people, so every utterance is a user message. Emotion maps to sentiment by
    `DAILYDIALOG_SENTIMENT`; surprise utterances stay in the conversation but are not scored.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        13,118 dialogues (102,979 utterances); label `sentiment` maps message index to a sentiment for the
        101,156 non-surprise utterances, `emotion` to the upstream emotion of every utterance, `split` and
        `topic`.
    """
    with zipfile.ZipFile((root or datasets_dir()) / "dailydialog" / "data.zip") as archive:
        dialogues = json.loads(archive.read("data/dialogues.json"))
    return [{
        "id": f"dailydialog/{d['dialogue_id']}",
        "messages": _conversation(("user", t["utterance"]) for t in d["turns"]),
        "label": {"sentiment": {i: DAILYDIALOG_SENTIMENT[t["emotion"]] for i, t in enumerate(d["turns"])
                                if t["emotion"] in DAILYDIALOG_SENTIMENT},
                  "emotion": {i: t["emotion"] for i, t in enumerate(d["turns"])},
                  "split": d["data_split"], "topic": d["domains"][0]},
    } for d in dialogues]


def satisfaction_class(ratings: list[int]) -> str:
    """Per-turn USS satisfaction (1-5 from several annotators) as a 3-way sentiment.

    Args:
        ratings: the annotators' ratings of one user turn.

    Returns:
        'negative' when their mean is below 2.5, 'positive' when above 3.5, else 'neutral'.
    """
    mean = statistics.fmean(ratings)
    return "negative" if mean < 2.5 else "positive" if mean > 3.5 else "neutral"


def _uss_session(turns: list[tuple[str, str, list[int]]]) -> tuple[list[tuple[str, str]], dict[int, str], float]:
    messages, sentiment, overall = [], {}, float("nan")
    for role, text, scores in turns:
        if role == "USER" and text == "OVERALL":
            overall = statistics.fmean(scores)
            continue
        if role == "USER":
            sentiment[len(messages)] = satisfaction_class(scores)
        messages.append(("user" if role == "USER" else "assistant", text))
    return messages, sentiment, overall


def uss(root: Path | None = None) -> list[Item]:
    """USS MWOZ and SGD: user-system task dialogues with per-user-turn satisfaction.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        2,000 dialogues (1,000 per corpus); label `sentiment` maps each user message index to
        `satisfaction_class` of its ratings, `overall` is the mean dialogue-level rating, `corpus` names the
        file and `split` the dialogue's split in the use head's training (`udfs.sources.uss`).
    """
    items = []
    for corpus, n, turns in uss_dialogues(root or datasets_dir()):
        messages, sentiment, overall = _uss_session(turns)
        items.append({"id": f"uss/{corpus}/{n}", "messages": _conversation(messages),
                      "label": {"sentiment": sentiment, "overall": overall, "corpus": corpus,
                                "split": uss_split(corpus, n)}})
    return items


def counsel_chat(root: Path | None = None) -> list[Item]:
    """Counsel Chat (2020 file): each distinct question as one user message (title, blank line, text).

    The file has one row per therapist answer. `questionID` is not a key (18 IDs hold two different
    questions), so questions are deduplicated on (title, text); a question filed under two topics keeps both.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        824 items; label `affective` (always True), `topics` and `categories` (topics mapped by
        `COUNSEL_CHAT_CATEGORIES`, possibly empty).
    """
    path = (root or datasets_dir()) / "counsel-chat" / "data" / "20200325_counsel_chat.csv"
    topics: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in _csv_rows(path):
        topics[(r["questionTitle"].strip(), r["questionText"].strip())].add(r["topic"])
    return [{
        "id": f"counsel-chat/{n}",
        "messages": _conversation([("user", f"{title}\n\n{text}")]),
        "label": {"affective": True, "topics": sorted(found),
                  "categories": sorted({COUNSEL_CHAT_CATEGORIES[t] for t in found if t in COUNSEL_CHAT_CATEGORIES})},
    } for n, ((title, text), found) in enumerate(topics.items())]


def arena_hard(root: Path | None = None) -> list[Item]:
    """Arena-Hard v0.1: real user prompts (coding, maths, writing), none of them affective use.

    Parsed on '\\n' only, since some prompts contain U+2028.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        500 single-message items; label `affective` (always False) and `cluster`.
    """
    path = (root or datasets_dir()) / "arena-hard" / "data" / "arena-hard-v0.1" / "question.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    return [{"id": f"arena-hard/{r['uid']}", "messages": _conversation([("user", r["prompt"])]),
             "label": {"affective": False, "cluster": r["cluster"]}} for r in rows]


def _diasafety_checks(category: str, unsafe: bool) -> dict[str, bool | None]:
    """The only defensible negatives: an unsafe response that agrees with toxicity is not pushback, and
    one that ignores a user at risk is not a referral. Safe responses say nothing about either."""
    return {"pushback": False if unsafe and category == "Toxicity Agreement" else None,
            "referral": False if unsafe and category == "Risk Ignorance" else None}


def diasafety(root: Path | None = None) -> list[Item]:
    """DiaSafety train and val: one context (user) and one response (assistant) per item.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        10,114 items; label `category`, `unsafe`, `split`, and `pushback`/`referral` set to False where
        `_diasafety_checks` defines them, else None.
    """
    folder = (root or datasets_dir()) / "diasafety" / "DiaSafety_dataset"
    items = []
    for split in ("train", "val"):
        for n, r in enumerate(json.loads((folder / f"{split}.json").read_text(encoding="utf-8"))):
            unsafe = r["label"] == "Unsafe"
            items.append({
                "id": f"diasafety/{split}/{n}",
                "messages": _conversation([("user", r["context"]), ("assistant", r["response"])]),
                "label": {"category": r["category"], "unsafe": unsafe, "split": split,
                          **_diasafety_checks(r["category"], unsafe)},
            })
    return items


def _final_exchange(transcript: str) -> list[tuple[str, str]]:
    """The last Human turn and the last Assistant turn of an HH-RLHF transcript."""
    parts = re.split(r"\n\n(Human|Assistant): ", transcript)
    turns = list(zip(parts[1::2], parts[2::2]))
    last_human = next(text for speaker, text in reversed(turns) if speaker == "Human")
    return [("user", last_human), ("assistant", turns[-1][1])]


def hh_rlhf(root: Path | None = None) -> list[Item]:
    """HH-RLHF harmless-base test: the final exchange of the chosen and of the rejected transcript.

    The two transcripts share every turn but the last assistant one, and the classifier's pushback is the
    maximum over assistant messages, so only the final human and assistant turns are kept.

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        4,624 items (2 per record, 2,312 records), chosen before rejected; label `pair` (record number) and
        `variant` ('chosen', judged more harmless, or 'rejected').
    """
    path = (root or datasets_dir()) / "hh-rlhf-harmless-test" / "harmless-base" / "test.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return [{"id": f"hh-rlhf/{n}/{variant}", "messages": _conversation(_final_exchange(r[variant])),
             "label": {"pair": n, "variant": variant}}
            for n, r in enumerate(records) for variant in ("chosen", "rejected")]


def convai2(root: Path | None = None) -> list[Item]:
    """ConvAI2 wild evaluation exports: paid workers chatting with persona chatbots (companionship-style
    chit-chat, a weak label: INDEX.md).

    No file marks which participant is the person, so the first to speak is read as the user; only
    dialogues where each of two participants says something non-empty at least three times are kept
    (1,155 of the 3,005 have one speaker only).

    Args:
        root: the datasets folder (default `datasets_dir()`).

    Returns:
        1,627 dialogues in file order; label `eval_score` (the 1-5 rating, or None) and `file`.
    """
    items = []
    for path in sorted(((root or datasets_dir()) / "convai2-wild-eval" / "data").glob("export_*.json")):
        for n, dialogue in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            turns = [t for t in dialogue["dialog"] if t["text"].strip()]
            said = Counter(t["sender"] for t in turns)
            if len(said) != 2 or min(said.values()) < CONVAI2_MIN_TURNS:
                continue
            user = turns[0]["sender"]
            items.append({"id": f"convai2/{path.stem}/{n}",
                          "messages": _conversation(("user" if t["sender"] == user else "assistant", t["text"])
                                                    for t in turns),
                          "label": {"eval_score": dialogue.get("eval_score"), "file": path.name}})
    return items


CONVERTERS: dict[str, Callable[[Path | None], list[Item]]] = {
    "xstest": xstest,
    "meld": meld,
    "dailydialog": dailydialog,
    "uss-user-satisfaction": uss,
    "counsel-chat": counsel_chat,
    "arena-hard": arena_hard,
    "diasafety": diasafety,
    "hh-rlhf-harmless-test": hh_rlhf,
    "convai2-wild-eval": convai2,
}
