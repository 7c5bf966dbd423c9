import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_logging_in_leads_to_my_projects(client):
    UserFactory(username="kim")
    response = client.post(
        "/accounts/login/", {"username": "kim", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_wrong_password_is_refused_with_a_message(client):
    UserFactory(username="kim")
    response = client.post("/accounts/login/", {"username": "kim", "password": "wrong"})
    assert response.status_code == 200
    assert b"didn't match" in response.content
    assert "_auth_user_id" not in client.session


def test_pages_need_a_login(client):
    for url in ("/", "/projects/support/", "/projects/support/label/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_logout_is_post_only(client):
    client.force_login(UserFactory())
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session
