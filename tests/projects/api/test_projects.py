import pytest
from rest_framework.test import APIClient

from projects.models import LabelSchema, Membership, Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/projects/"
DETAIL = "/api/v1/projects/support/"


def _fields(project: Project) -> tuple:
    project.refresh_from_db()
    return (project.slug, project.name, project.description, project.overlap)


def test_member_lists_only_the_projects_they_belong_to(api, annotator, project):
    ProjectFactory(slug="someone-elses")

    response = api(annotator).get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [(p["slug"], p["role"]) for p in body["results"]] == [("support", "annotator")]


def test_creating_a_project_makes_the_creator_its_lead(api, outsider):
    response = api(outsider).post(
        LIST,
        {"slug": "legal", "name": "Legal bot", "description": "Contracts", "overlap": 3},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["role"] == "lead"
    created = Project.objects.get(slug="legal")
    assert (created.name, created.description, created.overlap) == ("Legal bot", "Contracts", 3)
    assert created.memberships.get().user == outsider
    assert created.memberships.get().role == Membership.Role.LEAD
    assert LabelSchema.objects.current_for(created).questions.exists()


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST), ("post", LIST), ("get", DETAIL), ("patch", DETAIL)],
)
def test_unauthenticated_project_requests_get_401_and_change_nothing(project, method, url):
    response = getattr(APIClient(), method)(url, {"slug": "legal", "name": "X"}, format="json")

    assert response.status_code == 401
    assert list(Project.objects.values_list("slug", flat=True)) == ["support"]
    assert _fields(project) == ("support", "Support bot audit", "", 1)


def test_creating_a_project_with_a_taken_slug_gets_400_naming_the_slug(api, outsider, project):
    response = api(outsider).post(LIST, {"slug": "support", "name": "Mine now"}, format="json")

    assert response.status_code == 400
    assert 'slug "support" already exists' in response.json()["detail"]
    assert _fields(project) == ("support", "Support bot audit", "", 1)
    assert not Membership.objects.filter(user=outsider).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "not a slug!", "name": "Bad"}, "slug"),
        ({"name": "No slug"}, "slug"),
        ({"slug": "no-name"}, "name"),
        ({"slug": "legal", "name": "Legal", "overlap": 0}, "overlap"),
        ({"slug": "legal", "name": "Legal", "overlap": 11}, "overlap"),
    ],
)
def test_creating_a_project_with_invalid_fields_gets_400_naming_the_field(
    api, outsider, payload, field
):
    response = api(outsider).post(LIST, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Project.objects.exists()


def test_member_sees_project_detail_with_their_role(api, reviewer, project):
    response = api(reviewer).get(DETAIL)

    assert response.status_code == 200
    assert response.json()["name"] == "Support bot audit"
    assert response.json()["role"] == "reviewer"


def test_outsider_gets_404_for_project_detail(api, outsider, project):
    response = api(outsider).get(DETAIL)

    assert response.status_code == 404


def test_lead_changes_project_settings(api, owner, project):
    response = api(owner).patch(
        DETAIL, {"name": "Renamed", "description": "New", "overlap": 2}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["overlap"] == 2
    assert _fields(project) == ("support", "Renamed", "New", 2)


def test_lead_cannot_change_a_projects_slug(api, owner, project):
    response = api(owner).patch(DETAIL, {"slug": "moved", "name": "Renamed"}, format="json")

    assert response.status_code == 200
    assert _fields(project) == ("support", "Renamed", "", 1)


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_non_lead_member_cannot_change_a_project(api, project, persona, request):
    response = api(request.getfixturevalue(persona)).patch(
        DETAIL, {"name": "Hijacked"}, format="json"
    )

    assert response.status_code == 403
    assert "lead" in response.json()["detail"]
    assert _fields(project) == ("support", "Support bot audit", "", 1)


def test_non_lead_member_gets_403_even_for_an_invalid_change(api, annotator, project):
    response = api(annotator).patch(DETAIL, {"overlap": 0}, format="json")

    assert response.status_code == 403


def test_outsider_gets_404_changing_a_project_and_nothing_changes(api, outsider, project):
    response = api(outsider).patch(DETAIL, {"name": "Hijacked"}, format="json")

    assert response.status_code == 404
    assert _fields(project) == ("support", "Support bot audit", "", 1)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"overlap": 0}, "overlap"),
        ({"overlap": "two"}, "overlap"),
        ({"name": ""}, "name"),
        ({"lease_minutes": 0}, "lease_minutes"),
        ({"lease_minutes": 24 * 60 + 1}, "lease_minutes"),
    ],
)
def test_invalid_change_gets_400_naming_the_field_and_changes_nothing(
    api, owner, project, payload, field
):
    response = api(owner).patch(DETAIL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert _fields(project) == ("support", "Support bot audit", "", 1)


@pytest.mark.parametrize("url", [LIST, DETAIL])
def test_deleting_projects_gets_405(api, owner, project, url):
    response = api(owner).delete(url)

    assert response.status_code == 405
    assert Project.objects.filter(slug="support").exists()


def _queue_settings(project: Project) -> tuple:
    project.refresh_from_db()
    return (project.assignment_mode, project.allow_skip, project.lease_minutes, project.overlap)


def test_project_detail_includes_the_queue_settings(api, annotator, project):
    body = api(annotator).get(DETAIL).json()

    assert {k: body[k] for k in ("assignment_mode", "allow_skip", "lease_minutes", "overlap")} == {
        "assignment_mode": "pool",
        "allow_skip": True,
        "lease_minutes": 60,
        "overlap": 1,
    }


def test_lead_changes_the_queue_settings(api, owner, project):
    response = api(owner).patch(
        DETAIL,
        {"assignment_mode": "mixed", "allow_skip": False, "lease_minutes": 15, "overlap": 10},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["assignment_mode"], response.json()["allow_skip"]) == ("mixed", False)
    assert _queue_settings(project) == ("mixed", False, 15, 10)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"assignment_mode": "random"}, "assignment_mode"),
        ({"assignment_mode": None}, "assignment_mode"),
        ({"allow_skip": "sometimes"}, "allow_skip"),
        ({"overlap": 11}, "overlap"),
        ({"lease_minutes": "soon"}, "lease_minutes"),
    ],
)
def test_invalid_queue_setting_gets_400_naming_the_field_and_changes_nothing(
    api, owner, project, payload, field
):
    response = api(owner).patch(DETAIL, {**payload, "name": "Renamed"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert _queue_settings(project) == ("pool", True, 60, 1)
    assert _fields(project) == ("support", "Support bot audit", "", 1)


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_non_lead_member_cannot_change_the_queue_settings(api, project, persona, request):
    response = api(request.getfixturevalue(persona)).patch(
        DETAIL, {"assignment_mode": "assigned", "allow_skip": False}, format="json"
    )

    assert response.status_code == 403
    assert _queue_settings(project) == ("pool", True, 60, 1)
