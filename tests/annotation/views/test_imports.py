import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation import imports
from annotation.models import Conversation, ImportJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]

GOOD = b"".join(
    orjson.dumps({"id": str(i), "turns": [{"role": "user", "text": f"Question {i}"}]}) + b"\n"
    for i in range(3)
)


def test_the_import_page_shows_the_form_and_the_history(client, project, owner):
    imports.create_import_job(
        project=project, user=owner, upload=SimpleUploadedFile("old.jsonl", GOOD)
    )
    client.force_login(owner)
    response = client.get("/projects/support/imports/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html and 'name="file"' in html
    assert ">old.jsonl</a>" in html


def test_uploading_imports_and_shows_the_result(client, project, owner):
    client.force_login(owner)
    response = client.post(
        "/projects/support/imports/upload/",
        {"file": SimpleUploadedFile("chats.jsonl", GOOD), "format": ""},
        follow=True,
    )
    job = ImportJob.objects.get()
    assert response.redirect_chain == [(f"/imports/{job.pk}/", 302)]
    html = response.content.decode()
    assert "Succeeded" in html and "Imported 3 conversations (3 turns)" in html
    assert "hx-trigger" not in html  # finished: no more polling
    assert Conversation.objects.filter(project=project).count() == 3


def test_a_failed_import_lists_its_problems(client, project, owner):
    client.force_login(owner)
    bad = GOOD + b'{"id": "x", "turns": []}\n'
    response = client.post(
        "/projects/support/imports/upload/",
        {"file": SimpleUploadedFile("bad.jsonl", bad)},
        follow=True,
    )
    html = response.content.decode()
    assert "1 problem found; nothing was imported." in html
    assert "line 4: a conversation needs at least one turn" in html
    assert not Conversation.objects.exists()


def test_a_running_import_polls_and_htmx_gets_the_fragment(client, project, owner):
    job = imports.create_import_job(
        project=project, user=owner, upload=SimpleUploadedFile("c.jsonl", GOOD)
    )
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    client.force_login(owner)
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert f'hx-get="/imports/{job.pk}/" hx-trigger="every 1s"' in page
    fragment = client.get(f"/imports/{job.pk}/", headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section id="import-progress"') and "<html" not in html


def test_an_upload_without_a_file_is_refused_with_a_message(client, project, owner):
    client.force_login(owner)
    response = client.post("/projects/support/imports/upload/", {"format": ""})
    assert response.status_code == 400
    assert b"This field is required." in response.content
    assert not ImportJob.objects.exists()


def test_an_empty_file_is_refused_with_a_message(client, project, owner):
    client.force_login(owner)
    response = client.post(
        "/projects/support/imports/upload/", {"file": SimpleUploadedFile("e.jsonl", b"")}
    )
    assert response.status_code == 400
    assert b"The submitted file is empty." in response.content
    assert not ImportJob.objects.exists()


def test_annotators_get_403_and_outsiders_404(client, project, annotator, outsider):
    client.force_login(annotator)
    assert client.get("/projects/support/imports/").status_code == 403
    upload = {"file": SimpleUploadedFile("c.jsonl", GOOD)}
    assert client.post("/projects/support/imports/upload/", upload).status_code == 403
    client.force_login(outsider)
    assert client.get("/projects/support/imports/").status_code == 404
    assert not ImportJob.objects.exists()


def test_someone_elses_import_is_404(client, project, owner, annotator):
    job = imports.create_import_job(
        project=project, user=owner, upload=SimpleUploadedFile("c.jsonl", GOOD)
    )
    client.force_login(annotator)
    assert client.get(f"/imports/{job.pk}/").status_code == 404


def test_wrong_methods_are_405(client, project, owner):
    client.force_login(owner)
    assert client.post("/projects/support/imports/").status_code == 405
    assert client.get("/projects/support/imports/upload/").status_code == 405


def test_leads_see_the_import_link_on_the_overview(client, project, owner, annotator):
    client.force_login(owner)
    assert b'href="/projects/support/imports/"' in client.get("/projects/support/").content
    client.force_login(annotator)
    assert b'href="/projects/support/imports/"' not in client.get("/projects/support/").content
