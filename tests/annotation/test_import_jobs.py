import gzip
import io
import threading

import orjson
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from annotation import imports
from annotation.exceptions import InvalidInput, NotAllowed, NotFound
from annotation.models import Conversation, ImportJob, Task, Turn
from tests.factories import ProjectFactory
from tests.helpers import requires_postgres

pytestmark = pytest.mark.django_db


def jsonl(*records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def conversation(external_id: str, *texts: str) -> dict:
    roles = ["user", "assistant"]
    return {
        "id": external_id,
        "turns": [{"role": roles[i % 2], "text": t} for i, t in enumerate(texts)],
    }


ROLES = "system, user, assistant, tool"
GOOD = jsonl(conversation("a", "Hi", "Hello"), conversation("b", "Bye", "Goodbye", "See you"))


def upload(data: bytes, name: str = "chats.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def test_an_uploaded_file_is_kept_queued_and_run(
    project, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    job.refresh_from_db()
    assert (job.status, job.conversations, job.turns, job.skipped) == ("succeeded", 2, 5, 0)
    assert job.format == "native" and job.processed == job.total == len(GOOD)
    assert job.filename == "chats.jsonl" and job.file.read() == GOOD
    assert "Imported 2 conversations (5 turns)" in job.message
    assert Task.objects.filter(project=project).count() == 2


def test_a_bad_file_fails_the_job_with_every_problem_and_writes_nothing(project, owner):
    data = GOOD + b'{"id": "c", "turns": [{"role": "bot", "text": "x"}]}\n{broken\n'
    job = imports.create_import_job(project=project, user=owner, upload=upload(data))
    job = imports.run_import_job(job.pk)
    assert job.status == "failed"
    assert job.message == "2 problems found; nothing was imported."
    assert job.errors == [
        {
            "line": 3,
            "message": 'turn 1: unknown role "bot" (expected system, user, assistant, tool)',
        },
        {
            "line": 4,
            "message": "invalid JSON: unexpected character, expected a string key (column 2)",
        },
    ]
    assert not Conversation.objects.exists() and not Turn.objects.exists()


def test_a_finished_job_that_is_delivered_again_does_nothing(project, owner):
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    imports.run_import_job(job.pk)
    Conversation.objects.filter(project=project).delete()  # so a rerun would show
    again = imports.run_import_job(job.pk)
    assert again.status == "succeeded" and again.attempts == 1
    assert not Conversation.objects.exists()


def test_a_job_whose_worker_died_mid_write_runs_again_from_scratch(project, owner):
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    # A dead worker leaves the job "running" and, its transaction never committed, no rows.
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1)
    job = imports.run_import_job(job.pk)
    assert (job.status, job.attempts, job.conversations) == ("succeeded", 2, 2)
    assert Conversation.objects.filter(project=project).count() == 2


def test_gzipped_uploads_are_read(project, owner):
    job = imports.create_import_job(
        project=project, user=owner, upload=upload(gzip.compress(GOOD), "chats.jsonl.gz")
    )
    assert imports.run_import_job(job.pk).conversations == 2


def test_only_leads_may_upload(project, annotator, reviewer):
    for user in (annotator, reviewer):
        with pytest.raises(NotAllowed):
            imports.create_import_job(project=project, user=user, upload=upload(GOOD))
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (b"", {}, "The file is empty."),
        (GOOD, {"format": "csv"}, 'Unknown format "csv"'),
    ],
)
def test_bad_uploads_are_refused_before_anything_is_kept(project, owner, data, options, message):
    with pytest.raises(InvalidInput, match=message):
        imports.create_import_job(project=project, user=owner, upload=upload(data), **options)
    assert not ImportJob.objects.exists()


def test_files_over_the_size_limit_are_refused(project, owner, settings):
    settings.IMPORT_MAX_FILE_BYTES = 10
    with pytest.raises(InvalidInput, match=r"The file is \d+ bytes; the limit is 10 bytes."):
        imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    assert not ImportJob.objects.exists()


def test_a_requested_format_overrides_detection(project, owner):
    data = jsonl({"messages": [{"role": "user", "content": "Hi"}]})
    job = imports.create_import_job(
        project=project, user=owner, upload=upload(data), format="native"
    )
    job = imports.run_import_job(job.pk)
    assert job.status == "failed"
    assert job.errors == [{"line": 1, "message": 'missing "turns" (a list of {"role", "text"})'}]


def test_a_missing_upload_fails_the_job_with_a_message(project, owner):
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    job.file.storage.delete(job.file.name)
    job = imports.run_import_job(job.pk)
    assert job.status == "failed" and "no longer there" in job.message


def test_an_unexpected_error_fails_the_job_instead_of_leaving_it_running(
    project, owner, monkeypatch
):
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports, "_take_new", explode)
    job = imports.run_import_job(job.pk)
    assert job.status == "failed"
    assert (
        job.message
        == "The import stopped on an unexpected error (disk on fire); nothing was imported."
    )
    assert not Conversation.objects.exists()


def test_progress_is_shown_from_the_cache_while_running(project, owner):
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    job.refresh_from_db()
    cache.set(
        f"import-progress:{job.pk}", {"processed": 40, "conversations": 1, "format": "native"}
    )
    state = imports.import_job_state(job)
    assert (state["processed"], state["total"], state["conversations"]) == (40, len(GOOD), 1)
    assert state["format"] == "native"


def test_progress_is_reported_per_batch_with_bytes_read(project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 1)
    seen = []
    data = jsonl(*(conversation(str(i), "Hi") for i in range(3)))
    imports.import_conversations(
        project=project,
        stream=io.BytesIO(data),
        on_progress=lambda r: seen.append((r.conversations, r.bytes_read, r.bytes_total)),
    )
    assert [c for c, _, _ in seen] == [1, 2, 3, 3]
    assert all(total == len(data) for _, _, total in seen)
    assert seen[-1][1] == len(data)


def test_only_leads_and_the_uploader_see_a_job(project, owner, annotator, outsider):
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    assert imports.get_import_job(job_id=job.pk, user=owner) == job
    for user in (annotator, outsider):
        with pytest.raises(NotFound):
            imports.get_import_job(job_id=job.pk, user=user)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_one_job_import_it_once(owner):
    project = ProjectFactory(created_by=owner)
    job = imports.create_import_job(project=project, user=owner, upload=upload(GOOD))
    results, errors = [], []

    def run():
        try:
            results.append(imports.run_import_job(job.pk).status)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and results == ["succeeded", "succeeded"]
    assert Conversation.objects.filter(project=project).count() == 2
    assert ImportJob.objects.get(pk=job.pk).conversations == 2
