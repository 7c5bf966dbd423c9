import pytest
from rest_framework.test import APIClient

from annotation.models import Annotation, Task
from projects import services as project_services
from projects.taxonomy import DEFAULT_QUESTIONS
from tests.factories import ConversationFactory, ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/support/tasks/next/"

REQUIRED = {
    "observed_behavior": ["answered"],
    "expected_behavior": "answer",
    "factuality": "correct",
}


def _submit(client, task: dict) -> None:
    """Answer every required question of a claimed task and submit it."""
    turns = {
        str(t["index"]): REQUIRED for t in task["conversation"]["turns"] if t["role"] == "assistant"
    }
    response = client.put(
        f"/api/v1/tasks/{task['id']}/annotation/",
        {"version": task["annotation"]["version"], "turns": turns, "submit": True},
        format="json",
    )
    assert response.status_code == 200, response.json()


def test_annotator_gets_a_task_with_its_conversation_schema_and_empty_annotation(
    api, annotator, conversation
):
    response = api(annotator).post(URL)

    assert response.status_code == 200
    body = response.json()
    task = Task.objects.get(assignee=annotator)
    assert body["id"] == task.id
    assert body["conversation"]["id"] == conversation.external_id
    assert [(t["index"], t["role"]) for t in body["conversation"]["turns"]] == [
        (0, "system"),
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]
    assert body["conversation"]["turns"][2]["text"] == "assistant says 2"
    assert body["annotation"]["version"] == 1
    assert (body["annotation"]["turns"], body["annotation"]["conversation"]) == ({}, {})
    assert task.status == Task.Status.IN_PROGRESS
    assert Annotation.objects.get(task=task).annotator == annotator


def test_next_task_carries_the_label_schema(api, annotator, conversation):
    schema = api(annotator).post(URL).json()["schema"]

    assert schema["version"] == 1
    questions = {q["key"]: q for q in schema["questions"]}
    factuality = questions["factuality"]
    assert {k: factuality[k] for k in ("scope", "roles", "kind", "required")} == {
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "single",
        "required": True,
    }
    assert factuality["prompt"]
    assert "help" in factuality
    assert factuality["options"][0] == {"value": "correct", "label": "Correct", "hotkey": "1"}
    assert (questions["overall"]["scope"], questions["overall"]["min"]) == ("conversation", 1)
    assert questions["overall"]["max"] == 5


def test_second_call_resumes_the_same_in_progress_task_with_its_draft(api, annotator, project):
    ConversationFactory(project=project)
    ConversationFactory(project=project)
    client = api(annotator)
    first = client.post(URL).json()
    client.put(
        f"/api/v1/tasks/{first['id']}/annotation/",
        {"version": 1, "conversation": {"notes": "half done"}},
        format="json",
    )

    second = client.post(URL)

    assert second.status_code == 200
    assert second.json()["id"] == first["id"]
    assert second.json()["annotation"]["version"] == 2
    assert second.json()["annotation"]["conversation"] == {"notes": "half done"}
    assert Task.objects.filter(assignee=annotator).count() == 1


def test_a_task_keeps_the_schema_it_was_claimed_with_and_new_claims_get_the_current_one(
    api, annotator, reviewer, project
):
    ConversationFactory(project=project)
    ConversationFactory(project=project)
    client = api(annotator)
    client.post(URL)
    project_services.create_schema(project=project, questions=DEFAULT_QUESTIONS[:1], version=2)

    resumed = client.post(URL).json()["schema"]
    fresh = api(reviewer).post(URL).json()["schema"]

    assert resumed["version"] == 1
    assert len(resumed["questions"]) == len(DEFAULT_QUESTIONS)
    assert fresh["version"] == 2
    assert [q["key"] for q in fresh["questions"]] == ["observed_behavior"]


def test_user_never_gets_the_same_conversation_twice(api, annotator, owner):
    project = ProjectFactory(created_by=owner, slug="double", overlap=2)
    project.memberships.create(user=annotator, role="annotator")
    ConversationFactory(project=project, turns=3)
    ConversationFactory(project=project, turns=3)
    client = api(annotator)
    url = "/api/v1/projects/double/tasks/next/"

    first = client.post(url).json()
    _submit(client, first)
    second = client.post(url).json()
    _submit(client, second)
    third = client.post(url)

    assert first["conversation"]["id"] != second["conversation"]["id"]
    assert third.status_code == 204
    assert third.content == b""
    assert Task.objects.filter(project=project, status=Task.Status.OPEN).count() == 2


def test_with_overlap_2_two_annotators_get_the_same_conversation(api, annotator, reviewer, owner):
    project = ProjectFactory(created_by=owner, slug="double", overlap=2)
    project.memberships.create(user=annotator, role="annotator")
    project.memberships.create(user=reviewer, role="reviewer")
    conversation = ConversationFactory(project=project, turns=3)
    url = "/api/v1/projects/double/tasks/next/"

    mine = api(annotator).post(url).json()
    theirs = api(reviewer).post(url).json()

    assert mine["conversation"]["id"] == theirs["conversation"]["id"] == conversation.external_id
    assert mine["id"] != theirs["id"]


def test_with_overlap_1_a_taken_conversation_is_not_handed_out_again(
    api, annotator, reviewer, conversation
):
    api(annotator).post(URL)

    response = api(reviewer).post(URL)

    assert response.status_code == 204
    assert not Task.objects.filter(assignee=reviewer).exists()


def test_project_without_conversations_gets_204(api, annotator, project):
    response = api(annotator).post(URL)

    assert response.status_code == 204
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("persona", ["owner", "reviewer"])
def test_leads_and_reviewers_may_label_too(api, conversation, persona, request):
    user = request.getfixturevalue(persona)

    response = api(user).post(URL)

    assert response.status_code == 200
    assert Task.objects.get(pk=response.json()["id"]).assignee == user


def test_outsider_gets_404_and_claims_nothing(api, outsider, conversation):
    response = api(outsider).post(URL)

    assert response.status_code == 404
    assert not Task.objects.exclude(status=Task.Status.OPEN).exists()


def test_unknown_project_gets_404(api, annotator, conversation):
    response = api(annotator).post("/api/v1/projects/nope/tasks/next/")

    assert response.status_code == 404


def test_unauthenticated_next_task_gets_401_and_claims_nothing(conversation):
    response = APIClient().post(URL)

    assert response.status_code == 401
    assert not Task.objects.exclude(status=Task.Status.OPEN).exists()


def test_get_on_next_task_gets_405_and_claims_nothing(api, annotator, conversation):
    response = api(annotator).get(URL)

    assert response.status_code == 405
    assert not Task.objects.exclude(status=Task.Status.OPEN).exists()
