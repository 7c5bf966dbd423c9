import pytest

from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_home_lists_only_my_projects(client, project, annotator):
    ProjectFactory(name="Someone else's project")
    client.force_login(annotator)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Support bot audit" in response.content
    assert b"Someone else" not in response.content
    assert b'href="/projects/support/label/"' in response.content


def test_home_without_projects_says_so(client, outsider):
    client.force_login(outsider)
    response = client.get("/")
    assert b"not a member of any project yet" in response.content


def test_home_is_get_only(client, annotator):
    client.force_login(annotator)
    assert client.post("/").status_code == 405
