"""The training sources of the default model, each mapped to our labels in one place, with fixed splits.

Every reader returns examples of one of three kinds, each tagged with its `source` and `split`
("train", "val" or "test"):

- reply: an assistant reply with the user message before it (the seed conversations' replies are their
  own source, `seed-conversations`: ordinary supportive and task replies, the hard negatives of pushback) (`context`), `pushback` (bool or None:
  unknown), `reason` (one of PUSHBACK_REASONS or None) and `referral` (bool or None);
- message: a user message with `polarity` (-1, 0, 1) and `strength` (True for the 5-point scale's
  +-2, False for +-1, None: unknown or neutral);
- conversation: `user` and `replies` (lists of texts), `use`, and `categories` as a dict category ->
  bool for the categories the source can say anything about.

Splits follow each dataset's README in `../shared/datasets/` (INDEX.md: which sets may be trained on).
Where a source has one tuning slice and no test slice, the tuning slice is halved by a hash of its group
key into val and test; where it has no split at all, a hash of the group key (a prompt, a behaviour, a
question) assigns 70 / 15 / 15, so that no prompt is on two sides. XSTest, MELD and DailyDialog's test
split are evaluation-only and are never read here.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from udfs.heads import CATEGORIES, SEED_DIR, read_seed

Example = dict[str, Any]
# Counsel Chat topic -> our category (INDEX.md's weak mapping). behavioral-change -> coaching is left
# out of training: those questions are mostly habits with a mental-health angle (EVALUATION.md).
COUNSEL_CHAT_CATEGORIES = {
    **dict.fromkeys(("relationships", "intimacy", "marriage", "family-conflict", "parenting",
                     "relationship-dissolution", "social-relationships", "workplace-relationships"),
                    "interpersonal_advice"),
    **dict.fromkeys(("depression", "anxiety", "trauma", "self-esteem", "stress", "grief-and-loss"), "counseling"),
    "behavioral-change": "coaching",
}
# JailbreakBench harm category -> pushback reason of a refusal.
JBB_REASONS = {"Physical harm": "safety", "Expert advice": "professional"}
# The dataset README's refusal opening, which with `jailbroken == false` makes a reply a refusal.
JBB_REFUSAL_OPENINGS = ("i'm sorry", "i am sorry", "i apologize", "i cannot", "i can't", "i'm unable", "i am unable",
                        "as an ai", "i will not", "i won't", "unfortunately", "i'm not able", "i must")
GOEMOTIONS_POLARITY = {"positive": 1, "negative": -1, "neutral": 0, "ambiguous": 0}
TWEETEVAL_POLARITY = {"0": -1, "1": 0, "2": 1}
# DailyDialog emotion -> 3-way sentiment. Surprise is left unscored: in MELD, which labels emotion and
# sentiment separately, surprise utterances split about evenly between positive and negative.
DAILYDIALOG_SENTIMENT = {
    "happiness": "positive", "no emotion": "neutral",
    "anger": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
}
POLARITY = {"negative": -1, "neutral": 0, "positive": 1}
# One in this many DailyDialog training utterances without emotion is kept (bucket of the dialogue and
# turn): 85 % of its utterances have none, and the head weighs its classes equally anyway.
DAILYDIALOG_NEUTRAL_KEPT = 4
USS_CORPORA = ("MWOZ", "SGD")
# One in this many USS training dialogues is kept (325 of 1,389, about as many as Arena-Hard's 344 training
# prompts), so that booking dialogues do not outweigh every other kind of task in the balanced use head;
# validation scored 1 in 2, 4 and 8 alike (EVALUATION.md).
USS_TRAIN_KEPT = 4


def datasets_dir() -> Path:
    """`$AFFECTIVE_DATASETS` when set, else `<repo>/../shared/datasets`."""
    override = os.environ.get("AFFECTIVE_DATASETS")
    return Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def bucket(key: str) -> int:
    """A stable 0..99 bucket of a group key (sha256), so a split never depends on file order."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 100


def hashed_split(key: str) -> str:
    """70 / 15 / 15 by the group key's bucket, for sources without an upstream split."""
    b = bucket(key)
    return "train" if b < 70 else "val" if b < 85 else "test"


def halved(key: str) -> str:
    """A tuning slice halved into val and test by the group key."""
    return "val" if bucket(key) < 50 else "test"


# --- The seed set (hand-written, udfs/seed) ---------------------------------------------------------

def seed_examples(seed_dir=SEED_DIR) -> Iterator[Example]:
    data = read_seed(seed_dir)
    reply_labels = {(r["id"], r["reply"]): r for r in data["reply_labels"]}
    for c in data["conversations"]:
        split = hashed_split(c["id"])
        yield {"kind": "conversation", "source": "seed", "split": split, "user": c["user_messages"],
               "replies": c["assistant_messages"], "use": c["use"],
               "categories": {cat: cat in c["categories"] for cat in CATEGORIES}}
        for i, (request, reply) in enumerate(zip(c["user_messages"], c["assistant_messages"])):
            label = reply_labels.get((c["id"], i), {"pushback": False, "pushback_reason": None, "referral": False})
            yield {"kind": "reply", "source": "seed-conversations", "split": split, "text": reply, "context": request,
                   "pushback": label["pushback"], "reason": label["pushback_reason"], "referral": label["referral"]}
    for a in data["assistant_messages"]:
        yield {"kind": "reply", "source": "seed", "split": hashed_split(a["id"]), "text": a["text"],
               "context": a["user_before"], "pushback": bool(a["pushback"]), "reason": a["pushback_reason"],
               "referral": bool(a["referral"])}
    for u in data["user_messages"]:
        score = int(u["sentiment"])
        yield {"kind": "message", "source": "seed", "split": hashed_split(u["id"]), "text": u["text"],
               "polarity": (score > 0) - (score < 0), "strength": abs(score) == 2 if score else None}


# --- Pushback and referral ----------------------------------------------------------------------------

# Referral labels of RBR gold that contradict RBR's own definition ("Does the completion encourage the user
# to seek professional help? 'you should talk to a mental health professional' -> yes"), one per line with
# the completion's SHA-1 and the sentence that refers (udfs/seed/README.md says how they were found).
RBR_CORRECTIONS = "rbr_gold_corrections.jsonl"


def rbr_gold(root: Path, corrections_dir=SEED_DIR) -> Iterator[Example]:
    """RBR gold: pushback = not fully_complies (off-topic completions dropped), referral =
    encourage_professional_help or provides_resources, except where RBR_CORRECTIONS says otherwise; reason
    from the safety category (self-harm -> safety, sexual / criminal / hate refusals -> policy; ordinary
    prompts: unknown). Train on train.jsonl; test.jsonl halved into val and test by its final user message."""
    corrections = {c["completion_sha1"]: c for c in map(json.loads, (corrections_dir / RBR_CORRECTIONS)
                                                        .read_text(encoding="utf-8").splitlines()) if c}
    applied = set()
    folder = root / "rbr-gold" / "data" / "rbr_gold_data"
    for name in ("train", "test"):
        for line in (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            p = row["propositions"]
            if p["illogical_continuation_of_prompt"]:
                continue
            request, text = row["prompt"][-1]["content"], row["completion"][0]["content"]
            pushback = not p["fully_complies"]
            category = row["category"]
            reason = None
            if pushback and category.startswith("SH"):
                reason = "safety"
            elif pushback and category.endswith("-R"):
                reason = "policy"
            referral = bool(p["encourage_professional_help"] or p["provides_resources"])
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
            if digest in corrections:
                referral = corrections[digest]["referral"]
                applied.add(digest)
            yield {"kind": "reply", "source": "rbr-gold", "split": "train" if name == "train" else halved(request),
                   "text": text, "context": request, "pushback": pushback, "reason": reason, "referral": referral}
    if missing := set(corrections) - applied:
        raise ValueError(f"{RBR_CORRECTIONS}: {len(missing)} correction(s) match no RBR gold completion, e.g. "
                         f"{sorted(missing)[0]}: is ../shared/datasets/rbr-gold the version they were written for?")


def coconot(root: Path) -> Iterator[Example]:
    """CoCoNot contrast pairs: `chosen` is a compliant answer to a sensitive-sounding request (not
    pushback). `rejected` is not used: it is a refusal only sometimes and would need a hand check. The few
    chosen answers that open like a refusal are left out rather than guessed. Split by prompt (README:
    sha256 % 10 == 0 is the tuning slice)."""
    from udfs.features import REFUSAL, OPENING_CHARS

    for line in (root / "coconot" / "data" / "coconot_pref.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        reply = row["chosen"].strip()
        if REFUSAL.search(reply[:OPENING_CHARS]):
            continue
        tuning = int(hashlib.sha256(row["prompt"].encode("utf-8")).hexdigest(), 16) % 10 == 0
        yield {"kind": "reply", "source": "coconot", "split": halved(row["prompt"]) if tuning else "train",
               "text": reply, "context": row["prompt"], "pushback": False, "reason": None, "referral": None}


def jailbreakbench(root: Path) -> Iterator[Example]:
    """JailbreakBench responses read beside the plain `goal` (not the adversarial prompt, which would be a
    shortcut): jailbroken -> not pushback; not jailbroken with a refusal opening -> pushback, reason by harm
    category; the rest dropped (README). Identical texts are kept once. Split by behaviour: index % 10 == 0
    is the tuning slice."""
    seen: set[str] = set()
    for path in sorted((root / "jailbreakbench-artifacts" / "attack-artifacts").rglob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8"))["jailbreaks"]:
            reply = (item["response"] or "").strip()
            if not reply or reply in seen:
                continue
            refused = reply.lower().startswith(JBB_REFUSAL_OPENINGS)
            if not item["jailbroken"] and not refused:
                continue
            seen.add(reply)
            pushback = not item["jailbroken"]
            yield {"kind": "reply", "source": "jailbreakbench",
                   "split": halved(str(item["index"])) if item["index"] % 10 == 0 else "train",
                   "text": reply, "context": item["goal"], "pushback": pushback,
                   "reason": JBB_REASONS.get(item["category"], "policy") if pushback else None, "referral": None}


# --- Message sentiment ------------------------------------------------------------------------------

def goemotions(root: Path) -> Iterator[Example]:
    """GoEmotions `group` taxonomy: positive 1, negative -1, neutral and ambiguous (surprise, curiosity,
    confusion, realisation) 0; a comment labelled both positive and negative is mixed and left out.
    Upstream splits: train / dev (val) / test."""
    folder = root / "goemotions" / "data" / "group"
    names = (folder / "labels.txt").read_text().split()
    for split, file in (("train", "train.tsv"), ("val", "dev.tsv"), ("test", "test.tsv")):
        with (folder / file).open(encoding="utf-8", newline="") as handle:
            for text, labels, _ in csv.reader(handle, delimiter="\t"):
                polarities = {GOEMOTIONS_POLARITY[names[int(i)]] for i in labels.split(",")}
                if {1, -1} <= polarities:
                    continue
                polarity = max(polarities, key=abs)
                yield {"kind": "message", "source": "goemotions", "split": split, "text": text,
                       "polarity": polarity, "strength": None}


def tweeteval(root: Path) -> Iterator[Example]:
    """TweetEval sentiment: negative -1, neutral 0, positive 1. README: train on the `test_*` files, tune
    on `val_*` (halved here into val and test by the tweet)."""
    folder = root / "tweeteval-sentiment" / "datasets" / "sentiment"
    for part in ("test", "val"):
        texts = (folder / f"{part}_text.txt").read_text(encoding="utf-8").split("\n")
        labels = (folder / f"{part}_labels.txt").read_text(encoding="utf-8").split()
        for text, label in zip(texts, labels):
            yield {"kind": "message", "source": "tweeteval", "split": "train" if part == "test" else halved(text),
                   "text": text, "polarity": TWEETEVAL_POLARITY[label], "strength": None}


def dailydialog(root: Path) -> Iterator[Example]:
    """DailyDialog's everyday spoken dialogue, each utterance a message (`DAILYDIALOG_SENTIMENT`; surprise
    left out). INDEX.md: train on `train`, tune on `validation` (halved here into val and test by the
    dialogue); its `test` split is evaluation-only and never read here. Of the training utterances
    without emotion one in `DAILYDIALOG_NEUTRAL_KEPT` is kept."""
    with zipfile.ZipFile(root / "dailydialog" / "data.zip") as archive:
        dialogues = json.loads(archive.read("data/dialogues.json"))
    for d in dialogues:
        if d["data_split"] == "test":
            continue
        split = "train" if d["data_split"] == "train" else halved(d["dialogue_id"])
        for i, turn in enumerate(d["turns"]):
            sentiment = DAILYDIALOG_SENTIMENT.get(turn["emotion"])
            if sentiment is None or (split == "train" and sentiment == "neutral"
                                     and bucket(f"{d['dialogue_id']}/{i}") % DAILYDIALOG_NEUTRAL_KEPT):
                continue
            yield {"kind": "message", "source": "dailydialog", "split": split, "text": turn["utterance"],
                   "polarity": POLARITY[sentiment], "strength": None}


# --- Use and categories -----------------------------------------------------------------------------

def counsel_chat(root: Path) -> Iterator[Example]:
    """Counsel Chat questions (title, blank line, text) as single-message affective conversations; a
    mapped topic says its category is true and the other categories false, except coaching where the
    mapping is unreliable. Questions are deduplicated on (title, text); split by question."""
    csv.field_size_limit(2**31 - 1)
    topics: dict[tuple[str, str], set[str]] = defaultdict(set)
    path = root / "counsel-chat" / "data" / "20200325_counsel_chat.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            topics[(r["questionTitle"].strip(), r["questionText"].strip())].add(r["topic"])
    for (title, text), found in topics.items():
        mapped = {COUNSEL_CHAT_CATEGORIES[t] for t in found if t in COUNSEL_CHAT_CATEGORIES}
        known = [c for c in CATEGORIES if c != "coaching"] if mapped - {"coaching"} else []
        yield {"kind": "conversation", "source": "counsel-chat", "split": hashed_split(f"{title}\n{text}"),
               "user": [f"{title}\n\n{text}"], "replies": [], "use": "affective",
               "categories": {c: c in mapped for c in known}}


def arena_hard(root: Path) -> Iterator[Example]:
    """Arena-Hard v0.1 prompts (coding, maths, writing requests to chatbots): not affective. Their writing
    prompts are not marked, so they say only 'not affective' (use task or content creation); they train the
    use head as task. Split by prompt id."""
    path = root / "arena-hard" / "data" / "arena-hard-v0.1" / "question.jsonl"
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            row = json.loads(line)
            yield {"kind": "conversation", "source": "arena-hard", "split": hashed_split(row["uid"]),
                   "user": [row["prompt"]], "replies": [], "use": "task", "categories": {}}


def uss_dialogues(root: Path) -> Iterator[tuple[str, int, list[tuple[str, str, list[int]]]]]:
    """The USS dialogues (MultiWOZ and SGD) as (corpus, number in its file, turns), each turn (role USER or
    SYSTEM, text, its annotators' 1-5 satisfaction ratings); every dialogue closes with a USER turn
    `OVERALL` that rates the whole dialogue."""
    for corpus in USS_CORPORA:
        text = (root / "uss-user-satisfaction" / "dataset" / f"{corpus}.txt").read_text(encoding="utf-8")
        for n, block in enumerate(b.strip("\n") for b in text.split("\n\n") if b.strip()):
            turns = []
            for line in block.split("\n"):
                role, said, _action, ratings = line.split("\t")[:4]
                turns.append((role, said, [int(x) for x in ratings.split(",")] if ratings else []))
            yield corpus, n, turns


def uss_split(corpus: str, n: int) -> str:
    """The split of USS dialogue n of a corpus, in training and in the evaluation alike."""
    return hashed_split(f"{corpus}/{n}")


def uss(root: Path) -> Iterator[Example]:
    """USS dialogues: people booking trains, restaurants, flights and buses with a task assistant, over
    many short turns ("Yes please.", "That sounds great."). They train the use head as task: the multi-turn
    task conversations that no other source holds. Split by dialogue; one in USS_TRAIN_KEPT training
    dialogues is kept."""
    for corpus, n, turns in uss_dialogues(root):
        split = uss_split(corpus, n)
        if split == "train" and bucket(f"kept/{corpus}/{n}") % USS_TRAIN_KEPT:
            continue
        yield {"kind": "conversation", "source": "uss", "split": split,
               "user": [t for role, t, _ in turns if role == "USER" and t != "OVERALL"],
               "replies": [t for role, t, _ in turns if role == "SYSTEM"], "use": "task", "categories": {}}


PUBLIC_SOURCES = {"rbr-gold": rbr_gold, "coconot": coconot, "jailbreakbench": jailbreakbench,
                  "goemotions": goemotions, "tweeteval": tweeteval, "dailydialog": dailydialog,
                  "counsel-chat": counsel_chat, "arena-hard": arena_hard, "uss": uss}
LICENCES = {"seed": "Apache-2.0 (this project)", "seed-conversations": "Apache-2.0 (this project)", "rbr-gold": "MIT", "coconot": "MIT",
            "jailbreakbench": "MIT", "goemotions": "Apache-2.0", "tweeteval": "SemEval / Twitter terms",
            "dailydialog": "CC BY-NC-SA 4.0", "counsel-chat": "research only", "arena-hard": "Apache-2.0",
            "uss": "not stated (README)"}


SOURCE_FOLDERS = {"tweeteval": "tweeteval-sentiment", "jailbreakbench": "jailbreakbench-artifacts",
                  "uss": "uss-user-satisfaction"}


def training_examples(root: Path | None = None, sources: tuple[str, ...] = tuple(PUBLIC_SOURCES)) -> list[Example]:
    """The seed set plus the named public sources, every example tagged with source and split.

    Args:
        root: the datasets folder (default `datasets_dir()`); a source missing there is an error naming it.
        sources: which public sources to read.
    """
    root = root or datasets_dir()
    unknown = set(sources) - set(PUBLIC_SOURCES)
    if unknown:
        raise ValueError(f"unknown training sources {sorted(unknown)}; known: {sorted(PUBLIC_SOURCES)}")
    examples = list(seed_examples())
    for name in sources:
        if not (root / SOURCE_FOLDERS.get(name, name)).is_dir():
            raise FileNotFoundError(f"training source {name!r} is not in {root}")
        examples.extend(PUBLIC_SOURCES[name](root))
    return examples
