import pytest

from annotation.models import Annotation, Task
from tests.factories import ConversationFactory, claimed_task

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
COMPLETE = {
    "version": "1",
    "turns.2.observed_behavior": "answered",
    "turns.2.expected_behavior": "answer",
    "turns.2.factuality": "correct",
    "turns.4.observed_behavior": "refused",
    "turns.4.expected_behavior": "refuse",
    "turns.4.factuality": "not_applicable",
}


@pytest.fixture
def task(project, annotator, client):
    client.force_login(annotator)
    return claimed_task(project, annotator)


def test_submit_completes_the_task_and_sends_htmx_to_the_next_one(client, task):
    response = client.post(f"/tasks/{task.pk}/submit/", COMPLETE, headers=HTMX)
    assert response.status_code == 200
    assert '"path": "/projects/support/label/"' in response["HX-Location"]
    task.refresh_from_db()
    assert task.status == Task.Status.SUBMITTED
    assert Annotation.objects.get(task=task).status == "submitted"


def test_submit_without_htmx_redirects_to_the_next_task(client, project, task):
    nxt = ConversationFactory(project=project)
    response = client.post(f"/tasks/{task.pk}/submit/", COMPLETE, follow=True)
    assert response.redirect_chain[-1] == ("/projects/support/label/", 302)
    assert Task.objects.get(assignee=task.assignee, status="in_progress").conversation == nxt


def test_missing_required_answers_are_listed_and_nothing_is_submitted(client, task):
    data = {k: v for k, v in COMPLETE.items() if not k.startswith("turns.4.")}
    response = client.post(f"/tasks/{task.pk}/submit/", data, headers=HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="submit-errors"')
    assert "3 required answers missing" in html
    assert 'href="#q-turns-4-observed_behavior"' in html
    assert "Turn 5 (assistant): Are its facts right?" in html
    annotation = Annotation.objects.get(task=task)
    assert (annotation.status, annotation.version) == ("draft", 1)


def test_missing_answers_without_htmx_rerender_the_workspace(client, task):
    response = client.post(f"/tasks/{task.pk}/submit/", {"version": "1"})
    assert response.status_code == 400
    assert b"6 required answers missing" in response.content
    assert b'id="annotation-form"' in response.content


def test_a_stale_submit_is_a_conflict_retargeted_to_the_status(client, task):
    client.post(f"/tasks/{task.pk}/save/", {"version": "1"}, headers=HTMX)
    response = client.post(f"/tasks/{task.pk}/submit/", COMPLETE, headers=HTMX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#save-status"
    assert Annotation.objects.get(task=task).status == "draft"


def test_someone_elses_task_is_404(client, reviewer, task):
    client.force_login(reviewer)
    assert client.post(f"/tasks/{task.pk}/submit/", COMPLETE, headers=HTMX).status_code == 404


def test_submit_is_post_only(client, task):
    assert client.get(f"/tasks/{task.pk}/submit/").status_code == 405
