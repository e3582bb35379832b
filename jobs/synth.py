"""Synthetic affective-use conversations with their true labels, generated inside Spark partitions.

    python -m jobs.synth --n 20000 --out data/synth --seed 7 [--partitions 8] [--profile local]

Writes DIR/conversations/ (JSONL in the input contract; about 8 % of records use the ShareGPT
`conversations`/`from`/`value` shape or `human`/`bot` roles) and DIR/labels/ (JSONL human labels: use,
categories, pushback and its reason, referral, per-user-message sentiment, topic and the planted personal
data). Row i is drawn from `random.Random(f"{seed}-{i}")`, so the data does not depend on partitioning
and the same n and seed give the same bytes.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Iterator, Mapping

import pandas as pd
import yaml
import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

SCHEMA = "conversation_id string, record string, label string"
DEFAULT_MIX = {
    "task": 0.45,
    "content_creation": 0.15,
    "interpersonal_advice": 0.12,
    "coaching": 0.09,
    "counseling": 0.08,
    "companionship": 0.06,
    "romantic_roleplay": 0.05,
}
AFFECTIVE = ("interpersonal_advice", "coaching", "counseling", "companionship", "romantic_roleplay")
LONG_SHARE = 0.015  # share of affective conversations with 50-70 user messages
START = datetime(2026, 1, 5, tzinfo=timezone.utc)
DAYS = 84  # twelve weeks of traffic
ROWS_PER_PARTITION = 100_000

# --- The grammar: jobs/synth_grammar.yaml, package data ------------------------------------------
GRAMMAR = yaml.safe_load((resources.files("jobs") / "synth_grammar.yaml").read_text(encoding="utf-8"))
# Each topic: its category, slots (one value drawn per conversation; a dict value sets several linked
# slots), user openers, user details (later turns) and assistant replies. `{slot}` is filled in.
TOPICS: dict[str, dict[str, Any]] = GRAMMAR["topics"]
# By family and sentiment score: the first user message (how the user sets the mood; empty strings keep
# some openers bare), the reaction to the last reply in later ones, and the last one when the user wraps up.
LEADS, REACTIONS, CLOSINGS = GRAMMAR["leads"], GRAMMAR["reactions"], GRAMMAR["closings"]
# Generic follow-ups mixed into later turns so that not every turn is a topic detail; the assistant's
# acknowledgement of the user's mood (by its sign), of a first message that isn't low (a greeting, not
# thanks), and its reply when the user wraps up.
FOLLOW_UPS, ACKS = GRAMMAR["follow_ups"], GRAMMAR["acks"]
OPEN_ACKS, SIGN_OFFS = GRAMMAR["open_acks"], GRAMMAR["sign_offs"]
SECONDARY_LINES = GRAMMAR["secondary_lines"]
ROLEPLAY_COMPANIONSHIP_LINES = GRAMMAR["roleplay_companionship_lines"]  # said out of character
SYSTEM_PROMPTS = GRAMMAR["system_prompts"]
# (family, reason) -> (user prompt, assistant pushback, referral sentence or None, sentiment of the prompt)
PUSHBACK = {(family, reason): [tuple(line) for line in lines]
            for family, reasons in GRAMMAR["pushback"].items() for reason, lines in reasons.items()}
REFERRAL_LINES, PII_CONTEXTS = GRAMMAR["referral_lines"], GRAMMAR["pii_contexts"]
# Planted personal data. First names of four letters or more, so no name hides inside an ordinary word of
# the templates; phone patterns: '#' a random digit, 'AAA' a US area code; IBANs: country and BBAN
# pattern ('#' digit, 'L' letter), given valid check digits.
FIRST_NAMES, LAST_NAMES, EMAIL_DOMAINS = GRAMMAR["first_names"], GRAMMAR["last_names"], GRAMMAR["email_domains"]
AREA_CODES, PHONE_PATTERNS = GRAMMAR["area_codes"], GRAMMAR["phone_patterns"]
CARD_PREFIXES = [tuple(p) for p in GRAMMAR["card_prefixes"]]
IBAN_PATTERNS = [tuple(p) for p in GRAMMAR["iban_patterns"]]

_TOPICS_BY_CATEGORY = {c: [t for t, g in TOPICS.items() if g["category"] == c] for c in DEFAULT_MIX}

# --- Sentiment and style ------------------------------------------------------------------------
# The family decides the register: task, content (creative requests), affective, roleplay (in character).
FAMILY = {"task": "task", "content_creation": "content", "romantic_roleplay": "roleplay",
          **{c: "affective" for c in AFFECTIVE if c != "romantic_roleplay"}}
SCORES = (-2, -1, 0, 1, 2)
# Start-of-conversation sentiment weights over SCORES: affective starts lower, roleplay playful.
START_WEIGHTS = {
    "task": (3, 15, 55, 22, 5),
    "content_creation": (1, 5, 50, 34, 10),
    "interpersonal_advice": (25, 45, 25, 5, 0),
    "coaching": (8, 35, 40, 15, 2),
    "counseling": (40, 42, 15, 3, 0),
    "companionship": (10, 30, 35, 20, 5),
    "romantic_roleplay": (0, 5, 35, 40, 20),
}
SHAPES = ("improves", "flat", "worsens")
SHAPE_WEIGHTS = {"task": (40, 40, 20), "content": (40, 45, 15), "affective": (50, 32, 18), "roleplay": (35, 50, 15)}
# User-message count weights for 1..8 (roleplay: 4..8, it needs a scene to count as roleplay).
LENGTH_WEIGHTS = {
    "task": (34, 26, 16, 10, 6, 4, 2, 2),
    "content": (30, 28, 18, 10, 6, 4, 2, 2),
    "affective": (12, 15, 16, 16, 14, 11, 9, 7),
    "roleplay": (0, 0, 0, 25, 25, 20, 17, 13),
}

# Second affective category: one user line that brings that kind of support into the conversation.
SECONDARY = {
    "interpersonal_advice": ("counseling", "coaching"),
    "coaching": ("counseling", "interpersonal_advice"),
    "counseling": ("companionship", "interpersonal_advice", "coaching"),
    "companionship": ("counseling",),
    "romantic_roleplay": ("companionship",),
}
SECONDARY_SHARE = 0.15
SYSTEM_SHARE = {"default": 0.04, "roleplay": 0.25}

PUSHBACK_SHARE = {"task": 0.03, "content": 0.03, "affective": 0.08, "roleplay": 0.08}
PUSHBACK_REASONS = {
    "affective": {"safety": 35, "professional": 25, "disagreement": 20, "capability": 12, "policy": 8},
    "roleplay": {"policy": 55, "safety": 15, "capability": 10, "disagreement": 10, "professional": 10},
    "task": {"capability": 35, "policy": 25, "safety": 15, "professional": 10, "disagreement": 15},
    "content": {"policy": 45, "safety": 15, "capability": 15, "disagreement": 25},
}
REFERRAL_WITH_PUSHBACK = 0.9  # a safety or professional pushback usually names who can help
# Referral without pushback: an assistant reply suggests professional support.
REFERRAL_SHARE = {"counseling": 0.25, "companionship": 0.06, "interpersonal_advice": 0.05, "coaching": 0.04}

# --- Planted personal data ----------------------------------------------------------------------
PII_SHARE = 0.20
PII_KINDS = {"name": 34, "email": 20, "phone": 20, "card": 7, "url": 8, "ip": 6, "iban": 5}

# --- Surface noise ------------------------------------------------------------------------------
POSITIVE_EMOTICONS = (" :)", " 🙂", " <3")
NEGATIVE_EMOTICONS = (" :(", " 😞", " :/")
SLANG = [(re.compile(p, re.IGNORECASE), s) for p, s in [
    (r"\byou\b", "u"), (r"\byour\b", "ur"), (r"\bare\b", "r"), (r"\bbecause\b", "bc"), (r"\bto be honest\b", "tbh"),
    (r"\bI don't know\b", "idk"), (r"\bplease\b", "pls"), (r"\bthanks\b", "thx"), (r"\breally\b", "rly"),
    (r"\bright now\b", "rn"), (r"\bpeople\b", "ppl"), (r"\bsomething\b", "smth"), (r"\bwith\b", "w/"),
]]
SENTENCE_ENDS = (".", "!", "?", ":", "*", ")", "\n", *POSITIVE_EMOTICONS, *NEGATIVE_EMOTICONS)
SLOT = re.compile(r"\{(\w+)\}")
# Slot values are written in the user's voice; replies quote them in the second person.
SECOND_PERSON = [(re.compile(p), s) for p, s in [
    (r"\bI'm\b", "you're"), (r"\bI've\b", "you've"), (r"\bI\b", "you"), (r"\b[Mm]y\b", "your"), (r"\bme\b", "you"),
    (r"\bmyself\b", "yourself"),
]]
WORD = re.compile(r"[A-Za-z]{4,}")
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 8, 6, 4)
LATE_HOURS = (22, 23, 0, 1, 2, 3, 4)
ALIAS_SHARE = {"sharegpt": 0.04, "human_bot": 0.04}
MESSAGE_TIME_SHARE = 0.7  # standard records carrying per-message created_at


@dataclass
class _Style:
    """How one user types: fixed per conversation so a user's messages look alike."""

    lowercase: bool
    slang: bool
    typo_rate: float


@dataclass
class _Conversation:
    """One conversation while it is built: parallel user/assistant turns, scores and the true labels."""

    topic: str
    category: str
    user: list[str] = field(default_factory=list)
    assistant: list[str] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    pushback_reason: str | None = None
    pushback_turn: int | None = None
    referral: bool = False
    pii: list[str] = field(default_factory=list)
    system: str | None = None


class _Deck:
    """Draws items without repeats until the pool is used up, then reshuffles: varied, never empty."""

    def __init__(self, rng: random.Random, items: list[str]) -> None:
        self._rng, self._items, self._queue = rng, items, []

    def draw(self) -> str:
        if not self._queue:
            self._queue = self._rng.sample(self._items, len(self._items))
        return self._queue.pop()


# --- Public API ---------------------------------------------------------------------------------

def synth_conversations(spark: SparkSession, *, n: int, seed: int, partitions: int | None = None,
                        mix: Mapping[str, float] | None = None, long_share: float = LONG_SHARE) -> DataFrame:
    """Generate n synthetic conversations inside Spark partitions (nothing is built on the driver).

    Args:
        spark: the session to generate with.
        n: number of conversations.
        seed: data seed; row i is drawn from `random.Random(f"{seed}-{i}")`.
        partitions: Spark partitions (= output files); default max(default parallelism, n / 100k).
        mix: category weights over the DEFAULT_MIX keys; keys left out get 0 (default DEFAULT_MIX).
        long_share: share of affective conversations with 50-70 user messages.

    Returns:
        DataFrame `conversation_id string, record string, label string` (record and label are JSON lines).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    _mix_weights(mix)  # fail on the driver, not in a task
    num_partitions = partitions or max(spark.sparkContext.defaultParallelism, -(-n // ROWS_PER_PARTITION))
    generate = functools.partial(_generate_batches, n=n, seed=seed, mix=dict(mix or DEFAULT_MIX),
                                 long_share=long_share)
    return spark.range(n, numPartitions=num_partitions).mapInPandas(generate, schema=SCHEMA)


def write_synth(df: DataFrame, out_dir: str) -> dict[str, str]:
    """Write records to OUT/conversations and labels to OUT/labels as JSONL text parts (overwriting).

    Args:
        df: the output of synth_conversations.
        out_dir: destination folder (local path or any Hadoop URI).

    Returns:
        {"conversations": path, "labels": path}.
    """
    base = out_dir.rstrip("/")
    paths = {"conversations": f"{base}/conversations", "labels": f"{base}/labels"}
    # Generation dominates the cost: run it once for both writes.
    cached = df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        cached.select(F.col("record")).write.mode("overwrite").text(paths["conversations"])
        cached.select(F.col("label")).write.mode("overwrite").text(paths["labels"])
    finally:
        cached.unpersist()
    return paths


def generate_row(row_id: int, *, n: int, seed: int, mix: Mapping[str, float] | None = None,
                 long_share: float = LONG_SHARE) -> tuple[str, str, str]:
    """Generate one conversation: the same (row_id, n, seed, mix, long_share) always gives the same strings.

    Args:
        row_id: the row number, 0 <= row_id < n.
        n: total conversations (sets the number of users, about n / 3).
        seed: data seed.
        mix: category weights (default DEFAULT_MIX).
        long_share: share of affective conversations with 50-70 user messages.

    Returns:
        (conversation_id, record JSON line, label JSON line).
    """
    rng = random.Random(f"{seed}-{row_id}")
    categories, weights = _mix_weights(mix)
    conv = _conversation(rng, rng.choices(categories, weights)[0], long_share)
    conversation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    user_id = f"u{rng.randrange(max(1, n // 3))}"
    started = _start_time(rng, conv.topic)
    record = _record(rng, conversation_id, user_id, started, _messages(conv))
    return conversation_id, _dumps(record), _dumps(_label(conversation_id, conv))


def main(argv: list[str]) -> int:
    """CLI: generate and write; prints the two output folders.

    Args:
        argv: `--n N --out DIR --seed S [--partitions P] [--profile local|cluster]`; n and seed default to
            the config's `synth` section.

    Returns:
        0, the exit status (the `affective synth` command returns it).
    """
    args = _parse_args(argv)
    from jobs.config import load_config
    from jobs.session import get_spark  # imported here so this module imports without Delta

    cfg = load_config(args.profile)
    n = cfg["synth"]["n"] if args.n is None else args.n
    seed = cfg["synth"]["seed"] if args.seed is None else args.seed
    spark = get_spark(cfg["spark"])
    started = time.perf_counter()
    paths = write_synth(synth_conversations(spark, n=n, seed=seed, partitions=args.partitions), args.out)
    logger.info("synth: %d conversations (seed %d) in %.1fs", n, seed, time.perf_counter() - started)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


# --- Spark plumbing -----------------------------------------------------------------------------

def _generate_batches(batches: Iterator[pd.DataFrame], *, n: int, seed: int, mix: dict[str, float],
                      long_share: float) -> Iterator[pd.DataFrame]:
    for batch in batches:
        rows = [generate_row(i, n=n, seed=seed, mix=mix, long_share=long_share) for i in batch["id"].tolist()]
        yield pd.DataFrame(rows, columns=["conversation_id", "record", "label"])


def _mix_weights(mix: Mapping[str, float] | None) -> tuple[list[str], list[float]]:
    mix = DEFAULT_MIX if mix is None else mix
    unknown = set(mix) - set(DEFAULT_MIX)
    if unknown:
        raise ValueError(f"unknown mix categories {sorted(unknown)}; use {sorted(DEFAULT_MIX)}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"mix weights must be non-negative with a positive sum, got {dict(mix)}")
    categories = [c for c in DEFAULT_MIX if mix.get(c, 0) > 0]
    return categories, [mix[c] for c in categories]


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- One conversation ---------------------------------------------------------------------------

def _conversation(rng: random.Random, category: str, long_share: float) -> _Conversation:
    topic = rng.choice(_TOPICS_BY_CATEGORY[category])
    family = FAMILY[category]
    conv = _Conversation(topic=topic, category=category)
    conv.scores = _trajectory(rng, category, _user_turns(rng, category, long_share))
    style = _Style(lowercase=rng.random() < 0.25, slang=rng.random() < 0.2,
                   typo_rate=rng.choice((0.02, 0.05, 0.15)))
    _write_turns(rng, conv, style)
    _add_pushback(rng, conv, style)
    _add_referral(rng, conv)
    if category in AFFECTIVE:
        conv.categories = [category] + _secondary(rng, conv, style)
    _plant_pii(rng, conv)
    if rng.random() < SYSTEM_SHARE["roleplay" if family == "roleplay" else "default"]:
        conv.system = rng.choice(SYSTEM_PROMPTS["roleplay" if family == "roleplay" else "default"])
    return conv


def _user_turns(rng: random.Random, category: str, long_share: float) -> int:
    if category in AFFECTIVE and rng.random() < long_share:
        return rng.randint(50, 70)
    return rng.choices(range(1, 9), LENGTH_WEIGHTS[FAMILY[category]])[0]


def _trajectory(rng: random.Random, category: str, turns: int) -> list[int]:
    """Per-user-message sentiment that improves, stays flat or worsens, with a little wobble."""
    start = rng.choices(SCORES, START_WEIGHTS[category])[0]
    shape = rng.choices(SHAPES, SHAPE_WEIGHTS[FAMILY[category]])[0]
    delta = {"improves": rng.randint(1, 3), "flat": 0, "worsens": -rng.randint(1, 2)}[shape]
    end = max(-2, min(2, start + delta))
    scores = []
    for i in range(turns):
        score = round(start + (end - start) * i / (turns - 1)) if turns > 1 else start
        if 0 < i < turns - 1 and rng.random() < 0.12:
            score += rng.choice((-1, 1))
        scores.append(max(-2, min(2, score)))
    return scores


def _fill(template: str, slots: dict[str, str]) -> str:
    return SLOT.sub(lambda m: slots.get(m.group(1), m.group(0)), template)


def _second_person(text: str) -> str:
    for pattern, replacement in SECOND_PERSON:
        text = pattern.sub(replacement, text)
    return text


def _pick_slots(rng: random.Random, slot_values: dict[str, list[Any]]) -> dict[str, str]:
    slots: dict[str, str] = {}
    for name, values in slot_values.items():
        value = rng.choice(values)
        slots.update(value if isinstance(value, dict) else {name: value})
    return slots


def _write_turns(rng: random.Random, conv: _Conversation, style: _Style) -> None:
    """User turns (opener, then reaction + detail, maybe a closing) and an assistant reply to each."""
    grammar, family = TOPICS[conv.topic], FAMILY[conv.category]
    slots = _pick_slots(rng, grammar["slots"])
    reply_slots = {k: v if k in grammar.get("verbatim", ()) else _second_person(v) for k, v in slots.items()}
    details, replies = _Deck(rng, grammar["detail"]), _Deck(rng, grammar["reply"])
    reactions = {score: _Deck(rng, REACTIONS[family][score]) for score in SCORES}
    acks = {sign: _Deck(rng, ACKS[family][sign]) for sign in ("neg", "zero", "pos")}
    turns = len(conv.scores)
    for i, score in enumerate(conv.scores):
        closing = i == turns - 1 and turns > 1 and rng.random() < 0.5
        if i == 0:
            text = _opening(rng, grammar, family, score, slots, details)
        elif closing:
            text = rng.choice(CLOSINGS[family][score])
        else:
            follow_up = rng.choice(FOLLOW_UPS[family]) if rng.random() < 0.2 else _fill(details.draw(), slots)
            text = _join(reactions[score].draw(), follow_up)
        conv.user.append(_noisy(rng, text, style, score))
        sign = "neg" if score < 0 else "pos" if score > 0 else "zero"
        if closing:
            conv.assistant.append(rng.choice(SIGN_OFFS[family][sign]))
            continue
        # A first message has nothing to thank for yet: greet it unless the mood is low.
        ack = rng.choice(OPEN_ACKS[family]) if i == 0 and score >= 0 else acks[sign].draw()
        conv.assistant.append(_capitalise(_join(ack, _fill(replies.draw(), reply_slots))))


def _opening(rng: random.Random, grammar: dict[str, Any], family: str, score: int, slots: dict[str, str],
             details: _Deck) -> str:
    parts = [rng.choice(LEADS[family][score]), _fill(rng.choice(grammar["open"]), slots)]
    if score < 0 and family != "roleplay" and rng.random() < 0.5:
        parts.reverse()  # a complaint comes after the request as often as before it
    if rng.random() < 0.35:
        parts.append(_fill(details.draw(), slots))
    return _join(*parts)


def _join(*parts: str) -> str:
    text = ""
    for part in filter(None, parts):
        if text and not text.endswith(SENTENCE_ENDS):
            text += "."
        text = f"{text} {part}" if text else part
    return text


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _noisy(rng: random.Random, text: str, style: _Style, score: int) -> str:
    """Slang, a typo, lowercase, dropped final period and emoticons, as people type; code stays intact."""
    if "`" in text or "\n" in text:
        return text
    if style.slang:
        for pattern, short in SLANG:
            if rng.random() < 0.6:
                text = pattern.sub(short, text)
    if rng.random() < style.typo_rate:
        text = _typo(rng, text)
    if style.lowercase:
        text = text.lower()
    if rng.random() < 0.15:
        text = text.rstrip(".")
    if score != 0 and rng.random() < 0.1:
        text += rng.choice(POSITIVE_EMOTICONS if score > 0 else NEGATIVE_EMOTICONS)
    return text


def _typo(rng: random.Random, text: str) -> str:
    words = list(WORD.finditer(text))
    if not words:
        return text
    match = rng.choice(words)
    word, k = match.group(0), rng.randrange(1, len(match.group(0)) - 1)
    wrong = rng.choice((word[:k] + word[k + 1] + word[k] + word[k + 2:],  # swap
                        word[:k] + word[k + 1:],  # drop
                        word[:k] + word[k] + word[k:]))  # double
    return text[:match.start()] + wrong + text[match.end():]


def _add_pushback(rng: random.Random, conv: _Conversation, style: _Style) -> None:
    """Make one user turn a request the assistant declines or disputes, with the reason as label."""
    family = FAMILY[conv.category]
    if rng.random() >= PUSHBACK_SHARE[family]:
        return
    reasons = PUSHBACK_REASONS[family]
    reason = rng.choices(list(reasons), list(reasons.values()))[0]
    prompt, reply, referral, score = rng.choice(PUSHBACK.get((family, reason)) or PUSHBACK[("affective", reason)])
    turn = rng.randrange(len(conv.user))
    conv.user[turn] = _noisy(rng, prompt, style, score)
    conv.scores[turn] = score
    conv.referral = referral is not None and rng.random() < REFERRAL_WITH_PUSHBACK
    conv.assistant[turn] = _join(reply, referral) if conv.referral else reply
    conv.pushback_reason = reason
    conv.pushback_turn = turn


def _add_referral(rng: random.Random, conv: _Conversation) -> None:
    """Sometimes an assistant reply suggests a therapist or crisis line without any pushback."""
    if conv.referral or rng.random() >= REFERRAL_SHARE.get(conv.category, 0.0):
        return
    turns = [i for i in range(len(conv.assistant)) if i != conv.pushback_turn]
    if not turns:
        return
    turn = rng.choice(turns)
    lines = REFERRAL_LINES.get(conv.category, REFERRAL_LINES["default"])
    conv.assistant[turn] = _join(conv.assistant[turn], rng.choice(lines))
    conv.referral = True


def _secondary(rng: random.Random, conv: _Conversation, style: _Style) -> list[str]:
    """Sometimes a second affective category, voiced by one extra user sentence."""
    if rng.random() >= SECONDARY_SHARE:
        return []
    second = rng.choice(SECONDARY[conv.category])
    lines = ROLEPLAY_COMPANIONSHIP_LINES if conv.category == "romantic_roleplay" else SECONDARY_LINES[second]
    turn = rng.randrange(len(conv.user))
    conv.user[turn] = _join(conv.user[turn], _noisy(rng, rng.choice(lines), style, 0))
    return [second]


# --- Personal data ------------------------------------------------------------------------------

def _plant_pii(rng: random.Random, conv: _Conversation) -> None:
    """Append sentences carrying personal data to random user turns, after noise, so they stay exact."""
    if rng.random() >= PII_SHARE:
        return
    family = FAMILY[conv.category]
    for _ in range(rng.choices((1, 2, 3), (75, 20, 5))[0]):
        kind = rng.choices(list(PII_KINDS), list(PII_KINDS.values()))[0]
        value = _PII_MAKERS[kind](rng)
        contexts = PII_CONTEXTS[kind]
        if isinstance(contexts, dict):
            contexts = contexts["affective" if family == "affective" else family if family == "roleplay" else "task"]
        turn = rng.randrange(len(conv.user))
        conv.user[turn] = _join(conv.user[turn], rng.choice(contexts).replace("{x}", value))
        if value not in conv.pii:
            conv.pii.append(value)


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def _name(rng: random.Random) -> str:
    return rng.choice(FIRST_NAMES)


def _email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES)
    local = rng.choice((f"{first}.{last}", f"{first}{rng.randrange(10, 99)}", f"{first[0]}{last}",
                        f"{first}_{last}{rng.randrange(70, 100)}"))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return _digits(rng, rng.choice(PHONE_PATTERNS).replace("AAA", rng.choice(AREA_CODES)))


def _luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch) * (2 if i % 2 == 0 else 1)  # the check digit will sit right of these
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice(CARD_PREFIXES)
    body = prefix + _digits(rng, "#" * (length - len(prefix) - 1))
    number = body + _luhn_digit(body)
    groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4)
    sep = rng.choice((" ", "-", ""))
    parts, at = [], 0
    for size in groups:
        parts.append(number[at:at + size])
        at += size
    return sep.join(parts)


def _iban(rng: random.Random) -> str:
    country, pattern = rng.choice(IBAN_PATTERNS)
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") if c == "L" else str(rng.randrange(10)) for c in pattern)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _ip(rng: random.Random) -> str:
    a, b = rng.randrange(1, 255), rng.randrange(1, 255)
    return rng.choice((f"192.168.{a % 10}.{b}", f"10.0.{a}.{b}", f"203.0.113.{b}",
                       f"{rng.choice((84, 91, 145, 185))}.{a}.{rng.randrange(256)}.{b}"))


def _url(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES)
    return rng.choice((f"https://www.{first}{last}.com", f"https://github.com/{first}{last}/notes",
                       f"https://linkedin.com/in/{first}-{last}-{rng.randrange(100, 999)}",
                       f"https://{first}{last}.blog/2026/01/my-story"))


_PII_MAKERS = {"name": _name, "email": _email, "phone": _phone, "card": _card, "url": _url, "ip": _ip,
               "iban": _iban}


# --- Output shapes ------------------------------------------------------------------------------

def _messages(conv: _Conversation) -> list[tuple[str, str]]:
    turns = [(role, text) for pair in zip(conv.user, conv.assistant) for role, text in zip(("user", "assistant"), pair)]
    return ([("system", conv.system)] if conv.system else []) + turns


def _start_time(rng: random.Random, topic: str) -> datetime:
    hour = rng.choice(LATE_HOURS) if topic == "late_night_company" else rng.choices(range(24), HOUR_WEIGHTS)[0]
    return START + timedelta(days=rng.randrange(DAYS), hours=hour, minutes=rng.randrange(60),
                             seconds=rng.randrange(60))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(rng: random.Random, conversation_id: str, user_id: str, started: datetime,
            messages: list[tuple[str, str]]) -> dict[str, Any]:
    """The input-contract record; about 8 % in an alias shape to exercise the reader."""
    shape = rng.random()
    if shape < ALIAS_SHARE["sharegpt"]:
        turns = [{"from": {"user": "human", "assistant": "gpt"}.get(r, r), "value": t} for r, t in messages]
        return {"id": conversation_id, "user_id": user_id, "created_at": _iso(started), "conversations": turns}
    roles = {"user": "human", "assistant": "bot"} if shape < sum(ALIAS_SHARE.values()) else {}
    turns = [{"role": roles.get(r, r), "content": t} for r, t in messages]
    if rng.random() < MESSAGE_TIME_SHARE:
        for turn, stamp in zip(turns, _message_times(rng, started, [r for r, _ in messages])):
            turn["created_at"] = stamp
    return {"conversation_id": conversation_id, "user_id": user_id, "created_at": _iso(started), "messages": turns}


def _message_times(rng: random.Random, started: datetime, roles: list[str]) -> list[str]:
    """Increasing times: replies within a minute, the user's next message within 15 minutes."""
    stamps, moment = [], started
    for role in roles:
        if stamps:
            moment += timedelta(seconds=rng.randint(3, 60) if role == "assistant" else rng.randint(15, 900))
        stamps.append(_iso(moment))
    return stamps


def _label(conversation_id: str, conv: _Conversation) -> dict[str, Any]:
    offset = 1 if conv.system else 0
    sentiment = [{"index": offset + 2 * i, "score": s} for i, s in enumerate(conv.scores)]
    return {
        "conversation_id": conversation_id,
        "use": "affective" if conv.category in AFFECTIVE else conv.category,
        "categories": conv.categories,
        "pushback": conv.pushback_reason is not None,
        "pushback_reason": conv.pushback_reason,
        "referral": conv.referral,
        "message_sentiment": sentiment,
        "topic": conv.topic,
        "pii": conv.pii,
    }


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="conversations to generate (default: config synth.n)")
    parser.add_argument("--out", required=True, help="output folder: OUT/conversations and OUT/labels")
    parser.add_argument("--seed", type=int, help="data seed (default: config synth.seed)")
    parser.add_argument("--partitions", type=int, help="Spark partitions, i.e. output files per folder")
    parser.add_argument("--profile", default="local", choices=("local", "cluster"), help="config profile")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1:])
