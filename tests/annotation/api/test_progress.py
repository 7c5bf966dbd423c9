"""A project's progress: task counts per status and each member's pace."""

from collections import Counter

import pytest
from rest_framework.test import APIClient

from accounts.models import ExpertiseTag
from annotation import queue
from annotation.models import Task, task_bucket
from projects.models import Membership, Project
from tests.factories import ConversationFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]

URL = "/api/v1/projects/support/progress/"
NEXT = "/api/v1/projects/support/tasks/next/"
ASSIGN = "/api/v1/projects/support/assignments/"

REQUIRED = {
    "observed_behavior": ["answered"],
    "expected_behavior": "answer",
    "factuality": "correct",
}
NO_TASKS = {
    "open": 0,
    "escalated": 0,
    "assigned": 0,
    "in_progress": 0,
    "submitted": 0,
    "skipped": 0,
    "expired": 0,
    "released": 0,
}


def _real_counts(project: Project) -> dict[str, int]:
    """Count the tasks themselves, to check the maintained counts against."""
    counts = Counter(
        task_bucket(status, expertise_id)
        for status, expertise_id in Task.objects.filter(project=project).values_list(
            "status", "required_expertise_id"
        )
    )
    return {**NO_TASKS, **counts}


def _claim(client) -> dict:
    response = client.post(NEXT)
    assert response.status_code == 200, response.content
    return response.json()


def _submit(client, task: dict) -> None:
    turns = {
        str(t["index"]): REQUIRED for t in task["conversation"]["turns"] if t["role"] == "assistant"
    }
    response = client.put(
        f"/api/v1/tasks/{task['id']}/annotation/",
        {"version": task["annotation"]["version"], "turns": turns, "submit": True},
        format="json",
    )
    assert response.status_code == 200, response.json()


def _post(client, url: str, payload: dict | None = None, expected: int = 200) -> dict:
    response = client.post(url, payload or {}, format="json")
    assert response.status_code == expected, response.content
    return response.json()


def test_counts_match_the_real_task_statuses_after_claims_skips_releases_and_assignments(
    api, owner, annotator, reviewer, project
):
    project.assignment_mode = Project.AssignmentMode.MIXED
    project.overlap = 2
    project.save()
    bea, ines = UserFactory(username="bea"), UserFactory(username="ines")
    ines.expertise.add(ExpertiseTag.objects.create(name="insurance"))
    for user in (bea, ines):
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    for name in ("c1", "c2", "c3", "c4"):
        ConversationFactory(project=project, external_id=name, turns=3)
    queue.recount(project)  # the factory writes tasks without counting them
    lead, anna, rafael = api(owner), api(annotator), api(reviewer)
    bea_client, ines_client = api(bea), api(ines)

    _submit(anna, _claim(anna))  # c1
    skipped = _claim(bea_client)  # c1's other slot
    _post(
        bea_client,
        f"/api/v1/tasks/{skipped['id']}/skip/",
        {"reason": "needs_expert", "expertise": "insurance"},
    )
    released = _claim(rafael)  # c2
    _post(rafael, f"/api/v1/tasks/{released['id']}/release/")
    _post(
        lead,
        ASSIGN,
        {"action": "assign", "filter": {"ids": ["c3"]}, "annotators": ["anna", "bea"]},
        202,
    )
    _post(
        lead,
        ASSIGN,
        {"action": "distribute", "filter": {"ids": ["c4"]}, "annotators": ["anna"]},
        202,
    )
    assert _claim(ines_client)["conversation"]["id"] == "c1"  # escalated to her
    assert _claim(anna)["conversation"]["id"] == "c3"  # assigned work first
    beas = Task.objects.get(conversation__external_id="c3", assignee=bea)
    _post(lead, f"/api/v1/tasks/{beas.pk}/release/")  # back to the pool, unstarted

    response = lead.get(URL)

    assert response.status_code == 200
    counts = response.json()["counts"]
    assert counts == _real_counts(project)
    assert counts == {
        **NO_TASKS,
        "open": 4,  # c2 twice (one replaces rafael's), c3 (bea's, released), c4
        "assigned": 1,  # c4, anna
        "in_progress": 2,  # c1 ines, c3 anna
        "submitted": 1,
        "skipped": 1,
        "released": 1,
    }
    stats = {row["username"]: row for row in response.json()["annotators"]}
    assert list(stats) == ["anna", "bea", "ines", "olivia", "rafael"]
    assert stats["anna"] == {
        **stats["anna"],
        "role": "annotator",
        "submitted_today": 1,
        "submitted_week": 1,
        "open": 2,
    }
    assert isinstance(stats["anna"]["median_seconds"], int)
    assert (stats["ines"]["open"], stats["bea"]["open"], stats["rafael"]["open"]) == (1, 0, 0)
    assert stats["bea"]["median_seconds"] is None
    assert stats["olivia"]["role"] == "lead"


def test_reviewer_sees_progress(api, reviewer, project):
    ConversationFactory.create_batch(3, project=project)
    queue.recount(project)

    response = api(reviewer).get(URL)

    assert response.status_code == 200
    assert response.json()["counts"] == {**NO_TASKS, "open": 3}
    assert [row["username"] for row in response.json()["annotators"]] == [
        "anna",
        "olivia",
        "rafael",
    ]


def test_a_project_without_tasks_counts_zero_in_every_status(api, owner, project):
    response = api(owner).get(URL)

    assert response.status_code == 200
    assert response.json()["counts"] == NO_TASKS
    row = next(r for r in response.json()["annotators"] if r["username"] == "olivia")
    assert row == {
        "username": "olivia",
        "role": "lead",
        "submitted_today": 0,
        "submitted_week": 0,
        "median_seconds": None,
        "open": 0,
    }


def test_annotator_gets_403_for_progress(api, annotator, project):
    response = api(annotator).get(URL)

    assert response.status_code == 403
    assert "leads and reviewers" in response.json()["detail"]


def test_outsider_gets_404_for_progress(api, outsider, project):
    response = api(outsider).get(URL)

    assert response.status_code == 404


def test_unauthenticated_progress_gets_401(project):
    response = APIClient().get(URL)

    assert response.status_code == 401


def test_post_on_progress_gets_405(api, owner, project):
    response = api(owner).post(URL)

    assert response.status_code == 405
