"""imports.import_conversations: a JSONL file goes into a project whole, or not at all."""

import io
import json
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import imports
from annotation.exceptions import ImportFailed, InvalidInput
from annotation.models import Conversation, Task, Turn
from tests.factories import ProjectFactory
from tests.helpers import requires_postgres

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai-chat-finetune"


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def native(external_id: str | None, *texts: str, **extra) -> dict:
    roles = ["user", "assistant"]
    turns = [{"role": roles[i % 2], "text": text} for i, text in enumerate(texts)]
    record = {"turns": turns, **extra}
    if external_id is not None:
        record["id"] = external_id
    return record


def run_import(project, data: bytes, format: str | None = None) -> imports.ImportResult:
    return imports.import_conversations(project=project, stream=io.BytesIO(data), format=format)


def failed_import(project, data: bytes, format: str | None = None) -> ImportFailed:
    with pytest.raises(ImportFailed) as info:
        run_import(project, data, format)
    return info.value


def assert_nothing_written() -> None:
    counts = (Conversation.objects.count(), Turn.objects.count(), Task.objects.count())
    assert counts == (0, 0, 0)


# --- Good files -------------------------------------------------------------------------


def test_native_file_creates_conversations_turns_and_open_tasks(project):
    project.overlap = 2
    project.save()
    data = jsonl(
        native("a", "Where is my order?", "Which order?", "The blue one", "Shipped today."),
        native("b", "Hi", "Hello!", metadata={"domain": "retail"}, channel="chat"),
    )

    result = run_import(project, data)

    assert (result.format, result.conversations, result.turns, result.skipped) == (
        "native",
        2,
        6,
        0,
    )
    assert result.processed == 2
    first = Conversation.objects.get(project=project, external_id="a")
    assert first.turn_count == 4
    assert list(first.turns.values_list("index", "role", "text")) == [
        (0, "user", "Where is my order?"),
        (1, "assistant", "Which order?"),
        (2, "user", "The blue one"),
        (3, "assistant", "Shipped today."),
    ]
    second = Conversation.objects.get(project=project, external_id="b")
    assert second.metadata == {"domain": "retail", "channel": "chat"}
    for conversation in (first, second):
        tasks = Task.objects.filter(conversation=conversation)
        assert tasks.count() == 2
        assert all(t.status == Task.Status.OPEN and t.assignee is None for t in tasks)
        assert all(t.project_id == project.pk for t in tasks)


def test_openai_file_is_detected_and_imported(project):
    data = jsonl(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!", "weight": 1},
            ],
            "tools": [],
        }
    )

    result = run_import(project, data)

    assert (result.format, result.conversations, result.turns) == ("openai", 1, 3)
    conversation = Conversation.objects.get(project=project)
    assert conversation.metadata == {"tools": []}
    assert list(conversation.turns.values_list("index", "role", "text", "metadata")) == [
        (0, "system", "Be brief.", {}),
        (1, "user", "Hi", {}),
        (2, "assistant", "Hello!", {"weight": 1}),
    ]
    assert Task.objects.filter(conversation=conversation).count() == 1


def test_explicit_format_is_used_instead_of_detection(project):
    data = jsonl(native("a", "Hi"), native("b", "Hello"))

    assert run_import(project, data, format="native").format == "native"

    error = failed_import(project, jsonl(native("c", "Hi")), format="openai")
    assert error.errors == [
        {"line": 1, "message": 'missing "messages" (a list of {"role", "content"})'}
    ]


def test_unknown_format_name_is_refused(project):
    with pytest.raises(
        InvalidInput, match='Unknown format "csv" \\(expected native, openai, sharegpt, '
    ):
        run_import(project, jsonl(native("a", "Hi")), format="csv")
    assert_nothing_written()


# --- Bad files: nothing is written ------------------------------------------------------


def test_bad_record_anywhere_imports_nothing(project, monkeypatch):
    # Small batches, so good records are already written when the bad one turns up.
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    good = [native(f"c{i}", "Hi", "Hello") for i in range(5)]
    bad = {"id": "c5", "turns": [{"role": "bot", "text": "Hi"}]}

    error = failed_import(project, jsonl(*good, bad, native("c6", "Hi")))

    assert error.message == "1 problem found; nothing was imported."
    assert error.errors == [
        {
            "line": 6,
            "message": 'turn 1: unknown role "bot" (expected system, user, assistant, tool)',
        }
    ]
    assert_nothing_written()


def test_every_bad_line_is_listed_with_its_line_number(project):
    data = (
        jsonl(native("a", "Hi"))
        + b"{not json\n"
        + jsonl(native("b", "Hi"))
        + b"\n"
        + jsonl({"id": "c", "turns": []}, native("d", "Hi"))
    )

    error = failed_import(project, data)

    assert error.message == "2 problems found; nothing was imported."
    assert [e["line"] for e in error.errors] == [2, 5]
    assert error.errors[0]["message"].startswith("invalid JSON: ")
    assert error.errors[1] == {"line": 5, "message": "a conversation needs at least one turn"}
    assert_nothing_written()


def test_errors_are_capped_at_the_configured_maximum(project, settings):
    settings.IMPORT_MAX_ERRORS = 3
    data = jsonl(native("a", "Hi"), *({"id": f"x{i}", "turns": []} for i in range(6)))

    error = failed_import(project, data)

    assert error.message == "3 problems found (checking stopped there); nothing was imported."
    assert [e["line"] for e in error.errors] == [2, 3, 4]
    assert_nothing_written()


@pytest.mark.parametrize("data", [b"", b"\n  \r\n\t\n"])
def test_empty_file_fails_with_a_clear_message(project, data):
    error = failed_import(project, data)
    assert error.message == "The file holds no records; nothing was imported."
    assert error.errors == []
    assert_nothing_written()


# --- Skipping what the project already has ----------------------------------------------


def test_reimporting_the_same_file_skips_everything(project):
    data = jsonl(native("a", "Hi", "Hello"), native(None, "Bye", "Goodbye"))
    run_import(project, data)

    again = run_import(project, data)

    assert (again.conversations, again.turns, again.skipped, again.processed) == (0, 0, 2, 2)
    assert (Conversation.objects.count(), Turn.objects.count(), Task.objects.count()) == (2, 4, 2)


def test_record_without_id_gets_an_id_derived_from_its_content(project):
    run_import(project, jsonl(native(None, "Hi", "Hello")))
    conversation = Conversation.objects.get(project=project)
    assert conversation.external_id == f"sha256:{conversation.content_hash[:32]}"
    assert len(conversation.content_hash) == 64

    # Identical turns are the same conversation, whatever metadata comes with them;
    # different turns are a new one.
    same = native(None, "Hi", "Hello", metadata={"batch": 2})
    result = run_import(project, jsonl(same, native(None, "Hi", "Hello there")))

    assert (result.conversations, result.skipped) == (1, 1)
    assert Conversation.objects.get(external_id=conversation.external_id).metadata == {}
    assert Conversation.objects.filter(project=project).count() == 2


def test_a_conversation_repeated_in_one_file_is_imported_once(project):
    data = jsonl(native("a", "First"), native("a", "First"), native(None, "Same"))
    data += jsonl(native(None, "Same"))

    result = run_import(project, data)

    assert (result.conversations, result.skipped, result.processed) == (2, 2, 4)
    kept = Conversation.objects.get(project=project, external_id="a")
    assert list(kept.turns.values_list("text", flat=True)) == ["First"]


def test_two_conversations_with_one_id_in_a_file_are_an_error_naming_the_line(project):
    data = jsonl(native("a", "First"), native("b", "Other"), native("a", "Second"))

    with pytest.raises(ImportFailed) as failed:
        run_import(project, data)

    assert failed.value.errors == [
        {
            "line": 3,
            "message": 'the id "a" is already in the project for a different conversation; '
            "give this one another id, or import it into another project",
        }
    ]
    assert not Conversation.objects.filter(project=project).exists()


def test_the_same_conversation_with_other_turn_metadata_is_the_same_and_skipped(project):
    plain = native("a", "Hi", "Hello")
    run_import(project, jsonl(plain))
    # Another export of it: its turns carry ranks and labels now, the texts are the same.
    richer = native("a", "Hi", "Hello")
    richer["turns"][1]["metadata"] = {"rank": 0, "labels": {"quality": 0.8}}

    again = run_import(project, jsonl(richer, native("b", "New")))
    ranked = native("c", "Yo")
    ranked["turns"][0]["metadata"] = {"rank": 1}
    in_one_file = run_import(project, jsonl(native("c", "Yo"), ranked))

    assert (again.conversations, again.skipped) == (1, 1)
    assert (in_one_file.conversations, in_one_file.skipped) == (1, 1)
    kept = Conversation.objects.get(project=project, external_id="a")
    assert list(kept.turns.values_list("metadata", flat=True)) == [{}, {}]  # as first imported


def test_an_id_the_project_has_for_another_conversation_fails_the_import(project):
    run_import(project, jsonl(native("1_00000", "From the train split")))
    before = Conversation.objects.filter(project=project).count()

    # SGD's dev split reuses the train split's dialogue ids for other dialogues.
    with pytest.raises(ImportFailed) as failed:
        run_import(project, jsonl(native("new", "Hi"), native("1_00000", "From the dev split")))

    assert failed.value.errors[0]["line"] == 2
    assert 'the id "1_00000" is already in the project' in failed.value.errors[0]["message"]
    assert Conversation.objects.filter(project=project).count() == before
    kept = Conversation.objects.get(project=project, external_id="1_00000")
    assert list(kept.turns.values_list("text", flat=True)) == ["From the train split"]


def test_same_external_ids_in_another_project_do_not_interfere(project):
    other = ProjectFactory(slug="other")
    data = jsonl(native("a", "Hi"), native(None, "Hello"))

    first = run_import(project, data)
    second = run_import(other, data)

    assert (first.conversations, second.conversations, second.skipped) == (2, 2, 0)
    for target in (project, other):
        ids = Conversation.objects.filter(project=target).values_list("external_id", flat=True)
        assert len(ids) == 2 and "a" in ids
        assert Task.objects.filter(project=target).count() == 2


def test_records_differing_only_in_tool_calls_are_both_imported(project):
    def asking(function: str) -> dict:
        call = {"id": "call_1", "type": "function", "function": {"name": function}}
        return {
            "messages": [
                {"role": "user", "content": "How is ACME doing?"},
                {"role": "assistant", "tool_calls": [call]},
            ]
        }

    result = run_import(project, jsonl(asking("get_price"), asking("get_news")))

    assert (result.conversations, result.skipped) == (2, 0)


def test_text_with_a_nul_character_is_named_by_line(project):
    data = jsonl(native("a", "Hi"), native("b", "bad\x00byte"))

    error = failed_import(project, data)

    assert error.errors == [{"line": 2, "message": "turn 1: text contains a NUL character"}]
    assert_nothing_written()


# --- Real files -------------------------------------------------------------------------


def test_azure_tool_calling_sample_keeps_tool_calls_in_turn_metadata(project):
    data = (FIXTURES / "sample.jsonl").read_bytes()

    result = run_import(project, data)

    assert (result.format, result.conversations, result.turns) == ("openai", 50, 150)
    assert Task.objects.filter(project=project, status=Task.Status.OPEN).count() == 50
    roles = set(Conversation.objects.values_list("turns__index", "turns__role"))
    assert roles == {(0, "system"), (1, "user"), (2, "assistant")}
    calls = Turn.objects.filter(metadata__has_key="tool_calls")
    assert calls.count() == 19
    for turn in calls:
        assert (turn.index, turn.role, turn.text) == (2, "assistant", "")
        [call] = turn.metadata["tool_calls"]
        assert call["id"] == "call_1"
        assert call["function"]["name"] in {"get_current_stock_price", "get_last_nday_stock_price"}
        assert json.loads(call["function"]["arguments"])["symbol"]
    for conversation in Conversation.objects.all():
        assert [t["function"]["name"] for t in conversation.metadata["tools"]] == [
            "get_current_stock_price",
            "get_last_nday_stock_price",
        ]
        assert conversation.external_id.startswith("sha256:")

    again = run_import(project, data)
    assert (again.conversations, again.skipped) == (0, 50)


def test_cookbook_toy_file_imports_all_five_conversations(project):
    # Lines 4 (no user message) and 5 (a 26,000-character reply) are bad training data, but
    # they are well-formed conversations within our limits, and worth labelling.
    result = run_import(project, (FIXTURES / "toy_chat_fine_tuning.jsonl").read_bytes())

    assert (result.format, result.conversations, result.turns) == ("openai", 5, 19)
    conversations = list(Conversation.objects.filter(project=project).order_by("id"))
    assert [c.turn_count for c in conversations] == [3, 9, 2, 2, 3]
    assert list(conversations[3].turns.values_list("role", flat=True)) == ["system", "assistant"]
    long_reply = conversations[4].turns.get(index=2).text
    assert long_reply == "Eat a banana!" * 2000


def test_cookbook_toy_file_is_refused_at_line_5_under_a_lower_character_limit(project, settings):
    settings.IMPORT_MAX_CHARS_PER_TURN = 20_000

    error = failed_import(project, (FIXTURES / "toy_chat_fine_tuning.jsonl").read_bytes())

    assert error.errors == [
        {
            "line": 5,
            "message": "message 3: text has 26,000 characters, more than the limit 20,000",
        }
    ]
    assert_nothing_written()


# --- Two imports at once ----------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_ids_at_once_skip_rather_than_collide(tmp_path):
    # The CLI and an upload share one project lock: the second waits for the first to
    # commit, then skips what it brought instead of failing on the unique id.
    project = ProjectFactory()
    path = tmp_path / "cli.jsonl"
    path.write_bytes(jsonl(native("a", "Hi"), native("b", "Hey")))
    written, second_started = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def hold(_result):  # the first import's rows are written but not committed yet
        written.set()
        second_started.wait(10)
        time.sleep(0.5)

    def first_import():
        try:
            imports.import_local_file(project=project, path=path, on_progress=hold)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first_import)
    thread.start()
    assert written.wait(10)
    second_started.set()
    result = run_import(project, jsonl(native("b", "Hey"), native("c", "Yo")))
    thread.join(30)

    assert errors == []
    assert (result.conversations, result.skipped) == (1, 1)
    ids = sorted(Conversation.objects.values_list("external_id", flat=True))
    assert ids == ["a", "b", "c"]


# --- Statistics after a large import ---------------------------------------------------


@requires_postgres
def test_a_large_import_refreshes_the_planner_statistics_once_committed(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(imports, "ANALYZE_AFTER", 3)
    with django_capture_on_commit_callbacks(execute=True) as small:
        run_import(project, jsonl(native("a", "1"), native("b", "2")))  # under the mark
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True) as large,
    ):
        run_import(project, jsonl(native("c", "3"), native("d", "4"), native("e", "5")))
    assert (len(small), len(large)) == (0, 1)
    analyzed = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]
    assert analyzed == ['ANALYZE "annotation_conversation", "annotation_turn", "annotation_task"']
