"""Two saves of one task at the same moment, on PostgreSQL: the later one sees the earlier."""

import time

import pytest
from django.db import connections, transaction

from annotation import queue, services
from annotation.exceptions import StaleVersion
from annotation.models import Annotation, Task, TurnAnswer
from tests.factories import ConversationFactory
from tests.helpers import requires_postgres, start_in_thread


def _save_while_another_holds_the_lock(task, annotator, other_save) -> dict:
    """Start a save of turn 2 at version 1 while another save holds the task's lock, let it
    wait (its snapshot taken), run `other_save(annotation)` as that other save's writes, and
    commit them: what the waiting save came to."""
    result: dict = {}

    def save() -> None:
        services.save_annotation(
            task=task,
            user=annotator,
            version=1,
            turns={"2": {"factuality": "fabricated"}},
            conversation={},
        )

    with transaction.atomic():
        Task.objects.select_for_update().get(pk=task.pk)
        waiting = start_in_thread(save, StaleVersion, result)
        time.sleep(0.5)  # the second save now waits for the lock, its snapshot taken
        assert "outcome" not in result
        other_save(Annotation.objects.get(task=task))
    waiting.join(timeout=30)
    connections.close_all()
    return result


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_save_that_waited_for_another_is_refused_if_that_one_moved_the_version(
    project, annotator
):
    ConversationFactory(project=project)
    task = queue.claim_next_task(project=project, user=annotator)

    def other_save(annotation: Annotation) -> None:
        Annotation.objects.filter(pk=annotation.pk).update(version=2, answers={"overall": 5})

    result = _save_while_another_holds_the_lock(task, annotator, other_save)

    assert isinstance(result["outcome"], StaleVersion), result
    annotation = Annotation.objects.get(task=task)
    assert (annotation.version, annotation.answers) == (2, {"overall": 5})
    assert services.annotation_answers(annotation)["turns"] == {}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_save_refused_that_way_is_refused_even_if_the_other_added_the_same_answer(
    project, annotator
):
    """The waiting save read the answers before the other committed its first answer to the
    same turn: it must be told its version is stale, not fail on that answer's row."""
    conversation = ConversationFactory(project=project)
    task = queue.claim_next_task(project=project, user=annotator)
    turn = conversation.turns.get(index=2)

    def other_save(annotation: Annotation) -> None:
        TurnAnswer.objects.create(
            annotation=annotation, turn=turn, answers={"factuality": "correct"}
        )
        Annotation.objects.filter(pk=annotation.pk).update(version=2)

    result = _save_while_another_holds_the_lock(task, annotator, other_save)

    assert isinstance(result["outcome"], StaleVersion), result
    annotation = Annotation.objects.get(task=task)
    assert annotation.version == 2
    assert services.annotation_answers(annotation)["turns"] == {"2": {"factuality": "correct"}}
