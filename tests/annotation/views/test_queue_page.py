import html as html_lib
import io

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ExpertiseTag
from annotation import imports, queue
from annotation.models import AssignmentJob, ImportJob, Task
from projects import services as project_services
from projects.models import Membership
from tests.factories import ConversationFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]
HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return html_lib.unescape(response.content.decode())


def expert(project, name, *tags):
    user = UserFactory(username=name)
    user.expertise.set([ExpertiseTag.objects.get_or_create(name=tag)[0] for tag in tags])
    MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    return user


@pytest.fixture
def mixed(project, owner):
    project_services.update_project(project=project, actor=owner, assignment_mode="mixed")
    ConversationFactory.create_batch(4, project=project, metadata={"domain": "insurance"})
    ConversationFactory.create_batch(2, project=project, metadata={"domain": "hr"})
    return project


def assign_data(**changes):
    data = {
        "import_job": "",
        "metadata_key": "domain",
        "metadata_value": "insurance",
        "tag": "",
        "status": "",
        "labeled": "",
        "action": "distribute",
        "expertise": "claims",
        "priority": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- The page ---


def test_the_queue_page_offers_filters_members_and_expertise(client, mixed, owner):
    expert(mixed, "ezra", "claims")
    data = orjson.dumps({"id": "x1", "turns": [{"role": "user", "text": "hi"}]}) + b"\n"
    job = ImportJob.objects.create(project=mixed, filename="batch-7.jsonl")
    imports.import_conversations(project=mixed, stream=io.BytesIO(data), job=job)
    client.force_login(owner)
    response = client.get("/projects/support/queue/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<option value="{job.pk}">batch-7.jsonl (' in html
    assert 'name="annotators" value="ezra"' in html and 'name="annotators" value="anna"' in html
    assert '<option value="claims">claims</option>' in html
    assert '<p id="match-count"' in html and "<strong>7</strong> conversations match" in html
    assert 'hx-get="/projects/support/queue/preview/"' in html
    assert 'action="/projects/support/queue/assign/"' in html


def test_the_queue_page_prefills_a_filter_from_the_query(client, mixed, owner):
    client.force_login(owner)
    html = client.get("/projects/support/queue/?metadata_key=domain&metadata_value=hr")
    html = html.content.decode()
    assert 'value="hr"' in html and "<strong>2</strong> conversations match" in html


def test_only_leads_see_the_queue(client, project, reviewer, annotator, outsider):
    urls = ["/projects/support/queue/", "/projects/support/queue/preview/"]
    for user, status in ((reviewer, 403), (annotator, 403), (outsider, 404)):
        client.force_login(user)
        for url in urls:
            assert client.get(url, headers=HTMX).status_code == status
        assert client.post("/projects/support/queue/assign/", assign_data()).status_code == status
    assert not AssignmentJob.objects.exists()


def test_leads_see_the_queue_link(client, project, owner, reviewer):
    client.force_login(owner)
    assert b'href="/projects/support/queue/"' in client.get("/projects/support/").content
    client.force_login(reviewer)
    assert b'href="/projects/support/queue/"' not in client.get("/projects/support/").content


def test_wrong_methods_are_405(client, project, owner):
    client.force_login(owner)
    assert client.post("/projects/support/queue/").status_code == 405
    assert client.post("/projects/support/queue/preview/").status_code == 405
    assert client.get("/projects/support/queue/assign/").status_code == 405
    job = queue.create_assignment_job(project=project, actor=owner, action="prioritize", priority=1)
    assert client.post(f"/assignments/{job.pk}/").status_code == 405


# --- The preview ---


def test_the_preview_counts_matching_conversations_as_a_fragment(client, mixed, owner):
    client.force_login(owner)
    response = client.get(
        "/projects/support/queue/preview/",
        {"metadata_key": "domain", "metadata_value": "insurance", "labeled": "no"},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<p id="match-count"') and "<html" not in html
    assert "<strong>4</strong> conversations match" in html


def test_one_matching_conversation_matches(client, mixed, owner):
    client.force_login(owner)
    ConversationFactory(project=mixed, metadata={"domain": "legal"})
    response = client.get(
        "/projects/support/queue/preview/",
        {"metadata_key": "domain", "metadata_value": "legal"},
        headers=HTMX,
    )
    assert "<strong>1</strong> conversation matches" in response.content.decode()


def test_the_preview_without_htmx_goes_to_the_queue_page_with_the_filter(client, mixed, owner):
    client.force_login(owner)
    response = client.get("/projects/support/queue/preview/", {"tag": "urgent"})
    assert response.status_code == 302
    assert response["Location"] == "/projects/support/queue/?tag=urgent"


def test_a_bad_filter_previews_its_problem_with_400(client, mixed, owner):
    client.force_login(owner)
    response = client.get(
        "/projects/support/queue/preview/",
        {"metadata_key": "do main", "metadata_value": "x"},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert 'Metadata key "do main" may only hold letters' in text(response)
    half = client.get("/projects/support/queue/preview/", {"metadata_key": "domain"}, headers=HTMX)
    assert half.status_code == 400
    assert "Give both a metadata key and the value it should have." in half.content.decode()


# --- Assigning ---


def test_distributing_by_expertise_runs_a_job_and_shows_its_result(client, mixed, owner):
    ezra, emma = expert(mixed, "ezra", "claims"), expert(mixed, "emma", "claims")
    client.force_login(owner)
    response = client.post("/projects/support/queue/assign/", assign_data(), follow=True)
    job = AssignmentJob.objects.get()
    assert response.redirect_chain == [(f"/assignments/{job.pk}/", 302)]
    html = response.content.decode()
    assert "Succeeded" in html and "4 tasks assigned." in html
    assert "domain = insurance" in html and "claims" in html
    assert "hx-trigger" not in html  # finished: no more polling
    assigned = Task.objects.filter(status="assigned")
    assert assigned.filter(assignee=ezra).count() == assigned.filter(assignee=emma).count() == 2
    assert not assigned.filter(conversation__metadata__domain="hr").exists()


def test_assigning_to_chosen_annotators_with_a_priority(client, mixed, owner, annotator):
    client.force_login(owner)
    data = assign_data(action="assign", expertise="", annotators="anna", priority="7")
    data["metadata_value"] = "hr"
    client.post("/projects/support/queue/assign/", data)
    tasks = Task.objects.filter(assignee=annotator, status="assigned")
    assert sorted(tasks.values_list("priority", flat=True)) == [7, 7]


def test_setting_a_priority(client, mixed, owner):
    client.force_login(owner)
    data = assign_data(action="prioritize", expertise="", priority="9", metadata_value="hr")
    response = client.post("/projects/support/queue/assign/", data, follow=True)
    assert "2 tasks given priority." in response.content.decode()
    assert Task.objects.filter(priority=9).count() == 2


def test_service_errors_rerender_the_form_with_the_message(client, mixed, owner):
    client.force_login(owner)
    cases = [
        (assign_data(expertise=""), "Choose the annotators, or an expertise, to assign to."),
        (assign_data(expertise="", action="prioritize"), "Give the priority as a whole number"),
        (
            assign_data(expertise="", action="prioritize", priority="99999999999"),
            "Give the priority as a whole number from -2,147,483,648 to 2,147,483,647",
        ),
        (assign_data(metadata_key="do main"), 'Metadata key "do main" may only hold letters'),
    ]
    for data, message in cases:
        response = client.post("/projects/support/queue/assign/", data)
        assert response.status_code == 400
        html = text(response)
        assert message in html
        assert 'id="queue-form"' in html and 'value="insurance"' in html  # the form, kept
    assert not AssignmentJob.objects.exists()
    assert not Task.objects.exclude(status="open").exists()


def test_pool_projects_cannot_assign(client, project, owner):
    client.force_login(owner)
    response = client.post(
        "/projects/support/queue/assign/", assign_data(expertise="", annotators="anna")
    )
    assert response.status_code == 400
    assert "hands out work from the pool only" in response.content.decode()


def test_form_errors_are_shown_with_400(client, mixed, owner):
    expert(mixed, "ezra", "claims")
    client.force_login(owner)
    both = client.post("/projects/support/queue/assign/", assign_data(annotators="anna"))
    assert both.status_code == 400
    assert "Choose annotators or an expertise, not both." in both.content.decode()
    stranger = client.post(
        "/projects/support/queue/assign/", assign_data(expertise="", annotators="zed")
    )
    assert stranger.status_code == 400
    assert "Select a valid choice. zed is not one of the available choices." in (
        stranger.content.decode()
    )
    assert not AssignmentJob.objects.exists()


# --- The assignment page ---


def test_a_running_assignment_polls_and_htmx_gets_the_fragment(client, mixed, owner):
    job = AssignmentJob.objects.create(
        project=mixed, created_by=owner, action="unassign", status="running", total=6, processed=3
    )
    client.force_login(owner)
    page = client.get(f"/assignments/{job.pk}/").content.decode()
    assert f'hx-get="/assignments/{job.pk}/" hx-trigger="every 1s"' in page
    assert '<progress max="100" value="50"' in page
    response = client.get(f"/assignments/{job.pk}/", headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="assignment-progress"') and "<html" not in html


def test_only_the_projects_leads_see_an_assignment(client, mixed, owner, reviewer, outsider):
    job = queue.create_assignment_job(project=mixed, actor=owner, action="prioritize", priority=1)
    for user in (reviewer, outsider):
        client.force_login(user)
        assert client.get(f"/assignments/{job.pk}/").status_code == 404
    client.force_login(owner)
    assert client.get("/assignments/999999/").status_code == 404


def test_recent_assignments_are_listed(client, mixed, owner):
    queue.create_assignment_job(
        project=mixed, actor=owner, action="prioritize", priority=3, filters={"labeled": "no"}
    )
    client.force_login(owner)
    html = client.get("/projects/support/queue/").content.decode()
    assert ">Set priority</a>" in html and "<td>not labeled yet</td>" in html


# --- The task list ---


def test_tasks_are_paged_by_id_without_counting_them(client, project, owner):
    ConversationFactory.create_batch(53, project=project, turns=1)
    ids = list(Task.objects.order_by("id").values_list("id", flat=True))
    client.force_login(owner)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/projects/support/queue/", headers=HTMX)
    assert not [q for q in queries if "COUNT" in q["sql"]]
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="task-list"') and "<html" not in html
    assert html.count('<tr id="task-row-') == 50
    assert f'href="/projects/support/queue/?after={ids[49]}"' in html
    second = client.get(f"/projects/support/queue/?after={ids[49]}").content.decode()
    assert second.count('<tr id="task-row-') == 3 and f'id="task-row-{ids[-1]}"' in second
    assert ">Next</a>" not in second and ">First page</a>" in second


def test_tasks_filter_by_status_and_assignee_with_a_release_button(client, mixed, owner, annotator):
    client.force_login(owner)
    client.post(
        "/projects/support/queue/assign/",
        assign_data(action="assign", expertise="", annotators="anna", metadata_value="hr"),
    )
    html = client.get("/projects/support/queue/?task_status=assigned&assignee=anna").content
    html = html.decode()
    assert html.count('<tr id="task-row-') == 2
    assert html.count(">Release</button>") == 2
    assert '<input type="hidden" name="next" value="/projects/support/queue/?task_status=' in html
    open_tasks = client.get("/projects/support/queue/?task_status=open").content.decode()
    assert open_tasks.count('<tr id="task-row-') == 4 and ">Release</button>" not in open_tasks


def test_a_history_restore_gets_the_whole_page(client, project, owner):
    client.force_login(owner)
    response = client.get(
        "/projects/support/queue/", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert b"<html" in response.content


def test_a_bad_task_list_query_says_so_and_shows_all_tasks(client, project, owner, conversation):
    client.force_login(owner)
    html = text(client.get("/projects/support/queue/?task_status=lost&after=x", headers=HTMX))
    assert "Task status: Select a valid choice. lost is not one of the available choices." in html
    assert html.count('<tr id="task-row-') == 1
