import pytest

from annotation.models import Task
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_patching_the_overlap_adds_open_slots(api, project, owner):
    ConversationFactory.create_batch(3, project=project)
    response = api(owner).patch(
        "/api/v1/projects/support/", {"overlap": 2, "assignment_mode": "mixed"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["overlap"], response.json()["assignment_mode"]) == (2, "mixed")
    assert Task.objects.filter(project=project, status="open").count() == 6
    progress = api(owner).get("/api/v1/projects/support/progress/").json()
    assert progress["counts"]["open"] == 6


def test_a_bad_overlap_changes_nothing(api, project, owner, conversation):
    response = api(owner).patch("/api/v1/projects/support/", {"overlap": 11}, format="json")
    assert response.status_code == 400 and "overlap" in response.json()
    assert Task.objects.filter(project=project).count() == 1
