"""The JSONL parsers: records in, ConversationData or a Problem out. No database."""

import io
import json

import pytest

from annotation import importers

HELLO = {"role": "user", "text": "Hello"}


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def read(data: bytes, format: str | None = None) -> list[tuple]:
    return list(importers.iter_conversations(io.BytesIO(data), format))


def parse(record, format: str | None = None) -> importers.ConversationData:
    [(_line, item, _format)] = read(jsonl(record), format)
    assert isinstance(item, importers.ConversationData), item
    return item


def problem(record, format: str | None = None) -> str:
    data = record if isinstance(record, bytes) else jsonl(record)
    [(where, item, _format)] = read(data, format)
    assert isinstance(item, importers.Problem), item
    assert item.line == where.line == 1
    return item.message


# --- Good records -----------------------------------------------------------------------


def test_native_record_becomes_turns_in_order_with_their_metadata():
    conversation = parse(
        {
            "id": "c-1",
            "turns": [
                {"role": "system", "text": "Be brief."},
                {"role": "user", "text": "Hi", "metadata": {"lang": "en"}},
                {"role": "assistant", "text": "Hello!"},
            ],
            "metadata": {"domain": "retail"},
        }
    )
    assert conversation.external_id == "c-1"
    assert [(t.role, t.text) for t in conversation.turns] == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
    ]
    assert [t.metadata for t in conversation.turns] == [{}, {"lang": "en"}, {}]
    assert conversation.metadata == {"domain": "retail"}


def test_unknown_native_keys_are_kept_in_conversation_metadata():
    conversation = parse(
        {"turns": [HELLO], "source": "crawl", "score": 3, "metadata": {"source": "explicit"}}
    )
    # An explicit metadata value wins over a top-level key of the same name.
    assert conversation.metadata == {"source": "explicit", "score": 3}


def test_openai_record_becomes_turns_and_keeps_tools_in_conversation_metadata():
    tools = [{"type": "function", "function": {"name": "get_price", "parameters": {}}}]
    conversation = parse(
        {
            "messages": [
                {"role": "system", "content": "Answer about stocks."},
                {"role": "user", "content": "Price of ACME?", "name": "ann"},
                {"role": "assistant", "content": "Which exchange?"},
            ],
            "tools": tools,
            "parallel_tool_calls": False,
        }
    )
    assert conversation.external_id is None
    assert [(t.role, t.text) for t in conversation.turns] == [
        ("system", "Answer about stocks."),
        ("user", "Price of ACME?"),
        ("assistant", "Which exchange?"),
    ]
    assert conversation.turns[1].metadata == {"name": "ann"}
    assert conversation.metadata == {"tools": tools, "parallel_tool_calls": False}


def test_openai_content_parts_are_joined_in_order():
    content = [{"type": "text", "text": "first"}, "second", {"type": "text", "text": "third"}]
    conversation = parse({"messages": [{"role": "user", "content": content}]})
    assert conversation.turns[0].text == "first\nsecond\nthird"


def test_assistant_tool_call_without_content_becomes_empty_text_with_the_call_in_metadata():
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_price", "arguments": '{"symbol": "ACME"}'},
    }
    conversation = parse(
        {
            "messages": [
                {"role": "user", "content": "ACME?"},
                {"role": "assistant", "tool_calls": [call]},
            ]
        }
    )
    turn = conversation.turns[1]
    assert (turn.role, turn.text) == ("assistant", "")
    assert turn.metadata == {"tool_calls": [call]}


@pytest.mark.parametrize(("original", "role"), [("function", "tool"), ("developer", "system")])
def test_legacy_and_new_openai_roles_are_mapped_and_remembered(original, role):
    message = {"role": original, "name": "get_price", "content": "42.0"}
    turn = parse({"messages": [message]}).turns[0]
    assert (turn.role, turn.text) == (role, "42.0")
    assert turn.metadata == {"name": "get_price", "original_role": original}


def test_weight_is_kept_in_turn_metadata():
    conversation = parse(
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bad answer", "weight": 0},
            ]
        }
    )
    assert conversation.turns[1].metadata == {"weight": 0}


@pytest.mark.parametrize(("value", "expected"), [(42, "42"), ("  conv-7 ", "conv-7")])
def test_numeric_and_padded_ids_become_clean_strings(value, expected):
    assert parse({"id": value, "turns": [HELLO]}).external_id == expected


# --- Reading the file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [({"turns": [HELLO]}, "native"), ({"messages": [{"role": "user", "content": "Hi"}]}, "openai")],
)
def test_format_is_detected_from_the_first_record(record, expected):
    [(_line, item, detected)] = read(jsonl(record))
    assert detected == expected
    assert item.turns[0].role == "user"


def test_later_records_are_read_in_the_format_of_the_first():
    rows = read(jsonl({"turns": [HELLO]}, {"messages": [{"role": "user", "content": "Hi"}]}))
    assert [fmt for _line, _item, fmt in rows] == ["native", "native"]
    assert rows[1][1].message == 'missing "turns" (a list of {"role", "text"})'


@pytest.mark.parametrize(("record", "kind"), [("turns", "a string"), (7, "int")])
def test_a_record_that_is_no_object_says_what_was_expected(record, kind):
    assert problem(record) == f"cannot tell the format: expected a JSON object, got {kind}"


def test_a_record_of_no_known_format_names_its_keys_and_the_formats():
    message = problem({"conversation": [HELLO], "lang": "en"})
    assert message.startswith(
        "cannot tell the format of this record (its keys: conversation, lang)"
    )
    assert 'native {"id"?, "turns"' in message and 'openai {"messages"' in message


def test_bom_and_crlf_are_handled():
    data = b"\xef\xbb\xbf" + jsonl({"turns": [HELLO]}).replace(b"\n", b"\r\n") * 2
    rows = read(data)
    assert [where.line for where, _item, _fmt in rows] == [1, 2]
    assert all(item.turns[0].text == "Hello" for _line, item, _fmt in rows)


def test_blank_lines_are_skipped_and_line_numbers_are_physical():
    good = json.dumps({"turns": [HELLO]}).encode()
    bad = json.dumps({"turns": [{"role": "bot", "text": "x"}]}).encode()
    data = b"\n".join([b"", good, b"   ", b"\t", bad, b"", good]) + b"\n\n"
    rows = read(data)
    assert [where.line for where, _item, _fmt in rows] == [2, 5, 7]
    assert isinstance(rows[1][1], importers.Problem) and rows[1][1].line == 5


# --- Bad records: each says what is wrong -----------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"turns": [', "unexpected end of data"),
        (b'{"turns": []} {"turns": []}', "unexpected content after document"),
        (b"{'turns': []}", "unexpected character"),
    ],
)
def test_invalid_json_names_the_problem(line, reason):
    message = problem(line + b"\n")
    assert message.startswith("invalid JSON: ") and reason in message


def test_invalid_utf8_is_named_with_its_byte():
    line = b'{"turns": [{"role": "user", "text": "caf\xe9"}]}\n'
    byte = line.index(b"\xe9") + 1
    assert problem(line) == f"not valid UTF-8 (byte {byte} of the line)"


def test_unknown_native_role_lists_the_expected_roles():
    record = {"turns": [HELLO, {"role": "bot", "text": "Hi"}]}
    assert problem(record) == 'turn 2: unknown role "bot" (expected system, user, assistant, tool)'


def test_unknown_openai_role_lists_the_expected_roles():
    record = {"messages": [{"role": "bot", "content": "Hi"}]}
    message = problem(record)
    assert message.startswith('message 1: unknown role "bot" (expected ')
    for role in ("system", "user", "assistant", "tool", "function"):
        assert role in message


def test_unknown_openai_role_message_names_every_accepted_role():
    message = problem({"messages": [{"role": "bot", "content": "Hi"}]})
    assert "developer" in message


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"turns": [{"text": "Hi"}]}, 'turn 1: missing "role"'),
        ({"messages": [{"content": "Hi"}]}, 'message 1: missing "role"'),
    ],
)
def test_missing_role_is_named_as_missing(record, expected):
    assert problem(record) == expected


@pytest.mark.parametrize("role", [["user"], {"name": "user"}])
def test_openai_role_that_is_not_a_string_is_a_problem_not_a_crash(role):
    assert "role" in problem({"messages": [{"role": role, "content": "Hi"}]})


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"turns": [{"role": "user"}]}, 'turn 1: missing "text"'),
        (
            {"turns": [{"role": "user", "text": None}]},
            "turn 1: text must be a string, got NoneType",
        ),
        ({"messages": [{"role": "user"}]}, 'message 1: missing "content"'),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "message 1: text must be a string, got int",
        ),
    ],
)
def test_missing_or_wrong_text_is_named(record, expected):
    assert problem(record) == expected


@pytest.mark.parametrize(
    ("record", "format", "expected"),
    [
        ({"id": "c1"}, "native", 'missing "turns" (a list of {"role", "text"})'),
        ({"turns": "Hi"}, "native", 'missing "turns" (a list of {"role", "text"})'),
        ({"id": "c1"}, "openai", 'missing "messages" (a list of {"role", "content"})'),
    ],
)
def test_missing_turns_or_messages_is_named(record, format, expected):
    assert problem(record, format) == expected


@pytest.mark.parametrize("record", [{"turns": []}, {"messages": []}])
def test_an_empty_turns_list_is_refused(record):
    assert problem(record) == "a conversation needs at least one turn"


@pytest.mark.parametrize("format", ["native", "openai"])
@pytest.mark.parametrize(
    ("record", "kind"), [(["x"], "an array"), ("Hello", "a string"), (None, "null")]
)
def test_a_record_that_is_not_an_object_is_refused(record, format, kind):
    data = jsonl({"turns": [HELLO]}) + jsonl(record)
    [_good, (where, item, _format)] = read(data, format)
    assert (where.line, item.message) == (2, f"expected a JSON object, got {kind}")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"turns": ["Hello"]}, "turn 1: expected an object with role and text"),
        ({"messages": ["Hello"]}, "message 1: expected an object with role and content"),
    ],
)
def test_a_turn_that_is_not_an_object_is_refused(record, expected):
    assert problem(record) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, '"id" must be a string or an integer'),
        (["c1"], '"id" must be a string or an integer'),
        ({"id": "c1"}, '"id" must be a string or an integer'),
        ("", '"id" is empty'),
        ("   ", '"id" is empty'),
        ("x" * 256, '"id" is longer than 255 characters'),
    ],
)
def test_bad_ids_are_refused(value, expected):
    assert problem({"id": value, "turns": [HELLO]}) == expected


def test_a_float_id_is_refused_without_contradicting_itself():
    assert problem({"id": 1.5, "turns": [HELLO]}) == '"id" must be a string or an integer'


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"turns": [HELLO], "metadata": ["a"]}, '"metadata" must be an object'),
        ({"turns": [{**HELLO, "metadata": "a"}]}, "turn 1: metadata must be an object"),
    ],
)
def test_metadata_that_is_not_an_object_is_refused(record, expected):
    assert problem(record) == expected


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({"turns": [HELLO, {"role": "assistant", "text": "x" * 11}]}, "turn 2"),
        ({"messages": [{"role": "user", "content": ["x" * 5, "y" * 5]}]}, "message 1"),
    ],
)
def test_a_turn_over_the_character_limit_is_refused(settings, record, where):
    settings.IMPORT_MAX_CHARS_PER_TURN = 10
    assert problem(record) == f"{where}: text has 11 characters, more than the limit 10"


def test_a_turn_at_the_character_limit_is_accepted(settings):
    settings.IMPORT_MAX_CHARS_PER_TURN = 10
    assert parse({"turns": [{"role": "user", "text": "x" * 10}]}).turns[0].text == "x" * 10


def test_a_conversation_over_the_turn_limit_is_refused(settings):
    settings.IMPORT_MAX_TURNS_PER_CONVERSATION = 3
    assert len(parse({"turns": [HELLO] * 3}).turns) == 3
    assert problem({"messages": [{"role": "user", "content": "Hi"}] * 4}) == (
        "a conversation has 4 turns, more than the limit 3"
    )


def test_legacy_assistant_function_call_without_content_is_accepted():
    call = {"name": "get_price", "arguments": '{"symbol": "ACME"}'}
    record = {
        "messages": [
            {"role": "user", "content": "ACME?"},
            {"role": "assistant", "function_call": call},
        ]
    }
    turn = parse(record).turns[1]
    assert (turn.role, turn.text, turn.metadata) == ("assistant", "", {"function_call": call})


def test_non_text_content_parts_are_kept_in_turn_metadata():
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    content = [{"type": "text", "text": "What is this?"}, image]
    turn = parse({"messages": [{"role": "user", "content": content}]}).turns[0]
    assert turn.text == "What is this?"
    assert turn.metadata == {"content": content}
