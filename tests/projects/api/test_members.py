import pytest
from rest_framework.test import APIClient

from projects.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/support/members/"


def _roles(project) -> dict[str, str]:
    return dict(project.memberships.values_list("user__username", "role"))


ORIGINAL_ROLES = {"anna": "annotator", "olivia": "lead", "rafael": "reviewer"}


def test_member_lists_members_with_their_roles_by_username(api, annotator, project):
    response = api(annotator).get(URL)

    assert response.status_code == 200
    assert [(m["username"], m["role"]) for m in response.json()] == [
        ("anna", "annotator"),
        ("olivia", "lead"),
        ("rafael", "reviewer"),
    ]


def test_outsider_gets_404_listing_members(api, outsider, project):
    response = api(outsider).get(URL)

    assert response.status_code == 404


def test_unauthenticated_member_list_gets_401(project):
    response = APIClient().get(URL)

    assert response.status_code == 401


def test_lead_adds_a_member_who_then_sees_the_project(api, owner, outsider, project):
    response = api(owner).post(URL, {"username": "oscar", "role": "reviewer"}, format="json")

    assert response.status_code == 201
    assert (response.json()["username"], response.json()["role"]) == ("oscar", "reviewer")
    assert _roles(project)["oscar"] == "reviewer"
    assert api(outsider).get("/api/v1/projects/support/").status_code == 200


def test_lead_changes_a_members_role(api, owner, project):
    response = api(owner).post(URL, {"username": "anna", "role": "lead"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "lead"
    assert _roles(project)["anna"] == "lead"
    assert project.memberships.count() == 3


@pytest.mark.parametrize(
    ("persona", "username", "role"),
    [
        ("annotator", "oscar", "annotator"),
        ("reviewer", "oscar", "annotator"),
        ("annotator", "anna", "lead"),
    ],
    ids=["annotator-adds", "reviewer-adds", "annotator-promotes-self"],
)
def test_non_lead_member_cannot_change_membership(
    api, outsider, project, persona, username, role, request
):
    response = api(request.getfixturevalue(persona)).post(
        URL, {"username": username, "role": role}, format="json"
    )

    assert response.status_code == 403
    assert "lead" in response.json()["detail"]
    assert _roles(project) == ORIGINAL_ROLES


def test_non_lead_member_gets_403_even_for_an_invalid_request(api, annotator, project):
    response = api(annotator).post(URL, {"username": "oscar", "role": "boss"}, format="json")

    assert response.status_code == 403


def test_outsider_cannot_add_themselves_and_gets_404(api, outsider, project):
    response = api(outsider).post(URL, {"username": "oscar", "role": "lead"}, format="json")

    assert response.status_code == 404
    assert _roles(project) == ORIGINAL_ROLES


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"username": "oscar", "role": "boss"}, {"role": ['"boss" is not a valid choice.']}),
        ({"role": "annotator"}, {"username": ["This field is required."]}),
        ({"username": "ghost", "role": "annotator"}, 'No active user named "ghost".'),
        ({"username": "gone", "role": "annotator"}, 'No active user named "gone".'),
    ],
    ids=["unknown-role", "no-username", "unknown-user", "inactive-user"],
)
def test_invalid_membership_gets_400_naming_the_problem_and_changes_nothing(
    api, owner, outsider, project, payload, error
):
    UserFactory(username="gone", is_active=False)

    response = api(owner).post(URL, payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["detail"] if isinstance(error, str) else body) == error
    assert _roles(project) == ORIGINAL_ROLES


def test_last_lead_cannot_step_down(api, owner, project):
    response = api(owner).post(URL, {"username": "olivia", "role": "annotator"}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == "A project needs at least one lead."
    assert _roles(project) == ORIGINAL_ROLES


def test_lead_can_step_down_once_there_is_another_lead(api, owner, reviewer, project):
    Membership.objects.filter(user=reviewer).update(role=Membership.Role.LEAD)

    response = api(owner).post(URL, {"username": "olivia", "role": "annotator"}, format="json")

    assert response.status_code == 200
    assert _roles(project)["olivia"] == "annotator"


def test_deleting_members_gets_405(api, owner, project):
    response = api(owner).delete(URL)

    assert response.status_code == 405
    assert _roles(project) == ORIGINAL_ROLES
