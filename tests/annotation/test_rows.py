"""The hand-written reads of the workspace (annotation.rows) give what the ORM gives."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation import queue, rows, services
from annotation.models import Annotation, Task, TurnAnswer
from projects import services as project_services
from tests.factories import ConversationFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    """Each field's value with its type (1 == True, so values alone would not tell)."""
    return {
        field.attname: (type(value := getattr(instance, field.attname)), value)
        for field in instance._meta.fields
    }


def test_resumed_task_and_its_rows_equal_what_the_orm_loads(project, annotator):
    ConversationFactory(project=project, metadata={"sources": [{"id": "kb", "text": "Ünïcode"}]})
    claimed = queue.claim_next_task(project=project, user=annotator)
    resumed = queue.resume_task(user=annotator, slug=project.slug)
    loaded = Task.objects.for_workspace().get(pk=claimed.pk)
    assert _fields(resumed) == _fields(loaded)
    assert _fields(resumed.project) == _fields(loaded.project)
    assert _fields(resumed.conversation) == _fields(loaded.conversation)
    assert _fields(resumed.annotation) == _fields(loaded.annotation)
    assert _fields(resumed.annotation.schema) == _fields(loaded.annotation.schema)
    # Converted as the ORM converts: aware datetimes and JSON as Python values.
    assert timezone.is_aware(resumed.lease_expires_at)
    assert resumed.conversation.metadata["sources"][0]["text"] == "Ünïcode"
    assert resumed.annotation.task is resumed  # no query to go back to the task
    assert not resumed._state.adding and resumed._state.db == "default"


def test_resume_reads_everything_in_one_query(project, annotator, django_assert_num_queries):
    ConversationFactory(project=project)
    queue.claim_next_task(project=project, user=annotator)
    with django_assert_num_queries(1):
        task = queue.resume_task(user=annotator, slug=project.slug)
        # Nothing the workspace shows is read again.
        assert task.project.slug == project.slug and task.conversation.external_id
        assert task.annotation.schema.pk and task.annotation.task.pk == task.pk


def test_resume_skips_an_expired_lease_and_another_projects_task(project, annotator, owner):
    other_project = ProjectFactory(created_by=owner)
    project_services.set_membership(
        project=other_project, actor=owner, username=annotator.username, role="annotator"
    )
    ConversationFactory(project=project)
    now = timezone.now()
    task = queue.claim_next_task(project=project, user=annotator, now=now)
    assert queue.resume_task(user=annotator, slug=other_project.slug, now=now) is None
    later = now + timedelta(minutes=project.lease_minutes + 1)
    assert queue.resume_task(user=annotator, slug=project.slug, now=later) is None
    assert queue.resume_task(user=annotator, slug=project.slug, now=now).pk == task.pk


def test_a_save_locks_the_task_row_and_reads_its_annotation(project, annotator):
    ConversationFactory(project=project)
    task = queue.claim_next_task(project=project, user=annotator)
    locked = services._lock_task(task.pk, annotator)
    assert _fields(locked) == _fields(Task.objects.get(pk=task.pk))
    assert locked.annotation.version == 1 and locked.annotation.task is locked
    assert locked.project.pk == project.pk and locked.annotation.schema.pk
    assert services._lock_task(task.pk + 1000, annotator) is None


def test_an_update_writes_json_and_datetimes_as_the_orm_does_and_counts_rows(project, annotator):
    ConversationFactory(project=project)
    task = queue.claim_next_task(project=project, user=annotator)
    annotation = task.annotation
    when = timezone.now() + timedelta(hours=1)
    answers = {"note": 'Ünïcode "quoted"', "scores": [1, 2], "ok": True}
    written = rows.run(
        rows.update_statement(
            Annotation,
            {"answers": answers, "updated_at": when},
            "id = %s AND version = %s",
            [annotation.pk, annotation.version],
            increment=["version"],
        )
    )
    assert written == 1
    stored = Annotation.objects.get(pk=annotation.pk)
    assert (stored.answers, stored.updated_at, stored.version) == (answers, when, 2)
    # A WHERE that matches nothing changes nothing and says so.
    nothing = rows.update_statement(
        Annotation, {"answers": {}}, "id = %s AND version = %s", [annotation.pk, 1]
    )
    stale = rows.run(nothing)
    assert stale == 0
    assert Annotation.objects.get(pk=annotation.pk).answers == answers


def test_an_update_along_another_is_one_statement_on_postgresql_and_counts_each(
    project, annotator, django_assert_num_queries
):
    conversation = ConversationFactory(project=project, turns=6)
    task = queue.claim_next_task(project=project, user=annotator)
    assert task.conversation_id == conversation.pk
    annotation = services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "correct"}},
        conversation={},
    )
    answer = annotation.turn_answers.get()
    along = rows.update_statement(
        TurnAnswer, {"answers": {"factuality": "fabricated"}}, "id = %s", [answer.pk]
    )
    statements = 1 if connection.vendor == "postgresql" else 2
    with django_assert_num_queries(statements):
        written, moved = rows.update_along(
            rows.update_statement(
                Annotation,
                {"answers": {"overall": 3}},
                "id = %s AND version = %s",
                [annotation.pk, 2],
                increment=["version"],
            ),
            along,
        )
    assert (written, moved) == (1, 1)  # each statement's own rows
    annotation.refresh_from_db()
    answer.refresh_from_db()
    assert (annotation.version, annotation.answers) == (3, {"overall": 3})
    assert answer.answers == {"factuality": "fabricated"}


def test_a_claimed_task_is_read_back_as_the_orm_loads_it_with_answers_and_position(
    project, annotator
):
    ConversationFactory.create_batch(2, project=project)
    claimed = queue.claim_next_task(project=project, user=annotator, with_position=True)
    loaded = Task.objects.for_workspace().get(pk=claimed.pk)
    assert _fields(claimed) == _fields(loaded)
    assert _fields(claimed.conversation) == _fields(loaded.conversation)
    assert _fields(claimed.annotation) == _fields(loaded.annotation)
    assert claimed.annotation.saved_answers == {}  # read with it: nothing saved yet
    assert claimed.position == queue.position(project, annotator) == {"done": 0, "waiting": 1}
