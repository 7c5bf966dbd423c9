import pytest
from rest_framework.test import APIClient

from annotation.models import Conversation
from tests.factories import ConversationFactory, ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/support/conversations/"


def test_member_lists_the_projects_conversations_oldest_first_with_a_count(api, annotator, project):
    first = ConversationFactory(project=project, turns=3, metadata={"domain": "billing"})
    second = ConversationFactory(project=project, turns=5)
    ConversationFactory(project=ProjectFactory(slug="other"))

    response = api(annotator).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(c["id"], c["turn_count"]) for c in body["results"]] == [
        (first.external_id, 3),
        (second.external_id, 5),
    ]
    assert body["results"][0]["metadata"] == {"domain": "billing"}


def test_conversation_list_is_paginated(api, annotator, project):
    ConversationFactory.create_batch(51, project=project, turns=1, tasks=False)

    first = api(annotator).get(URL).json()
    second = api(annotator).get(URL, {"page": 2}).json()

    assert (first["count"], len(first["results"])) == (51, 50)
    assert first["next"] is not None
    assert (len(second["results"]), second["next"]) == (1, None)


def test_project_without_conversations_lists_none(api, annotator, project):
    response = api(annotator).get(URL)

    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"]) == (0, [])


def test_page_past_the_end_gets_404_saying_the_page_is_invalid(api, annotator, conversation):
    response = api(annotator).get(URL, {"page": 9})

    assert response.status_code == 404
    assert "Invalid page" in response.json()["detail"]


def test_outsider_gets_404_listing_conversations(api, outsider, conversation):
    response = api(outsider).get(URL)

    assert response.status_code == 404
    assert conversation.external_id not in response.content.decode()


def test_unauthenticated_conversation_list_gets_401(conversation):
    response = APIClient().get(URL)

    assert response.status_code == 401


def test_posting_a_conversation_gets_405_and_creates_nothing(api, owner, project):
    response = api(owner).post(URL, {"id": "new", "turns": []}, format="json")

    assert response.status_code == 405
    assert not Conversation.objects.exists()
