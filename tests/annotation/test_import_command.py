"""manage.py import_conversations --project SLUG FILE [--format F]"""

import gzip
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Conversation, Task, Turn

pytestmark = pytest.mark.django_db

GOOD = [
    {"id": "a", "turns": [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello"}]},
    {"id": "b", "turns": [{"role": "user", "text": "Bye"}]},
]


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def run(*args, **options) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("import_conversations", *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def test_import_prints_the_counts(project, tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_bytes(jsonl(*GOOD))

    stdout, _ = run(str(path), project="support")

    assert "Imported 2 conversations (3 turns) as native; skipped 0 already in the project." in (
        stdout
    )
    assert Conversation.objects.filter(project=project).count() == 2

    stdout, _ = run(str(path), "--project", "support")
    assert "Imported 0 conversations (0 turns) as native; skipped 2" in stdout


def test_bad_file_raises_command_error_and_lists_the_lines_on_stderr(project, tmp_path):
    path = tmp_path / "conversations.jsonl"
    bad_role = {"turns": [{"role": "bot", "text": "Hi"}]}
    path.write_bytes(jsonl(GOOD[0]) + b"{oops\n" + jsonl(GOOD[1], bad_role))

    stderr = io.StringIO()
    with pytest.raises(CommandError, match=r"^2 problems found; nothing was imported\.$"):
        call_command("import_conversations", str(path), project="support", stderr=stderr)

    lines = stderr.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("line 2: invalid JSON: ")
    assert lines[1] == (
        'line 4: turn 1: unknown role "bot" (expected system, user, assistant, tool)'
    )
    assert (Conversation.objects.count(), Turn.objects.count(), Task.objects.count()) == (0, 0, 0)


def test_unknown_project_slug_is_named(project, tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_bytes(jsonl(*GOOD))

    with pytest.raises(CommandError, match='No project with the slug "nope"'):
        run(str(path), project="nope")
    assert not Conversation.objects.exists()


def test_missing_file_is_named(project, tmp_path):
    path = tmp_path / "missing.jsonl"

    with pytest.raises(CommandError, match=re.escape(f"No such file: {path}")):
        run(str(path), project="support")


def test_gzipped_file_is_imported(project, tmp_path):
    path = tmp_path / "conversations.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(*GOOD)))

    stdout, _ = run(str(path), project="support")

    assert "Imported 2 conversations (3 turns)" in stdout
    texts = Turn.objects.filter(conversation__project=project).values_list("text", flat=True)
    assert sorted(texts) == ["Bye", "Hello", "Hi"]


def test_format_option_skips_detection(project, tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_bytes(jsonl(*GOOD))
    stderr = io.StringIO()

    with pytest.raises(CommandError, match="2 problems found"):
        call_command(
            "import_conversations",
            str(path),
            "--format",
            "openai",
            project="support",
            stderr=stderr,
        )

    assert 'line 1: missing "messages"' in stderr.getvalue()
    assert not Conversation.objects.exists()


def test_a_gz_name_does_not_matter_the_content_decides(project, tmp_path):
    path = tmp_path / "conversations.jsonl.gz"
    path.write_bytes(jsonl(*GOOD))
    run(str(path), project="support")
    assert Conversation.objects.filter(project=project).count() == len(GOOD)


def test_a_truncated_gzip_file_is_named_and_imports_nothing(project, tmp_path):
    path = tmp_path / "conversations.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(*GOOD))[:-12])
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="1 problem found; nothing was imported"):
        call_command("import_conversations", str(path), project="support", stderr=stderr)
    assert "cannot read the file" in stderr.getvalue()
    assert not Conversation.objects.exists()
