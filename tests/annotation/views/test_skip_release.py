import html as html_lib

import pytest

from accounts.models import ExpertiseTag
from annotation import queue, services
from annotation.models import Annotation, Task
from projects import services as project_services
from tests.factories import ConversationFactory, claimed_task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]
HTMX = {"HX-Request": "true"}
NEEDS_EXPERT = {"reason": "needs_expert", "expertise": "Insurance", "note": "claims law"}


def text(response) -> str:
    return html_lib.unescape(response.content.decode())


@pytest.fixture
def task(project, annotator, client):
    ExpertiseTag.objects.create(name="insurance")
    client.force_login(annotator)
    return claimed_task(project, annotator)


# --- Skipping ---


def test_the_workspace_offers_skip_with_reasons_and_give_back(client, task):
    html = client.get("/projects/support/label/").content.decode()
    assert f'action="/tasks/{task.pk}/skip/"' in html
    assert '<option value="needs_expert">Needs a domain expert</option>' in html
    assert '<select name="expertise" id="skip-expertise"' in html
    assert '<option value="insurance">insurance</option>' in html and 'name="note"' in html
    assert f'action="/tasks/{task.pk}/release/"' in html and ">Give back</button>" in html


def test_skipping_for_an_expert_escalates_and_loads_the_next_task(client, project, task):
    nxt = ConversationFactory(project=project)
    response = client.post(f"/tasks/{task.pk}/skip/", NEEDS_EXPERT, follow=True)
    assert response.redirect_chain == [("/projects/support/label/", 302)]
    task.refresh_from_db()
    assert (task.status, task.skip_reason, task.note) == ("skipped", "needs_expert", "claims law")
    waiting = Task.objects.get(conversation=task.conversation, status="open")
    assert waiting.required_expertise.name == "insurance"
    assert Task.objects.get(assignee=task.assignee, status="in_progress").conversation == nxt
    assert queue.task_counts(project)["escalated"] == 1


def test_skipping_with_htmx_sends_the_browser_to_the_next_task(client, task):
    response = client.post(f"/tasks/{task.pk}/skip/", {"reason": "unreadable"}, headers=HTMX)
    assert response.status_code == 200
    assert '"path": "/projects/support/label/"' in response["HX-Location"]
    task.refresh_from_db()
    assert (task.status, task.skip_reason) == ("skipped", "unreadable")


def test_needs_expert_without_an_expertise_is_refused_and_nothing_changes(client, task):
    response = client.post(f"/tasks/{task.pk}/skip/", {"reason": "needs_expert"}, headers=HTMX)
    assert response.status_code == 400
    html = text(response)
    assert html.lstrip().startswith('<form id="skip-form"') and "<html" not in html
    assert "Name the expertise this conversation needs" in html
    assert '<option value="needs_expert" selected>' in html
    unknown = client.post(
        f"/tasks/{task.pk}/skip/", {**NEEDS_EXPERT, "expertise": "astrology"}, headers=HTMX
    )
    assert unknown.status_code == 400
    assert 'No expertise called "astrology" (known: insurance).' in text(unknown)
    # What they wrote is shown again, to correct rather than retype.
    assert 'id="skip-note" rows="2" maxlength="2000">claims law</textarea>' in text(unknown)
    task.refresh_from_db()
    assert task.status == "in_progress"
    assert Task.objects.filter(conversation=task.conversation).count() == 1


def test_an_unknown_reason_rerenders_the_workspace_without_htmx(client, task):
    response = client.post(f"/tasks/{task.pk}/skip/", {"reason": "bored"})
    assert response.status_code == 400
    html = text(response)
    assert "Reason: Select a valid choice. bored is not one of the available choices." in html
    assert 'id="annotation-form"' in html and '<details class="skip-menu" open>' in html
    assert Task.objects.get(pk=task.pk).status == "in_progress"


def test_projects_without_skipping_hide_it_and_refuse_it(client, project, owner, task):
    project_services.update_project(project=project, actor=owner, allow_skip=False)
    html = client.get("/projects/support/label/").content.decode()
    assert "/skip/" not in html and ">Give back</button>" in html
    response = client.post(f"/tasks/{task.pk}/skip/", {"reason": "unreadable"}, headers=HTMX)
    assert response.status_code == 403
    assert "does not allow skipping" in text(response)
    assert Task.objects.get(pk=task.pk).status == "in_progress"


def test_nobody_else_can_skip_the_task(client, project, task, owner, reviewer, outsider):
    for user in (owner, reviewer, outsider):
        client.force_login(user)
        assert client.post(f"/tasks/{task.pk}/skip/", {"reason": "other"}).status_code == 404
    assert Task.objects.get(pk=task.pk).status == "in_progress"


def test_skip_is_post_only(client, task):
    assert client.get(f"/tasks/{task.pk}/skip/").status_code == 405


# --- Giving back and releasing ---


def test_giving_back_returns_the_task_and_goes_to_the_project(client, project, task):
    response = client.post(f"/tasks/{task.pk}/release/", follow=True)
    assert response.redirect_chain == [("/projects/support/", 302)]
    assert f"{task.conversation.external_id} went back to the queue." in text(response)
    task.refresh_from_db()
    assert task.status == "released"
    assert Annotation.objects.filter(task=task).exists()  # the draft is kept for audit
    assert Task.objects.get(conversation=task.conversation, status="open")


def test_giving_back_with_htmx_sends_the_browser_to_the_project(client, task):
    response = client.post(f"/tasks/{task.pk}/release/", headers=HTMX)
    assert response.status_code == 200
    assert '"path": "/projects/support/"' in response["HX-Location"]
    assert Task.objects.get(pk=task.pk).status == "released"


def test_a_lead_releases_from_the_queue_and_htmx_gets_the_row(client, owner, task):
    client.force_login(owner)
    response = client.post(
        f"/tasks/{task.pk}/release/",
        {"next": "/projects/support/queue/"},
        headers={**HTMX, "HX-Target": f"task-row-{task.pk}"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="task-row-{task.pk}"') and "<html" not in html
    assert ">Released</span>" in html and ">Release</button>" not in html
    assert Task.objects.get(pk=task.pk).status == "released"


def test_a_lead_releasing_an_assigned_task_goes_back_to_the_queue(client, project, owner):
    project_services.update_project(project=project, actor=owner, assignment_mode="mixed")
    ConversationFactory(project=project)
    queue.create_assignment_job(project=project, actor=owner, action="assign", annotators=["anna"])
    task = Task.objects.get(status="assigned")
    client.force_login(owner)
    back = "/projects/support/queue/?task_status=assigned"
    response = client.post(f"/tasks/{task.pk}/release/", {"next": back})
    assert (response.status_code, response["Location"]) == (302, back)
    task.refresh_from_db()
    assert (task.status, task.assignee) == ("open", None)


def test_an_outside_next_url_is_ignored(client, task):
    response = client.post(f"/tasks/{task.pk}/release/", {"next": "https://evil.example/"})
    assert response["Location"] == "/projects/support/"


def test_a_finished_task_cannot_be_released_and_nothing_changes(client, project, owner, task):
    done = {
        "observed_behavior": ["answered"],
        "expected_behavior": "answer",
        "factuality": "correct",
    }
    services.save_annotation(
        task=task,
        user=task.assignee,
        version=1,
        turns={"2": done, "4": done},
        conversation={},
        submit=True,
    )
    client.force_login(owner)
    response = client.post(
        f"/tasks/{task.pk}/release/", headers={**HTMX, "HX-Target": f"task-row-{task.pk}"}
    )
    assert response.status_code == 409
    assert "This task is submitted; only assigned or in-progress tasks can be released." in text(
        response
    )
    plain = client.post(f"/tasks/{task.pk}/release/", follow=True)
    assert "only assigned or in-progress tasks can be released" in text(plain)
    assert Task.objects.get(pk=task.pk).status == "submitted"
    assert Task.objects.filter(conversation=task.conversation).count() == 1


def test_only_the_annotator_or_a_lead_can_release(client, project, task, reviewer, outsider):
    other = claimed_task(project, reviewer)
    for user, target in ((reviewer, task), (outsider, task)):
        client.force_login(user)
        assert client.post(f"/tasks/{target.pk}/release/").status_code == 404
    client.force_login(task.assignee)
    assert client.post(f"/tasks/{other.pk}/release/").status_code == 404
    assert client.post("/tasks/999999/release/").status_code == 404
    assert set(Task.objects.values_list("status", flat=True)) == {"in_progress"}


def test_release_is_post_only(client, task):
    assert client.get(f"/tasks/{task.pk}/release/").status_code == 405
