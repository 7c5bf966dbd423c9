import pytest
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import ApiToken, hash_token_key
from projects.models import Project
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token/"
PASSWORD = "correct horse battery staple"  # UserFactory's password
PROJECTS = "/api/v1/projects/"


def test_correct_username_and_password_get_a_token_that_is_stored_hashed(annotator):
    response = APIClient().post(URL, {"username": "anna", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    key = response.json()["token"]
    token = ApiToken.objects.get(user=annotator)
    assert token.key_hash == hash_token_key(key)
    assert key not in (token.key_hash, token.prefix)


def test_obtained_token_authenticates_later_requests(annotator, project):
    key = (
        APIClient()
        .post(URL, {"username": "anna", "password": PASSWORD}, format="json")
        .json()["token"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.get(PROJECTS)

    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == ["support"]
    assert ApiToken.objects.get(user=annotator).last_used_at is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [("anna", "nope"), ("ghost", PASSWORD), ("gone", PASSWORD)],
    ids=["wrong-password", "unknown-user", "inactive-user"],
)
def test_bad_credentials_get_400_naming_the_problem_and_no_token(annotator, username, password):
    UserFactory(username="gone", is_active=False)

    response = APIClient().post(URL, {"username": username, "password": password}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == "Unable to log in with the given username and password."
    assert not ApiToken.objects.exists()


def test_missing_password_gets_400_naming_the_field(annotator):
    response = APIClient().post(URL, {"username": "anna"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()
    assert not ApiToken.objects.exists()


def test_token_endpoint_refuses_get_with_405(annotator):
    response = APIClient().get(URL)

    assert response.status_code == 405


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token not-a-real-key", "Invalid token."),
        ("Token", "Invalid token header. No credentials provided."),
        ("Token two keys", "Invalid token header. Token string should not contain spaces."),
        ("Bearer abc", "Authentication credentials were not provided."),
    ],
)
def test_wrong_or_malformed_token_gets_401(annotator, project, api, header, detail):
    api(annotator)  # a real token exists; none of the headers below carries it
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(PROJECTS)

    assert response.status_code == 401
    assert response.json()["detail"] == detail


def test_request_without_credentials_gets_401_with_a_token_challenge(db):
    response = APIClient().get(PROJECTS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_token_of_a_deactivated_user_gets_401(annotator, api):
    client = api(annotator)
    annotator.is_active = False
    annotator.save()

    response = client.get(PROJECTS)

    assert response.status_code == 401


def test_session_login_also_authenticates_api_requests(annotator, project):
    client = APIClient()
    assert client.login(username="anna", password=PASSWORD)

    response = client.get(PROJECTS)

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_session_request_that_changes_data_needs_a_csrf_token(annotator):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="anna", password=PASSWORD)

    response = client.post(PROJECTS, {"slug": "legal", "name": "Legal"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Project.objects.exists()


def test_token_endpoint_is_throttled_after_the_configured_rate(annotator, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "2/min"})
    monkeypatch.setattr(ScopedRateThrottle, "cache", LocMemCache("throttle-test", {}))
    client = APIClient()
    body = {"username": "anna", "password": PASSWORD}

    statuses = [client.post(URL, body, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert ApiToken.objects.filter(user=annotator).count() == 2


def test_failed_logins_count_towards_the_throttle_which_says_when_to_retry(annotator, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "2/min"})
    monkeypatch.setattr(ScopedRateThrottle, "cache", LocMemCache("throttle-test", {}))
    client = APIClient()
    for _ in range(2):
        client.post(URL, {"username": "anna", "password": "wrong"}, format="json")

    response = client.post(URL, {"username": "anna", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"]
    assert not ApiToken.objects.exists()
