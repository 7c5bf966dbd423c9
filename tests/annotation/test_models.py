import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Annotation, Conversation, Task, Turn, TurnAnswer
from projects.models import LabelSchema
from tests.factories import ConversationFactory, ProjectFactory, claimed_task

pytestmark = pytest.mark.django_db


def _fails(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_external_id_is_unique_per_project_but_not_across_projects(conversation):
    _fails(
        lambda: Conversation.objects.create(
            project=conversation.project, external_id=conversation.external_id, content_hash="x"
        )
    )
    other = ProjectFactory()
    assert Conversation.objects.create(
        project=other, external_id=conversation.external_id, content_hash="x"
    )


def test_turn_index_is_unique_per_conversation(conversation):
    _fails(lambda: Turn.objects.create(conversation=conversation, index=0, role="user", text="hi"))


def test_turn_role_is_checked_by_the_database(conversation):
    _fails(lambda: Turn.objects.create(conversation=conversation, index=99, role="bot", text="hi"))


def test_one_task_per_conversation_per_annotator(project, annotator):
    conversation = ConversationFactory(project=project, tasks=False)
    Task.objects.create(
        project=project, conversation=conversation, status="in_progress", assignee=annotator
    )
    _fails(
        lambda: Task.objects.create(
            project=project, conversation=conversation, status="submitted", assignee=annotator
        )
    )


def test_open_tasks_have_no_assignee_and_claimed_ones_have_one(project, annotator, conversation):
    _fails(
        lambda: Task.objects.create(
            project=project, conversation=conversation, status="open", assignee=annotator
        )
    )
    _fails(
        lambda: Task.objects.create(
            project=project, conversation=conversation, status="in_progress"
        )
    )


def test_one_annotation_per_task(project, annotator):
    task = claimed_task(project, annotator)
    schema = LabelSchema.objects.current_for(project)
    _fails(lambda: Annotation.objects.create(task=task, annotator=annotator, schema=schema))


def test_a_submitted_annotation_has_a_submission_time(project, annotator):
    task = claimed_task(project, annotator)
    _fails(lambda: Annotation.objects.filter(task=task).update(status="submitted"))
    Annotation.objects.filter(task=task).update(status="submitted", submitted_at=timezone.now())


def test_one_answer_row_per_turn_and_annotation(project, annotator):
    task = claimed_task(project, annotator)
    turn = task.conversation.turns.get(index=2)
    TurnAnswer.objects.create(annotation=task.annotation, turn=turn, answers={})
    _fails(lambda: TurnAnswer.objects.create(annotation=task.annotation, turn=turn, answers={}))
