"""Scrubbing, pseudonyms and pseudonym-key resolution (pure Python, no Spark)."""
from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import re
import stat
import subprocess
import sys

import pytest

from jobs.privacy.pseudonym import MissingSecretError, pseudonymize, resolve_pseudonym_key
from jobs.privacy.scrub import iban_valid, luhn_valid, scrub_text

ENV = "AFFECTIVE_PSEUDONYM_KEY"
HEX_KEY = "00112233445566778899aabbccddeeff" * 2

POSITIVE = [
    # emails and URLs, with their digits kept whole
    ("write to maria.gonzalez@example.com today", "write to [EMAIL] today"),
    ("A.B+tag@mail.co.uk, thanks", "[EMAIL], thanks"),
    ("ping first_last99@sub.example.org.", "ping [EMAIL]."),
    ("see https://example.com/orders/1234567890 ok", "see [URL] ok"),
    ("http://x.org/a?b=1&c=2, then", "[URL], then"),
    ("visit www.example.org/path.", "visit [URL]."),
    ("(read https://en.wikipedia.org/wiki/Foo_(bar))", "(read [URL])"),
    ("HTTPS://EXAMPLE.COM/x is down", "[URL] is down"),
    ("https://user:pw@host.example.com/x", "[URL]"),
    # IBANs: spaced or not, with letters in the account part, a trailing capitalised word left alone
    ("My IBAN is DE89 3704 0044 0532 0130 00 thanks", "My IBAN is [IBAN] thanks"),
    ("IBAN: GB82WEST12345698765432.", "IBAN: [IBAN]."),
    ("FR14 2004 1010 0505 0001 3M02 606", "[IBAN]"),
    ("NL91ABNA0417164300", "[IBAN]"),
    ("ES91 2100 0418 4502 0005 1332 is mine", "[IBAN] is mine"),
    ("BE68 5390 0754 7034 THEN", "[IBAN] THEN"),
    # cards: Luhn-valid, bare, spaced, dashed, Amex 4-6-5
    ("card 4111 1111 1111 1111 exp", "card [CARD] exp"),
    ("4111-1111-1111-1111.", "[CARD]."),
    ("4111111111111111", "[CARD]"),
    ("mc 5555 5555 5555 4444", "mc [CARD]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
    ("amex 378282246310005", "amex [CARD]"),
    # IP addresses
    ("server 192.168.1.10 is down", "server [IP] is down"),
    ("curl 10.0.0.1:8080/health", "curl [IP]:8080/health"),
    ("at 255.255.255.0.", "at [IP]."),
    ("v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "v6 [IP] ok"),
    ("v6 2001:db8::8a2e:370:7334 ok", "v6 [IP] ok"),
    ("ping ::1 and fe80::1", "ping [IP] and [IP]"),
    ("mapped ::ffff:192.0.2.1", "mapped [IP]"),
    # phones: international and national formats
    ("Call +1 415-555-0132 now", "Call [PHONE] now"),
    ("or (212) 555 0199.", "or [PHONE]."),
    ("text 415.555.0132", "text [PHONE]"),
    ("mobile 07700 900123", "mobile [PHONE]"),
    ("London +44 20 7946 0958", "London [PHONE]"),
    ("Berlin +49 30 123456", "Berlin [PHONE]"),
    ("tel 020 7946 0958", "tel [PHONE]"),
    ("toll free 1-800-222-1222", "toll free [PHONE]"),
    ("+33 6 12 34 56 78 or 06 12 34 56 78", "[PHONE] or [PHONE]"),
    ("+14155550132", "[PHONE]"),
    ("(+44 (0)20 7946 0958)", "([PHONE])"),
    ("0044 20 7946 0958", "[PHONE]"),
    ("whatsapp 98765 43210", "whatsapp [PHONE]"),
    # national ids and long numbers
    ("SSN 123-45-6789.", "SSN [ID]."),
    ("ssn 123 45 6789", "ssn [ID]"),
    ("SIN 123-456-789", "SIN [ID]"),
    ("NINO AB 12 34 56 C", "NINO [ID]"),
    ("NINO AB123456C", "NINO [ID]"),
    ("DNI 12345678Z", "DNI [ID]"),
    ("NIE X1234567L", "NIE [ID]"),
    ("PAN ABCPE1234F", "PAN [ID]"),
    ("Aadhaar 2345 6789 0123", "Aadhaar [ID]"),
    ("CPF 123.456.789-09", "CPF [ID]"),
    ("order 123456789012 shipped", "order [ID] shipped"),
    ("id 11010519491231002X", "id [ID]"),
    ("account 1234567890123456", "account [ID]"),  # Luhn fails: not a card, but a long bare number
]

NAMES = [
    ("my name is Maria Gonzalez and I need help", "my name is [NAME] and I need help"),
    ("My name is Zanele.", "My name is [NAME]."),
    ("my name is kevin", "my name is [NAME]"),
    ("my name is KEVIN", "my name is [NAME]"),
    ("Her name was Ngozi Okafor", "Her name was [NAME]"),
    ("name's Bond, James Bond", "name's [NAME], [NAME]"),
    ("I'm Kevin, nice to meet you", "I'm [NAME], nice to meet you"),
    ("I am Zanele", "I am [NAME]"),
    ("i'm kevin lol", "i'm [NAME] lol"),
    ("I’m Grace and I’m tired", "I’m [NAME] and I’m tired"),
    ("Call me Ishmael.", "Call me [NAME]."),
    ("Hi, this is Sarah from HR", "Hi, this is [NAME] from HR"),
    ("this is Will, your neighbour", "this is [NAME], your neighbour"),
    ("Will here, quick question", "[NAME] here, quick question"),
    ("Hi, Grace Hopper here", "Hi, [NAME] here"),
    ("my boss, Kevin, said no", "my boss, [NAME], said no"),
    ("my sister Grace is great", "my sister [NAME] is great"),
    ("my little sister Maya is 5", "my little sister [NAME] is 5"),
    ("my ex-husband Kevin Brown", "my ex-husband [NAME]"),
    ("my best friend, Zanele Mokoena, called", "my best friend, [NAME], called"),
    ("my grandma Rosa de la Cruz", "my grandma [NAME]"),
    ("My therapist Mark says", "My therapist [NAME] says"),
    ("my fiancée Chiara and my fiancé Luca", "my fiancée [NAME] and my fiancé [NAME]"),
    ("a dog named Max", "a dog named [NAME]"),
    ("I called emma yesterday", "I called [NAME] yesterday"),
    ("Dr. Patel said so, Mr Smith too", "Dr. [NAME] said so, Mr [NAME] too"),
    # listed first names anywhere, with their surnames
    ("I talked to Priya Sharma and Ahmed", "I talked to [NAME] and [NAME]"),
    ("Maria will update the doc", "[NAME] will update the doc"),
    ("Jean-Luc and Maria's car", "[NAME] and [NAME]'s car"),
    ("Hey Kevin, how are you?", "Hey [NAME], how are you?"),
    ("Łukasz and José López came", "[NAME] and [NAME] came"),
]

NEGATIVE = [
    "4111 1111 1111 1112 fails Luhn",
    "1234-5678-9012-3456",
    "it was 2026 and then 1999",
    "on 2026-01-05, 05/01/2026 or 01.05.2026",
    "at 2026-01-05T10:30:00Z",
    "at 10:30, 10:30:45 or 23:59",
    "it cost $1,299.99 or €45,00 or 1 299 000",
    "12,000,000,000 people",
    "Python 3.11.7 and v2.0.1",
    "count 3 5 7 and 12 34",
    "ref 0123 456 and 01 05 2026",
    "Room 101, flight BA 2490, order #12345678",
    "Pi is 3.14159265358979",
    "ISBN 978-3-16-148410-0",
    "DNI 12345678A has the wrong letter",
    "256.1.1.1 is no address",
    "std::vector and x :: Int",
    "MAC 00:1A:2B:3C:4D:5E",
    "call me at 5pm",
    "I'm Tired",
    "I'm happy",
    "I'm Exhausted and I am Really Tired",
    "I'm Spanish",
    "This is Python code",
    "Newbie here, need help",
    "My Mom Said No",
    "Today I went out. Hope you are well. Will it rain? Grace under pressure. May I ask?",
    "Monday I met Mark at the Apple Store",
    "So-called Experts",
    "Меня зовут Иван",
    "我叫王伟",
    "٠١٢٣٤٥٦٧٨٩٠",
    "🙂🎉 all good 👍",
]


@pytest.mark.parametrize(("text", "expected"), POSITIVE + NAMES)
def test_scrub_replaces_personal_data(text, expected):
    assert scrub_text(text) == expected


@pytest.mark.parametrize("text", NEGATIVE)
def test_scrub_leaves_ordinary_text_alone(text):
    assert scrub_text(text) == text


def test_scrub_combined_message():
    text = ("Hi, I'm Kevin Brown (kevin.brown@example.com, +1 415-555-0132). My card 4111 1111 1111 1111 "
            "was charged $42.50 on 2026-01-05; my wife Grace says the IBAN DE89 3704 0044 0532 0130 00 "
            "is fine. Server 10.0.0.1, see https://bank.example.com/case/99812345. SSN 123-45-6789.")
    assert scrub_text(text) == (
        "Hi, I'm [NAME] ([EMAIL], [PHONE]). My card [CARD] was charged $42.50 on 2026-01-05; my wife "
        "[NAME] says the IBAN [IBAN] is fine. Server [IP], see [URL]. SSN [ID].")


def test_scrub_is_safe_around_non_ascii_and_emoji():
    assert scrub_text("😀 call +44 20 7946 0958 🎉") == "😀 call [PHONE] 🎉"
    assert scrub_text("Меня зовут Иван, ivan@example.ru") == "Меня зовут Иван, [EMAIL]"


@pytest.mark.parametrize("text", [t for t, _ in POSITIVE + NAMES] + NEGATIVE)
def test_scrub_is_idempotent(text):
    once = scrub_text(text)
    assert scrub_text(once) == once


def test_placeholders_are_never_altered():
    text = "[EMAIL] [URL] [IBAN] [CARD] [IP] [PHONE] [ID] [NAME] my name is [NAME], I'm [NAME]"
    assert scrub_text(text) == text


@pytest.mark.parametrize("text", ["", None])
def test_scrub_passes_empty_and_null_through(text):
    assert scrub_text(text) == text


def test_scrub_text_pickles_and_imports_light():
    assert pickle.loads(pickle.dumps(scrub_text))("call 415.555.0132") == "call [PHONE]"
    code = ("import sys, jobs.privacy.scrub, jobs.privacy.pseudonym; "
            "print(sorted({'pyspark', 'pandas', 'numpy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("digits", "expected"), [
    ("4111111111111111", True), ("4111 1111 1111 1111", True), ("4111-1111-1111-1111", True),
    ("79927398713", True), ("4111111111111112", False), ("1234567890123456", False),
    ("", False), ("7", False), ("4111x1111", False), ("٤١١١١١١١١١١١١١١١", False),
])
def test_luhn_valid(digits, expected):
    assert luhn_valid(digits) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("DE89 3704 0044 0532 0130 00", True), ("GB82WEST12345698765432", True),
    ("gb82 west 1234 5698 7654 32", True), ("NL91ABNA0417164300", True),
    ("DE88 3704 0044 0532 0130 00", False), ("GB82WEST12345698765433", False),
    ("DE89", False), ("", False), ("1234 5678 9012 3456", False),
])
def test_iban_valid(text, expected):
    assert iban_valid(text) is expected


# --- pseudonyms --------------------------------------------------------------------------------------

def test_pseudonym_matches_rfc4231_hmac_sha256_vector():
    assert pseudonymize("what do ya want for nothing?", b"Jefe") == (
        "u_5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_pseudonym_is_stable_keyed_and_never_contains_the_id():
    key, other = b"k" * 32, b"q" * 32
    ids = ["user-42", "alice@example.com", "7f9c2ba4-e88f-4d2e-9d6b-3c5a1f0e8b21", "1234567", "José"]
    pseudonyms = {pseudonymize(i, key) for i in ids}
    assert len(pseudonyms) == len(ids)
    for user_id in ids:
        value = pseudonymize(user_id, key)
        assert value == pseudonymize(user_id, key)
        assert value != pseudonymize(user_id, other)
        assert value == "u_" + hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
        assert len(value) == 66 and value.startswith("u_") and set(value[2:]) <= set("0123456789abcdef")
        assert user_id not in value


def test_pseudonym_refuses_an_empty_key():
    with pytest.raises(ValueError, match="empty"):
        pseudonymize("user-42", b"")


# --- key resolution ----------------------------------------------------------------------------------

@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


@pytest.mark.parametrize(("raw", "expected"), [
    (HEX_KEY, bytes.fromhex(HEX_KEY)),
    (f"  {HEX_KEY}\n", bytes.fromhex(HEX_KEY)),
    ("correct horse battery staple", b"correct horse battery staple"),
    ("g" * 32, b"g" * 32),  # 32 characters that are not hex: a passphrase
    ("ключ-достаточной-длины", "ключ-достаточной-длины".encode()),
])
def test_key_from_environment(monkeypatch, raw, expected):
    monkeypatch.setenv(ENV, raw)
    assert resolve_pseudonym_key() == expected


def test_key_from_a_custom_environment_variable_wins_over_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("OTHER_KEY", "a passphrase of 27 chars...")
    secret = tmp_path / "secret"
    secret.write_text(HEX_KEY)
    assert resolve_pseudonym_key(env_var="OTHER_KEY", key_file=str(secret)) == b"a passphrase of 27 chars..."


def test_too_short_environment_key_is_an_error_that_hides_the_key(monkeypatch):
    monkeypatch.setenv(ENV, "short-key-42")
    with pytest.raises(ValueError, match=ENV) as info:
        resolve_pseudonym_key()
    assert "short-key-42" not in str(info.value)


def test_key_from_mounted_file(no_env_key, tmp_path):
    secret = tmp_path / "pseudonym-secret"
    secret.write_text(HEX_KEY + "\n")
    assert resolve_pseudonym_key(key_file=str(secret)) == bytes.fromhex(HEX_KEY)


def test_missing_key_file_names_the_path(no_env_key, tmp_path):
    missing = tmp_path / "nowhere" / "key"
    with pytest.raises(MissingSecretError, match=re.escape(str(missing))):
        resolve_pseudonym_key(key_file=str(missing), allow_generate=True, state_dir=str(tmp_path))


def test_too_short_key_file_is_an_error_naming_the_path(no_env_key, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("abc")
    with pytest.raises(ValueError, match=re.escape(str(secret))):
        resolve_pseudonym_key(key_file=str(secret))


def test_empty_environment_variable_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "")
    secret = tmp_path / "key"
    secret.write_text(HEX_KEY)
    assert resolve_pseudonym_key(key_file=str(secret)) == bytes.fromhex(HEX_KEY)


def test_local_key_is_generated_once_with_mode_0600_and_reused(no_env_key, tmp_path, capsys):
    state = tmp_path / "state" / "nested"
    first = resolve_pseudonym_key(state_dir=str(state), allow_generate=True)
    key_path = state / "pseudonym.key"
    stored = key_path.read_text()
    assert len(first) == 32 and stored.strip() == first.hex()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert resolve_pseudonym_key(state_dir=str(state), allow_generate=True) == first
    assert key_path.read_text() == stored
    assert sorted(p.name for p in state.iterdir()) == ["pseudonym.key"]
    captured = capsys.readouterr()
    assert first.hex() not in captured.out + captured.err


def test_an_existing_local_key_is_reused(no_env_key, tmp_path):
    (tmp_path / "pseudonym.key").write_text(HEX_KEY)
    assert resolve_pseudonym_key(state_dir=str(tmp_path), allow_generate=True) == bytes.fromhex(HEX_KEY)


def test_generating_needs_a_state_dir(no_env_key):
    with pytest.raises(ValueError, match="state_dir"):
        resolve_pseudonym_key(allow_generate=True)


def test_missing_key_without_generation_is_a_missing_secret_error(no_env_key, tmp_path):
    with pytest.raises(MissingSecretError) as info:
        resolve_pseudonym_key(state_dir=str(tmp_path))
    message = str(info.value)
    assert ENV in message and "privacy.key_file" in message and "local profile" in message
    assert isinstance(info.value, RuntimeError)
    assert not (tmp_path / "pseudonym.key").exists()
