"""What the bulk writer stores is exactly what the file held (COPY on PostgreSQL)."""

import io

import orjson
import pytest

from annotation import imports
from annotation.models import Conversation, Task, Turn

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["parse-in-process", "parse-in-thread"])
def parse_mode(request, settings):
    """On PostgreSQL under Linux imports parse in a forked process; the thread is the other way."""
    settings.IMPORT_PARSE_IN_PROCESS = request.param
    return request.param


AWKWARD = [
    "tab\there, newline\nthere, CR\r\nand a lone \\ backslash",
    "\\N looks like COPY's NULL; \\t is not a tab",
    "quotes \" and ' and unicode: José Müller, 日本語, emoji 🙂",
    "",
    "trailing spaces   ",
]


def test_awkward_text_and_metadata_round_trip_exactly(project, parse_mode):
    record = {
        "id": "awkward\twith tab",
        "metadata": {"path": "C:\\temp\\new", "quote": 'say "hi"', "nested": {"n": [1, 2.5, None]}},
        "turns": [{"role": "user", "text": text, "metadata": {"raw": text}} for text in AWKWARD],
    }
    imports.import_conversations(project=project, stream=io.BytesIO(orjson.dumps(record) + b"\n"))
    conversation = Conversation.objects.get(project=project)
    assert conversation.external_id == "awkward\twith tab"
    assert conversation.metadata == record["metadata"]
    assert conversation.turn_count == len(AWKWARD)
    turns = list(Turn.objects.filter(conversation=conversation).order_by("index"))
    assert [t.text for t in turns] == AWKWARD
    assert [t.metadata for t in turns] == [{"raw": text} for text in AWKWARD]
    assert [t.index for t in turns] == list(range(len(AWKWARD)))


def test_many_batches_get_distinct_ids_and_every_slot_its_task(
    project, monkeypatch, owner, parse_mode
):
    from projects import services as project_services

    project_services.update_project(project=project, actor=owner, overlap=3)
    monkeypatch.setattr(imports, "BATCH_SIZE", 7)
    data = b"".join(
        orjson.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": str(i)}] * 2}) + b"\n"
        for i in range(50)
    )
    result = imports.import_conversations(project=project, stream=io.BytesIO(data))
    assert (result.conversations, result.turns) == (50, 100)
    conversations = Conversation.objects.filter(project=project)
    assert conversations.count() == 50
    for conversation in conversations:
        assert conversation.turns.count() == 2
        assert conversation.turns.first().text == conversation.external_id[1:]
        assert Task.objects.filter(conversation=conversation, status="open").count() == 3


def test_stopping_early_on_errors_ends_the_parser(project, monkeypatch, settings, parse_mode):
    import threading

    from annotation.exceptions import ImportFailed

    settings.IMPORT_MAX_ERRORS = 5
    monkeypatch.setattr(imports, "BATCH_SIZE", 10)
    bad = b'{"turns": []}\n' * 5
    good = b"".join(
        orjson.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": "hi"}]}) + b"\n"
        for i in range(500)
    )
    with pytest.raises(ImportFailed, match="5 problems found \\(checking stopped there\\)"):
        imports.import_conversations(project=project, stream=io.BytesIO(bad + good))
    assert not any(t.name == "import-parser" for t in threading.enumerate())
    assert not Conversation.objects.exists()


def test_a_parser_that_crashes_fails_the_import_and_writes_nothing(
    project, monkeypatch, parse_mode
):
    def crash(stream, format, prepare):
        yield from ()
        raise MemoryError("no more room")

    monkeypatch.setattr(imports, "_parse_in_chunks", crash)
    data = orjson.dumps({"id": "a", "turns": [{"role": "user", "text": "hi"}]}) + b"\n"
    with pytest.raises((MemoryError, RuntimeError), match="no more room"):
        imports.import_conversations(project=project, stream=io.BytesIO(data))
    assert not Conversation.objects.exists()
