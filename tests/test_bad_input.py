"""Bad input: named malformed records, a property over arbitrary records, and the same through Spark and Delta.

Every input record must end either clean (a `conversations` row) or in `conversations_quarantine` with
the reasons; nothing may crash the job and nothing may be dropped.
"""
from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql.pandas.types import to_arrow_schema

from jobs.ingest import PARSED_TYPE, _protect, checked_records, parse_conversation, read_raw, run_ingest

CFG = {"max_messages": 20, "max_chars": 5000}
KEY = b"k" * 32
REASONS = {"bad_json", "invalid_utf8", "missing_conversation_id", "bad_conversation_id", "missing_user_id",
           "bad_user_id", "missing_messages", "messages_not_a_list", "empty_messages", "unknown_role",
           "non_text_content", "no_user_message", "empty_user_messages", "bad_timestamp", "oversize_conversation"}
SPARK_REASONS = REASONS | {"duplicate_id", "id_already_ingested"}
MESSAGES = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]


_ids = itertools.count()


def _conv(**fields) -> str:
    """A valid record (a fresh conversation id each time) with some fields replaced or dropped."""
    record = {"conversation_id": f"c{next(_ids)}", "user_id": "alice", "created_at": "2026-01-05T10:00:00Z",
              "messages": MESSAGES}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not _DROP})


_DROP = object()
GOOD = _conv()

# name -> (raw record, the reasons it must be quarantined with)
MALFORMED: dict[str, tuple[str, list[str]]] = {
    "truncated_json": (GOOD[:-20], ["bad_json"]),
    "truncated_inside_a_string": (GOOD[:GOOD.index("hi there") + 3], ["bad_json"]),
    "trailing_garbage": (GOOD + " }", ["bad_json"]),
    "two_records_on_one_line": (GOOD + GOOD, ["bad_json"]),
    "python_repr_not_json": (str({"conversation_id": "c1", "user_id": "u"}), ["bad_json"]),
    "json_array": ('[{"conversation_id": "c1"}]', ["bad_json"]),
    "json_string": ('"just text"', ["bad_json"]),
    "json_null": ("null", ["bad_json"]),
    "nested_100000_deep": ("[" * 100_000 + "]" * 100_000, ["bad_json"]),
    "integer_of_5000_digits": ('{"conversation_id": ' + "9" * 5000 + "}", ["bad_json"]),
    "unescaped_control_character": (GOOD.replace("hi there", "hi\x01there"), ["bad_json"]),
    "lone_surrogate_escape": (GOOD.replace("hi there", "hi \\ud800 there"), ["invalid_utf8"]),
    "lone_surrogate_in_text": (_conv().replace("hi there", "hi \ud800 there"), ["invalid_utf8"]),
    "conversation_id_missing": (_conv(conversation_id=_DROP), ["missing_conversation_id"]),
    "conversation_id_empty_string": (_conv(conversation_id=""), ["missing_conversation_id"]),
    "conversation_id_list": (_conv(conversation_id=["c1"]), ["bad_conversation_id"]),
    "conversation_id_object": (_conv(conversation_id={"id": "c1"}), ["bad_conversation_id"]),
    "conversation_id_float": (_conv(conversation_id=1.5), ["bad_conversation_id"]),
    "conversation_id_bool": (_conv(conversation_id=True), ["bad_conversation_id"]),
    "user_missing": (_conv(user_id=_DROP), ["missing_user_id"]),
    "user_id_null": (_conv(user_id=None), ["missing_user_id"]),
    "user_id_whitespace": (_conv(user_id=" \t "), ["missing_user_id"]),
    "user_id_object": (_conv(user_id={"name": "alice"}), ["bad_user_id"]),
    "messages_missing": (_conv(messages=_DROP), ["missing_messages"]),
    "messages_a_string": (_conv(messages="hi there"), ["messages_not_a_list"]),
    "messages_an_object": (_conv(messages={"0": MESSAGES[0]}), ["messages_not_a_list"]),
    "messages_empty_list": (_conv(messages=[]), ["empty_messages"]),
    "message_a_string": (_conv(messages=["hi there", MESSAGES[0]]), ["non_text_content"]),
    "content_a_number": (_conv(messages=[MESSAGES[0], {"role": "assistant", "content": 42}]), ["non_text_content"]),
    "content_null": (_conv(messages=[MESSAGES[0], {"role": "assistant", "content": None}]), ["non_text_content"]),
    "content_image_part": (_conv(messages=[MESSAGES[0], {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x.png"}}]}]), ["non_text_content"]),
    "unknown_role": (_conv(messages=[*MESSAGES, {"role": "narrator", "content": "meanwhile"}]), ["unknown_role"]),
    "role_missing": (_conv(messages=[MESSAGES[0], {"content": "who said this"}]), ["unknown_role"]),
    "role_a_number": (_conv(messages=[MESSAGES[0], {"role": 1, "content": "x"}]), ["unknown_role"]),
    "only_assistant_messages": (_conv(messages=[MESSAGES[1]]), ["no_user_message"]),
    "only_blank_user_messages": (_conv(messages=[{"role": "user", "content": " \n "}, MESSAGES[1]]),
                                 ["empty_user_messages"]),
    "created_at_words": (_conv(created_at="last tuesday"), ["bad_timestamp"]),
    "created_at_year_1900": (_conv(created_at="1900-01-01T00:00:00Z"), ["bad_timestamp"]),
    "created_at_bool": (_conv(created_at=True), ["bad_timestamp"]),
    "created_at_nan": (_conv(created_at="@").replace('"@"', "NaN"), ["bad_timestamp"]),
    "created_at_1e300": (_conv(created_at=1e300), ["bad_timestamp"]),
    "message_created_at_object": (_conv(messages=[{**MESSAGES[0], "created_at": {"t": 1}}]), ["bad_timestamp"]),
    "huge_message": (_conv(messages=[{"role": "user", "content": "x" * 1_000_000}]), ["oversize_conversation"]),
    "too_many_messages": (_conv(messages=MESSAGES * 11), ["oversize_conversation"]),
    "several_problems_at_once": (_conv(user_id=None, created_at="soon",
                                       messages=[MESSAGES[0], {"role": "narrator", "content": "x"}]),
                                 ["bad_timestamp", "missing_user_id", "unknown_role"]),
}

# name -> (raw record, what the clean row holds): odd but valid input that must not be quarantined.
TOLERATED: dict[str, tuple[str, dict]] = {
    "escaped_control_characters": (_conv(messages=[{"role": "user", "content": "a\u0000b\u001bc\td"}]),
                                   {"content": ["a\x00b\x1bc\td"]}),
    "byte_order_mark": ("\ufeff" + GOOD, {"content": ["hi there", "hello"]}),
    "emoji_as_surrogate_pair": (GOOD.replace("hi there", "hi \\ud83d\\ude00"), {"content": ["hi \U0001f600", "hello"]}),
    "unknown_extra_fields": (_conv(model="gpt-x", tags=[1, 2]), {"content": ["hi there", "hello"]}),
    "roles_in_other_case_and_spaces": (_conv(messages=[{"role": " Human ", "content": "a"}, {"role": "GPT", "content": "b"}]),
                                       {"roles": ["user", "assistant"]}),
    "empty_assistant_reply": (_conv(messages=[MESSAGES[0], {"role": "assistant", "content": ""}]),
                              {"content": ["hi there", ""]}),
    "sharegpt_schema": (json.dumps({"id": 7, "user": "bob", "conversations": [{"from": "human", "value": "hey"}]}),
                        {"conversation_id": "7"}),
    "epoch_milliseconds": (_conv(created_at=1767607200000), {"created_at": "2026-01-05T10:00:00.000000Z"}),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_each_malformed_record_is_quarantined_with_its_reasons(name):
    raw, reasons = MALFORMED[name]
    parsed = parse_conversation(raw, **CFG)
    assert parsed["errors"] == reasons
    protected = _protect(parsed, KEY)
    assert (protected["user_id"], protected["messages"]) == (None, [])  # no text or user id goes on


@pytest.mark.parametrize("name", sorted(TOLERATED))
def test_odd_but_valid_records_are_kept(name):
    raw, expected = TOLERATED[name]
    parsed = parse_conversation(raw, **CFG)
    assert parsed["errors"] == []
    held = {"content": [m["content"] for m in parsed["messages"]], "roles": [m["role"] for m in parsed["messages"]],
            "conversation_id": parsed["conversation_id"], "created_at": parsed["created_at"]}
    assert {k: held[k] for k in expected} == expected


def test_there_are_at_least_30_named_malformed_inputs():
    assert len(MALFORMED) >= 30 and len({raw for raw, _ in MALFORMED.values()}) == len(MALFORMED)


# --- the property: arbitrary records -------------------------------------------------------------

ARROW_SCHEMA = to_arrow_schema(PARSED_TYPE)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
texts = st.text(max_size=40) | st.sampled_from(["", " ", "\x00", "\ud800", "\U0001f600", "my email is a@b.co"])
identifiers = st.text(max_size=10) | st.integers() | json_values
timestamps = st.none() | st.sampled_from(["2026-01-05T10:00:00Z", "2026-01-05", "bad", 1767607200]) | json_values
roles = st.sampled_from(["user", "assistant", "system", "Human", "gpt", "narrator", ""]) | json_values
contents = texts | json_values | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": texts}), max_size=2)
messages = st.fixed_dictionaries({}, optional={"role": roles, "from": roles, "content": contents, "value": contents,
                                               "created_at": timestamps})
records = st.fixed_dictionaries({}, optional={
    "conversation_id": identifiers, "id": identifiers, "user_id": identifiers, "user": identifiers,
    "created_at": timestamps, "messages": st.lists(messages, max_size=25) | json_values,
    "conversations": st.lists(messages, max_size=3)})


def _mutated(raw: str, how: str, at: int, junk: str) -> str:
    """A JSON text damaged the way real files are: cut short, with junk inserted, or with a stray escape."""
    at = at % (len(raw) + 1)
    return {"none": raw, "truncate": raw[:at], "insert": raw[:at] + junk + raw[at:],
            "escape": raw[:at] + "\\ud8" + raw[at:], "bom": "\ufeff" + raw}[how]


raw_records = st.one_of(
    st.builds(_mutated, records.map(json.dumps), st.sampled_from(["none", "truncate", "insert", "escape", "bom"]),
              st.integers(0, 10_000), st.text(max_size=4)),
    records.map(lambda r: json.dumps(r, ensure_ascii=False)),
    st.text(max_size=60),
)


def _check_outcome(raw: str) -> dict:
    """Parse and protect one record and check it ends clean and well formed, or with known reasons."""
    parsed = parse_conversation(raw, **CFG)
    row = _protect(parsed, KEY)
    pa.Table.from_pylist([row], schema=ARROW_SCHEMA)  # what the pandas UDF hands Spark must convert
    errors = parsed["errors"]
    assert errors == sorted(set(errors)) and set(errors) <= REASONS
    if errors:
        assert (row["user_id"], row["messages"]) == (None, [])
        return parsed
    assert parsed["conversation_id"].strip() == parsed["conversation_id"] != ""
    assert re.fullmatch(r"u_[0-9a-f]{64}", row["user_id"])
    assert 0 < len(parsed["messages"]) <= CFG["max_messages"]
    assert all(m["role"] in ("user", "assistant", "system") and isinstance(m["content"], str)
               for m in parsed["messages"])
    assert any(m["role"] == "user" and m["content"].strip() for m in parsed["messages"])
    assert sum(len(m["content"]) for m in parsed["messages"]) <= CFG["max_chars"]
    stamps = [parsed["created_at"], *(m["created_at"] for m in parsed["messages"])]
    assert all(s is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", s) for s in stamps)
    return parsed


@settings(max_examples=1000, deadline=None)
@given(raw_records)
def test_any_record_ends_clean_or_quarantined_with_a_reason(raw):
    _check_outcome(raw)


valid_messages = st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]),
                                    st.text(min_size=1, max_size=30).filter(str.strip)), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=12).filter(str.strip), st.integers(0, 10**9) | st.text(min_size=1).filter(str.strip),
       valid_messages.filter(lambda ms: any(role == "user" for role, _ in ms)))
def test_any_valid_record_is_kept_whole(conversation_id, user_id, turns):
    """The other half of the property: the checks do not reject good records (a parser that quarantined
    everything would pass the test above)."""
    raw = json.dumps({"conversation_id": conversation_id, "user_id": user_id,
                      "messages": [{"role": role, "content": text} for role, text in turns]})
    parsed = _check_outcome(raw)
    assert parsed["errors"] == []
    assert parsed["conversation_id"] == conversation_id.strip()
    assert [(m["role"], m["content"]) for m in parsed["messages"]] == turns


# --- through Spark and Delta ---------------------------------------------------------------------

INVALID_UTF8 = _conv(conversation_id="u8").encode().replace(b"hi there", b"hi \xff\xfe there")
LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _lines(data: bytes) -> list[bytes]:
    """The records Spark's text reader makes of a file: a UTF-8 byte-order mark at its start dropped, lines
    split at \\n, \\r\\n or a bare \\r, blank ones (spaces only) dropped."""
    return [line for line in LINE_BREAK.split(data.removeprefix(b"\xef\xbb\xbf")) if line.strip(b" ")]


def _record_id(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


DUPLICATES = (_conv(conversation_id="g0", user_id="user-0"), _conv(conversation_id="g0", user_id="someone-else"))


@pytest.fixture(scope="module")
def input_files(tmp_path_factory) -> tuple[str, list[bytes]]:
    """The input folder (three files: every named malformed record, good records in two schemas, the
    byte-level cases) and the records Spark must find in it."""
    root = tmp_path_factory.mktemp("bad-input") / "in"
    root.mkdir()
    good = [DUPLICATES[0], *(_conv(conversation_id=f"g{i}", user_id=f"user-{i % 3}") for i in range(1, 4))]
    malformed = "\n".join([*good, *(raw for raw, _ in MALFORMED.values())])
    files = {
        "a.jsonl": malformed.encode("utf-8", "surrogatepass") + b"\n\n   \n",
        "b.jsonl": "\r\n".join([
            "\ufeff" + json.dumps({"id": "s1", "user": "bob", "conversations": [{"from": "human", "value": "hey"}]}),
            DUPLICATES[1],  # the id of a record in a.jsonl
            _conv(conversation_id="cr", messages=[{"role": "user", "content": "a"}]).replace('"a"', '"a\rb"'),
        ]).encode() + b"\r\n" + INVALID_UTF8 + b"\r\n",
        "c.jsonl.gz": gzip.compress(_conv(conversation_id="z1").encode() + b"\n"),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return str(root), [line for name, data in files.items()
                       for line in _lines(gzip.decompress(data) if name.endswith(".gz") else data)]


def _ingest(spark, input_dir: str, out: Path, run_id: str) -> dict[str, int]:
    from jobs.config import load_config

    cfg = load_config("local", overrides=["ingest.max_messages=20", "ingest.max_chars=5000"])
    tables = {name: str(out / name) for name in ("conversations", "conversations_quarantine")}
    return run_ingest(spark, input_path=input_dir, tables=tables, cfg=cfg, key=KEY, run_id=run_id)


def _table(spark, out: Path, name: str) -> list:
    return spark.read.format("delta").load(str(out / name)).collect()


def test_every_line_of_every_file_ends_clean_or_quarantined_once(spark, input_files, tmp_path):
    input_dir, lines = input_files
    stats = _ingest(spark, input_dir, tmp_path, "bad-1")
    clean = {r["record_id"]: r for r in _table(spark, tmp_path, "conversations")}
    quarantine = {r["record_id"]: r for r in _table(spark, tmp_path, "conversations_quarantine")}
    assert stats["rows_in"] == len(lines) == len(clean) + len(quarantine)
    assert not clean.keys() & quarantine.keys()
    assert {_record_id(line) for line in lines} == clean.keys() | quarantine.keys()
    assert sorted(r["conversation_id"] for r in clean.values()) == ["g0", "g1", "g2", "g3", "s1", "z1"]
    for name, (raw, reasons) in MALFORMED.items():
        assert quarantine[_record_id(raw.encode("utf-8", "surrogatepass"))]["_errors"] == reasons, name
    kept, dropped = sorted(DUPLICATES, key=lambda raw: _record_id(raw.encode()))  # the smaller hash is kept
    assert clean[_record_id(kept.encode())]["conversation_id"] == "g0"
    assert quarantine[_record_id(dropped.encode())]["_errors"] == ["duplicate_id"]
    invalid = quarantine[_record_id(INVALID_UTF8)]
    assert invalid["_errors"] == ["invalid_utf8"] and "hi \ufffd\ufffd there" in invalid["raw"]
    # A bare carriage return inside a record splits it: both halves are kept, as bad JSON.
    halves = [r for r in quarantine.values() if '"cr"' in r["raw"] or r["raw"].startswith('b"')]
    assert [r["_errors"] for r in halves] == [["bad_json"], ["bad_json"]]


def test_a_rerun_adds_nothing_and_a_changed_record_under_a_known_id_is_quarantined(spark, input_files, tmp_path):
    input_dir, _ = input_files
    first = _ingest(spark, input_dir, tmp_path, "bad-1")
    second = _ingest(spark, input_dir, tmp_path, "bad-2")
    assert second["rows_already_ingested"] == second["rows_clean"] == first["rows_clean"]
    assert len(_table(spark, tmp_path, "conversations")) == first["rows_clean"]
    assert len(_table(spark, tmp_path, "conversations_quarantine")) == first["rows_quarantined"]
    changed = tmp_path / "changed.jsonl"
    changed.write_text(_conv(conversation_id="g1", user_id="user-1", created_at="2026-02-01T00:00:00Z") + "\n")
    third = _ingest(spark, str(changed), tmp_path, "bad-3")
    assert (third["rows_clean"], third["rows_quarantined"]) == (0, 1)
    (row,) = [r for r in _table(spark, tmp_path, "conversations_quarantine") if r["run_id"] == "bad-3"]
    assert row["_errors"] == ["id_already_ingested"] and row["raw"] == changed.read_text().strip()
    stored = [r for r in _table(spark, tmp_path, "conversations") if r["conversation_id"] == "g1"]
    assert [r["run_id"] for r in stored] == ["bad-1"]


lines_without_breaks = raw_records.map(lambda raw: raw.replace("\n", " ").replace("\r", " "))
byte_lines = st.one_of(
    lines_without_breaks.map(lambda raw: raw.encode("utf-8", "surrogatepass")),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")),
    st.sampled_from([GOOD.encode(), INVALID_UTF8]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(byte_lines, min_size=1, max_size=25))
def test_any_file_of_records_ends_clean_or_quarantined_through_spark(spark, lines):
    from jobs.ingest import clean_conversations, quarantined_records

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        expected = sorted(_record_id(line) for line in _lines(path.read_bytes()))
        checked = checked_records(read_raw(spark, str(path), "jsonl"), key=KEY, **CFG).cache()
        clean = [r["record_id"] for r in clean_conversations(checked, run_id="p", long_user_messages=50).collect()]
        quarantined = quarantined_records(checked, run_id="p").collect()
        checked.unpersist()
    assert sorted(clean + [r["record_id"] for r in quarantined]) == expected
    assert all(r["_errors"] and set(r["_errors"]) <= SPARK_REASONS for r in quarantined)
