"""Scrub personal data from message text.

Ingest calls `scrub_text` inside a pandas UDF on Spark executors, so this module
imports only the standard library, compiles every pattern once at import, and keeps state out of
its functions (all of them pickle by reference).

`scrub_text` replaces personal data with typed placeholders, most specific first so that a looser
pattern never sees the digits of a more specific one: [URL], [EMAIL], [IBAN], [IP], [CARD], national
ids as [ID], [PHONE], other long numbers as [ID], then [NAME]. Placeholders hold no digits and no
capitalised word, so no pass matches them; and every lookaround treats a `]` before or a `[` after a
match as part of a word, so text next to a placeholder is judged as it was next to the replaced
word. Together these make scrubbing idempotent.

Names are found two ways:
- after a cue ("my name is", "call me", "I'm", "my boss, ...", "Dr."): a cue names a person, so a
  capitalised word that is not a common non-name is taken, plus up to two capitalised surnames;
- anywhere, a capitalised word from `_FIRST_NAMES`. That list holds only given names that are
  almost never anything else in English text. Names that are also common words, places, brands,
  assistants or programming languages (Will, Grace, Mark, Jordan, Ruby, Claude, ...) live in
  `_CUE_ONLY_NAMES` and are replaced only after a cue.

Known gaps: names outside the lists without a cue, lowercase names (except listed ones after a cue),
names in non-Latin scripts, street addresses, bare domains without www., and numbers written in
non-ASCII digits. By design a bare run of 9+ digits that fails Luhn is still an [ID]; only a grouped
number ("4111 1111 1111 1112") that fails Luhn is left alone.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import partial

__all__ = ["iban_valid", "luhn_valid", "scrub_text"]

# --- name data -------------------------------------------------------------------------------------

_FIRST_NAMES = frozenset("""
james john robert michael william david richard joseph thomas charles christopher daniel matthew
anthony steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey
ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory
alexander patrick raymond dennis tyler aaron adam nathan henry zachary douglas peter kyle noah ethan
jeremy walter keith roger terry sean gerald carl dylan harold jesse bryan lawrence arthur gabriel
bruce logan billy joe alan elijah albert wayne randy vincent liam roy bobby caleb bradley russell
lucas oliver harry jake connor owen luke isaac evan ian nathaniel chris mike dave steve tom tim jim
tony matt josh nick dan sam ben alex andy fred ted greg jeff ken phil eddie charlie archie theo walt toby
oscar hugo bob ernest clive
mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty sandra
margaret ashley kimberly emily donna michelle carol amanda melissa deborah stephanie dorothy
rebecca sharon laura cynthia amy kathleen angela shirley brenda emma anna pamela nicole samantha
katherine christine helen debra rachel carolyn janet catherine diane olivia julie joyce ruth lauren
kelly christina joan evelyn judith andrea hannah megan cheryl jacqueline martha teresa gloria sara
janice ann anne annie kathryn abigail sophia sophie frances jean alice judy isabella denise doris
marilyn danielle beverly natalie theresa diana brittany kayla alexis lori maria marie chloe mia ava ella
zoe zoey emilia amelia isla lucy molly kate katie becky jenny liz beth jess susie leah nadia aiden jayden
dana mara
jose josé juan carlos luis miguel jorge alejandro diego pablo javier antonio manuel francisco
fernando ricardo eduardo andres andrés rafael sergio raul raúl pedro mateo sebastian sebastián
tomas tomás joaquin joaquín emilio gonzalo rodrigo hector héctor alberto enrique ignacio alvaro álvaro
lucia lucía valentina camila isabel gabriela carmen rosa ana elena pilar guadalupe alejandra fernanda
daniela mariana paula adriana veronica verónica beatriz ines inés marta lorena ximena jimena
catalina luciana juliana renata joao joão thiago tiago rafaela leticia letícia consuelo dolores
pierre jacques francois françois louis nicolas julien antoine mathieu guillaume camille chloé lea
léa manon amelie amélie mathilde elodie élodie juliette margaux celine céline sylvie nathalie
isabelle brigitte renee renée
hans jurgen jürgen klaus wolfgang dieter lukas jonas finn leon felix maximilian tobias florian
stefan johannes lena anke sabine ulrike birgit petra heike katrin jens lars sven bjorn björn anders
nils magnus erik soren søren ingrid astrid sigrid annika henrik pieter jeroen sanne femke
giuseppe giovanni marco luca alessandro francesco matteo lorenzo davide riccardo stefano giulia
francesca chiara alessia federica martina giorgia elisa roberta
ivan dmitri dmitry sergei sergey aleksandr alexei alexey vladimir nikolai mikhail andrei andrey
pavel olga natasha natalia svetlana tatiana tatyana irina yulia oksana anastasia ekaterina marina
ludmila katarzyna agnieszka malgorzata małgorzata piotr tomasz krzysztof pawel paweł lukasz łukasz
marek jakub wojciech dragan goran jelena milica zoran bogdan vasyl taras oleksandr olena
mohammed muhammad mohamed mohammad ahmed ahmad ali omar umar hassan hussein yusuf youssef ibrahim
khalid karim kareem amir tariq mustafa mahmoud abdullah hamza bilal samir fatima fatma aisha ayesha
khadija mariam maryam zainab layla leila yasmin yasmine salma huda rania reem zahra mehmet emre
ayse ayşe elif zeynep reza mehdi parisa shirin
priya rahul amit anjali arjun rohan deepak sanjay vikram pooja neha sunita ravi anil sunil aarav
kavya ananya ishaan aditya vivek rajesh suresh ramesh mahesh divya shreya sneha swati manish
nikhil rohit arun ashok aditi meera nisha ritu rekha sanjana harpreet gurpreet manpreet simran
jaspreet imran ayaan saanvi
wei jing ying xiaoming xiaoling xiaoyu yuxuan haoran zihan junjie lijuan meiling jiayi yiming
zhiwei jianguo xinyi huimin
hiroshi takashi kenji haruto yuto akiko yumiko keiko haruka hinata kaito daiki yuki
minjun seoyeon jiwoo jisoo jimin minho seojun jihoon
kwame kofi kwabena akua abena chinedu ngozi chiamaka emeka adaeze oluwaseun olumide tunde
babatunde folake funmilayo yetunde thandiwe sipho thabo lerato zanele nomvula tendai tatenda chipo
wanjiru njeri kamau otieno achieng abebe tesfaye kemi ayodele adebayo kagiso
moshe yosef yael shira eitan
amara hana jamal marisol ewelina ewa aiyana imani keisha tanisha deshawn darnell tyrone latoya
shanice jamila malik rashid nasser farid samira amina halima nia zuri ayanda themba busisiwe
dumisani kiran anand sandeep harish lakshmi padma usha gita vijay prakash naveen kunal tanvi
quynh huong linh thanh trang nguyet minh tuan
siobhan niamh aoife ciaran eoin sinead cormac declan fionn saoirse mairead padraig
agata zofia kasia marzena bartosz grzegorz dorota joanna beata halina ewelina
""".split())

# Also common English words, places, brands, assistants or languages: names only after a cue. Month
# names (April, May, June, August) are in neither list: after "this is" they are mostly dates.
_CUE_ONLY_NAMES = frozenset("""
will grace hope faith joy bill rose mark art sky summer autumn jack frank pat
sue rob don gene ray dawn amber ruby jade crystal iris lily daisy violet ivy holly heather olive
jasmine penny sandy rich chase hunter mason carter taylor parker drew cash chance lane dean earl rex
guy harmony melody destiny angel precious blessing patience charity mercy miracle max leo eve ada
julia pascal alexa siri claude mario victoria charlotte sofia santiago mercedes milan krishna sakura
ming jordan austin georgia virginia florence sydney dallas madison chelsea savannah paris phoenix
aurora nova river christian maya zara
""".split())

_ALL_NAMES = _FIRST_NAMES | _CUE_ONLY_NAMES

# Capitalised words a cue is often followed by that are not names: a cue never turns these into [NAME].
_NON_NAMES = frozenset("""
i a an the and but or so if then yes no not ok okay hi hello hey thanks thank please sorry just
really very also here there this that it he she we they you me my your his her our their who what
when where why how all any some every each both one two is was are were be been has had have do
does did can could would should might must shall said says told tells keeps wants thinks loves
hates lives works got gets never always still only even too quite pretty kind sort gonna going
trying feeling getting looking thinking wondering maybe probably definitely honestly
monday tuesday wednesday thursday friday saturday sunday january february march september october
november december today tomorrow tonight yesterday christmas easter
english spanish french german italian portuguese dutch russian polish chinese japanese korean
vietnamese indian arabic arab hindi urdu american canadian mexican british irish scottish welsh
african nigerian brazilian australian european asian latino latina hispanic black white muslim
jewish catholic hindu buddhist atheist gay straight trans
mom mum dad mommy daddy mama papa grandma grandpa granny nana god lord jesus sir madam doctor
team everyone everybody someone somebody anyone anybody nobody nothing something everything guys
bro dude man girl boy baby honey babe buddy mate ai
fine good great bad sad mad glad sick lost home back ready done sure right wrong alone afraid
alive awake asleep aware free late early new old young single married divorced pregnant broke
stuck tired happy upset anxious stressed depressed lonely confused worried bored excited nervous
hungry sleepy drunk high low down up out in over better worse well cool proud guilty jealous angry
hurt numb empty smart stupid dumb human curious busy unable able
""".split())

_SURNAME_PARTICLES = "de|del|della|da|das|do|dos|du|di|van|von|der|den|le|la|bin|ibn|al|el"
_RELATIONS = (r"best\s+friend|friend|sister|brother|mom|mum|mother|dad|father|boss|manager|coworker"
              r"|co-worker|colleague|husband|wife|partner|boyfriend|girlfriend|son|daughter|roommate"
              r"|flatmate|ex|teacher|therapist|counsell?or|doctor|cousin|aunt|uncle|grandma|grandpa"
              r"|grandmother|grandfather|nephew|niece|neighbou?r|fianc[ée]e?|landlord|supervisor"
              r"|classmate|kid|child")
_RELATION_ADJECTIVES = r"(?:ex|step|little|big|older|younger|baby|twin|old|new|late|former)[\s-]*"
# Predicates after "I'm" that look like names when capitalised ("I'm Exhausted", "I'm Struggling").
_ADJECTIVE_SUFFIX = re.compile(r"(?:ed|ing|ly|ful|ous|less|ive|able|ible|ish|est|ry|py|sy|zy|ky)$")

# --- patterns --------------------------------------------------------------------------------------

_LETTER = r"[^\W\d_]"
_TOKEN_TAIL = rf"(?:['’]{_LETTER}{{2,}}|-{_LETTER}+)*"  # O'Brien, Jean-Luc; not the 's of Maria's
_TOKEN = rf"{_LETTER}+{_TOKEN_TAIL}"
_NAME = rf"(?P<name>{_TOKEN})"

# Most patterns put their "not inside a word" lookbehind after the first character: the engine then
# scans for that character at C speed instead of trying the lookbehind at every position (3-4x faster).
_NAME_IS_CUE = re.compile(
    r"(?<![\w\]-])(?i:(?:my|his|her|their|your)\s+(?:(?:real|full|first|last|nick)\s*)?name\s+(?:is|was)"
    rf"|name['’]s)\s+{_NAME}")
_CALL_CUE = re.compile(rf"(?<![\w\]-])(?i:call\s+me|i\s+go\s+by|named|called),?\s+{_NAME}")
_RELATION_CUE = re.compile(
    rf"[Mm](?<![\w\]-].)(?i:y\s+(?:{_RELATION_ADJECTIVES}){{0,2}}(?:{_RELATIONS})),?\s+{_NAME}")
_TITLE_CUE = re.compile(rf"(?<![\w\]-])(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?[ \t]+{_NAME}")
_SELF_CUE = re.compile(rf"[Ii](?<![\w\]'’].)(?i:['’]m|\s+am)\s+{_NAME}")
_INTRO_CUE = re.compile(rf"[Tt](?<![\w\]'’].)(?i:his\s+is)\s+{_NAME}")
_HERE_CUE = re.compile(rf"\A\s*(?:(?i:hi|hey|hello)\W+)?{_NAME}(?=(?:[ \t]+{_TOKEN})?[ \t]+(?i:here)\b)")
_CAPITALISED = re.compile(rf"(?P<name>[A-ZÀ-ÖØ-ÞĀ-ž](?<![\w\]'’-].){_LETTER}*{_TOKEN_TAIL})")
_SURNAME = re.compile(rf"[ \t]+(?:(?:{_SURNAME_PARTICLES})[ \t]+){{0,2}}({_TOKEN})(?![\d_])")

_URL = re.compile(r"[HhWw](?<![\w\].@-].)(?i:ttps?://|ww\.)[^\s<>\"'\[\]{}|\\^`]+")
_URL_TRAILING = ".,;:!?)'\""  # sentence punctuation after a link is not part of it
_EMAIL = re.compile(r"(?<![\w\].+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w\[])")

# Numeric patterns are ASCII-only ([0-9], ASCII word characters). _NUM_START follows a pattern's first
# digit: the number starts there, not inside a word, a longer number or a decimal ("3.14159265358979").
_A = re.ASCII
_NUM_START = r"(?<![\w\]+\-]\d)(?<![\d\]][.,/:]\d)"
_NUM_END = r"(?![\w\[]|[.,/:\-][\d\[])"
_NOT_ALNUM = r"(?<![A-Za-z0-9\]].)"  # follows a pattern's first character
_NOT_ALNUM_NEXT = r"(?![A-Za-z0-9\[])"
_DIGITS = "0123456789"
_HAS_DIGIT = re.compile(r"\d", _A)
_IBAN = re.compile(
    rf"[A-Z]{_NOT_ALNUM}[A-Z]\d{{2}}(?: ?[A-Z0-9]{{4}}){{2,8}}(?: ?[A-Z0-9]{{1,3}})?{_NOT_ALNUM_NEXT}", _A)
_IBAN_CHUNK = re.compile(r" ?[A-Z0-9]{1,4}", _A)
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", _A)
_IPV6 = re.compile(r"(?<![\w\]:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
                   r"(?![\w\[:]|\.[\w\[])", _A)
_IPV4 = re.compile(r"\d(?<![\w\].]\d)\d{0,2}(?:\.\d{1,3}){3}(?![\w\[]|\.[\d\[])", _A)
_CARD = re.compile(  # bare, or grouped 4-4-4-4(-3), 4-6-5, 4-6-4 with one kind of separator
    rf"\d{_NUM_START}(?:\d{{12,18}}|\d{{3}}([ -])\d{{4,6}}\1\d{{4,5}}(?:\1\d{{1,4}}){{0,2}}){_NUM_END}", _A)
_SSN = re.compile(rf"\d{_NUM_START}\d{{2}}([- ])\d{{2}}\1\d{{4}}{_NUM_END}(?! [\d\[])", _A)
_SIN = re.compile(rf"\d{_NUM_START}\d{{2}}-\d{{3}}-\d{{3}}{_NUM_END}", _A)  # Canada
_AADHAAR = re.compile(rf"[2-9]{_NUM_START}\d{{3}} \d{{4}} \d{{4}}{_NUM_END}(?! [\d\[])", _A)  # India
_CPF = re.compile(rf"\d{_NUM_START}\d{{2}}\.\d{{3}}\.\d{{3}}-\d{{2}}{_NUM_END}", _A)  # Brazil
_NINO = re.compile(rf"[A-CEGHJ-PR-TW-Z]{_NOT_ALNUM}[A-CEGHJ-NPR-TW-Z] ?\d{{2}} ?\d{{2}} ?\d{{2}} ?[A-D]"
                   rf"{_NOT_ALNUM_NEXT}", _A)  # UK National Insurance
_PAN = re.compile(rf"[A-Z]{_NOT_ALNUM}[A-Z]{{2}}[ABCFGHJLPT][A-Z]\d{{4}}[A-Z]{_NOT_ALNUM_NEXT}", _A)  # India
# Spanish DNI 12345678Z and NIE X1234567L.
_SPANISH_ID = re.compile(rf"[XYZ\d]{_NOT_ALNUM}-?\d{{7}}-?[A-Z]{_NOT_ALNUM_NEXT}", _A)
_SPANISH_ID_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_DIGIT_RUN = re.compile(r"\d+\)?", _A)
_LONG_NUMBER = re.compile(rf"\d{_NUM_START}(?:\d{{16}}[Xx]|\d{{8,}}){_NUM_END}", _A)
_PHONES = tuple(re.compile(p, _A) for p in (
    r"\+(?<![\w\]+].)\d{1,3}(?:[ .\-]?(?:\(\d{1,5}\)|\d{1,5})){1,6}(?![\w\[]|[.\-][\d\[])",  # +44 (0)20 7946 0958
    rf"(?<![\w\]+.\-])(?:1[ .\-])?(?:\(\d{{3}}\)[ .\-]?|\d{{3}}[ .\-])\d{{3}}[ .\-]\d{{4}}{_NUM_END}",  # NANP
    rf"(?<![\w\]+.\-])(?:\(0\d{{1,4}}\)|0\d{{1,4}})(?:[ \-]?\d{{2,4}}){{1,4}}{_NUM_END}",  # 07700 900123
    rf"[6-9](?<![\w\]+.\-].)\d{{4}} \d{{5}}{_NUM_END}",  # Indian mobile: 98765 43210
))


# --- checksums -------------------------------------------------------------------------------------

def luhn_valid(digits: str) -> bool:
    """Whether a number passes the Luhn checksum used by payment cards.

    Args:
        digits: the number; spaces and dashes between digits are ignored.

    Returns:
        True for at least two ASCII digits whose Luhn sum is a multiple of 10.
    """
    number = digits.replace(" ", "").replace("-", "")
    if len(number) < 2 or not (number.isascii() and number.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """Whether text is an IBAN with a valid ISO 13616 mod-97 check.

    Args:
        text: the IBAN, any case; spaces are ignored.

    Returns:
        True when the country code, length shape (15-34 characters) and mod-97 check all hold.
    """
    iban = text.replace(" ", "").upper()
    if not _IBAN_SHAPE.fullmatch(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _spanish_id_valid(text: str) -> bool:
    """Spanish DNI/NIE check letter: the number (NIE: X/Y/Z read as 0/1/2) mod 23 picks it."""
    compact = text.replace("-", "")
    number = str("XYZ".find(compact[0])) + compact[1:-1] if compact[0] in "XYZ" else compact[:-1]
    return _SPANISH_ID_LETTERS[int(number) % 23] == compact[-1]


# --- passes ----------------------------------------------------------------------------------------

def _replace_url(match: re.Match[str]) -> str:
    url = match.group()
    while url and url[-1] in _URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break  # keep the closing paren of a wiki-style link
        url = url[:-1]
    return "[URL]" + match.group()[len(url):]


def _replace_iban(match: re.Match[str]) -> str:
    # Greedy chunks may swallow a following capitalised word; keep the longest valid prefix.
    text = match.group()
    chunks = _IBAN_CHUNK.findall(text, 4)
    for keep in range(len(chunks), 0, -1):
        if iban_valid(text[:4] + "".join(chunks[:keep])):
            return "[IBAN]" + "".join(chunks[keep:])
    return text


def _replace_ipv6(match: re.Match[str]) -> str:
    candidate = match.group()
    if not _HAS_DIGIT.search(candidate):
        return candidate  # "::" and hex-only words such as "dead::beef" read as code, not addresses
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return candidate  # times like 10:30:00
    return "[IP]"


def _replace_card(match: re.Match[str]) -> str:
    digits = "".join(filter(str.isdigit, match.group()))
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def _replace_spanish_id(match: re.Match[str]) -> str:
    return "[ID]" if _spanish_id_valid(match.group()) else match.group()


def _replace_ipv4(match: re.Match[str]) -> str:
    return "[IP]" if all(int(octet) <= 255 for octet in match.group().split(".")) else match.group()


def _phone_digit_range(text: str) -> tuple[int, int]:
    """How many digits a phone number written like text has (NANP and Indian shapes fix their own)."""
    national = text.lstrip("(")
    if text.startswith("+"):
        return 8, 15  # E.164
    if national.startswith("00"):
        return 10, 17  # 00 + E.164
    if national.startswith("0"):
        return 9, 11  # trunk prefix + national number
    return 0, 99


def _phone_end(match: re.Match[str]) -> int | None:
    """End of the longest prefix of match with a phone number's digit count (None: not a phone)."""
    low, high = _phone_digit_range(match.group())
    count, end = 0, None
    for run in _DIGIT_RUN.finditer(match.group()):
        count += len(run.group().rstrip(")"))
        if count > high:
            break
        if count >= low:
            end = match.start() + run.end()
    return end


def _sub_phones(pattern: re.Pattern[str], text: str) -> str:
    """Like pattern.sub, but a greedy match that ran into a following number is cut back to the
    phone, and the search resumes right after it so the rest can be a phone or id of its own."""
    pieces, pos, search_from = [], 0, 0
    while match := pattern.search(text, search_from):
        end = _phone_end(match)
        if end is None:
            search_from = match.start() + 1
            continue
        pieces += [text[pos:match.start()], "[PHONE]"]
        pos = search_from = end
    pieces.append(text[pos:])
    return "".join(pieces)


# (fewest digits a match can have, pass), in order; IPv6 runs first on its own hint.
_NUMBER_PASSES = (
    (6, partial(_IBAN.sub, _replace_iban)),
    (4, partial(_IPV4.sub, _replace_ipv4)),
    (13, partial(_CARD.sub, _replace_card)),
    (9, partial(_SSN.sub, "[ID]")),
    (9, partial(_SIN.sub, "[ID]")),
    (12, partial(_AADHAAR.sub, "[ID]")),
    (11, partial(_CPF.sub, "[ID]")),
    (6, partial(_NINO.sub, "[ID]")),
    (4, partial(_PAN.sub, "[ID]")),
    (7, partial(_SPANISH_ID.sub, _replace_spanish_id)),
    *((8, partial(_sub_phones, pattern)) for pattern in _PHONES),
    (9, partial(_LONG_NUMBER.sub, "[ID]")),
)


def _scrub_numbers(text: str, digits: int) -> str:
    """Run the numeric passes that text has enough digits for (most messages skip them all)."""
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(_replace_ipv6, text)
    for min_digits, scrub in _NUMBER_PASSES:
        if digits >= min_digits:
            text = scrub(text)
    return text


# --- names -----------------------------------------------------------------------------------------

def _is_capitalised(word: str) -> bool:
    return word[0].isupper() and not word.isupper()


def _is_listed(word: str, names: frozenset[str]) -> bool:
    """A known name, or a hyphenated one (Jean-Luc) whose parts are capitalised and one is known."""
    low = word.lower()
    if low in names:
        return True
    parts = word.split("-")
    return (len(parts) > 1 and all(_is_capitalised(part) for part in parts)
            and any(part.lower() in names for part in parts))


def _is_non_name(word: str) -> bool:
    return word.lower() in _NON_NAMES


def _after_strong_cue(word: str) -> bool:
    """A cue that names a person: any capitalised non-stopword, or a lowercase well-known name."""
    if _is_non_name(word):
        return False
    return _is_capitalised(word) or _is_listed(word, _FIRST_NAMES)


def _after_self_cue(word: str) -> bool:
    """After "I'm": also a predicate ("I'm Tired"), so unknown words must not look like adjectives."""
    if _is_non_name(word):
        return False
    if not _is_capitalised(word):
        return _is_listed(word, _FIRST_NAMES)
    return _is_listed(word, _ALL_NAMES) or not _ADJECTIVE_SUFFIX.search(word.lower())


def _after_weak_cue(word: str) -> bool:
    """After "this is" or before "here": known names only ("This is Python", "Newbie here")."""
    names = _ALL_NAMES if _is_capitalised(word) else _FIRST_NAMES
    return not _is_non_name(word) and _is_listed(word, names)


def _is_listed_first_name(word: str) -> bool:
    return _is_capitalised(word) and _is_listed(word, _FIRST_NAMES)


def _is_surname(word: str) -> bool:
    return (_is_capitalised(word) or len(word) > 1 and word.isupper()) and not _is_non_name(word)


def _surname_end(text: str, pos: int) -> int:
    """End of up to two capitalised surnames (with particles: "de la Cruz") starting at pos."""
    for _ in range(2):
        match = _SURNAME.match(text, pos)
        if not match or not _is_surname(match.group(1)):
            break
        pos = match.end()
    return pos


def _replace_names(pattern: re.Pattern[str], text: str, accept: Callable[[str], bool]) -> str:
    """Replace each accepted `name` group of pattern, with the surnames after it, by [NAME]."""
    pieces, pos = [], 0
    for match in pattern.finditer(text):
        start = match.start("name")
        if start < pos or not accept(match["name"]):
            continue
        pieces += [text[pos:start], "[NAME]"]
        pos = _surname_end(text, match.end("name"))
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


# (lowercase hints one of which a match needs, pattern, test of the name); no hints: always run.
_NAME_PASSES = (
    (("name",), _NAME_IS_CUE, _after_strong_cue),
    (("call", "go", "named"), _CALL_CUE, _after_strong_cue),
    (("my",), _RELATION_CUE, _after_strong_cue),
    (("mr", "ms", "mx", "dr", "prof"), _TITLE_CUE, _after_strong_cue),
    (("i'm", "i’m", "am"), _SELF_CUE, _after_self_cue),
    (("this",), _INTRO_CUE, _after_weak_cue),
    (("here",), _HERE_CUE, _after_weak_cue),
    ((), _CAPITALISED, _is_listed_first_name),
)


def _scrub_names(text: str) -> str:
    lower = text.lower()
    for hints, pattern, accept in _NAME_PASSES:
        if not hints or any(hint in lower for hint in hints):
            text = _replace_names(pattern, text, accept)
    return text


# --- public API ------------------------------------------------------------------------------------

def scrub_text(text: str) -> str:
    """Replace personal data in text with typed placeholders.

    Args:
        text: free text of any language; None or "" is returned unchanged so nulls pass through.

    Returns:
        The text with URLs, emails, IBANs, IP addresses, payment cards, national ids and long
        numbers, phone numbers and person names replaced by [URL], [EMAIL], [IBAN], [IP], [CARD],
        [ID], [PHONE] and [NAME]. Idempotent.
    """
    if not text:
        return text
    text = _URL.sub(_replace_url, text)
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    digits = sum(map(text.count, _DIGITS))
    if digits:
        text = _scrub_numbers(text, digits)
    return _scrub_names(text)
