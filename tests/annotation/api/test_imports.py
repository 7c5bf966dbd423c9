import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Conversation, ImportJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]

GOOD = b"".join(
    orjson.dumps(
        {"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": "A"}]}
    )
    + b"\n"
    for i in range(4)
)


def post(client, data: bytes, **extra):
    return client.post(
        "/api/v1/projects/support/imports/",
        {"file": SimpleUploadedFile("chats.jsonl", data), **extra},
        format="multipart",
    )


def test_upload_returns_202_with_a_url_to_poll(api, project, owner):
    client = api(owner)
    response = post(client, GOOD)
    assert response.status_code == 202
    body = response.json()
    job = ImportJob.objects.get()
    assert body["id"] == job.pk and body["url"] == f"http://testserver/api/v1/imports/{job.pk}/"
    assert body["status"] == "succeeded"  # Celery runs eagerly in tests
    state = client.get(body["url"]).json()
    assert state == {
        **state,
        "status": "succeeded",
        "format": "openai",
        "processed": len(GOOD),
        "total": len(GOOD),
        "conversations": 4,
        "turns": 8,
        "skipped": 0,
        "errors": [],
    }


def test_a_failed_import_reports_errors_by_line(api, project, owner):
    client = api(owner)
    body = post(client, GOOD + b'{"messages": [{"role": "bot", "content": "x"}]}\n').json()
    state = client.get(body["url"]).json()
    assert state["status"] == "failed"
    assert state["errors"] == [
        {
            "line": 5,
            "message": 'message 1: unknown role "bot" (expected system, developer, user, '
            "assistant, tool, function)",
        }
    ]
    assert not Conversation.objects.exists()


def test_an_explicit_format_is_used(api, project, owner):
    client = api(owner)
    state = client.get(post(client, GOOD, format="native").json()["url"]).json()
    assert state["status"] == "failed" and state["format"] == "native"


def test_an_unknown_format_is_400_and_nothing_is_kept(api, project, owner):
    response = post(api(owner), GOOD, format="csv")
    assert response.status_code == 400
    assert "format" in response.json()
    assert not ImportJob.objects.exists()


def test_a_missing_file_is_400(api, project, owner):
    response = api(owner).post("/api/v1/projects/support/imports/", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


def test_non_leads_get_403_and_outsiders_404(api, project, annotator, outsider):
    assert post(api(annotator), GOOD).status_code == 403
    assert post(api(outsider), GOOD).status_code == 404
    assert not ImportJob.objects.exists()


def test_others_cannot_see_a_job(api, project, owner, annotator, outsider):
    url = post(api(owner), GOOD).json()["url"]
    assert api(annotator).get(url).status_code == 404
    assert api(outsider).get(url).status_code == 404
    assert api(None).get(url).status_code == 401


def test_get_on_the_upload_url_is_405(api, project, owner):
    assert api(owner).get("/api/v1/projects/support/imports/").status_code == 405
