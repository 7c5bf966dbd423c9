"""Flags over the API: annotators raise them on their task, leads list and resolve them."""

import pytest
from rest_framework.test import APIClient

from annotation.models import Flag
from tests.factories import claimed_task

pytestmark = pytest.mark.django_db

FLAGS = "/api/v1/projects/support/flags/"


def flag_url(task) -> str:
    return f"/api/v1/tasks/{task.pk}/flags/"


def test_an_annotator_flags_their_conversation_and_a_lead_lists_and_resolves_it(
    api, annotator, owner, project
):
    task = claimed_task(project, annotator)

    response = api(annotator).post(flag_url(task), {"kind": "pii", "note": " A phone number "})

    assert response.status_code == 201
    body = response.json()
    assert body["conversation"] == task.conversation.external_id
    assert (body["kind"], body["note"], body["raised_by"]) == ("pii", "A phone number", "anna")
    assert body["resolved_at"] is None and body["resolved_by"] is None
    flag = Flag.objects.get(pk=body["id"])
    assert flag.project_id == project.pk and flag.conversation_id == task.conversation_id

    listed = api(owner).get(FLAGS)
    assert listed.status_code == 200
    assert [f["id"] for f in listed.json()["results"]] == [flag.pk]

    resolved = api(owner).post(f"/api/v1/flags/{flag.pk}/resolve/")
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "olivia"
    assert api(owner).get(FLAGS).json()["results"] == []
    assert [f["id"] for f in api(owner).get(FLAGS, {"status": "resolved"}).json()["results"]] == [
        flag.pk
    ]
    # Resolving again changes nothing.
    again = api(owner).post(f"/api/v1/flags/{flag.pk}/resolve/")
    assert (
        again.status_code == 200 and again.json()["resolved_at"] == resolved.json()["resolved_at"]
    )


def test_flags_are_listed_newest_first_and_by_status(api, annotator, owner, project):
    first = claimed_task(project, annotator)
    second = claimed_task(project, annotator)
    client = api(annotator)
    older = client.post(flag_url(first), {"kind": "broken"}).json()["id"]
    newer = client.post(flag_url(second), {"kind": "offensive"}).json()["id"]
    api(owner).post(f"/api/v1/flags/{older}/resolve/")

    every = api(owner).get(FLAGS, {"status": "all"}).json()["results"]
    assert [f["id"] for f in every] == [newer, older]
    assert [f["id"] for f in api(owner).get(FLAGS).json()["results"]] == [newer]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "spam"}, "kind", '"spam" is not a valid choice.'),
        ({}, "kind", "This field is required."),
        ({"kind": "pii", "note": "x" * 2001}, "note", "no more than 2000 characters"),
    ],
)
def test_a_bad_flag_gets_400_naming_the_field_and_saves_nothing(
    api, annotator, project, body, field, message
):
    task = claimed_task(project, annotator)

    response = api(annotator).post(flag_url(task), body, format="json")

    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert not Flag.objects.exists()


def test_other_without_a_note_gets_400_saying_so(api, annotator, project):
    task = claimed_task(project, annotator)

    response = api(annotator).post(flag_url(task), {"kind": "other", "note": "  "})

    assert response.status_code == 400
    assert response.json()["detail"] == "Say what is wrong in the note."
    assert not Flag.objects.exists()


def test_only_the_tasks_annotator_flags_it(api, annotator, reviewer, project):
    task = claimed_task(project, annotator)

    response = api(reviewer).post(flag_url(task), {"kind": "pii"})

    assert response.status_code == 404
    assert not Flag.objects.exists()


def test_only_leads_list_and_resolve_flags(api, annotator, reviewer, outsider, project):
    task = claimed_task(project, annotator)
    flag_id = api(annotator).post(flag_url(task), {"kind": "pii"}).json()["id"]

    for user in (annotator, reviewer):
        assert api(user).get(FLAGS).status_code == 403
        assert api(user).post(f"/api/v1/flags/{flag_id}/resolve/").status_code == 403
    assert api(outsider).get(FLAGS).status_code == 404
    assert api(outsider).post(f"/api/v1/flags/{flag_id}/resolve/").status_code == 404
    assert APIClient().get(FLAGS).status_code == 401
    assert Flag.objects.get(pk=flag_id).resolved_at is None


def test_an_unknown_status_gets_400_naming_the_choices(api, owner, project):
    response = api(owner).get(FLAGS, {"status": "closed"})

    assert response.status_code == 400
    assert response.json() == {"status": 'Expected "open", "resolved" or "all".'}
