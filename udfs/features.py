"""Extra inputs that heads weigh beside the embeddings: phrase indicators of an assistant reply (pushback,
reason, referral) and the VADER lexicon's scores of a user message (sentiment).

A frozen sentence encoder places "I can't help with that" near a long answer about the same sensitive
topic; a few phrase indicators (a refusal opening, open disagreement, a named professional or crisis
service) separate them. They are features with learned weights, never rules: a reply that opens with
"I'm sorry" can still be full compliance, and the heads learn how much each indicator counts from
labelled replies. Reply length and an empathetic apology ("I'm sorry you're...") are deliberately not
indicators: in the training sets refusals are short and safe refusals open with empathy, while in
supportive conversations short, empathetic replies are the ordinary case (validation could not tell
the two feature sets apart; this one does not lean on an artefact of the training data). Standard
library and numpy only, so every Spark worker computes them beside the model.
"""
from __future__ import annotations

import functools
import re
from typing import Sequence

import numpy as np

_CANT = r"(?:can(?:'|’)?t|cannot|can not|won(?:'|’)?t|will not|am not able to|'m not able to|am unable to|'m unable to)"
_ACTS = (r"(?:help|assist|provide|do|write|create|give|share|support|comply|fulfil+|engage|generate|recommend|"
         r"tell|offer|continue|produce|make|access|browse|remember|send|call|diagnose|execute|run|post|publish|"
         r"reproduce|include|describe|answer|explain|advise|walk you|go along|pretend|roleplay|role-play|be)")
REFUSAL = re.compile("|".join([
    rf"\bi {_CANT} {_ACTS}\b",
    r"\b(?:i|we)(?:'|’)?m (?:not (?:going|able|comfortable|allowed)|unable)\b",
    r"\bi (?:must|have to|need to) (?:respectfully )?(?:decline|refuse)\b",
    r"\b(?:sorry|apologi[sz]e),? but\b",
    r"\bsorry,? (?:i|we) (?:can|won|will not|am not)",
    r"\bi apologi[sz]e\b",
    r"\bas an ai\b",
    r"\bi(?:'|’)?d rather (?:not|keep)\b",
    r"\b(?:it(?:'|’)?s|it is|that(?:'|’)?s|that is|this is) not (?:appropriate|ethical|safe|legal|something i)\b",
    r"\bi (?:don(?:'|’)?t|do not) (?:feel comfortable|think i (?:can|should))\b",
    r"\bunfortunately,? i\b",
]), re.IGNORECASE)
DISAGREEMENT = re.compile("|".join([
    r"\bi(?:'|’)?d (?:gently |respectfully |strongly |really )?(?:push back|disagree|caution|advise against)\b",
    r"\bi (?:would )?(?:gently |respectfully |strongly )?(?:push back|disagree)\b",
    r"\bi (?:don(?:'|’)?t|do not) (?:agree|think (?:that(?:'|’)?s|it(?:'|’)?s|this is|that is) (?:a good|wise|safe|"
    r"the right|true|fair|accurate))",
    r"\bi (?:wouldn(?:'|’)?t|would not|do not|don(?:'|’)?t) recommend\b",
    r"\bplease don(?:'|’)?t\b",
    r"\bthat(?:'|’)?s not (?:true|accurate|correct|a good idea)\b",
]), re.IGNORECASE)
PROFESSIONAL = re.compile(
    r"\b(?:therapist|counsel+or|psychiatrist|psychologist|doctor|physician|gp(?!s)|pharmacist|dietitian|dietician|"
    r"physio(?:therapist)?|lawyer|attorney|legal aid|accountant|financial (?:advisor|adviser|planner)|"
    r"tax (?:preparer|professional|advisor)|social worker|mental health (?:professional|provider|services?)|"
    r"health ?care (?:provider|professional)|medical (?:professional|attention|help)|professional help|"
    r"vet|veterinarian|electrician|dermatologist|midwife|specialist|psychotherapist|nurse)s?\b", re.IGNORECASE)
CRISIS = re.compile(
    r"\b(?:988|911|999|112|crisis (?:line|text line|hotline|lifeline)|hotline|helpline|lifeline|samaritans|"
    r"emergency (?:services|number|room)|poison control|support group|al-anon|aa meetings?)\b", re.IGNORECASE)
# A suggestion to turn to a professional or a service, within one sentence: "talk with a therapist",
# "have you considered seeing a counselor", "call or text 988", "a therapist could help". Naming a
# professional is not a referral ("practitioners should adhere to standards", "your doctor said"); on the
# training replies this indicator is on in 163 of 327 referrals and in 2 of 1,020 other replies.
_WHO = f"(?:{PROFESSIONAL.pattern}|{CRISIS.pattern})"
REFERRAL_SUGGESTION = re.compile(
    r"\b(?:talk|speak|reach(?:ing)? out|consult|see|contact|call|text|visit|book|find|get in touch|look into|"
    r"work with|go to|check in with|ask|seek|get|getting)(?:ing)?\b[^.!?\n]{0,60}?" + _WHO
    + "|" + _WHO + r"[^.!?\n]{0,40}?\b(?:could|can|might|may|would)(?: really| also)? "
                   r"(?:help|be (?:a )?(?:good|great|useful|helpful))", re.IGNORECASE)
OPENING_CHARS = 160
NAMES = ("refusal_opening", "refusal_anywhere", "disagreement", "professional", "crisis_service",
         "referral_suggestion")
N_FEATURES = len(NAMES)
LEXICON_NAMES = ("vader_compound", "vader_positive", "vader_negative", "vader_neutral")


def reply_features(texts: Sequence[str]) -> np.ndarray:
    """Per reply, the indicators in NAMES: (len(texts), N_FEATURES) float32 (an empty text is all zeros)."""
    out = np.zeros((len(texts), N_FEATURES), np.float32)
    for i, text in enumerate(texts):
        if not text:
            continue
        professional, crisis = bool(PROFESSIONAL.search(text)), bool(CRISIS.search(text))
        # A suggestion always names a professional or a service, so most replies skip its costly search.
        out[i] = (bool(REFUSAL.search(text[:OPENING_CHARS])), bool(REFUSAL.search(text)),
                  bool(DISAGREEMENT.search(text)), professional, crisis,
                  (professional or crisis) and bool(REFERRAL_SUGGESTION.search(text)))
    return out


def refusal_baseline(texts: Sequence[str]) -> np.ndarray:
    """The one-minute baseline a user would write: a refusal or disagreement phrase anywhere (bool per text)."""
    return np.array([bool(REFUSAL.search(t) or DISAGREEMENT.search(t)) for t in texts], dtype=bool)


def message_features(texts: Sequence[str]) -> np.ndarray:
    """Per user message, the VADER lexicon's compound, positive, negative and neutral scores:
    (len(texts), len(LEXICON_NAMES)) float32. The sentiment heads weigh them beside the embedding (on
    validation they lift polarity macro-F1 from 0.641 to 0.675, udfs/model/metrics.json); about 0.03 ms a
    message (BENCHMARKS.md)."""
    analyzer = _vader()
    out = np.zeros((len(texts), len(LEXICON_NAMES)), np.float32)
    for i, text in enumerate(texts):
        if text:
            scores = analyzer.polarity_scores(text)
            out[i] = (scores["compound"], scores["pos"], scores["neg"], scores["neu"])
    return out


@functools.lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
