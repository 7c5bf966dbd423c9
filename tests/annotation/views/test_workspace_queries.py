"""The workspace renders with the same number of queries for 6 turns as for 60."""

import pytest

from annotation import services
from annotation.models import Flag, Turn
from projects import services as project_services
from projects.models import LabelSchema
from tests.factories import ConversationFactory, claimed_task

pytestmark = pytest.mark.django_db

# What the page needs: the session and the user (2), the task in progress with its
# project, conversation, annotation, schema, saved answers and the position in the queue
# (1; its lease was renewed less than a minute ago), the questions (1, until the schema
# cache has them), the turns (1, until the process keeps them) and the expertise names of
# the skip form (1, until cached). Markdown, tool calls, sources and guidelines come from
# rows already loaded.
QUERIES = 6

SOURCES = [{"id": "policy", "title": "Wire policy", "text": "Wires sent before 6 p.m. go today."}]


def _labeled_task(project, annotator, owner, turns: int):
    project_services.update_project(
        project=project, actor=owner, guidelines="# Rules\n\nCite the **policy**."
    )
    conversation = ConversationFactory(project=project, turns=turns, metadata={"sources": SOURCES})
    Turn.objects.filter(conversation=conversation, role="assistant").update(
        metadata={"tool_calls": [{"function": {"name": "lookup", "arguments": '{"q": 1}'}}]}
    )
    task = claimed_task(project, annotator, conversation)
    answers = {
        str(index): {
            "observed_behavior": ["answered"],
            "expected_behavior": "answer",
            "factuality": "correct",
            "corrected_response": "Better.",
        }
        for index in range(2, turns, 2)
    }
    services.save_annotation(
        task=task, user=annotator, version=1, turns=answers, conversation={"overall": 4}
    )
    Flag.objects.create(
        project=project, conversation=conversation, raised_by=annotator, kind="pii", note="x"
    )
    return task


@pytest.mark.parametrize("turns", [6, 60])
def test_the_workspace_needs_the_same_queries_for_any_number_of_turns(
    client, project, annotator, owner, turns, django_assert_max_num_queries
):
    _labeled_task(project, annotator, owner, turns)
    client.force_login(annotator)
    with django_assert_max_num_queries(QUERIES):
        response = client.get("/projects/support/label/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="turn-{turns - 1}"' in html and "Guidelines v" in html
    assert html.count("<code>lookup</code>") == (turns - 1) // 2  # the assistant turns


# An autosave: the session and the user (2), then the save in its transaction (savepoint
# and its release, the task locked with its project, annotation, schema and saved answers,
# then at most a delete, an update and an insert of answers, and the annotation: 7; on
# PostgreSQL a single changed answer is updated in the annotation's statement; the lease
# was renewed less than a minute ago). The questions come from the schema cache, the
# turns from those the process keeps (read by the page before).
SAVE_QUERIES = 9


@pytest.mark.parametrize("turns", [6, 60])
def test_an_autosave_needs_the_same_queries_for_any_number_of_turns(
    client, project, annotator, owner, turns, django_assert_max_num_queries
):
    task = _labeled_task(project, annotator, owner, turns)
    LabelSchema.objects.filter(project=project).update(in_use=True)  # as a claim marks it
    client.force_login(annotator)
    client.get("/projects/support/label/")  # the schema's questions are now cached
    form = {
        "version": "2",
        "turns.2.factuality": "fabricated",
        "turns.2.expected_behavior": "answer",
    }
    with django_assert_max_num_queries(SAVE_QUERIES):
        response = client.post(f"/tasks/{task.pk}/save/", form, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.content
    assert 'id="annotation-version" value="3"' in response.content.decode()
