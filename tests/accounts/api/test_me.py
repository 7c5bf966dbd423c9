import pytest

pytestmark = pytest.mark.django_db


def test_me_says_whose_token_it_is(api, annotator):
    response = api(annotator).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {"id": annotator.pk, "username": "anna"}


def test_me_without_credentials_is_401(api):
    assert api(None).get("/api/v1/me/").status_code == 401


def test_me_is_read_only(api, annotator):
    assert api(annotator).post("/api/v1/me/").status_code == 405
